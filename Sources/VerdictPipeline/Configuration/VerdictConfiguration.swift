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
public struct VerdictConfiguration: Sendable {
    public struct Kafka: Sendable, Codable {
        /// `kafka.bootstrap_servers`. Default `[localhost:9092]`.
        public var bootstrapServers: [String] = ["localhost:9092"]
        /// `kafka.client_id`. Default `verdict`.
        public var clientID: String = "verdict"
        public var security: Security = Security()
        public var consumer: Consumer = Consumer()
        public var producer: Producer = Producer()
        /// `kafka.statistics_interval`: librdkafka statistics (consumer lag metrics). Default 5s.
        public var statisticsInterval: ConfigDuration = ConfigDuration(.seconds(5))

        public struct Security: Sendable, Codable {
            /// plaintext, ssl, sasl_plaintext, sasl_ssl. Default plaintext.
            public var `protocol`: String = "plaintext"
            public var sasl: SASL?
            public var tls: TLS?

            public struct SASL: Sendable, Codable {
                public var mechanism: String = "SCRAM-SHA-512"
                public var username: String
                public var passwordFile: String?
                public var passwordEnv: String?
                enum CodingKeys: String, CodingKey {
                    case mechanism, username
                    case passwordFile = "password_file"
                    case passwordEnv = "password_env"
                }
            }

            public struct TLS: Sendable, Codable {
                public var caFile: String?
                public var certFile: String?
                public var keyFile: String?
                public var keyPasswordFile: String?
                public var keyPasswordEnv: String?
                public var verifyHostname: Bool?
                enum CodingKeys: String, CodingKey {
                    case caFile = "ca_file"
                    case certFile = "cert_file"
                    case keyFile = "key_file"
                    case keyPasswordFile = "key_password_file"
                    case keyPasswordEnv = "key_password_env"
                    case verifyHostname = "verify_hostname"
                }
            }
        }

        public struct Consumer: Sendable, Codable {
            /// `kafka.consumer.group_id`. Default `verdict`.
            public var groupID: String = "verdict"
            /// `kafka.consumer.group_instance_id`: static membership (`group.instance.id`), one
            /// stable id per instance, e.g. the StatefulSet pod name. Default none.
            public var groupInstanceID: String?
            public var sessionTimeout: ConfigDuration = ConfigDuration(.seconds(45))
            /// earliest (default) or latest, for a group with no committed offset.
            public var offsetReset: String = "earliest"
            /// `kafka.consumer.fetch_wait`: longest a fetch waits at the broker for data
            /// (fetch.wait.max.ms). Short, because an event waiting in a fetch is an event not yet
            /// decided; brokers answer sooner whenever data is there. Default 10ms.
            public var fetchWait: ConfigDuration = ConfigDuration(.milliseconds(10))
            /// Any librdkafka consumer property.
            public var properties: [String: String] = [:]
            enum CodingKeys: String, CodingKey {
                case groupID = "group_id"
                case groupInstanceID = "group_instance_id"
                case sessionTimeout = "session_timeout"
                case offsetReset = "offset_reset"
                case fetchWait = "fetch_wait"
                case properties
            }
        }

        public struct Producer: Sendable, Codable {
            public var linger: ConfigDuration = ConfigDuration(.milliseconds(5))
            /// none, gzip, snappy, lz4 (default), zstd.
            public var compression: String = "lz4"
            public var messageTimeout: ConfigDuration = ConfigDuration(.seconds(30))
            public var maxQueuedMessages: Int = 100_000
            /// Any librdkafka producer property.
            public var properties: [String: String] = [:]
            enum CodingKeys: String, CodingKey {
                case linger, compression, properties
                case messageTimeout = "message_timeout"
                case maxQueuedMessages = "max_queued_messages"
            }
        }

        enum CodingKeys: String, CodingKey {
            case security, consumer, producer
            case bootstrapServers = "bootstrap_servers"
            case clientID = "client_id"
            case statisticsInterval = "statistics_interval"
        }
    }

    public struct Topics: Sendable, Codable {
        /// `topics.input`: topics to consume (a name starting with ^ is a regex). Default `[transactions]`.
        public var input: [String] = ["transactions"]
        /// `topics.decisions`. Default `decisions`.
        public var decisions: String = "decisions"
        /// `topics.dead_letters`. Default `transactions.dlq`.
        public var deadLetters: String = "transactions.dlq"
        enum CodingKeys: String, CodingKey {
            case input, decisions
            case deadLetters = "dead_letters"
        }
    }

