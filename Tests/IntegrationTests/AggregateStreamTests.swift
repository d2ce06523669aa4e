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
    }
}
