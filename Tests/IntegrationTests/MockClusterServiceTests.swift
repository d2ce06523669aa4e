import Foundation
import Logging
import Testing
import VerdictKafka
import VerdictPipeline

/// `verdict serve` against librdkafka's mock cluster (hosted by the test process, reached over TCP):
/// the faults Tansu cannot produce — a throttled broker, injected transaction errors.
@Suite("Stream service under broker faults (mock cluster)", .serialized, .enabled(if: TestBroker.enabled))
struct MockClusterServiceTests {
    static let logger: Logger = {
        var logger = Logger(label: "verdict.tests.mock")
        logger.logLevel = .critical
        return logger
    }()

    @Test("backpressure: with the decisions broker throttled, in-flight events stay bounded, the consumer pauses, memory stays bounded, nothing is lost")
    func backpressure() async throws {
        let cluster = try KafkaMockCluster(brokers: 2, logger: Self.logger)
        cluster.setGroupInitialRebalanceDelay(.zero)
        let maxInFlight = 2_000, maxBatch = 500
        let fixture = try await StreamFixture.make(
            "backpressure", brokers: cluster.bootstrapServers,
            pipeline: ["max_in_flight: \(maxInFlight)", "max_batch: \(maxBatch)"],
            // Small produce requests, so the slow broker caps throughput well below the input rate.
            producerProperties: ["batch.num.messages": "100"],
            mock: cluster
        )
        fixture.isolateDecisions(on: cluster, coordinatorToo: false)
        let total = 40_000
        try await fixture.generate(count: total, seed: 21)
        cluster.setRoundTripTime(broker: 2, .milliseconds(500))

        let service = try await fixture.start()
        try await service.waitUntilReady()
        var peakInFlight = 0.0
        var sawPaused = false
        for _ in 0..<40 {
            try await Task.sleep(for: .milliseconds(200))
            peakInFlight = max(peakInFlight, try await service.metric("verdict_in_flight_events") ?? 0)
            if try await service.metric("verdict_consumer_paused") == 1 { sawPaused = true }
        }
        let consumedWhileThrottled = try await service.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}") ?? 0
        #expect(sawPaused, "the consumer never paused")
        #expect(peakInFlight > 0)
        // The bound is checked after each batch, so it can be passed by at most one batch.
        #expect(peakInFlight <= Double(maxInFlight + maxBatch), "in flight peaked at \(peakInFlight)")
        #expect(consumedWhileThrottled < Double(total), "the throttle did not hold the stream back")
        let peak = service.peakResidentBytes() ?? 0
        #expect(peak > 0 && peak < 250 << 20, "peak RSS \(peak >> 20) MB")

