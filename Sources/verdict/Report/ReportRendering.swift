import Foundation
import VerdictPipeline

/// The text `verdict report` prints.
enum ReportRendering {
    static func render(_ tally: StreamTally, input: String, samples: Int) -> String {
        var lines: [String] = []
        let events = tally.inputs.count
        let outcomes = tally.decisionCount + tally.deadLetterCount
        lines.append("events in        \(events) on \(input)")
        let order = ["APPROVE", "REVIEW", "DECLINE"]
        let kinds = order + tally.decisionsByOutcome.keys.filter { !order.contains($0) }.sorted()
        let byOutcome = kinds.compactMap { kind -> String? in
            guard let n = tally.decisionsByOutcome[kind] else { return nil }
            return "\(kind) \(n) (\(percent(n, of: max(tally.decisionCount, 1))))"
        }
        lines.append("decisions        \(tally.decisionCount): " + byOutcome.joined(separator: ", "))
        if tally.degraded > 0 { lines.append("  degraded       \(tally.degraded) (REVIEW because the event was too old or no model was loaded)") }
        let reasons = tally.deadLettersByReason.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.key) \($0.value)" }
        lines.append("dead letters     \(tally.deadLetterCount)" + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: ", ")))
        let missing = tally.missing.count
        let verdict = missing == 0 && events > 0 ? "every event has an outcome" : "\(missing) events have NO outcome"
        lines.append("accounted        \(events - missing) of \(events): \(verdict); \(tally.duplicates) duplicates, \(outcomes) outcome records")
        if tally.unreadable > 0 { lines.append("unreadable       \(tally.unreadable) output records are neither decisions nor dead letters") }
        if tally.strays > 0 { lines.append("strays           \(tally.strays) outcomes for events not on \(input)") }
        let versions = tally.decisionsByModelVersion.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        if !versions.isEmpty { lines.append("model versions   " + versions.joined(separator: ", ")) }
        let policies = tally.decisionsByPolicyVersion.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        if !policies.isEmpty { lines.append("policy versions  " + policies.joined(separator: ", ")) }
        if tally.shadowOpinions > 0 {
            lines.append("shadow agreement \(percent(tally.shadowAgreements, of: tally.shadowOpinions)) of \(tally.shadowOpinions)")
        }
        if let rate = tally.outcomesPerSecond {
            lines.append("throughput       \(Int(rate.rounded())) events/s (first to last outcome)")
        }
        let latency = Percentiles.of(tally.latencies, [0.5, 0.99, 1])
        if !tally.latencies.isEmpty {
            lines.append(
                String(
                    format: "latency          p50 %.0f ms, p99 %.0f ms, max %.0f ms (event produced -> decision published, Kafka timestamps)", latency[0],
                    latency[1], latency[2]))
        }
        let processing = Percentiles.of(tally.processing, [0.5, 0.99])
        if !tally.processing.isEmpty {
            lines.append(String(format: "in Verdict       p50 %.3f ms, p99 %.3f ms (batch received -> decided)", processing[0], processing[1]))
        }
        let shown = ["DECLINE", "REVIEW", "APPROVE"].compactMap { tally.samples[$0] }.prefix(samples)
        if !shown.isEmpty { lines.append("sample decisions") }
        for decision in shown { lines.append(contentsOf: describe(decision)) }
        return lines.joined(separator: "\n")
    }

    private static func describe(_ decision: DecisionRecord) -> [String] {
        var lines: [String] = []
        let score = decision.riskScore.map { String(format: "%.4f", $0) } ?? "none"
        let model = decision.model.map { "\($0.name) \($0.version)" } ?? "no model"
        lines.append("  \(decision.decision) \(decision.transactionID ?? "?") score \(score) (\(decision.riskLevel)), \(model)")
        for reason in decision.reasons {
            let value = reason.value.map { String(format: "%g", $0) } ?? "missing"
            lines.append("    \(reason.code) \(reason.feature)=\(value) (" + String(format: "%+.3f", reason.contribution) + " log-odds)")
        }
        for hit in decision.ruleHits { lines.append("    rule \(hit.code) -> \(hit.action)") }
        return lines
    }

    private static func percent(_ part: Int, of whole: Int) -> String {
        String(format: "%.1f%%", Double(part) * 100 / Double(max(whole, 1)))
    }
}
