import Foundation
import VerdictForest
import VerdictONNX
import VerdictScoring

/// Shared test data: the project's configuration files, the default model, a fixed clock.
enum ScoringFixtures {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = testsDirectory.appendingPathComponent("Fixtures")
    static let root = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()

    /// 2026-11-23T12:05:00Z: the "now" the hostile corpus is written against.
    static let now = Timestamps.parse("2026-11-23T12:05:00Z")!

    static let baseEvent =
        #"{"schema_version":1,"transaction_id":"tx_1","event_time":"2026-11-23T12:00:00Z","card_id":"card_1","amount":12.5,"currency":"USD"}"#

    static func features() throws -> FeatureConfiguration {
        try ScoringConfiguration.loadYAML(FeatureConfiguration.self, path: root.appendingPathComponent("config/features.yaml").path)
    }

    /// config/stateful/features.yaml: the features plus the four card aggregates model 2.0.0 reads.
    static func statefulFeatures() throws -> FeatureConfiguration {
        try ScoringConfiguration.loadYAML(FeatureConfiguration.self, path: root.appendingPathComponent("config/stateful/features.yaml").path)
    }

    static func rules() throws -> RuleConfiguration {
        try ScoringConfiguration.loadYAML(RuleConfiguration.self, path: root.appendingPathComponent("config/rules.yaml").path)
    }

    /// Model 1.0.0, trained on event fields only: the model the scoring fixtures (golden
    /// decisions, decision mixes) were written for. The default deployment serves 2.0.0, which
    /// also reads the stream aggregates and so needs the stream's state.
    static func statelessModel() throws -> ScoringModel {
        let version = root.appendingPathComponent("models/verdict-fraud/1.0.0")
        let card = try ModelCard.load(path: version.appendingPathComponent("card.json").path)
        return try ModelRepository.load(
            file: version.appendingPathComponent(card.modelFile).path, card: card, name: card.name, version: card.version,
            features: try features(), verify: true, loader: { request throws(ForestError) in try ModelLoader.loadAnyFormat(request) })
    }

    static func validate(_ text: String, configuration: ValidationConfiguration = ValidationConfiguration(), now: Double = now) -> EventValidator.Result {
        let validator = EventValidator(configuration: configuration)
        return Array(text.utf8).withUnsafeBytes { validator.validate($0, now: now) }
    }

    static func codes(_ result: EventValidator.Result) -> Set<String> {
        switch result {
        case .valid: return []
        case .invalid(let issues, _): return Set(issues.map(\.code.rawValue))
        }
    }

    static func event(_ mutate: (inout [String: Any]) -> Void) -> String {
        var object = try! JSONSerialization.jsonObject(with: Data(baseEvent.utf8)) as! [String: Any]
        mutate(&object)
        return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}
