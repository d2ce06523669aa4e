import Foundation
import Testing
import VerdictKafka
import VerdictPipeline
import VerdictScoring

/// The offline side of the stream-aggregate tests: each input partition's events, in offset order,
/// through `verdict score`, whose decisions every decision of the stream must equal.
enum AggregateReplay {
    /// config/features.yaml with the aggregates of Tests/Fixtures/aggregates.yaml appended.
    static func featuresFile() throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-aggregates-\(UUID().uuidString.prefix(8)).yaml")
        let base = try String(contentsOf: TestBroker.projectRoot.appendingPathComponent("config/features.yaml"), encoding: .utf8)
        let aggregates = try String(contentsOf: TestBroker.projectRoot.appendingPathComponent("Tests/Fixtures/aggregates.yaml"), encoding: .utf8)
        try (base + "\n" + aggregates).write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    /// The aggregates `verdict score` gives each input record, by "partition/offset".
    static func offline(_ fixture: StreamFixture, inputs: Int) async throws -> [String: [String: Double?]] {
        let input = try await OutcomeReader.records(fixture, topic: fixture.input, expected: inputs)
        #expect(input.count == inputs)
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
                // `verdict score` numbers lines from 1: line n is the partition's n-th record.
                let aggregates: [String: Double?] = try #require(record.aggregates, "an offline decision without aggregates")
                expected["\(partition)/\(records[Int(record.source.offset) - 1].offset)"] = aggregates
            }
        }
        return expected
    }

    /// Expects every decision to carry the aggregates the offline replay gives its record, and the
    /// comparison to cover real state (cards seen several times in the hour).
    static func expectOfflineEqual(
        _ decisions: [DecisionRecord], _ fixture: StreamFixture, inputs: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let expected = try await offline(fixture, inputs: inputs)
        var differing: [String] = []
        for decision in decisions {
            let record = "\(decision.source.partition)/\(decision.source.offset)"
            guard let offline = expected[record] else {
                differing.append("\(record): not decided offline")
                continue
            }
            if decision.aggregates != offline { differing.append("\(record): stream \(String(describing: decision.aggregates)) offline \(offline)") }
        }
        #expect(differing.isEmpty, "\(differing.count) of \(decisions.count) decisions differ, e.g. \(differing.prefix(3))", sourceLocation: sourceLocation)
        #expect(
            decisions.contains { (($0.aggregates?["card_txn_count_1h"] ?? nil) ?? 0) >= 5 }, "cards repeat within the hour",
            sourceLocation: sourceLocation)
    }
}
