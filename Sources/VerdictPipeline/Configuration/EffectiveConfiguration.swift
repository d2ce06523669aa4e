public import Foundation
import Yams

/// One key of the effective configuration, as `verdict config check` prints it.
public struct EffectiveValue: Sendable, Hashable {
    public enum Origin: String, Sendable {
        case `default`, file, environment
    }

    /// The key path, e.g. `kafka.consumer.group_id`.
    public var key: String
    /// The value as YAML (flow style for lists and maps), secrets redacted.
    public var value: String
    public var origin: Origin
}

extension VerdictConfiguration {
    /// Key names whose values are secrets wherever they appear (pass-through librdkafka properties
    /// included). `*_file` and `*_env` keys hold where a secret is, not the secret, and are shown.
    static func isSecret(_ key: String) -> Bool {
        let name = key.lowercased()
        if name.hasSuffix("_file") || name.hasSuffix("_env") { return false }
        return ["password", "secret", "token", "sasl.jaas", "ssl.key", "oauthbearer.config"].contains { name.contains($0) }
    }

    /// Every key of the configuration `load(path:environment:)` would produce, with the value it
    /// takes and where that value came from: the built-in default, the file or a `VERDICT_*`
    /// variable. Secrets are replaced by `<redacted>`.
    ///
    /// - Throws: ``ConfigurationError`` exactly as `load` does for the same inputs.
    public static func effective(
        path: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> [EffectiveValue] {
        let (_, tree, user, appliedVariables) = try layered(path: path, environment: environment)
        let applied = Set(appliedVariables)
        var values: [EffectiveValue] = []
        func flow(_ node: Node) -> String {
            if case .sequence(let items) = node, items.allSatisfy({ if case .scalar = $0 { true } else { false } }) {
                return "[" + items.compactMap(\.string).joined(separator: ", ") + "]"
            }
            return ((try? Yams.serialize(node: node, sortKeys: true)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                .replacingOccurrences(of: "\n", with: "; ")
        }
        func find(_ node: Node?, _ keys: [String]) -> Node? {
            guard let first = keys.first else { return node }
            guard case .mapping(let mapping)? = node, let child = mapping[Node(first)] else { return nil }
            return find(child, Array(keys.dropFirst()))
        }
        func visit(_ node: Node, _ keys: [String]) {
            let keyPath = keys.joined(separator: ".")
            if case .mapping(let mapping) = node, !freeFormKeys.contains(keyPath), !mapping.isEmpty {
                for (key, child) in mapping.sorted(by: { ($0.key.string ?? "") < ($1.key.string ?? "") }) {
                    if let name = key.string { visit(child, keys + [name]) }
                }
                return
            }
            var shown = node
            if case .mapping(let mapping) = node {
                var redacted = mapping
                for (key, _) in mapping where isSecret(key.string ?? "") { redacted[key] = Node("<redacted>") }
                shown = .mapping(redacted)
            }
            let variable = "VERDICT_" + keys.map { $0.uppercased() }.joined(separator: "_")
            let origin: EffectiveValue.Origin = applied.contains(variable) ? .environment : (find(user, keys) != nil ? .file : .default)
            let text = isSecret(keys.last ?? "") ? "<redacted>" : flow(shown)
            values.append(EffectiveValue(key: keyPath, value: text, origin: origin))
        }
        visit(tree, [])
        return values
    }
}
