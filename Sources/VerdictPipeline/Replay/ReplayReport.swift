public import Foundation
import VerdictScoring

/// A replay's result as a fraud team reads it: what was replayed, with what, and the comparison,
/// as Markdown (for a review) and JSON (for a notebook or a promotion gate).
public struct ReplayReport: Sendable, Codable {
    /// The offsets of one input partition the replay covered.
    public struct PartitionRange: Sendable, Hashable, Codable {
        public var partition: Int
        /// The first offset in the range and the first after it (equal: nothing in range).
        public var firstOffset: Int64
        public var endOffset: Int64
        /// Records before the range applied to the aggregates' state without scoring.
        public var warmed: Int
        /// Records in the range, scored.
        public var replayed: Int
        /// The last offset of the state snapshot the warming started from (nil: the log's start).
        public var snapshotThrough: Int64?

        public init(partition: Int, firstOffset: Int64, endOffset: Int64, warmed: Int, replayed: Int, snapshotThrough: Int64? = nil) {
            self.partition = partition
            self.firstOffset = firstOffset
            self.endOffset = endOffset
            self.warmed = warmed
            self.replayed = replayed
            self.snapshotThrough = snapshotThrough
        }

        enum CodingKeys: String, CodingKey {
            case partition, warmed, replayed
            case firstOffset = "first_offset"
            case endOffset = "end_offset"
            case snapshotThrough = "snapshot_through"
        }
    }

    /// The model and policy the range was replayed with.
    public struct Candidate: Sendable, Hashable, Codable {
        public var model: String?
        public var version: String?
        public var sha256: String?
        public var policyVersion: String

        public init(model: String?, version: String?, sha256: String?, policyVersion: String) {
            self.model = model
            self.version = version
            self.sha256 = sha256
            self.policyVersion = policyVersion
        }

        enum CodingKeys: String, CodingKey {
            case model, version, sha256
            case policyVersion = "policy_version"
        }
    }

    public struct Aggregates: Sendable, Hashable, Codable {
        public var compared: Int
        public var differing: Int
        public var examples: [String]
    }

    public var input: String
    public var decisions: String
    public var deadLetters: String
    /// The range, RFC 3339.
    public var from: String
    public var to: String
    public var candidate: Candidate
    public var partitions: [PartitionRange]
    public var records: Int
    public var matrix: [String: [String: Int]]
    public var changed: Int
    public var reasonsChanged: Int
    public var scoresChanged: Int
    public var largestScoreChange: Double
    public var duplicates: Int
    public var conflictingDuplicates: Int
    public var degradedInStream: Int
    public var aggregates: Aggregates
    public var reasons: [ReplayComparison.ReasonCount]
    public var changes: [ReplayComparison.Change]

    public init(
        input: String, decisions: String, deadLetters: String, from: Double, to: Double, candidate: Candidate, partitions: [PartitionRange],
        comparison: ReplayComparison
    ) {
        self.input = input
        self.decisions = decisions
        self.deadLetters = deadLetters
        self.from = Timestamps.rfc3339(from)
        self.to = Timestamps.rfc3339(to)
        self.candidate = candidate
        self.partitions = partitions
        records = comparison.records
        matrix = comparison.matrix
        changed = comparison.changed
        reasonsChanged = comparison.reasonsChanged
        scoresChanged = comparison.scoresChanged
        largestScoreChange = comparison.largestScoreChange
        duplicates = comparison.duplicates
        conflictingDuplicates = comparison.conflictingDuplicates
        degradedInStream = comparison.degradedInStream
        aggregates = Aggregates(compared: comparison.aggregatesCompared, differing: comparison.aggregatesDiffering, examples: comparison.aggregateExamples)
        reasons = comparison.reasons
        changes = comparison.changes
    }

    enum CodingKeys: String, CodingKey {
        case input, decisions, from, to, candidate, partitions, records, matrix, changed, duplicates, aggregates, reasons, changes
        case deadLetters = "dead_letters"
        case reasonsChanged = "reasons_changed"
        case scoresChanged = "scores_changed"
        case largestScoreChange = "largest_score_change"
        case conflictingDuplicates = "conflicting_duplicates"
        case degradedInStream = "degraded_in_stream"
    }

