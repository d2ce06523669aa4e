import Foundation
import Synchronization
import Testing
import VerdictKafka
import VerdictPipeline
import VerdictScoring

/// Stream aggregates end to end against Tansu: `verdict serve` killed mid-stream, restarted, and
/// every decision it published, duplicates included, carries the aggregates an offline
/// `verdict score` computes over the same partition's events in offset order.
@Suite("Stream aggregates (verdict serve against Tansu)", .serialized, .enabled(if: TestBroker.enabled))
struct AggregateStreamTests {
    @Test("SIGKILL three times mid-stream: every decision, duplicates included, carries the aggregates of the offline replay of its partition")
    func killedThreeTimesMatchesReplay() async throws {
        let features = try AggregateReplay.featuresFile()
        let fixture = try await StreamFixture.make(
            "aggregates-kill", brokers: try TestBroker.brokers(),
            pipeline: ["max_in_flight: 4000", "commit_interval: 200ms", "state_directory: state", "state_snapshot_interval: 1s"], features: features)
        let total = 40_000
        var service = try await fixture.start("serve-0")
        try await service.waitUntilReady()
        let started = Date().timeIntervalSince1970
        let generator = try fixture.generator(count: total, rate: 8_000, seed: 31, cards: 400)
        for kill in 1...3 {
            try await eventually(timeout: .seconds(60), "instance \(kill - 1) scores events") { () async -> Bool in
                ((try? await service.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}")) ?? 0) >= 6_000
            }
            service.signal(SIGKILL)
            #expect(try await service.waitForExit(timeout: .seconds(10)) != nil)
            service = try await fixture.start("serve-\(kill)")
            try await service.waitUntilReady()
        }
        while generator.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(generator.terminationStatus == 0)
        let tally = try await OutcomeReader.read(fixture, expected: total)
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        #expect(tally.duplicates > 0, "three kills re-deliver something")
        let rebuilt = try await service.metric("verdict_aggregate_rebuilds_total{result=\"done\"}")
        #expect((rebuilt ?? 0) >= 1, "the last instance rebuilt its partitions")
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(15)) == 0)

        let decisions = try await OutcomeReader.decisions(fixture, expected: tally.decisionCount)
        #expect(decisions.count > total / 2)
        try await AggregateReplay.expectOfflineEqual(decisions, fixture, inputs: total)
        // The restarts restored partitions from their local snapshots where those ended before the
        // committed offset (else from the start of the log); both are exact, as checked above.
        var restored = 0
        for instance in 1...3 {
            let log = try String(contentsOf: fixture.directory.appendingPathComponent("serve-\(instance).log"), encoding: .utf8)
            restored += log.split(separator: "\n").filter { $0.contains("aggregate state rebuilt") && !$0.contains("the start of the log") }.count
        }
        #expect(restored >= 1, "no restart restored a partition from its snapshot")
        // A backtest of the second half of the traffic warms from the snapshots in the state topic
        // (one a second) whose records all come before it, and reproduces the stream.
        // The generator sends at 8,000 a second (or slower, under load): half its time is inside.
        try await ReplayCommandCheck.expectWarmReplay(fixture, from: started + Double(total) / 8_000 / 2)
    }

    @Test(
        "a second instance joins mid-stream and leaves: the state of each partition moves with it, every decision equals the offline replay, and verdict replay reproduces them"
    )
    func joinAndLeaveMovesState() async throws {
        let fixture = try await StreamFixture.make(
            "aggregates-join", brokers: try TestBroker.brokers(), pipeline: ["max_in_flight: 4000", "commit_interval: 200ms"],
            features: try AggregateReplay.featuresFile())
        // 18 s of traffic: a join on Tansu takes about 11 s to be assigned.
        let total = 27_000
        let first = try await fixture.start("serve-0")
        try await first.waitUntilReady()
        let before = Date().timeIntervalSince1970
        let generator = try fixture.generator(count: total, rate: 1_500, invalidFraction: 0.01, seed: 37, cards: 300)
        try await eventually(timeout: .seconds(60), "the first instance scores events") { () async -> Bool in
            ((try? await first.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}")) ?? 0) >= 3_000
        }
        let second = try await fixture.start("serve-1")
        try await second.waitUntilReady(assigned: true, timeout: .seconds(60))
        try await eventually(timeout: .seconds(60), "the joiner scores the partitions it took") { () async -> Bool in
            ((try? await second.metric("verdict_events_consumed_total{topic=\"\(fixture.input)\"}")) ?? 0) >= 1_000
        }
        // The joiner, without the first instance's disk, restored what it took from the snapshots
        // in the state topic and read only the log after them before scoring it.
        #expect(((try await second.metric("verdict_aggregate_rebuilds_total{result=\"done\"}")) ?? 0) >= 1)
        #expect(((try await second.metric("verdict_aggregate_restores_total{from=\"topic\"}")) ?? 0) >= 1)
        second.signal(SIGTERM)
        #expect(try await second.waitForExit(timeout: .seconds(20)) == 0)
        while generator.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(generator.terminationStatus == 0)
        let tally = try await OutcomeReader.read(fixture, expected: total)
        #expect(tally.missing.isEmpty, "lost: \(tally.missing.count)")
        // The first instance got its partitions back, and rebuilt them past what the joiner decided,
        // from the snapshots the joiner wrote when it left.
        #expect(((try await first.metric("verdict_aggregate_rebuilds_total{result=\"done\"}")) ?? 0) >= 2)
        #expect(((try await first.metric("verdict_aggregate_restores_total{from=\"topic\"}")) ?? 0) >= 1)
        first.signal(SIGTERM)
        #expect(try await first.waitForExit(timeout: .seconds(15)) == 0)
        let decisions = try await OutcomeReader.decisions(fixture, expected: tally.decisionCount)
        try await AggregateReplay.expectOfflineEqual(decisions, fixture, inputs: total)
        try await ReplayCommandCheck.expectReplays(fixture, total: total, before: before)
    }

    @Test("with aggregates and no state topic, verdict serve refuses to start and says how to create it or turn it off")
    func missingStateTopicRefused() async throws {
        let fixture = try await StreamFixture.make(
            "aggregates-nostate", brokers: try TestBroker.brokers(), features: try AggregateReplay.featuresFile(), createStateTopic: false)
        let service = try await fixture.start()
        let status = try await service.waitForExit(timeout: .seconds(60))
        #expect(status != nil && status != 0)
        let log = try String(contentsOf: fixture.directory.appendingPathComponent("serve.log"), encoding: .utf8)
        #expect(log.contains("the state topic \(fixture.state) (topics.state) does not exist: create it"), "\(log.suffix(2_000))")
        #expect(log.contains("to rebuild each partition's aggregate state from its log"), "\(log.suffix(2_000))")
    }
}
