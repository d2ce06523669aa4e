import ArgumentParser
import Foundation
import VerdictPipeline
import VerdictScoring

/// `verdict features`: the feature matrix the model sees, for training (one implementation, no
/// training/serving skew).
struct FeaturesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Write the model's feature matrix for events (CSV; empty cell = missing), then a column per stream aggregate, computed in file order.",
        discussion: """
            The aggregates of features.yaml (`aggregates:`) are computed exactly as the stream computes them for one \
            partition: in line order, from the values before each event. Rejected lines never touch them.
            """
    )

    @Option(help: "Service configuration (verdict.yaml) or a features.yaml.") var config: String = "config/verdict.yaml"
    @Option(help: "Events, one JSON object per line; - for stdin.") var input: String = "-"
    @Option(help: "CSV output (default: stdout).") var output: String?
    @Flag(name: .customLong("id-column"), help: "Start each row with the transaction_id (to join labels).") var idColumn = false
    @Option(name: .customLong("dead-letters"), help: "Write rejected events' envelopes here.") var deadLetters: String?

    func run() async throws {
        let (features, validation) = try Self.load(config)
        // Training data is historical: timestamps are checked for syntax, not for age.
        var historical = validation
        historical.maxEventAge = ConfigDuration(.zero)
        historical.maxClockSkew = ConfigDuration(.seconds(100 * 365 * 86_400))
        let validator = EventValidator(configuration: historical)
        let plan = try FeaturePlan(configuration: features)
        // One state for the whole file: the file is one partition, in log order.
        var aggregates = AggregateState(plan: try features.aggregatePlan())
        var aggregateValues = [Double](repeating: .nan, count: aggregates.plan.names.count)
        var reader = try LineReader(path: input)
        let out = try OutputFile(path: output)
        let dead = try deadLetters.map { try OutputFile(path: $0) }
        out.writeLine(((idColumn ? ["transaction_id"] : []) + plan.featureNames + aggregates.plan.names).joined(separator: ","))
        var row = [Double](repeating: .nan, count: plan.featureNames.count)
        var written = 0, rejected = 0, line: Int64 = 0
        let now = Date().timeIntervalSince1970
        while let record = reader.next() {
            line += 1
            if record.isEmpty { continue }
            let result = record.withUnsafeBytes { validator.validate($0, now: now) }
            switch result {
            case .valid(let event):
                var cells: [String] = []
                record.withUnsafeBytes { bytes in
                    row.withUnsafeMutableBufferPointer { plan.build(event, record: bytes, into: $0.baseAddress!) }
                    aggregateValues.withUnsafeMutableBufferPointer { aggregates.apply(event, record: bytes, into: $0) }
                    if idColumn { cells.append(event.transactionID.map { $0.string(in: bytes) } ?? "") }
                }
                cells += row.map { $0.isNaN ? "" : Self.format($0) }
                cells += aggregateValues.map { $0.isNaN ? "" : Self.format($0) }
                out.writeLine(cells.joined(separator: ","))
                written += 1
            case .invalid(let issues, _):
                rejected += 1
                let input = ScoringInput(value: record, source: EventSource(topic: "file:\(input)", partition: 0, offset: line), receivedAt: now)
                dead?.writeLine(DeadLetterWriter.write(input, issues: issues, now: now))
            }
        }
        out.flush()
        dead?.flush()
        let state = aggregates.plan.isEmpty ? "" : ", \(aggregates.plan.names.count) aggregates over \(aggregates.keyCount) keys"
        FileHandle.standardError.write(Data("features: \(written) rows of \(plan.featureNames.count) features\(state), \(rejected) events rejected\n".utf8))
    }

    static func load(_ path: String) throws -> (FeatureConfiguration, ValidationConfiguration) {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        if text.contains("\nfeatures:") || text.hasPrefix("features:") || text.contains("\nversion:") && !text.contains("\nkafka:") {
            return (try ScoringConfiguration.loadYAML(FeatureConfiguration.self, path: path), ValidationConfiguration())
        }
        let configuration = try VerdictConfiguration.load(path: path)
        let features = try ScoringConfiguration.loadYAML(FeatureConfiguration.self, path: configuration.resolve(configuration.scoring.features))
        return (features, configuration.scoring.validation)
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
