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
        let features = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-aggregates-\(UUID().uuidString.prefix(8)).yaml")
        let base = try String(contentsOf: TestBroker.projectRoot.appendingPathComponent("config/features.yaml"), encoding: .utf8)
        try (base + "\n" + String(contentsOf: TestBroker.projectRoot.appendingPathComponent("Tests/Fixtures/aggregates.yaml"), encoding: .utf8)).write(
            to: features, atomically: true, encoding: .utf8)
        let fixture = try await StreamFixture.make(
            "aggregates-kill", brokers: try TestBroker.brokers(), pipeline: ["max_in_flight: 4000", "commit_interval: 200ms"], features: features)
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

        // Offline: each partition's events in offset order, scored by `verdict score`.
        let input = try await OutcomeReader.records(fixture, topic: fixture.input, expected: total)
        var expected: [String: [String: Double?]] = [:]
        for partition in Set(input.map(\.partition)).sorted() {
            let records = input.filter { $0.partition == partition }.sorted { $0.offset < $1.offset }
            let file = fixture.directory.appendingPathComponent("partition-\(partition).jsonl")
            let lines = records.map { String(decoding: $0.value ?? [], as: UTF8.self) }.joined(separator: "\n") + "\n"
            try lines.write(to: file, atomically: true, encoding: .utf8)
            let out = fixture.directory.appendingPathComponent("partition-\(partition).decisions")
            let run = try await runVerdict(["score", "--config", fixture.config.path, "--input", file.path, "--output", out.path])
            #expect(run.status == 0, "\(run.output)")
            for line in try String(contentsOf: out, encoding: .utf8).split(separator: "\n") {
                let record = try #require(DecisionRecord.parse(Array(line.utf8)))
                expected["\(partition)/\(records[Int(record.source.offset) - 1].offset)"] = try #require(record.aggregates)
            }
        }
        let decisions = try await OutcomeReader.decisions(fixture, expected: tally.decisionCount)
        #expect(decisions.count > total / 2)
        var compared = 0
        var differing: [String] = []
        for decision in decisions {
            let where_ = "\(decision.source.partition)/\(decision.source.offset)"
            guard let offline = expected[where_] else {
                differing.append("\(where_): not decided offline")
                continue
            }
            compared += 1
            if decision.aggregates != offline { differing.append("\(where_): stream \(String(describing: decision.aggregates)) offline \(offline)") }
        }
        #expect(differing.isEmpty, "\(differing.count) of \(compared) decisions differ, e.g. \(differing.prefix(3))")
        #expect(compared == decisions.count)
        // Cards repeat: the comparison covers real state, not only first events.
        #expect(decisions.contains { (($0.aggregates?["card_txn_count_1h"] ?? nil) ?? 0) >= 5 })
    }
}
