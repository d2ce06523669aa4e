import Foundation
import Testing
import VerdictPipeline
import VerdictScoring

/// `verdict replay` end to end against Tansu, over a fixture `verdict serve` has decided: the
/// command replays the input topic and diffs it against what serve published.
enum ReplayCommandCheck {
    /// Expects a replay of the whole log with serve's own model and policy to change nothing and
    /// reproduce every aggregate, and one with a candidate policy to list its changes in the
    /// Markdown and the JSON. `before` is a time before the first event was produced.
    static func expectReplays(_ fixture: StreamFixture, total: Int, before: Double) async throws {
        let from = Timestamps.rfc3339(before - 5), to = Timestamps.rfc3339(Date().timeIntervalSince1970 + 3_600)
        func replay(_ name: String, _ extra: [String] = []) async throws -> (json: [String: Any], markdown: String) {
            let json = fixture.directory.appendingPathComponent("\(name).json"), report = fixture.directory.appendingPathComponent("\(name).md")
            let run = try await runVerdict(
                ["replay", "--config", fixture.config.path, "--from", from, "--to", to, "--json", json.path, "--report", report.path] + extra)
            #expect(run.status == 0, "\(run.output)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
            return (object, try String(contentsOf: report, encoding: .utf8))
        }

        let same = try await replay("same")
        #expect(same.json["records"] as? Int == total)
        #expect(same.json["changed"] as? Int == 0, "\(same.markdown)")
        #expect(same.json["scores_changed"] as? Int == 0)
        #expect(same.json["conflicting_duplicates"] as? Int == 0, "re-delivered decisions agree with their first copies")
        let aggregates = try #require(same.json["aggregates"] as? [String: Any])
        #expect((aggregates["compared"] as? Int ?? 0) > total / 2 && aggregates["differing"] as? Int == 0, "\(aggregates)")
        #expect(same.markdown.contains("the replay reproduced the stream's on all"))

        // A candidate policy: a quarter of the model card's review threshold.
        let card = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: fixture.models.appendingPathComponent("1.0.0/card.json"))) as? [String: Any])
        let thresholds = try #require(card["thresholds"] as? [String: Any])
        let reviewAt = try #require(thresholds["review_at"] as? Double), declineAt = try #require(thresholds["decline_at"] as? Double)
        var rules = try String(contentsOf: TestBroker.projectRoot.appendingPathComponent("config/rules.yaml"), encoding: .utf8)
        rules = rules.replacingOccurrences(
            of: "\npolicy_version:", with: "\nthresholds: {review_at: \(reviewAt / 4), decline_at: \(declineAt)}\npolicy_version:")
        let rulesFile = fixture.directory.appendingPathComponent("candidate-rules.yaml")
        try rules.write(to: rulesFile, atomically: true, encoding: .utf8)
        let candidate = try await replay("candidate", ["--rules", rulesFile.path, "--listed", "5"])
        let changed = try #require(candidate.json["changed"] as? Int)
        #expect(changed > 0)
        let matrix = try #require(candidate.json["matrix"] as? [String: [String: Int]])
        #expect((matrix["APPROVE"]?["REVIEW"] ?? 0) > 0, "\(matrix)")
        #expect(matrix["REVIEW"]?["APPROVE"] == nil && matrix["DECLINE"]?["APPROVE"] == nil, "a lower threshold never approves more")
        #expect((candidate.json["changes"] as? [[String: Any]])?.count == changed)
        #expect(candidate.markdown.contains("**\(changed)** of \(total) records changed outcome"))
        if changed > 5 { #expect(candidate.markdown.contains("first 5 of \(changed)")) }
    }

    /// Expects a replay from `from` (inside the stream's traffic) to warm some partition from a
    /// snapshot in the state topic, and to reproduce every outcome and aggregate all the same.
    static func expectWarmReplay(_ fixture: StreamFixture, from: Double) async throws {
        let json = fixture.directory.appendingPathComponent("warm.json"), report = fixture.directory.appendingPathComponent("warm.md")
        let run = try await runVerdict([
            "replay", "--config", fixture.config.path, "--from", Timestamps.rfc3339(from), "--to", Timestamps.rfc3339(Date().timeIntervalSince1970 + 3_600),
            "--json", json.path, "--report", report.path,
        ])
        #expect(run.status == 0, "\(run.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        let markdown = try String(contentsOf: report, encoding: .utf8)
        #expect((object["records"] as? Int ?? 0) > 0)
        #expect(object["changed"] as? Int == 0, "\(markdown)")
        let aggregates = try #require(object["aggregates"] as? [String: Any])
        #expect(aggregates["differing"] as? Int == 0, "\(aggregates)")
        let partitions = try #require(object["partitions"] as? [[String: Any]])
        #expect(partitions.contains { $0["snapshot_through"] is Int }, "no partition warmed from a snapshot: \(partitions)")
        #expect(markdown.contains("snapshot after offset"))
        #expect(run.output.contains("partitions from a state snapshot"))
    }
}
