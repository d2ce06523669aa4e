import ArgumentParser
import Foundation
import VerdictForest
import VerdictPipeline
import VerdictScoring

/// `verdict score`: the stream's scoring code path over a file, for batch scoring and backtests.
struct ScoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score events from a JSON-lines file (or stdin) exactly as the stream would; print a summary."
    )

    @Option(help: "Service configuration (verdict.yaml).") var config: String = "config/verdict.yaml"
    @Option(help: "Model file or directory (default: model.path of the configuration).") var model: String?
    @Option(help: "Events, one JSON object per line; - for stdin.") var input: String = "-"
    @Option(help: "Decisions, one per line (default: stdout).") var output: String?
    @Option(name: .customLong("dead-letters"), help: "Dead-letter envelopes, one per line (default: discarded, counted).") var deadLetters: String?
    @Option(
        name: .customLong("as-of"), help: "Reference time for timestamp checks (RFC 3339); default now. Use the time the events were produced for backtests.")
    var asOf: String?
    @Flag(name: .customLong("no-age-check"), help: "Accept events of any age and score them with the model however old (backtests of old data).")
    var noAgeCheck = false
    @Option(help: "Scoring threads (default: cores).") var threads: Int?

    func run() async throws {
        var setup = try ScoringSetup(configPath: config)
        if noAgeCheck { setup.scoring.validation.maxEventAge = ConfigDuration(.zero) }
        let reference: Double?
        if let asOf {
            guard let parsed = Timestamps.parse(asOf) else { throw ValidationError("--as-of '\(asOf)' is not an RFC 3339 time") }
            reference = parsed
        } else {
            reference = nil
        }
        let scoringModel = try setup.loadModel(override: model)
        let pool = ForestWorkerPool(threads: threads)
        defer { pool.shutdown() }
        let scorer = try Scorer(
            validation: setup.scoring.validation, rules: setup.scoring.rules, model: scoringModel, pool: pool, appliesEventAgeSLA: !noAgeCheck,
            deadLetters: setup.configuration.deadLetters)
        // The file is one partition in log order: aggregates are folded over it line by line.
        let plan = try setup.scoring.features.aggregatePlan()
        let state = plan.isEmpty ? nil : AggregateStore(plan: plan)
        var reader = try LineReader(path: input)
        let output = ScoreOutput(decisions: try OutputFile(path: output), deadLetters: try deadLetters.map { try OutputFile(path: $0) })
        let topic = "file:\(input == "-" ? "stdin" : (input as NSString).lastPathComponent)"
        var line: Int64 = 0
        let clock = ContinuousClock()
        let started = clock.now
        var batch: [ScoringInput] = []
        // Writing runs on its own queue, overlapping the next batch's reading and scoring; at most
        // two scored batches wait for it.
        let writer = DispatchQueue(label: "verdict.score.writer")
        let pending = DispatchSemaphore(value: 2)
        func flush() {
            let outcomes = scorer.score(batch, asOf: reference, state: state)
            batch.removeAll(keepingCapacity: true)
            pending.wait()
            writer.async {
                output.write(outcomes)
                pending.signal()
            }
        }
        let now = Date().timeIntervalSince1970
        while let record = reader.next() {
            line += 1
            if record.isEmpty { continue }
            batch.append(ScoringInput(value: record, source: EventSource(topic: topic, partition: 0, offset: line), receivedAt: now))
            if batch.count == 4096 { flush() }
        }
        flush()
        let summary = writer.sync { output.finish() }
        let seconds = (clock.now - started).seconds
        FileHandle.standardError.write(Data(summary.report(seconds: seconds, model: scoringModel).utf8))
    }
}

/// The decision and dead-letter files and the summary, touched only on the writer queue (hence
/// unchecked: the queue is serial and the command waits for it before reading the summary).
final class ScoreOutput: @unchecked Sendable {
    private let decisions: OutputFile
    private let deadLetters: OutputFile?
    private var summary = ScoreSummary()

    init(decisions: OutputFile, deadLetters: OutputFile?) {
        self.decisions = decisions
        self.deadLetters = deadLetters
    }

    func write(_ outcomes: [ScoringOutcome]) {
        for outcome in outcomes {
            summary.add(outcome)
            switch outcome {
            case .decision(let bytes, _): decisions.writeLine(bytes)
            case .deadLetter(let bytes, _): deadLetters?.writeLine(bytes)
            }
        }
    }

    /// Flushes both files and returns the counts.
    func finish() -> ScoreSummary {
        decisions.flush()
        deadLetters?.flush()
        return summary
    }
}

/// Counts for the end-of-run summary.
struct ScoreSummary {
    var decisions: [Verdict: Int] = [:]
    var deadLetters: [String: Int] = [:]
    var degraded = 0
    var total = 0

    mutating func add(_ outcome: ScoringOutcome) {
        total += 1
        switch outcome {
        case .decision(_, let summary):
            decisions[summary.decision, default: 0] += 1
            if summary.degraded { degraded += 1 }
        case .deadLetter(_, let issues):
            for code in Set(issues.map(\.code.rawValue)) { deadLetters[code, default: 0] += 1 }
        }
    }

    func report(seconds: Double, model: ScoringModel) -> String {
        var lines = [
            "score: \(total) events in \(String(format: "%.2f", seconds)) s = \(Int(Double(total) / max(seconds, 1e-9))) events/s with \(model.name) \(model.version)"
        ]
        let decided = decisions.values.reduce(0, +)
        lines.append("  decisions: \(decided)" + Verdict.allCases.map { "  \($0.rawValue) \(decisions[$0, default: 0])" }.joined())
        if degraded > 0 { lines.append("  degraded: \(degraded)") }
        let dead = total - decided
        lines.append(
            "  dead letters: \(dead)"
                + (deadLetters.isEmpty ? "" : " (" + deadLetters.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"))
        return lines.joined(separator: "\n") + "\n"
    }
}