    /// The report as JSON (keys sorted, so two reports diff cleanly).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// The report as Markdown, listing at most `listed` changed records.
    public func markdown(listed: Int = 50) -> String {
        var out = "# Replay of `\(input)` from \(from) to \(to)\n\n"
        let model = candidate.model.map { "\($0) \(candidate.version ?? "")" + (candidate.sha256.map { " (sha256 \($0.prefix(12)))" } ?? "") } ?? "none"
        out += "Candidate: model \(model), policy \(candidate.policyVersion). Published outcomes read from `\(decisions)` and `\(deadLetters)`.\n\n"
        out += "| partition | warmed from | first offset | end offset | warmed | replayed |\n|---:|---|---:|---:|---:|---:|\n"
        for p in partitions {
            let start = p.snapshotThrough.map { "snapshot after offset \($0)" } ?? "start of the log"
            out += "| \(p.partition) | \(start) | \(p.firstOffset) | \(p.endOffset) | \(p.warmed) | \(p.replayed) |\n"
        }

        out += "\n## Outcomes: published (rows) → replayed (columns)\n\n"
        // A replay always gives an outcome; the stream may have published none.
        let columns = ReplayOutcome.labels.filter { $0 != ReplayOutcome.noneLabel }
        let rows = columns + (matrix[ReplayOutcome.noneLabel] != nil ? [ReplayOutcome.noneLabel] : [])
        out += "| published \\ replayed | " + columns.joined(separator: " | ") + " | total |\n"
        out += "|---|" + String(repeating: "---:|", count: columns.count + 1) + "\n"
        for row in rows {
            let cells = matrix[row] ?? [:]
            out += "| \(row) | " + columns.map { cell(cells[$0, default: 0], diagonal: $0 == row) }.joined(separator: " | ")
            out += " | \(cells.values.reduce(0, +)) |\n"
        }
        out += "\n"
        let share = records > 0 ? String(format: "%.2f%%", Double(changed) * 100 / Double(records)) : "0%"
        out += "- **\(changed)** of \(records) records changed outcome (\(share)).\n"
        out += "- \(reasonsChanged) kept their outcome with different reasons or rule hits.\n"
        out += "- \(scoresChanged) changed risk score" + (scoresChanged > 0 ? String(format: " (largest change %.6f)", largestScoreChange) : "") + ".\n"
        if degradedInStream > 0 { out += "- \(degradedInStream) were decided without the model in the stream (degraded); the replay decides them with it.\n" }
        if let none = matrix[ReplayOutcome.noneLabel]?.values.reduce(0, +), none > 0 {
            out += "- \(none) had no outcome in the published topics (not yet decided, or those records are gone from them).\n"
        }

        out += "\n## Reasons given (published → replayed)\n\n"
        if reasons.isEmpty {
            out += "No reasons on either side.\n"
        } else {
            out += "| kind | code | published | replayed | change |\n|---|---|---:|---:|---:|\n"
            for r in reasons {
                let delta = r.replayed - r.published
                out += "| \(r.kind) | `\(r.code)` | \(r.published) | \(r.replayed) | \(delta > 0 ? "+" : "")\(delta) |\n"
            }
        }

        out += "\n## Changed records"
        if changes.isEmpty {
            out += "\n\nNone.\n"
        } else {
            out += changes.count > listed ? " (first \(listed) of \(changes.count); the JSON has all)\n\n" : "\n\n"
            out += "| transaction | partition/offset | published | replayed | score published → replayed | reasons published | reasons replayed |\n"
            out += "|---|---|---|---|---|---|---|\n"
            for change in changes.prefix(listed) {
                let score = { (value: Double?) in value.map { String(format: "%.4f", $0) } ?? "–" }
                let reasons = { (o: ReplayOutcome) in (o.reasons + o.ruleHits).map { "`\($0)`" }.joined(separator: " ") }
                out +=
                    "| \(change.transactionID ?? "–") | \(change.source.partition)/\(change.source.offset) | \(change.published.outcome) | \(change.replayed.outcome) "
                out +=
                    "| \(score(change.published.riskScore)) → \(score(change.replayed.riskScore)) | \(reasons(change.published)) | \(reasons(change.replayed)) |\n"
            }
        }

        out += "\n## Checks\n\n"
        out += "- Re-deliveries: the stream published \(duplicates) extra copies"
        out +=
            duplicates == 0
            ? ".\n" : (conflictingDuplicates == 0 ? ", all equal to the first.\n" : "; **\(conflictingDuplicates) records' copies disagree**.\n")
        if aggregates.compared == 0 {
            out += "- Aggregates: not compared (no decision carries aggregates of the same names on both sides).\n"
        } else if aggregates.differing == 0 {
            out += "- Aggregates: the replay reproduced the stream's on all \(aggregates.compared) decisions compared.\n"
        } else {
            out +=
                "- Aggregates: **\(aggregates.differing) of \(aggregates.compared) decisions differ**, e.g. " + aggregates.examples.joined(separator: "; ")
                + ".\n"
        }
        return out
    }

    private func cell(_ count: Int, diagonal: Bool) -> String {
        diagonal || count == 0 ? "\(count)" : "**\(count)**"
    }
}