    public struct Model: Sendable, Codable {
        /// `model.path`: a model file, a version directory, or a directory of versions.
        public var path: String = "../models/verdict-default"
        /// `model.shadow_path`: a challenger scored beside the champion (optional).
        public var shadowPath: String?
        /// `model.watch`: reload when the file changes (rename or ConfigMap symlink swap). Default true.
        public var watch: Bool = true
        /// `model.verify_golden_vectors`: refuse a model whose card's golden vectors do not reproduce. Default true.
        public var verifyGoldenVectors: Bool = true
        /// `model.max_file_bytes`: a larger model file is refused before it is read. Default 1 GiB.
        public var maxFileBytes: Int = ModelLimits.defaultMaxFileBytes
        enum CodingKeys: String, CodingKey {
            case path, watch
            case shadowPath = "shadow_path"
            case verifyGoldenVectors = "verify_golden_vectors"
            case maxFileBytes = "max_file_bytes"
        }
    }

    public struct Scoring: Sendable, Codable {
        public var features: String = "features.yaml"
        public var rules: String = "rules.yaml"
        public var validation: ValidationConfiguration = ValidationConfiguration()
    }

    public struct Pipeline: Sendable, Codable {
        /// `pipeline.guarantee`: at_least_once (default) or exactly_once.
        public var guarantee: String = "at_least_once"
        /// `pipeline.worker_threads`: scoring threads; 0 = one per core. Default 0.
        public var workerThreads: Int = 0
        /// `pipeline.max_batch`: records per poll. Default 2000.
        public var maxBatch: Int = 2000
        /// `pipeline.max_in_flight`: records consumed and not yet acknowledged before pausing. Default 20000.
        public var maxInFlight: Int = 20_000
        /// `pipeline.resume_below`: resume fetching below this many in flight. Default max_in_flight / 2.
        public var resumeBelow: Int?
        /// `pipeline.shutdown_timeout`: time to finish in-flight work on SIGTERM. Default 10s.
        public var shutdownTimeout: ConfigDuration = ConfigDuration(.seconds(10))
        /// `pipeline.revoke_timeout`: time to drain revoked partitions. Default 5s.
        public var revokeTimeout: ConfigDuration = ConfigDuration(.seconds(5))
        /// `pipeline.transactional_id`: exactly-once only; unique per instance. Default `verdict-<hostname>`.
        public var transactionalID: String?
        /// `pipeline.commit_interval`: at-least-once commits stored offsets this often (and on revoke
        /// and shutdown). After a crash, redelivered events number at most max_in_flight plus what
        /// was delivered in one interval. Default 1s.
        public var commitInterval: ConfigDuration = ConfigDuration(.seconds(1))
        /// `pipeline.unhealthy_after`: a partition held this long by a delivery error that retrying
        /// cannot fix (authorization, unknown topic, record too large) turns /healthz to 503. Default 60s.
        public var unhealthyAfter: ConfigDuration = ConfigDuration(.seconds(60))
        enum CodingKeys: String, CodingKey {
            case unhealthyAfter = "unhealthy_after"
            case commitInterval = "commit_interval"
            case guarantee
            case workerThreads = "worker_threads"
            case maxBatch = "max_batch"
            case maxInFlight = "max_in_flight"
            case resumeBelow = "resume_below"
            case shutdownTimeout = "shutdown_timeout"
            case revokeTimeout = "revoke_timeout"
            case transactionalID = "transactional_id"
        }
    }

    public struct Sidecar: Sendable, Codable {
        /// `sidecar.host`. Default 0.0.0.0.
        public var host: String = "0.0.0.0"
        /// `sidecar.port`. Default 9102.
        public var port: Int = 9102
        /// `sidecar.admin_token_file` / `admin_token_env`: the bearer token for /admin endpoints.
        public var adminTokenFile: String?
        public var adminTokenEnv: String? = "VERDICT_ADMIN_TOKEN"
        public init() {}
        enum CodingKeys: String, CodingKey {
            case host, port
            case adminTokenFile = "admin_token_file"
            case adminTokenEnv = "admin_token_env"
        }
    }

    public struct Logging: Sendable, Codable {
        /// trace, debug, info (default), notice, warning, error, critical.
        public var level: String = "info"
        /// json (default) or text.
        public var format: String = "json"

