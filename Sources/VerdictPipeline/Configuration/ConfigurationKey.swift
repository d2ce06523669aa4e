import Foundation
import VerdictScoring
import Yams

/// One key of `verdict.yaml`, declared once in ``VerdictConfiguration/keys``: where it sits, what
/// it accepts, what it means, and where in ``VerdictConfiguration`` it lands. Loading, the
/// unknown-key check, the `VERDICT_*` overrides, the value checks, `verdict config check` and
/// docs/configuration.md are all derived from these declarations. The default is the value the
/// typed configuration holds before anything is applied, so it is written once, in the type (or,
/// for Kafka settings, in the VerdictKafka structs the type reads it from).
public struct ConfigurationKey: Sendable {
    /// What a key accepts.
    public enum Kind: Sendable {
        /// Any string.
        case text
        /// A string that may not be empty.
        case name
        /// One of these strings.
        case choice([String])
        case integer(ClosedRange<Int>)
        /// A size in bytes: `65536`, `64KiB`, `16MiB`, `1GiB` (or KB, MB, GB, powers of 1000).
        case bytes(ClosedRange<Int>)
        case number(ClosedRange<Double>)
        case flag
        /// `250ms`, `10s`, `5m`, `2h`, `7d` or plain seconds, at least `minimum`.
        case duration(minimum: Duration)
        /// A list of non-empty strings; in the environment, comma-separated.
        case names(allowEmpty: Bool)
        /// A map of strings to strings whose keys are the user's (librdkafka pass-through); secrets
        /// among its values are redacted when shown. Set in the file only.
        case properties
        /// A map of currency codes to a USD rate or null. Set in the file only.
        case rates
    }

    /// The key path, e.g. `pipeline.max_batch`.
    public let path: String
    public let kind: Kind
    /// What the key does, in Markdown (docs/configuration.md shows it as written).
    public let summary: String
    /// The default as the documentation states it, when it is not a plain value of the type: a
    /// derived default (`max_in_flight / 2`) or none.
    public let defaultNote: String?
    /// The optional block the key belongs to, if any.
    let block: Block?
    let assign: @Sendable (inout VerdictConfiguration, Value) -> Void
    let read: @Sendable (VerdictConfiguration) -> Value?

    /// `VERDICT_` and the path in upper case with `_` between levels; nil for the maps, which are
    /// set in the file only.
    public var environmentVariable: String? {
        switch kind {
        case .properties, .rates: nil
        default: "VERDICT_" + path.uppercased().replacingOccurrences(of: ".", with: "_")
        }
    }

    /// The default as the declaration gives it: the typed configuration's initial value (inside an
    /// optional block, the block's); nil for a key without one.
    var defaultValue: Value? {
        var defaults = VerdictConfiguration()
        block?.create(&defaults)
        return read(defaults)
    }

    /// The default as messages and the documentation show it.
    var defaultShown: String { defaultNote ?? defaultValue.map { "`\($0.shown)`" } ?? "none" }

    /// The parts of the path: `["pipeline", "max_batch"]`.
    var components: [Substring] { path.split(separator: ".") }

    /// A decoded value, before it lands in the typed configuration.
    enum Value: Sendable, Equatable {
        case text(String)
        case integer(Int)
        case number(Double)
        case flag(Bool)
        case duration(ConfigDuration)
        case names([String])
        case properties([String: String])
        case rates([String: Double?])
    }
}

extension ConfigurationKey.Kind {
    /// What the kind accepts, as an error message or the documentation says it.
    public var accepts: String {
        switch self {
        case .text: "a string"
        case .name: "a non-empty string"
        case .choice(let values): values.map { "`\($0)`" }.joined(separator: ", ")
        case .integer(let range): range.upperBound == .max ? "an integer ≥ \(range.lowerBound)" : "an integer from \(range.lowerBound) to \(range.upperBound)"
        case .bytes(let range):
            "a size from \(range.lowerBound) to \(range.upperBound == .max ? "any" : String(range.upperBound)) bytes (`65536`, `64KiB`, `16MiB`, `1GiB`)"
        case .number(let range): "a number from \(Self.plain(range.lowerBound)) to \(Self.plain(range.upperBound))"
        case .flag: "`true` or `false`"
        case .duration(let minimum):
            minimum == .zero ? "a duration (`250ms`, `10s`, `5m`, `2h`, `7d`)" : "a duration of at least \(ConfigDuration(minimum)) (`250ms`, `10s`, `5m`)"
        case .names(let allowEmpty): allowEmpty ? "a list of strings" : "a non-empty list of strings"
        case .properties: "a map of librdkafka property names to strings"
        case .rates: "a map of ISO 4217 codes to a USD rate or `null`"
        }
    }

