import Foundation
public import Yams

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
        let written: Node?
        do {
            written = try Yams.compose(yaml: text)
        } catch {
            throw ScoringError(.configuration, "\(path) is not valid YAML: \(error)")
        }
        let value: T
        do {
            value = try YAMLDecoder().decode(T.self, from: data)
        } catch {
            throw ScoringError(.configuration, "\(path): \(describe(error, written: written))")
        }
        let kept: Node?
        do {
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
        _ = try featureConfiguration.aggregatePlan()
        let bytes = [UInt8](FileManager.default.contents(atPath: features) ?? Data())
        return ScoringConfiguration(validation: validation, features: featureConfiguration, rules: ruleConfiguration, featuresSHA256: SHA256Hex.of(bytes))
    }

    /// A decoding error as one sentence with the key path.
    public static func describe(_ error: any Error, written: Node? = nil) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing key '\(path(context.codingPath + [key]))'"
        case DecodingError.typeMismatch(let type, let context), DecodingError.valueNotFound(let type, let context):
            let value = find(written, context.codingPath).map { "'\(show($0))'" } ?? "null"
            return "\(path(context.codingPath)) is \(value); give \(expected(type))"
        case DecodingError.dataCorrupted(let context):
            let value = find(written, context.codingPath).map(show).map { context.debugDescription.contains($0) ? "" : " ('\($0)')" } ?? ""
            return "invalid value at '\(path(context.codingPath))'\(value): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    /// What a decoder expected, as a user would write it.
    static func expected(_ type: Any.Type) -> String {
        let name = String(describing: type)
        if name.hasPrefix("Int") || name.hasPrefix("UInt") { return "an integer" }
        if name == "Double" || name == "Float" { return "a number" }
        if name == "Bool" { return "true or false" }
        if name == "String" || name == "Scalar" { return "a single value (not a list or a map)" }
        if name.hasPrefix("Array") || name == "Sequence" { return "a list" }
        if name.hasPrefix("Dictionary") || name == "Mapping" { return "a map of keys" }
        return "a value of type \(name)"
    }

    /// The node at a coding path of the file as written.
    static func find(_ node: Node?, _ keys: [any CodingKey]) -> Node? {
        guard let node else { return nil }
        guard let first = keys.first else { return node }
        switch node {
        case .mapping(let mapping): return find(mapping[Node(first.stringValue)], Array(keys.dropFirst()))
        case .sequence(let items):
            guard let index = first.intValue, items.indices.contains(index) else { return nil }
            return find(items[index], Array(keys.dropFirst()))
        default: return nil
        }
    }

    static func show(_ node: Node) -> String {
        if case .scalar(let scalar) = node { return scalar.string }
        return ((try? Yams.serialize(node: node)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: "; ")
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.reduce(into: "") { text, key in
            if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
    }
}
