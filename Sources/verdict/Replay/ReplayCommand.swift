import ArgumentParser
import Foundation
import Logging
import VerdictForest
import VerdictKafka
import VerdictPipeline
import VerdictScoring

/// `verdict replay`: a backtest of a time range of the input topic with a candidate model or
/// policy, diffed against the decisions the stream published. How a fraud team decides whether to
/// promote a challenger.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-score a time range of the input topic with a candidate model or policy and diff it against the published decisions.",
        discussion: """
            Each input partition is read in offset order from its first retained record. The range is the offsets from \
            the first record with a timestamp at or after --from to the first at or after --to. Records before it are \
            applied to the aggregates' state without scoring (as the stream's rebuild does); records in it are scored \
            with the candidate, with each record's timestamp standing for the clock. The result is compared, record by \
            record (input partition and offset), with the decisions and dead letters the stream published: a matrix of \
            published -> replayed outcomes, the changed records, the reasons given on each side, and whether the \
            replay reproduced the stream's aggregates. Markdown goes to --report (default stdout), JSON to --json.
            """
    )

    @Option(help: "Service configuration (verdict.yaml): brokers, topics, features, rules, validation.") var config: String = "config/verdict.yaml"
    @Option(help: "Bootstrap servers (default: kafka.bootstrap_servers of the configuration).") var brokers: String?
    @Option(help: "Input topic (default: the configuration's first).") var input: String?
    @Option(help: "Start of the range, RFC 3339 (record timestamps at or after it).") var from: String
    @Option(help: "End of the range, RFC 3339 (excluded).") var to: String
    @Option(help: "Candidate model file or directory (default: model.path of the configuration).") var model: String?
    @Option(help: "Candidate rules.yaml (default: the configuration's).") var rules: String?
    @Option(help: "Candidate features.yaml (default: the configuration's).") var features: String?
    @Option(help: "Decisions topic the stream published to (default: the configuration's).") var decisions: String?
    @Option(name: .customLong("dead-letters"), help: "Dead-letter topic (default: the configuration's).") var deadLetters: String?
    @Option(help: "Markdown report (default: stdout).") var report: String?
    @Option(help: "JSON report, with every changed record.") var json: String?
    @Option(help: "The candidate's decisions and dead letters, one per line.") var output: String?
    @Option(help: "Changed records listed in the Markdown report.") var listed: Int = 50
    @Option(
        name: .customLong("state-topic"),
        help:
            "The stream's state topic: a partition warms from its newest snapshot holding only records before --from, instead of from the log's start (default: topics.state of the configuration; \"\" reads the whole log)."
    )
    var stateTopic: String?
    @Option(help: "Seconds reading one partition of a topic may take.") var timeout: Double = 600
    @Option(help: "Scoring threads (default: cores).") var threads: Int?

    func validate() throws {
        guard let start = Timestamps.parse(from) else { throw ValidationError("--from '\(from)' is not an RFC 3339 time (e.g. 2026-12-01T00:00:00Z)") }
        guard let end = Timestamps.parse(to) else { throw ValidationError("--to '\(to)' is not an RFC 3339 time (e.g. 2026-12-02T00:00:00Z)") }
        guard start < end else { throw ValidationError("--from \(from) is not before --to \(to); give a range that has a length") }
        guard listed >= 0 else { throw ValidationError("--listed \(listed) is negative; give 0 or more") }
        guard timeout > 0 else { throw ValidationError("--timeout \(timeout) is not positive; give seconds, e.g. 600") }
    }

    func run() async throws {
        var setup = try ScoringSetup(configPath: config, features: features, rules: rules)
        if let brokers { setup.configuration.kafka.bootstrapServers = brokers.split(separator: ",").map(String.init) }
        guard let inputTopic = input ?? setup.configuration.topics.input.first else {
            throw ValidationError("no input topic: give --input or topics.input in \(config)")
        }
        let logger = CommandSupport.logger(level: .warning, label: "verdict.replay")
        let candidate = try setup.loadModel(override: model)
        let pool = ForestWorkerPool(threads: threads)
        defer { pool.shutdown() }
        let scorer = try Scorer(
            validation: setup.scoring.validation, rules: setup.scoring.rules, model: candidate, pool: pool,
            deadLetters: setup.configuration.deadLetters, recordTimeIsClock: true)
        let plan = try setup.scoring.features.aggregatePlan()
        let snapshotTopic = stateTopic ?? setup.configuration.topics.state
        let snapshots =
            plan.isEmpty || snapshotTopic.isEmpty
            ? nil
            : try StateTopic(
                topic: snapshotTopic, producer: setup.configuration.producerConfiguration(),
                consumer: setup.configuration.consumerConfiguration(), timeout: .milliseconds(Int64(timeout * 1000)), logger: logger)
        let replay = TopicReplay(
            configuration: .init(
                input: inputTopic, decisions: decisions ?? setup.configuration.topics.decisions,
                deadLetters: deadLetters ?? setup.configuration.topics.deadLetters, from: Timestamps.parse(from)!, to: Timestamps.parse(to)!,
                timeout: .milliseconds(Int64(timeout * 1000))),
            reader: try KafkaPartitionReader(configuration: try setup.configuration.consumerConfiguration(), logger: logger), scorer: scorer,
            state: plan.isEmpty ? nil : AggregateStore(plan: plan), snapshots: snapshots, logger: logger)
        let out = try output.map { try OutputFile(path: $0) }
        // Blocking reads on this task, as `verdict score` reads its file: a command, not a service.
        let result = try replay.run { outcome in
            switch outcome {
            case .decision(let bytes, _), .deadLetter(let bytes, _): out?.writeLine(bytes)
            }
        }
        out?.flush()
        await snapshots?.close()
        if let json { try result.json().write(to: URL(fileURLWithPath: json)) }
        let markdown = result.markdown(listed: listed)
        if let report {
            try markdown.write(toFile: report, atomically: true, encoding: .utf8)
        } else {
            print(markdown, terminator: "")
        }
        let share = result.records > 0 ? Double(result.changed) * 100 / Double(result.records) : 0
        FileHandle.standardError.write(
            Data(
                "replay: \(result.records) records in range, \(result.changed) changed outcome (\(String(format: "%.2f", share))%), \(result.partitions.map(\.warmed).reduce(0, +)) warmed, \(result.partitions.filter { $0.snapshotThrough != nil }.count) of \(result.partitions.count) partitions from a state snapshot\n"
                    .utf8))
    }
}
