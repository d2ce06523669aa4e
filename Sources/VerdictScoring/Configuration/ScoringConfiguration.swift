import Foundation
import Yams

/// The scoring domain's configuration: validation limits, features, rules.
public struct ScoringConfiguration: Sendable {
    public var validation: ValidationConfiguration
    public var features: FeatureConfiguration
    public var rules: RuleConfiguration
    /// SHA-256 of the feature configuration file (model cards record it).
    public var featuresSHA256: String

    public init(validation: ValidationConfiguration, features: FeatureConfiguration, rules: RuleConfiguration, featuresSHA256: String = "") {
        self.validation = validation
        self.features = features
        self.rules = rules
        self.featuresSHA256 = featuresSHA256
    }

    /// Reads a YAML file into `T`, strictly: a key `T` does not read is refused with the closest
    /// known one (``StrictKeys``).
    ///
    /// - Throws: ``ScoringError`` naming the file and what is wrong with it.
    public static func loadYAML<T: Codable>(_ type: T.Type, path: String, documentation: String = "docs/rules.md") throws(ScoringError) -> T {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ScoringError(.configuration, "cannot read \(path); check the path (relative paths are relative to the configuration file)")
        }
        let value: T
        do {
            value = try YAMLDecoder().decode(T.self, from: data)
        } catch {
            throw ScoringError(.configuration, "\(path) is not valid: \(describe(error))")
        }
        let written: Node?, kept: Node?
        do {
            written = try Yams.compose(yaml: text)
            kept = try Yams.compose(yaml: try YAMLEncoder().encode(value))
        } catch {
            throw ScoringError(.configuration, "\(path) is not valid: \(describe(error))")
        }
        if let written, let kept { try StrictKeys.check(user: written, decoded: kept, file: path, documentation: documentation) }
        return value
    }

    /// Reads features.yaml and rules.yaml.
    public static func load(features: String, rules: String, validation: ValidationConfiguration) throws(ScoringError) -> ScoringConfiguration {
        let featureConfiguration = try loadYAML(FeatureConfiguration.self, path: features)
        let ruleConfiguration = try loadYAML(RuleConfiguration.self, path: rules)
        _ = try FeaturePlan(configuration: featureConfiguration)  // refuses bad definitions now, not at the first event
        let bytes = [UInt8](FileManager.default.contents(atPath: features) ?? Data())
        return ScoringConfiguration(validation: validation, features: featureConfiguration, rules: ruleConfiguration, featuresSHA256: SHA256Hex.of(bytes))
    }

    /// A decoding error as one sentence with the key path.
    public static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing key '\(path(context.codingPath + [key]))'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at '\(path(context.codingPath))': \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            return "invalid value at '\(path(context.codingPath))': \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