        /// The level, checked by ``VerdictConfiguration/check()``.
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

extension VerdictConfiguration: Codable {
    enum CodingKeys: String, CodingKey {
        case kafka, topics, model, scoring, pipeline, sidecar, logging
        case deadLetters = "dead_letters"
    }
}

/// Why a configuration could not be used, and what to change.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "configuration error: \(message)" }
}

extension VerdictConfiguration {
    /// Loads a configuration file: the file's keys over the defaults, then environment overrides.
    ///
    /// - Parameters:
    ///   - path: The YAML file; nil uses the defaults alone.
    ///   - environment: Variables named `VERDICT_<SECTION>_<KEY>` (e.g. `VERDICT_KAFKA_BOOTSTRAP_SERVERS`,
    ///     `VERDICT_SIDECAR_PORT`) override the key with that path. List values may be comma-separated.
    /// - Throws: ``ConfigurationError`` naming the file and the key that is wrong.
    public static func load(
        path: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> VerdictConfiguration {
        try layered(path: path, environment: environment).configuration
    }

    /// The layers `load` builds (defaults, the file, the applied `VERDICT_*` variables) and the
    /// configuration they give; `effective(path:environment:)` reads the layers to tell origins.
    static func layered(
        path: String?, environment: [String: String]
    ) throws(ConfigurationError) -> (configuration: VerdictConfiguration, tree: Node, user: Node?, applied: [String]) {
        var tree: Node
        var user: Node?
        do {
            tree = try Yams.compose(yaml: try YAMLEncoder().encode(VerdictConfiguration())) ?? Node.mapping(Node.Mapping([]))
        } catch {
            throw ConfigurationError("cannot build the default configuration: \(error)")
        }
        var base = FileManager.default.currentDirectoryPath
        if let path {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigurationError("cannot read \(path)")
            }
            do {
                user = try Yams.compose(yaml: text)
            } catch {
                throw ConfigurationError("\(path) is not valid YAML: \(error)")
            }
            if let user {
                // A misspelt key would otherwise fall back to its default without a word.
                try checkKnownKeys(user, against: tree, path: "", file: path)
                tree = merge(tree, user)
            }
            base = (URL(fileURLWithPath: path).standardizedFileURL.path as NSString).deletingLastPathComponent
        }
        let applied = applyOverrides(&tree, environment: environment)
        var configuration: VerdictConfiguration
        do {
            configuration = try YAMLDecoder().decode(VerdictConfiguration.self, from: Yams.serialize(node: tree))
        } catch {
            throw ConfigurationError(
                "\(path ?? "the configuration"): \(ScoringConfiguration.describe(error))\(applied.isEmpty ? "" : " (after overrides \(applied.joined(separator: ", ")))")"
            )
        }
        configuration.baseDirectory = base
        try configuration.check()
        return (configuration, tree, user, applied)
    }

    /// Maps whose keys are the user's (librdkafka properties, currency tables).
    static let freeFormKeys: Set<String> = ["kafka.consumer.properties", "kafka.producer.properties", "scoring.validation.currencies"]
    /// Keys without a default (absent from the encoded defaults), with the keys they may hold.
    static let optionalKeys: [String: Set<String>] = [
        "kafka.security.sasl": ["mechanism", "username", "password_file", "password_env"],
        "kafka.security.tls": ["ca_file", "cert_file", "key_file", "key_password_file", "key_password_env", "verify_hostname"],
        "kafka.consumer.group_instance_id": [], "model.shadow_path": [], "pipeline.resume_below": [], "pipeline.transactional_id": [],
        "sidecar.admin_token_file": [],
    ]

    /// Refuses keys the configuration does not have, naming the key and the ones that exist there.
    static func checkKnownKeys(_ user: Node, against defaults: Node?, path: String, file: String) throws(ConfigurationError) {
        guard case .mapping(let mapping) = user, !freeFormKeys.contains(path) else { return }
        var known: Set<String> = []
        if case .mapping(let defaultsMapping)? = defaults { known.formUnion(defaultsMapping.keys.compactMap(\.string)) }
        for (candidate, allowed) in optionalKeys {
            let prefix = path.isEmpty ? "" : path + "."
            if candidate.hasPrefix(prefix), !candidate.dropFirst(prefix.count).contains(".") { known.insert(String(candidate.dropFirst(prefix.count))) }
            if candidate == path { known.formUnion(allowed) }
        }
        for (key, value) in mapping {
            guard let name = key.string else { continue }
            let keyPath = path.isEmpty ? name : path + "." + name
            guard known.contains(name) else {
                let hint = KeySuggestion.closest(to: name, among: Array(known)).map { "; did you mean \($0)?" } ?? ";"
                throw ConfigurationError(
                    "\(file): unknown key \(keyPath)\(hint) the keys here are \(known.sorted().joined(separator: ", ")) (docs/configuration.md)")
            }
            var child: Node?
            if case .mapping(let defaultsMapping)? = defaults { child = defaultsMapping[key] }
            try checkKnownKeys(value, against: child, path: keyPath, file: file)
        }
    }