        cluster.setRoundTripTime(broker: 2, .zero)
        let tally = try await OutcomeReader.read(fixture, expected: total)
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        #expect(tally.duplicates == 0)
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(20)) == 0)
    }

    /// A 3-broker mock cluster and an exactly-once stream fixture on it, `events` generated (2% invalid).
    /// - Parameter aggregates: Run with the stream aggregates of Tests/Fixtures/aggregates.yaml over
    ///   few cards, so that their state matters.
    static func exactlyOnceFixture(_ name: String, events: Int, seed: UInt64, aggregates: Bool = false) async throws -> (KafkaMockCluster, StreamFixture) {
        let cluster = try KafkaMockCluster(brokers: 3, logger: logger)
        cluster.setGroupInitialRebalanceDelay(.zero)
        let fixture = try await StreamFixture.make(
            name, brokers: cluster.bootstrapServers, pipeline: ["max_batch: 1000", "transactional_id: verdict-\(name)-test"],
            guarantee: "exactly_once", mock: cluster, features: aggregates ? try AggregateReplay.featuresFile() : nil
        )
        try await fixture.generate(count: events, invalidFraction: 0.02, seed: seed, cards: aggregates ? 300 : 20_000)
        return (cluster, fixture)
    }

    @Test("exactly-once with injected produce, offset-commit and end-transaction errors: read_committed sees each event exactly once")
    func exactlyOnceThroughRetriableErrors() async throws {
        let total = 20_000
        let (cluster, fixture) = try await Self.exactlyOnceFixture("eos", events: total, seed: 22)
        cluster.failNextRequests(.produce, with: [.notEnoughReplicas, .notEnoughReplicas, .requestTimedOut])
        cluster.failNextRequests(.addOffsetsToTransaction, with: [.coordinatorNotAvailable])
        cluster.failNextRequests(.transactionOffsetCommit, with: [.coordinatorNotAvailable, .notCoordinator])
        cluster.failNextRequests(.endTransaction, with: [.concurrentTransactions, .coordinatorNotAvailable])

        let service = try await fixture.start()
        try await service.waitUntilReady()
        try await eventually(timeout: .seconds(60), "half the events consumed") { () async -> Bool in
            ((try? await service.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}")) ?? 0) >= Double(total / 2)
        }
        // Again mid-stream, while transactions are in progress.
        cluster.failNextRequests(.produce, with: [.notEnoughReplicasAfterAppend])
        cluster.failNextRequests(.transactionOffsetCommit, with: [.coordinatorNotAvailable])
        cluster.failNextRequests(.endTransaction, with: [.concurrentTransactions])

        let tally = try await OutcomeReader.read(fixture, expected: total, settle: .seconds(2), isolation: "read_committed")
        #expect(tally.inputs.count == total)
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        #expect(tally.duplicates == 0)
        #expect((try await service.metric("verdict_transactions_total{result=\"committed\"}") ?? 0) > 0)
        #expect(try await service.metric("verdict_transactions_total{result=\"aborted\"}") == 0)
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(20)) == 0)
    }

    /// librdkafka's mock cluster does not hide aborted records from read_committed readers (its
    /// Fetch responses list no aborted transactions), so here duplicates may appear, and only as many
    /// as the aborted transactions carried; on a real broker they are invisible.
    @Test(
        "exactly-once with abortable errors: the transaction is aborted, the batch rewound and processed again; none lost; the aborted batch's aggregate state is rolled back"
    )
    func exactlyOnceAbortAndRewind() async throws {
        let total = 20_000
        let (cluster, fixture) = try await Self.exactlyOnceFixture("eos-abort", events: total, seed: 23, aggregates: true)
        // A permanently failed produce request makes the current transaction abortable.
        cluster.failNextRequests(.produce, with: [.notEnoughReplicas, .messageTooLarge])
        let service = try await fixture.start()
        try await service.waitUntilReady()
        try await eventually(timeout: .seconds(60), "half the events consumed") { () async -> Bool in
            ((try? await service.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}")) ?? 0) >= Double(total / 2)
        }
        cluster.failNextRequests(.produce, with: [.messageTooLarge])

        let tally = try await OutcomeReader.read(fixture, expected: total, settle: .seconds(2), isolation: "read_committed")
        #expect(tally.inputs.count == total)
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        let aborted = try await service.metric("verdict_transactions_total{result=\"aborted\"}") ?? 0
        let abortedRecords = try await service.metric("verdict_transaction_aborted_records_total") ?? 0
        #expect(aborted >= 1, "no transaction was aborted: the rewind was not exercised")
        #expect(Double(tally.duplicates) <= abortedRecords, "duplicates \(tally.duplicates) beyond the \(abortedRecords) records of aborted transactions")
        // Each rewind rebuilt its partition's state, so the aborted batch's changes were undone:
        // every committed decision carries the offline replay's aggregates.
        let rebuilds = try await service.metric("verdict_aggregate_rebuilds_total{result=\"done\"}") ?? 0
        #expect(rebuilds > 4, "the rewinds rebuilt their partitions (\(rebuilds) rebuilds)")
        // Snapshots went to the state topic in the decisions' transactions, and the rewinds after
        // the abort at half way started from them instead of from the start of the log.
        #expect((try await service.metric("verdict_aggregate_snapshots_total{result=\"written\",store=\"topic\"}") ?? 0) >= 1)
        #expect((try await service.metric("verdict_aggregate_restores_total{from=\"topic\"}") ?? 0) >= 1)
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(20)) == 0)
        let decisions = try await OutcomeReader.decisions(fixture, expected: tally.decisionCount, isolation: "read_committed")
        try await AggregateReplay.expectOfflineEqual(decisions, fixture, inputs: total)
    }
}

