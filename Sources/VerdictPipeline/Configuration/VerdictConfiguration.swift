public import Foundation
import VerdictKafka
public import VerdictScoring
public import Logging
import VerdictForest
import Yams

/// `config/verdict.yaml`: everything `verdict serve` (and `verdict score`) needs. Every key is
/// documented in docs/configuration.md. Relative paths are relative to the configuration file.
/// Environment variables override keys (see ``environmentOverrides``); secrets come from files or
/// environment variables, never from this file.
/// `config/verdict.yaml`: everything `verdict serve` (and `verdict score`) needs.
///
/// The stored properties hold the defaults; ``keys`` declares every key once (path, accepted
/// values, meaning, the property it lands in), and loading, overrides, checks, `verdict config
/// check` and docs/configuration.md are derived from it. Kafka defaults are read from the
/// VerdictKafka structs, the single source of them. To add a key: a property with its default here
/// and one line in ``keys``. Relative paths are relative to the configuration file; secrets come
/// from files or environment variables, never from this file.
public struct VerdictConfiguration: Sendable {
    public struct Kafka: Sendable {
        public var bootstrapServers: [String] = KafkaClientConfiguration().bootstrapServers
        public var clientID: String = KafkaClientConfiguration().clientID
        public var security: Security = Security()
        public var consumer: Consumer = Consumer()
        public var producer: Producer = Producer()
        public var statisticsInterval: ConfigDuration = ConfigDuration(.seconds(5))

        public struct Security: Sendable {
            public var `protocol`: String = KafkaSecurity().transport.rawValue
            public var sasl: SASL?
            public var tls: TLS?

            public struct SASL: Sendable {
                public var mechanism: String = "SCRAM-SHA-512"
                public var username: String = ""
                public var passwordFile: String?
                public var passwordEnv: String?
            }

            public struct TLS: Sendable {
                public var caFile: String?
                public var certFile: String?
                public var keyFile: String?
                public var keyPasswordFile: String?
                public var keyPasswordEnv: String?
                public var verifyHostname: Bool = KafkaSecurity.TLS().verifyHostname
            }
        }

        public struct Consumer: Sendable {
            public var groupID: String = KafkaConsumerConfiguration().groupID
            public var groupInstanceID: String?
            public var sessionTimeout: ConfigDuration = ConfigDuration(KafkaConsumerConfiguration().sessionTimeout)
            public var maxPollInterval: ConfigDuration = ConfigDuration(KafkaConsumerConfiguration().maxPollInterval)
            public var offsetReset: String = KafkaConsumerConfiguration().offsetReset.rawValue
            /// Short, because an event waiting in a fetch is an event not yet decided; brokers
            /// answer sooner whenever data is there.
            public var fetchWait: ConfigDuration = ConfigDuration(.milliseconds(10))
            public var properties: [String: String] = [:]
        }

        public struct Producer: Sendable {
            public var linger: ConfigDuration = ConfigDuration(KafkaProducerConfiguration().linger)
            public var compression: String = KafkaProducerConfiguration().compression.rawValue
            public var messageTimeout: ConfigDuration = ConfigDuration(KafkaProducerConfiguration().messageTimeout)
            public var maxQueuedMessages: Int = KafkaProducerConfiguration().maxQueuedMessages
            public var properties: [String: String] = [:]
        }
    }

    public struct Topics: Sendable {
        public var input: [String] = ["transactions"]
        public var decisions: String = "decisions"
        public var deadLetters: String = "transactions.dlq"
        public var state: String = "verdict.state"
    }

    public struct Model: Sendable {
        public var path: String = "../models/verdict-default"
        public var shadowPath: String?
        public var watch: Bool = true
        public var verifyGoldenVectors: Bool = true
        public var maxFileBytes: Int = ModelLimits.defaultMaxFileBytes
    }

    public struct Scoring: Sendable {
        public var features: String = "features.yaml"
        public var rules: String = "rules.yaml"
        public var validation: ValidationConfiguration = ValidationConfiguration()
    }