    /// Overlays `override` on `base`: mappings merge key by key, anything else replaces.
    static func merge(_ base: Node, _ override: Node) -> Node {
        guard case .mapping(let baseMapping) = base, case .mapping(let overrideMapping) = override else { return override }
        var result = baseMapping
        for (key, value) in overrideMapping {
            if let existing = result[key] { result[key] = merge(existing, value) } else { result[key] = value }
        }
        return .mapping(result)
    }

    /// Applies `VERDICT_*` variables to the keys they name (including optional keys without a
    /// default, such as `VERDICT_PIPELINE_TRANSACTIONAL_ID`); returns the variables used.
    static func applyOverrides(_ tree: inout Node, environment: [String: String]) -> [String] {
        var applied: [String] = []
        func value(_ text: String, like existing: Node?) -> Node {
            if case .sequence? = existing, !text.hasPrefix("[") {
                return .sequence(Node.Sequence(text.split(separator: ",").map { Node(String($0).trimmingCharacters(in: .whitespaces)) }))
            }
            return (try? Yams.compose(yaml: text)) ?? Node(text)
        }
        func visit(_ node: inout Node, variable prefix: String, path: String) {
            guard case .mapping(var mapping) = node else { return }
            for (key, child) in mapping {
                guard let name = key.string else { continue }
                let variable = prefix + "_" + name.uppercased()
                let keyPath = path.isEmpty ? name : path + "." + name
                var updated = child
                if case .mapping = child {
                    if !freeFormKeys.contains(keyPath) { visit(&updated, variable: variable, path: keyPath) }
                } else if let text = environment[variable] {
                    updated = value(text, like: child)
                    applied.append(variable)
                }
                mapping[key] = updated
            }
            // Optional scalar keys have no default to find them by.
            for (candidate, subkeys) in optionalKeys where subkeys.isEmpty {
                let parent = candidate.split(separator: ".").dropLast().joined(separator: ".")
                guard parent == path, let name = candidate.split(separator: ".").last.map(String.init), mapping[Node(name)] == nil else { continue }
                let variable = prefix + "_" + name.uppercased()
                if let text = environment[variable] {
                    mapping[Node(name)] = value(text, like: nil)
                    applied.append(variable)
                }
            }
            node = .mapping(mapping)
        }
        visit(&tree, variable: "VERDICT", path: "")
        return applied
    }

    /// Cross-field checks with messages that say what to set.
    func check() throws(ConfigurationError) {
        guard !topics.input.isEmpty else { throw ConfigurationError("topics.input is empty; name at least one input topic") }
        guard ["at_least_once", "exactly_once"].contains(pipeline.guarantee) else {
            throw ConfigurationError("pipeline.guarantee is '\(pipeline.guarantee)'; use at_least_once or exactly_once")
        }
        guard pipeline.maxInFlight > 0, pipeline.maxBatch > 0 else {
            throw ConfigurationError("pipeline.max_in_flight and pipeline.max_batch must be positive")
        }
        guard Logger.Level(rawValue: logging.level) != nil else {
            throw ConfigurationError("logging.level is '\(logging.level)'; use one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard ["json", "text"].contains(logging.format) else {
            throw ConfigurationError("logging.format is '\(logging.format)'; use json or text")
        }
        guard deadLetters.maxOriginalBytes >= 0 else {
            throw ConfigurationError(
                "dead_letters.max_original_bytes is \(deadLetters.maxOriginalBytes); give how many bytes of a refused record its dead letter embeds (0 for none, default \(DeadLetterConfiguration.defaultMaxOriginalBytes))"
            )
        }
        guard model.maxFileBytes > 0 else {
            throw ConfigurationError(
                "model.max_file_bytes is \(model.maxFileBytes); give the largest model file to accept, in bytes (default \(ModelLimits.defaultMaxFileBytes))")
        }
        guard (1...65_535).contains(sidecar.port) else { throw ConfigurationError("sidecar.port \(sidecar.port) is not a TCP port") }
        guard ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"].contains(kafka.security.protocol) else {
            throw ConfigurationError("kafka.security.protocol '\(kafka.security.protocol)' is not plaintext, ssl, sasl_plaintext or sasl_ssl")
        }
    }
}