    static func plain(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}

extension ConfigurationKey {
    /// Reads the key's value from a YAML node of the file; the reason when it is not acceptable.
    func decode(_ node: Node) -> Result<Value, Refusal> {
        switch kind {
        case .properties:
            guard case .mapping(let mapping) = node else { return .failure(Refusal(shown: Self.show(node), kind: kind)) }
            var result: [String: String] = [:]
            for (key, value) in mapping {
                guard let name = key.string, let text = value.string else { return .failure(Refusal(shown: Self.show(node), kind: kind)) }
                result[name] = text
            }
            return .success(.properties(result))
        case .rates:
            guard case .mapping(let mapping) = node else { return .failure(Refusal(shown: Self.show(node), kind: kind)) }
            var result: [String: Double?] = [:]
            for (key, value) in mapping {
                guard let code = key.string, code.count == 3, code.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                    return .failure(Refusal(shown: key.string ?? Self.show(key), kind: kind))
                }
                if value.null != nil {
                    result[code] = .some(nil)
                } else if let rate = value.float, rate.isFinite, rate > 0 {
                    result[code] = rate
                } else {
                    return .failure(Refusal(shown: "\(code): \(Self.show(value))", kind: kind))
                }
            }
            return .success(.rates(result))
        case .names:
            guard case .sequence(let items) = node else {
                // One name alone is a list of one.
                if case .scalar = node, let text = node.string { return decode(text: text) }
                return .failure(Refusal(shown: Self.show(node), kind: kind))
            }
            var names: [String] = []
            for item in items {
                guard case .scalar = item, let text = item.string else { return .failure(Refusal(shown: Self.show(node), kind: kind)) }
                names.append(text)
            }
            return check(.names(names), shown: Self.show(node))
        default:
            guard case .scalar(let scalar) = node else { return .failure(Refusal(shown: Self.show(node), kind: kind)) }
            return decode(text: scalar.string)
        }
    }

    /// Reads the key's value from text: a scalar of the file or a `VERDICT_*` variable.
    func decode(text: String) -> Result<Value, Refusal> {
        let refused = Result<Value, Refusal>.failure(Refusal(shown: text, kind: kind))
        switch kind {
        case .text, .name, .choice:
            return check(.text(text), shown: text)
        case .integer:
            guard let value = Int(text.replacingOccurrences(of: "_", with: "")) else { return refused }
            return check(.integer(value), shown: text)
        case .bytes:
            guard let value = Self.bytes(text) else { return refused }
            return check(.integer(value), shown: text)
        case .number:
            guard let value = Double(text.replacingOccurrences(of: "_", with: "")), value.isFinite else { return refused }
            return check(.number(value), shown: text)
        case .flag:
            switch text.lowercased() {
            case "true", "yes", "on": return .success(.flag(true))
            case "false", "no", "off": return .success(.flag(false))
            default: return refused
            }
        case .duration:
            guard let value = ConfigDuration(parsing: text) else { return refused }
            return check(.duration(value), shown: text)
        case .names:
            var trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("["), trimmed.hasSuffix("]") { trimmed = String(trimmed.dropFirst().dropLast()) }
            let names = trimmed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            return check(.names(names), shown: text)
        case .properties, .rates:
            return refused
        }
    }

    /// `64KiB` as 65536; nil when the text is not a size or overflows.
    static func bytes(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1)]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            guard let count = Int(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)) else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: scale)
            return overflow ? nil : product
        }
        return Int(trimmed)
    }

    /// The kind's bounds.
    private func check(_ value: Value, shown: String) -> Result<Value, Refusal> {
        let refused = Result<Value, Refusal>.failure(Refusal(shown: shown, kind: kind))
        switch (kind, value) {
        case (.name, .text(let text)): return text.isEmpty ? refused : .success(value)
        case (.choice(let allowed), .text(let text)): return allowed.contains(text) ? .success(value) : refused
        case (.integer(let range), .integer(let number)), (.bytes(let range), .integer(let number)):
            return range.contains(number) ? .success(value) : refused
        case (.number(let range), .number(let number)): return range.contains(number) ? .success(value) : refused
        case (.duration(let minimum), .duration(let duration)): return duration.duration >= minimum ? .success(value) : refused
        case (.names(let allowEmpty), .names(let names)):
            return (names.isEmpty && !allowEmpty) || names.contains(where: \.isEmpty) ? refused : .success(value)
        default: return .success(value)
        }
    }

    /// Why a value was refused: the value as written and what the key accepts.
    struct Refusal: Error, Sendable {
        var shown: String
        var kind: Kind
    }

    static func show(_ node: Node) -> String {
        if case .scalar(let scalar) = node { return scalar.string }
        return ((try? Yams.serialize(node: node)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: "; ")
    }
}

extension ConfigurationKey.Value {
    /// The value as `verdict config check` and docs/configuration.md show it; secrets redacted.
    var shown: String {
        switch self {
        case .text(let text): text
        case .integer(let number): String(number)
        case .number(let number): ConfigurationKey.Kind.plain(number)
        case .flag(let flag): flag ? "true" : "false"
        case .duration(let duration): duration.description
        case .names(let names): "[" + names.joined(separator: ", ") + "]"
        case .properties(let map):
            "{" + map.keys.sorted().map { "\($0): \(VerdictConfiguration.isSecret($0) ? "<redacted>" : map[$0] ?? "")" }.joined(separator: ", ") + "}"
        case .rates(let map):
            "{" + map.keys.sorted().map { "\($0): \(map[$0].flatMap { $0 }.map { ConfigurationKey.Kind.plain($0) } ?? "null")" }.joined(separator: ", ") + "}"
        }
    }
}

