import Foundation
import Testing
import VerdictKafka
import VerdictPipeline

/// `make chaos`: the fault matrix of docs/reliability.md. Each scenario runs `verdict serve` through
/// one fault on Tansu or, where Tansu cannot express the fault, librdkafka's mock cluster, then reads
/// every topic back and records a row (events in, decisions, dead letters, lost, duplicates,
/// recovery seconds, peak RSS) in `$VERDICT_CHAOS_OUT` (one JSON object per line).
///
/// Not part of `make test` (scripts/test-run skips the suite: it runs for minutes); every scenario
/// also asserts that nothing was lost and that duplicates stay within the in-flight bound.
@Suite("Chaos matrix", .serialized, .enabled(if: TestBroker.enabled))
struct ChaosMatrixTests {
    static let maxInFlight = 20_000

    static func seconds(_ duration: Duration) -> Double {
        let (whole, atto) = duration.components
        return Double(whole) + Double(atto) / 1e18
    }

    struct Row: Codable {
        var fault: String
        var broker: String
        var guarantee = "at_least_once"
        var events = 0
        var decisions = 0
        var deadLetters = 0
        var lost = 0
        var duplicates = 0
        var recoverySeconds: Double?
        var peakRSSMB: Int?
        var notes = ""
    }

    static func record(_ row: Row) throws {
        let path = ProcessInfo.processInfo.environment["VERDICT_CHAOS_OUT"] ?? TestBroker.projectRoot.appendingPathComponent(".run/chaos/rows.jsonl").path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        var line = try encoder.encode(row)
        line.append(0x0A)
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(line)
            try handle.close()
        } else {
            try line.write(to: URL(fileURLWithPath: path))
        }
    }

    /// Reads the outcome, asserts nothing is lost and duplicates stay bounded, and records the row.
    static func finish(
        _ row: Row, _ fixture: StreamFixture, expected: Int, services: [ServiceProcess], isolation: String? = nil,
        duplicateBound: Int = maxInFlight, timeout: Duration = .seconds(240)
    ) async throws -> Row {
        var row = row
        let tally = try await OutcomeReader.read(fixture, expected: expected, timeout: timeout, settle: .seconds(2), isolation: isolation)
        row.events = tally.inputs.count
        row.decisions = tally.decisionCount
        row.deadLetters = tally.deadLetterCount
        row.lost = tally.missing.count
        row.duplicates = tally.duplicates
        let peaks = services.compactMap { $0.peakResidentBytes() }
        row.peakRSSMB = peaks.max().map { $0 >> 20 }
        try record(row)
        #expect(row.events == expected, "\(row.fault): \(row.events) of \(expected) events read back")
        #expect(row.lost == 0, "\(row.fault): lost \(row.lost)")
        #expect(row.duplicates <= duplicateBound, "\(row.fault): \(row.duplicates) duplicates")
        return row
    }

    /// Seconds from `start` until the service has consumed more than `after` events.
    static func secondsUntilConsuming(
        _ service: ServiceProcess, _ fixture: StreamFixture, after: Double, since start: ContinuousClock.Instant
    ) async throws -> Double {
        try await eventually(timeout: .seconds(90), "consuming again") { () async -> Bool in
            ((try? await service.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}")) ?? 0) > after
        }
        return Self.seconds(ContinuousClock.now - start)
    }

    // MARK: Tansu

    @Test("steady: 1M events")
    func steady() async throws {
        let fixture = try await StreamFixture.make("chaos-steady", brokers: try TestBroker.brokers())
        let total = 1_000_000
        try await fixture.generate(count: total, seed: 101)
        let service = try await fixture.start()
        _ = try await Self.finish(Row(fault: "steady, 1M events", broker: "Tansu"), fixture, expected: total, services: [service], duplicateBound: 0)
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("1M events, 5% hostile")
    func hostile() async throws {
        let fixture = try await StreamFixture.make("chaos-hostile", brokers: try TestBroker.brokers())
        let total = 1_000_000
        try await fixture.generate(count: total, invalidFraction: 0.05, seed: 102)
        let service = try await fixture.start()
        let row = try await Self.finish(
            Row(fault: "1M events, 5% hostile kinds", broker: "Tansu"), fixture, expected: total, services: [service], duplicateBound: 0)
        #expect(row.deadLetters > 40_000)
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("SIGKILL three times, at-least-once")
    func killThreeTimes() async throws {
        let fixture = try await StreamFixture.make("chaos-kill", brokers: try TestBroker.brokers())
        let total = 300_000
        try await fixture.generate(count: total, seed: 103)
        var services: [ServiceProcess] = []
        var recoveries: [Double] = []
        var service = try await fixture.start("serve-0")
        services.append(service)
        for round in 1...3 {
            try await eventually(timeout: .seconds(60), "progress before kill \(round)") { () async -> Bool in
                ((try? await service.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}")) ?? 0) > 20_000
            }
            service.signal(SIGKILL)
            _ = try await service.waitForExit(timeout: .seconds(10))
            let restarted = ContinuousClock.now
            service = try await fixture.start("serve-\(round)")
            services.append(service)
            recoveries.append(try await Self.secondsUntilConsuming(service, fixture, after: 0, since: restarted))
        }
        var row = Row(fault: "SIGKILL x3 mid-stream", broker: "Tansu")
        row.recoverySeconds = recoveries.max()
        row.notes = "recovery: restart to consuming again (worst of 3); duplicates are the re-read uncommitted tail"
        _ = try await Self.finish(row, fixture, expected: total, services: services, duplicateBound: 3 * (Self.maxInFlight + 60_000))
        service.signal(SIGTERM)
        _ = try await service.waitForExit(timeout: .seconds(20))
    }

    @Test("rebalance storm: 3 instances join and leave 5 times")
    func rebalanceStorm() async throws {
        let fixture = try await StreamFixture.make("chaos-storm", brokers: try TestBroker.brokers(), partitions: 6)
        let total = 300_000
        let generator = try fixture.generator(count: total, rate: 15_000, seed: 104)
        let anchor = try await fixture.start("anchor")
        var services = [anchor]
        for round in 1...5 {
            var joiners: [ServiceProcess] = []
            for index in 1...2 { joiners.append(try await fixture.start("join-\(round)-\(index)")) }
            services += joiners
            try await Task.sleep(for: .seconds(4))
            for joiner in joiners { joiner.signal(SIGTERM) }
            for joiner in joiners { _ = try await joiner.waitForExit(timeout: .seconds(25)) }
        }
        try await exit(of: generator)
        var row = Row(fault: "rebalance storm (2 instances join and leave beside a third, 5 times)", broker: "Tansu")
        row.notes = "graceful leaves: revoked partitions drained and committed"
        _ = try await Self.finish(row, fixture, expected: total, services: services)
        anchor.signal(SIGTERM)
        #expect(try await anchor.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("a model corrupted in place, then a good one swapped in")
    func corruptModel() async throws {
        let fixture = try await StreamFixture.make("chaos-model", brokers: try TestBroker.brokers())
        let total = 200_000
        let generator = try fixture.generator(count: total, rate: 20_000, seed: 105)
        let service = try await fixture.start()
        try await service.waitUntilReady()
        let version = fixture.models.appendingPathComponent("1.0.0")
        let card = try JSONSerialization.jsonObject(with: Data(contentsOf: version.appendingPathComponent("card.json"))) as! [String: Any]
        let modelFile = version.appendingPathComponent(card["model_file"] as! String)
        let good = try Data(contentsOf: modelFile)
        try Task.checkCancellation()
        try await Task.sleep(for: .seconds(2))
        // Corrupted in place (same name, different bytes): the card's sha256 refuses it before parsing.
        try Data(good.prefix(good.count / 3)).write(to: modelFile)
        try await eventually(timeout: .seconds(30), "the corrupt model refused") { () async -> Bool in
            ((try? await service.metric("verdict_model_reloads_total{result=\"refused\"}")) ?? 0) >= 1
        }
        try await Task.sleep(for: .seconds(2))
        try good.write(to: modelFile)
        try await eventually(timeout: .seconds(30), "the good model reloaded") { () async -> Bool in
            ((try? await service.metric("verdict_model_reloads_total{result=\"success\"}")) ?? 0) >= 1
        }
        try await exit(of: generator)
        var row = Row(fault: "model corrupted in place, then the good one restored", broker: "Tansu")
        row.notes = "the corrupt file was refused (sha256 checked before parsing); the old model kept serving"
        let finished = try await Self.finish(row, fixture, expected: total, services: [service], duplicateBound: 0)
        #expect(finished.decisions > 0)
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("SIGTERM under load, then a restart")
    func sigtermUnderLoad() async throws {
        let fixture = try await StreamFixture.make("chaos-term", brokers: try TestBroker.brokers())
        let total = 300_000
        try await fixture.generate(count: total, seed: 106)
        let first = try await fixture.start("serve-0")
        try await eventually(timeout: .seconds(60), "under load") { () async -> Bool in
            ((try? await first.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}")) ?? 0) > 50_000
        }
        let clock = ContinuousClock()
        let signalled = clock.now
        first.signal(SIGTERM)
        let status = try await first.waitForExit(timeout: .seconds(25))
        let stopSeconds = Self.seconds(clock.now - signalled)
        #expect(status == 0)
        let second = try await fixture.start("serve-1")
        var row = Row(fault: "SIGTERM under load, then a restart", broker: "Tansu")
        row.recoverySeconds = stopSeconds
        row.notes = "recovery: SIGTERM to exit 0 (drained and committed)"
        _ = try await Self.finish(row, fixture, expected: total, services: [first, second], duplicateBound: 0)
        second.signal(SIGTERM)
        _ = try await second.waitForExit(timeout: .seconds(20))
    }

    @Test("SIGTERM with the broker paused, then broker and service back")
    func sigtermBrokerPaused() async throws {
        let tansu = try await PrivateTansu.start()
        defer { tansu.stop() }
        let fixture = try await StreamFixture.make("chaos-term-paused", brokers: tansu.address, pipeline: ["shutdown_timeout: 5s"])
        let total = 100_000
        try await fixture.generate(count: total, seed: 107)
        let first = try await fixture.start("serve-0")
        try await eventually(timeout: .seconds(60), "under load") { () async -> Bool in
            ((try? await first.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}")) ?? 0) > 10_000
        }
        tansu.pause()
        let clock = ContinuousClock()
        let signalled = clock.now
        first.signal(SIGTERM)
        let status = try await first.waitForExit(timeout: .seconds(20))
        let stopSeconds = Self.seconds(clock.now - signalled)
        #expect(status != nil, "hung with the broker paused")
        tansu.resume()
        let second = try await fixture.start("serve-1")
        var row = Row(fault: "SIGTERM with the broker paused (SIGSTOP), then broker and service back", broker: "Tansu (own)")
        row.recoverySeconds = stopSeconds
        row.notes = "recovery: SIGTERM to exit (status \(status.map(String.init) ?? "none")) within shutdown_timeout 5 s + 5 s watchdog"
        _ = try await Self.finish(row, fixture, expected: total, services: [first, second])
        second.signal(SIGTERM)
        _ = try await second.waitForExit(timeout: .seconds(20))
    }

    @Test("the decisions topic missing")
    func missingTopic() async throws {
        let fixture = try await StreamFixture.make("chaos-missing", brokers: try TestBroker.brokers())
        let total = 10_000
        try await fixture.generate(count: total, seed: 108)
        // The same fixture pointed at a decisions topic that does not exist.
        let yaml = try String(contentsOf: fixture.config, encoding: .utf8).replacingOccurrences(
            of: "decisions: \(fixture.decisions)", with: "decisions: \(fixture.decisions)-absent")
        try yaml.write(to: fixture.config, atomically: true, encoding: .utf8)
        let refused = try? await fixture.start("serve-absent")
        let status = try await refused?.waitForExit(timeout: .seconds(30))
        #expect(status != nil && status != 0, "started without its decisions topic")
        #expect(refused?.logContains("absent") ?? true)
        let fixed = try String(contentsOf: fixture.config, encoding: .utf8).replacingOccurrences(of: "\(fixture.decisions)-absent", with: fixture.decisions)
        try fixed.write(to: fixture.config, atomically: true, encoding: .utf8)
        let service = try await fixture.start("serve-fixed")
        var row = Row(fault: "decisions topic missing at start, then created", broker: "Tansu")
        row.notes = "refused to start (exit \(status.map(String.init) ?? "?")) naming the topic; nothing consumed or committed until it exists"
        _ = try await Self.finish(row, fixture, expected: total, services: [service], duplicateBound: 0)
        service.signal(SIGTERM)
        _ = try await service.waitForExit(timeout: .seconds(20))
    }

    // MARK: Mock cluster

    @Test("the decisions broker stalled past message timeout x attempts")
    func stall() async throws {
        let cluster = try KafkaMockCluster(brokers: 2, logger: MockClusterServiceTests.logger)
        cluster.setGroupInitialRebalanceDelay(.zero)
        let fixture = try await StreamFixture.make(
            "chaos-stall", brokers: cluster.bootstrapServers, producerProperties: ["message.timeout.ms": "2000"], mock: cluster)
        fixture.isolateDecisions(on: cluster, coordinatorToo: true)
        let total = 100_000
        let beforeOutage = 40_000
        let consumed = "verdict_events_consumed_total{topic=\"\(fixture.input)\"}"
        try await fixture.generate(count: beforeOutage, seed: 109)
        let service = try await fixture.start()
        try await service.waitUntilReady()
        // The service decides a backlog faster than the outage could begin: the rest of the events
        // arrive during it (the input's leader stays up), so they are consumed, fail to deliver,
        // and must be retried.
        try await eventually(timeout: .seconds(60), "the first events decided") { () async -> Bool in
            let read = (try? await service.metric(consumed)) ?? 0
            let inFlight = (try? await service.metric("verdict_in_flight_events")) ?? 1
            return read >= Double(beforeOutage) && inFlight == 0
        }
        cluster.setBrokerDown(2)
        try await fixture.generate(count: total - beforeOutage, seed: 1109)
        // Five attempts of 2 s each would have given up after 10 s: stall for 15.
        var healthy = true
        for _ in 0..<30 {
            if try await service.get("/healthz").0 != 200 { healthy = false }
            try await Task.sleep(for: .milliseconds(500))
        }
        let consumedBefore = try await service.metric(consumed) ?? 0
        let failures = try await service.metric("verdict_delivery_failures_total{permanent=\"false\"}") ?? 0
        #expect(failures > 0, "no delivery failed during the outage: the test did not test retries")
        #expect(consumedBefore < Double(total), "everything was consumed during the outage: resuming cannot be observed")
        let back = ContinuousClock.now
        cluster.setBrokerUp(2)
        let recovery = try await Self.secondsUntilConsuming(service, fixture, after: consumedBefore, since: back)
        var row = Row(fault: "decisions broker down 15 s (> message timeout 2 s x 5 attempts)", broker: "mock")
        row.recoverySeconds = recovery
        row.notes = "healthz \(healthy ? "200 throughout" : "not 200 at some point"); retried with backoff, resumed by itself"
        #expect(healthy)
        _ = try await Self.finish(row, fixture, expected: total, services: [service])
        service.signal(SIGTERM)
        _ = try await service.waitForExit(timeout: .seconds(20))
    }

    @Test("injected Produce and OffsetCommit errors, leader and coordinator moves")
    func injectedAtLeastOnce() async throws {
        let cluster = try KafkaMockCluster(brokers: 3, logger: MockClusterServiceTests.logger)
        cluster.setGroupInitialRebalanceDelay(.zero)
        let fixture = try await StreamFixture.make("chaos-inject", brokers: cluster.bootstrapServers, mock: cluster)
        let total = 100_000
        try await fixture.generate(count: total, seed: 110)
        cluster.failNextRequests(.produce, with: [.notLeaderForPartition, .requestTimedOut, .notEnoughReplicas, .unknownServerError])
        cluster.failNextRequests(.offsetCommit, with: [.coordinatorNotAvailable, .notCoordinator, .rebalanceInProgress])
        let service = try await fixture.start()
        try await service.waitUntilReady()
        for move in 0..<6 {
            try await Task.sleep(for: .seconds(1))
            for partition in 0..<4 { cluster.setPartitionLeader(topic: fixture.decisions, partition: partition, broker: 1 + (move + partition) % 3) }
            cluster.setCoordinator(group: fixture.group, broker: 1 + move % 3)
            cluster.failNextRequests(.produce, with: [.notLeaderForPartition])
        }
        var row = Row(fault: "Produce + OffsetCommit errors, 6 leader and coordinator moves", broker: "mock")
        row.notes = "retriable errors retried; nothing held"
        _ = try await Self.finish(row, fixture, expected: total, services: [service])
        #expect(try await service.metric("verdict_partitions_held") == 0)
        service.signal(SIGTERM)
        _ = try await service.waitForExit(timeout: .seconds(20))
    }

    @Test("throttled decisions broker")
    func throttled() async throws {
        let cluster = try KafkaMockCluster(brokers: 2, logger: MockClusterServiceTests.logger)
        cluster.setGroupInitialRebalanceDelay(.zero)
        let fixture = try await StreamFixture.make(
            "chaos-throttle", brokers: cluster.bootstrapServers, pipeline: ["max_in_flight: 5000"],
            producerProperties: ["batch.num.messages": "100"], mock: cluster)
        fixture.isolateDecisions(on: cluster, coordinatorToo: false)
        let total = 60_000
        try await fixture.generate(count: total, seed: 111)
        cluster.setRoundTripTime(broker: 2, .milliseconds(300))
        let service = try await fixture.start()
        try await service.waitUntilReady()
        try await Task.sleep(for: .seconds(8))
        cluster.setRoundTripTime(broker: 2, .zero)
        var row = Row(fault: "decisions broker throttled (300 ms per request) for 8 s", broker: "mock")
        row.notes = "consumer paused at max_in_flight 5000; memory bounded"
        _ = try await Self.finish(row, fixture, expected: total, services: [service], duplicateBound: 0)
        service.signal(SIGTERM)
        _ = try await service.waitForExit(timeout: .seconds(20))
    }

    @Test("exactly-once: SIGKILL three times, TxnOffsetCommit and EndTxn errors, coordinator moves, read_committed")
    func exactlyOnceChaos() async throws {
        let total = 60_000
        let (cluster, fixture) = try await MockClusterServiceTests.exactlyOnceFixture("chaos-eos", events: total, seed: 112)
        cluster.failNextRequests(.transactionOffsetCommit, with: [.coordinatorNotAvailable, .notCoordinator])
        cluster.failNextRequests(.endTransaction, with: [.concurrentTransactions, .coordinatorNotAvailable])
        var services: [ServiceProcess] = []
        var recoveries: [Double] = []
        var service = try await fixture.start("serve-0")
        services.append(service)
        for round in 1...3 {
            try await Task.sleep(for: .seconds(3))
            cluster.setCoordinator(transactionalID: "verdict-chaos-eos-test", broker: 1 + round % 3)
            service.signal(SIGKILL)
            _ = try await service.waitForExit(timeout: .seconds(10))
            let restarted = ContinuousClock.now
            service = try await fixture.start("serve-\(round)")
            services.append(service)
            try await service.waitUntilReady()
            recoveries.append(Self.seconds(ContinuousClock.now - restarted))
        }
        var row = Row(fault: "SIGKILL x3 + TxnOffsetCommit/EndTxn errors + coordinator moves", broker: "mock", guarantee: "exactly_once")
        row.recoverySeconds = recoveries.max()
        row.notes =
            "read_committed reader. Duplicates are not measurable on the mock: it shows aborted records to read_committed readers, and its TxnOffsetCommit handler answers without storing the offsets (librdkafka's mock source; the group's committed offsets stay unset), so each restarted instance re-reads from the start; lost is what this row proves"
        // Each restart may re-read everything on the mock (see the notes): up to one copy per instance.
        _ = try await Self.finish(row, fixture, expected: total, services: services, isolation: "read_committed", duplicateBound: 4 * total)
        service.signal(SIGTERM)
        _ = try await service.waitForExit(timeout: .seconds(20))
    }

    @Test("exactly-once: the producer fenced (injected PRODUCER_FENCED), then a replacement")
    func fencing() async throws {
        let cluster = try KafkaMockCluster(brokers: 3, logger: MockClusterServiceTests.logger)
        cluster.setGroupInitialRebalanceDelay(.zero)
        let fixture = try await StreamFixture.make(
            "chaos-fence", brokers: cluster.bootstrapServers, pipeline: ["max_batch: 1000", "transactional_id: verdict-chaos-fence-test"],
            guarantee: "exactly_once", mock: cluster
        )
        let total = 60_000
        // Traffic keeps arriving, so the first instance is inside transactions when it is fenced.
        let generator = try fixture.generator(count: total, rate: 6_000, seed: 113)
        let first = try await fixture.start("serve-0")
        try await first.waitUntilReady()
        try await Task.sleep(for: .seconds(3))
        // What a newer instance with the same transactional.id does to this one (librdkafka's mock
        // cluster does not bump epochs across clients, so the broker's answer is injected).
        cluster.failNextRequests(.endTransaction, with: [.producerFenced])
        let firstStatus = try await first.waitForExit(timeout: .seconds(60))
        #expect(firstStatus != nil && firstStatus != 0, "the fenced instance kept running")
        #expect(first.logContains("fenced") || first.logContains("FENCED"))
        let restarted = ContinuousClock.now
        let second = try await fixture.start("serve-1")
        try await second.waitUntilReady()
        let recovery = Self.seconds(ContinuousClock.now - restarted)
        try await exit(of: generator)
        var row = Row(fault: "producer fenced (PRODUCER_FENCED on EndTxn), then a replacement", broker: "mock", guarantee: "exactly_once")
        row.recoverySeconds = recovery
        row.notes =
            "the fenced instance exited \(firstStatus.map(String.init) ?? "?") (fatal); the replacement finished the stream; duplicates not measurable on the mock (see the SIGKILL row)"
        _ = try await Self.finish(row, fixture, expected: total, services: [first, second], isolation: "read_committed", duplicateBound: total)
        second.signal(SIGTERM)
        _ = try await second.waitForExit(timeout: .seconds(20))
        withExtendedLifetime(cluster) {}
    }
}