    public struct Pipeline: Sendable {
        public var guarantee: String = "at_least_once"
        public var workerThreads: Int = 0
        public var maxBatch: Int = KafkaConsumerConfiguration().maxBatchSize
        public var maxInFlight: Int = Relay.Configuration().maxInFlight
        public var resumeBelow: Int?
        public var shutdownTimeout: ConfigDuration = ConfigDuration(.seconds(10))
        public var revokeTimeout: ConfigDuration = ConfigDuration(Relay.Configuration().revokeDrainTimeout)
        public var transactionalID: String?
        public var commitInterval: ConfigDuration = ConfigDuration(KafkaConsumerConfiguration.defaultAutoCommitInterval)
        public var unhealthyAfter: ConfigDuration = ConfigDuration(Relay.Configuration().unhealthyAfter)
        public var stateDirectory: String?
        public var stateSnapshotInterval: ConfigDuration = ConfigDuration(.seconds(60))
    }

    public struct Sidecar: Sendable {
        public var host: String = "0.0.0.0"
        public var port: Int = 9102
        public var adminTokenFile: String?
        public var adminTokenEnv: String? = "VERDICT_ADMIN_TOKEN"
        public init() {}
    }

    public struct Logging: Sendable {
        public var level: String = Logger.Level.info.rawValue
        public var format: String = "json"

        /// The level; loading refuses any other name than `Logger.Level`'s.
        public var logLevel: Logger.Level { Logger.Level(rawValue: level) ?? .info }
    }

    public var kafka = Kafka()
    public var topics = Topics()
    public var model = Model()
    public var scoring = Scoring()
    public var pipeline = Pipeline()
    public var sidecar = Sidecar()
    public var logging = Logging()
    public var deadLetters = DeadLetterConfiguration()
    /// The directory relative paths are resolved against.
    public var baseDirectory: String = FileManager.default.currentDirectoryPath

    public init() {}

    /// A path from the configuration, made absolute against the configuration's directory.
    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path)
    }
}

/// Why a configuration could not be used, and what to change.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "configuration error: \(message)" }
}

extension VerdictConfiguration {
    /// Loads a configuration file: the defaults, then the file's keys, then `VERDICT_*` variables.
    ///
    /// - Parameters:
    ///   - path: The YAML file; nil uses the defaults alone.
    ///   - environment: Variables named `VERDICT_<SECTION>_<KEY>` (e.g. `VERDICT_KAFKA_BOOTSTRAP_SERVERS`,
    ///     `VERDICT_SIDECAR_PORT`) override the key with that path. List values may be comma-separated.
    /// - Throws: ``ConfigurationError`` naming the file (or variable), the key, the bad value and
    ///   what the key accepts.
    public static func load(
        path: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> VerdictConfiguration {
        try layered(path: path, environment: environment).configuration
    }

    /// The configuration `load` gives and where each key's value came from (keys absent from the
    /// map hold their defaults); `effective(path:environment:)` reads the origins.
    static func layered(
        path: String?, environment: [String: String]
    ) throws(ConfigurationError) -> (configuration: VerdictConfiguration, origins: [String: EffectiveValue.Origin]) {
        var configuration = VerdictConfiguration()
        var origins: [String: EffectiveValue.Origin] = [:]
        if let path {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigurationError("cannot read \(path)")
            }
            let user: Node?
            do {
                user = try Yams.compose(yaml: text)
            } catch {
                throw ConfigurationError("\(path) is not valid YAML: \(error)")
            }
            if let user {
                for (key, node) in try fileValues(user, file: path) {
                    switch key.decode(node) {
                    case .success(let value):
                        key.assign(&configuration, value)
                        origins[key.path] = .file
                    case .failure(let refusal):
                        throw ConfigurationError("\(path): \(describe(refusal, of: key))")
                    }
                }
            }
            configuration.baseDirectory = (URL(fileURLWithPath: path).standardizedFileURL.path as NSString).deletingLastPathComponent
        }
        for key in keys {
            guard let variable = key.environmentVariable, let text = environment[variable] else { continue }
            switch key.decode(text: text) {
            case .success(let value):
                key.assign(&configuration, value)
                origins[key.path] = .environment
            case .failure(let refusal):
                throw ConfigurationError("\(variable)=\(text): \(describe(refusal, of: key))")
            }
        }
        do {
            try configuration.check()
        } catch {
            let overridden = origins.filter { $0.value == .environment }.keys.sorted()
            let file = path.map { "\($0): " } ?? ""
            throw ConfigurationError(
                "\(file)\(error.message)\(overridden.isEmpty ? "" : " (keys set from the environment: \(overridden.joined(separator: ", ")))")")
        }
        return (configuration, origins)
    }