/// The Swift types a key can land in, with their ``ConfigurationKey/Value`` form.
protocol ConfigurationValue: Sendable {
    init?(configurationValue: ConfigurationKey.Value)
    var configurationValue: ConfigurationKey.Value? { get }
}

extension String: ConfigurationValue {
    init?(configurationValue: ConfigurationKey.Value) {
        guard case .text(let text) = configurationValue else { return nil }
        self = text
    }
    var configurationValue: ConfigurationKey.Value? { .text(self) }
}

extension Int: ConfigurationValue {
    init?(configurationValue: ConfigurationKey.Value) {
        guard case .integer(let number) = configurationValue else { return nil }
        self = number
    }
    var configurationValue: ConfigurationKey.Value? { .integer(self) }
}

extension Double: ConfigurationValue {
    init?(configurationValue: ConfigurationKey.Value) {
        guard case .number(let number) = configurationValue else { return nil }
        self = number
    }
    var configurationValue: ConfigurationKey.Value? { .number(self) }
}

extension Bool: ConfigurationValue {
    init?(configurationValue: ConfigurationKey.Value) {
        guard case .flag(let flag) = configurationValue else { return nil }
        self = flag
    }
    var configurationValue: ConfigurationKey.Value? { .flag(self) }
}

extension ConfigDuration: ConfigurationValue {
    init?(configurationValue: ConfigurationKey.Value) {
        guard case .duration(let duration) = configurationValue else { return nil }
        self = duration
    }
    var configurationValue: ConfigurationKey.Value? { .duration(self) }
}

extension Array: ConfigurationValue where Element == String {
    init?(configurationValue: ConfigurationKey.Value) {
        guard case .names(let names) = configurationValue else { return nil }
        self = names
    }
    var configurationValue: ConfigurationKey.Value? { .names(self) }
}

extension Dictionary: ConfigurationValue where Key == String, Value: ConfigurationMapValue {
    init?(configurationValue: ConfigurationKey.Value) {
        guard let map = Value.map(configurationValue) else { return nil }
        self = map
    }
    var configurationValue: ConfigurationKey.Value? { Value.value(self) }
}

/// The value types of the two maps: librdkafka properties and currency rates.
protocol ConfigurationMapValue: Sendable {
    static func map(_ value: ConfigurationKey.Value) -> [String: Self]?
    static func value(_ map: [String: Self]) -> ConfigurationKey.Value
}

extension String: ConfigurationMapValue {
    static func map(_ value: ConfigurationKey.Value) -> [String: String]? {
        guard case .properties(let map) = value else { return nil }
        return map
    }
    static func value(_ map: [String: String]) -> ConfigurationKey.Value { .properties(map) }
}

extension Optional: ConfigurationMapValue where Wrapped == Double {
    static func map(_ value: ConfigurationKey.Value) -> [String: Double?]? {
        guard case .rates(let map) = value else { return nil }
        return map
    }
    static func value(_ map: [String: Double?]) -> ConfigurationKey.Value { .rates(map) }
}

extension Optional: ConfigurationValue where Wrapped: ConfigurationValue {
    init?(configurationValue: ConfigurationKey.Value) {
        guard let wrapped = Wrapped(configurationValue: configurationValue) else { return nil }
        self = .some(wrapped)
    }
    var configurationValue: ConfigurationKey.Value? { self.flatMap { $0.configurationValue } }
}

extension ConfigurationKey {
    /// An optional block of keys (`kafka.security.sasl`): absent until one of its keys is set, then
    /// made with its defaults before the first of them lands.
    struct Block: Sendable {
        let create: @Sendable (inout VerdictConfiguration) -> Void
        let exists: @Sendable (VerdictConfiguration) -> Bool
    }

    /// Declares a key landing at `keyPath`; inside an optional `block`, the key path goes through
    /// the block's force unwrap, which is safe because the block is made before any write and
    /// never read while it is absent.
    static func key<Field: ConfigurationValue>(
        _ path: String, _ keyPath: any WritableKeyPath<VerdictConfiguration, Field> & Sendable, _ kind: Kind,
        default note: String? = nil, in block: Block? = nil, _ summary: String
    ) -> ConfigurationKey {
        ConfigurationKey(
            path: path, kind: kind, summary: summary, defaultNote: note, block: block,
            assign: { configuration, value in
                block?.create(&configuration)
                if let field = Field(configurationValue: value) { configuration[keyPath: keyPath] = field }
            },
            read: { configuration in
                guard block?.exists(configuration) ?? true else { return nil }
                return configuration[keyPath: keyPath].configurationValue
            }
        )
    }
}

/// A section heading of docs/configuration.md and what it says before and after its table.
public struct ConfigurationSection: Sendable {
    /// The first component of its keys' paths, e.g. `kafka`.
    public let name: String
    /// Markdown shown under the table.
    public let notes: String
}
