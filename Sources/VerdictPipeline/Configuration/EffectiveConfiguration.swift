public import Foundation

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
    /// variable. Secrets are replaced by `<redacted>`; an optional key that is unset shows `none`.
    ///
    /// - Throws: ``ConfigurationError`` exactly as `load` does for the same inputs.
    public static func effective(
        path: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> [EffectiveValue] {
        let (configuration, origins) = try layered(path: path, environment: environment)
        return keys.map { key in
            let shown =
                configuration.value(of: key).map { isSecret(key.path) ? "<redacted>" : $0.shown }
                ?? (key.defaultNote?.replacingOccurrences(of: "`", with: "") ?? "none")
            return EffectiveValue(key: key.path, value: shown, origin: origins[key.path] ?? .default)
        }
    }
}