/// Outages and refusals of the decisions topic: the stream never wedges silently.
@Suite("Stream service under outages (mock cluster and Tansu)", .serialized, .enabled(if: TestBroker.enabled))
struct OutageTests {
    @Test("the decisions broker down for six message timeouts: retried with backoff, /healthz stays 200, the stream resumes by itself, nothing lost")
    func outageLongerThanMessageTimeout() async throws {
        let cluster = try KafkaMockCluster(brokers: 2, logger: MockClusterServiceTests.logger)
        cluster.setGroupInitialRebalanceDelay(.zero)
        let fixture = try await StreamFixture.make(
            "outage", brokers: cluster.bootstrapServers, pipeline: ["max_in_flight: 2000"],
            producerProperties: ["message.timeout.ms": "1500"], mock: cluster
        )
        fixture.isolateDecisions(on: cluster, coordinatorToo: true)
        let total = 20_000
        let service = try await fixture.start()
        try await service.waitUntilReady()
        // Traffic keeps arriving through the outage (about 10 s at 2,000 events/s), so decisions are
        // in flight when the broker goes down, whatever the machine's speed.
        let generator = try fixture.generator(count: total, rate: 2_000, seed: 41)
        try await eventually(timeout: .seconds(60), "some events consumed") { () async -> Bool in
            ((try? await service.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}")) ?? 0) > 1_000
        }
        cluster.setBrokerDown(2)
        var sawRetrying = false
        let clock = ContinuousClock()
        let outageEnds = clock.now + .seconds(9)
        while clock.now < outageEnds {
            let (status, body) = try await service.get("/healthz")
            #expect(status == 200, "healthz during a broker outage: \(status) \(body)")
            if (try await service.metric("verdict_partitions_retrying") ?? 0) > 0 { sawRetrying = true }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(sawRetrying, "no partition was reported retrying during the outage")
        #expect((try await service.metric("verdict_delivery_failures_total{permanent=\"false\"}") ?? 0) > 0)
        cluster.setBrokerUp(2)
        try await exit(of: generator)
        let tally = try await OutcomeReader.read(fixture, expected: total, timeout: .seconds(120))
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        #expect(try await service.metric("verdict_partitions_held") == 0)
        #expect(try await service.get("/healthz").0 == 200)
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test(
        "decisions the broker refuses for good hold their partitions; /healthz turns 503 naming topic and error; a restart with the cause fixed loses nothing")
    func refusalHoldsAndTurnsUnhealthy() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: MockClusterServiceTests.logger)
        cluster.setGroupInitialRebalanceDelay(.zero)
        let fixture = try await StreamFixture.make(
            "held", brokers: cluster.bootstrapServers, pipeline: ["unhealthy_after: 2s", "shutdown_timeout: 3s"], mock: cluster
        )
        let total = 2_000
        try await fixture.generate(count: total, seed: 42)
        cluster.failNextRequests(.produce, with: Array(repeating: .topicAuthorizationFailed, count: 10_000))
        let service = try await fixture.start()
        try await service.waitUntilReady()
        try await eventually(timeout: .seconds(60), "/healthz 503 naming the refusal") { () async -> Bool in
            guard let (status, body) = try? await service.get("/healthz") else { return false }
            return status == 503 && body.contains("held") && body.contains("uthoriz")
        }
        #expect((try await service.metric("verdict_partitions_held") ?? 0) >= 1)
        #expect(service.logContains("the partition is held"))
        service.signal(SIGKILL)
        _ = try await service.waitForExit(timeout: .seconds(10))
        // The cause is fixed (the injected refusals are cleared); the restarted service delivers all.
        cluster.clearRequestErrors(.produce)
        let restarted = try await fixture.start("serve-2")
        try await restarted.waitUntilReady()
        let tally = try await OutcomeReader.read(fixture, expected: total, timeout: .seconds(120))
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        #expect(try await restarted.get("/healthz").0 == 200)
        restarted.signal(SIGTERM)
        #expect(try await restarted.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("exactly-once: records whose decisions can never be published are bisected out and dead-lettered PUBLISH_FAILED; the rest commit; nothing lost")
    func exactlyOnceBisectsPoisonRecords() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: MockClusterServiceTests.logger)
        cluster.setGroupInitialRebalanceDelay(.zero)
        // Decisions with reasons (REVIEW, DECLINE: 900-1,700 bytes) are mostly larger than the producer
        // accepts (1,000 bytes); APPROVE decisions (500-700) and dead letters without the original are not.
        let fixture = try await StreamFixture.make(
            "eos-poison", brokers: cluster.bootstrapServers, pipeline: ["max_batch: 8", "transactional_id: verdict-eos-poison-test"],
            producerProperties: ["message.max.bytes": "1000"], guarantee: "exactly_once", mock: cluster
        )
        try String(contentsOf: fixture.config, encoding: .utf8).appending("\ndead_letters:\n  max_original_bytes: 0\n")
            .write(to: fixture.config, atomically: true, encoding: .utf8)
        let total = 400
        try await fixture.generate(count: total, seed: 44)
        let service = try await fixture.start()
        try await service.waitUntilReady()
        let tally = try await OutcomeReader.read(fixture, expected: total, timeout: .seconds(180), settle: .seconds(2), isolation: "read_committed")
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        let poisoned = tally.deadLettersByReason["PUBLISH_FAILED"] ?? 0
        #expect(poisoned > 0, "no record was bisected out (decisions by outcome: \(tally.decisionsByOutcome))")
        // Most decisions with reasons are over the limit; APPROVE decisions are far below it.
        #expect(tally.decisionsByOutcome["APPROVE", default: 0] > total / 2)
        #expect(service.logContains("dead-lettered instead"))
        #expect(try await service.get("/healthz").0 == 200)
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("exactly-once: a commit that fails retriably more times than any fixed budget is resumed, never aborted into a livelock")
    func exactlyOnceResumesCommit() async throws {
        let total = 10_000
        let (cluster, fixture) = try await MockClusterServiceTests.exactlyOnceFixture("eos-resume", events: total, seed: 43)
        cluster.failNextRequests(.endTransaction, with: Array(repeating: .coordinatorNotAvailable, count: 8))
        cluster.failNextRequests(.transactionOffsetCommit, with: Array(repeating: .coordinatorNotAvailable, count: 6))
        let service = try await fixture.start()
        try await service.waitUntilReady()
        let tally = try await OutcomeReader.read(fixture, expected: total, timeout: .seconds(120), settle: .seconds(2), isolation: "read_committed")
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        #expect(tally.duplicates == 0)
        #expect(try await service.metric("verdict_transactions_total{result=\"aborted\"}") == 0)
        #expect(try await service.get("/healthz").0 == 200)
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(20)) == 0)
    }
}

extension StreamFixture {
    /// Puts the decisions topic's partitions on broker 2 and everything else (input, dead letters
    /// and, with `coordinatorToo`, the group coordinator) on broker 1, so a fault on broker 2 hits
    /// only the writes of decisions.
    func isolateDecisions(on cluster: KafkaMockCluster, coordinatorToo: Bool) {
        for partition in 0..<4 {
            cluster.setPartitionLeader(topic: input, partition: partition, broker: 1)
            cluster.setPartitionLeader(topic: decisions, partition: partition, broker: 2)
        }
        cluster.setPartitionLeader(topic: deadLetters, partition: 0, broker: 1)
        if coordinatorToo { cluster.setCoordinator(group: group, broker: 1) }
    }
}
