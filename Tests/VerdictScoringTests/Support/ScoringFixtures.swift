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

    static func rules() throws -> RuleConfiguration {
        try ScoringConfiguration.loadYAML(RuleConfiguration.self, path: root.appendingPathComponent("config/rules.yaml").path)
    }

    static func defaultModel() throws -> ScoringModel {
        let repository = ModelRepository(
            path: root.appendingPathComponent("models/verdict-fraud").path,
            loader: { request throws(ForestError) in
                try ModelLoader.loadAnyFormat(request)
            })
        return try repository.load(features: try features())
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