    /// `pipeline.max_batch is 0; give an integer from 1 to 1000000 (default 2000)`.
    static func describe(_ refusal: ConfigurationKey.Refusal, of key: ConfigurationKey) -> String {
        "\(key.path) is '\(refusal.shown)'; give \(refusal.kind.accepts) (default \(key.defaultShown.replacingOccurrences(of: "`", with: "")))"
    }

    /// The value a key holds in this configuration; nil when it is unset (an optional key).
    func value(of key: ConfigurationKey) -> ConfigurationKey.Value? { key.read(self) }

    /// Every key the file sets, with its node, in file order. A key the declaration does not have is
    /// refused with its path, the closest declared key and the keys that exist there; a key set to
    /// null counts as absent.
    static func fileValues(_ root: Node, file: String) throws(ConfigurationError) -> [(ConfigurationKey, Node)] {
        var found: [(ConfigurationKey, Node)] = []
        func visit(_ node: Node, prefix: [Substring]) throws(ConfigurationError) {
            let here = prefix.joined(separator: ".")
            guard case .mapping(let mapping) = node else {
                throw ConfigurationError(
                    "\(file): \(here.isEmpty ? "the file" : here) is '\(ConfigurationKey.show(node))'; give a map of keys (\(children(of: prefix).joined(separator: ", ")))"
                )
            }
            for (name, child) in mapping {
                guard let component = name.string else { continue }
                let path = prefix + [Substring(component)]
                let keyPath = path.joined(separator: ".")
                if child.null != nil { continue }
                if let key = keysByPath[keyPath] {
                    found.append((key, child))
                } else if sectionPaths.contains(keyPath) {
                    try visit(child, prefix: path)
                } else {
                    let known = children(of: prefix)
                    let hint = KeySuggestion.closest(to: component, among: known).map { "; did you mean \($0)?" } ?? ";"
                    throw ConfigurationError(
                        "\(file): unknown key \(keyPath)\(hint) the keys here are \(known.joined(separator: ", ")) (docs/configuration.md)")
                }
            }
        }
        try visit(root, prefix: [])
        return found
    }

    static let keysByPath: [String: ConfigurationKey] = Dictionary(uniqueKeysWithValues: keys.map { ($0.path, $0) })
    /// Every path that holds keys rather than a value: `kafka`, `kafka.security`, `kafka.security.sasl`, ...
    static let sectionPaths: Set<String> = Set(keys.flatMap { key in (1..<key.components.count).map { key.components.prefix($0).joined(separator: ".") } })

    /// The names directly under `prefix`, sorted.
    static func children(of prefix: [Substring]) -> [String] {
        Set(keys.compactMap { key in key.components.count > prefix.count && key.components.starts(with: prefix) ? String(key.components[prefix.count]) : nil })
            .sorted()
    }

    /// Cross-key checks, with messages that say what to set. Single keys are checked against their
    /// declared kind while loading.
    func check() throws(ConfigurationError) {
        if let resumeBelow = pipeline.resumeBelow, resumeBelow >= pipeline.maxInFlight {
            throw ConfigurationError(
                "pipeline.resume_below (\(resumeBelow)) must be below pipeline.max_in_flight (\(pipeline.maxInFlight)); lower it or leave it unset (max_in_flight / 2)"
            )
        }
        if let sasl = kafka.security.sasl {
            guard !sasl.username.isEmpty else { throw ConfigurationError("kafka.security.sasl needs username") }
            guard sasl.passwordFile != nil || sasl.passwordEnv != nil else {
                throw ConfigurationError("kafka.security.sasl needs password_file or password_env (the password itself never goes in this file)")
            }
        }
    }
}
