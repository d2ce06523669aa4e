import Foundation
import Testing
import VerdictForest
import VerdictKafka
import VerdictONNX
@testable import VerdictPipeline
import VerdictScoring

@Suite("Service configuration")
struct ConfigurationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func write(_ yaml: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-\(UUID().uuidString.prefix(8)).yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test("the shipped config gives the documented defaults")
    func shippedDefaults() throws {
        let configuration = try VerdictConfiguration.load(path: Self.root.appendingPathComponent("config/verdict.yaml").path, environment: [:])
        #expect(configuration.topics.input == ["transactions"])
        #expect(configuration.topics.decisions == "decisions")
        #expect(configuration.topics.deadLetters == "transactions.dlq")
        #expect(configuration.kafka.consumer.groupID == "verdict")
        #expect(configuration.sidecar.port == 9102)
        #expect(configuration.pipeline.guarantee == "at_least_once")
        // Relative paths resolve against the file's directory.
        #expect(configuration.resolve(configuration.model.path) == Self.root.appendingPathComponent("config/../models/verdict-fraud").path)
    }

    @Test("config/stateful differs from the default only in the model, the features and the state directory, and its model 2.0.0 loads with its aggregates")
    func statefulConfiguration() throws {
        let plain = try VerdictConfiguration.load(path: Self.root.appendingPathComponent("config/verdict.yaml").path, environment: [:])
        var stateful = try VerdictConfiguration.load(path: Self.root.appendingPathComponent("config/stateful/verdict.yaml").path, environment: [:])
        let standardized = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.path }
        #expect(standardized(stateful.resolve(stateful.model.path)) == Self.root.appendingPathComponent("models/verdict-fraud/2.0.0").path)
        #expect(standardized(stateful.resolve(stateful.scoring.rules)) == standardized(plain.resolve(plain.scoring.rules)))
        #expect(stateful.pipeline.stateDirectory != nil && plain.pipeline.stateDirectory == nil)
        let features = try ScoringConfiguration.loadYAML(FeatureConfiguration.self, path: stateful.resolve(stateful.scoring.features))
        #expect(features.aggregates?.map(\.name) == ["card_txn_count_1h", "card_amount_sum_24h", "card_distinct_merchants_24h", "card_seconds_since_last"])
        let model = try ModelRepository(
            path: stateful.resolve(stateful.model.path), loader: { request throws(ForestError) in try ModelLoader.loadAnyFormat(request) }
        ).load(features: features)
        #expect(model.version == "2.0.0" && model.plan.readsAggregates)
        // Everything else is the default configuration's.
        stateful.model = plain.model
        stateful.scoring.features = plain.scoring.features
        stateful.scoring.rules = plain.scoring.rules
        stateful.pipeline.stateDirectory = nil
        stateful.baseDirectory = plain.baseDirectory
        #expect(String(describing: stateful) == String(describing: plain))
    }

    @Test("environment variables override keys, lists comma-separated")
    func environmentOverrides() throws {
        let path = try Self.write("kafka:\n  bootstrap_servers: [a:1]\n")
        let configuration = try VerdictConfiguration.load(
            path: path,
            environment: [
                "VERDICT_KAFKA_BOOTSTRAP_SERVERS": "b:2,c:3",
                "VERDICT_SIDECAR_PORT": "9200",
                "VERDICT_PIPELINE_MAX_IN_FLIGHT": "500",
                "VERDICT_KAFKA_CONSUMER_SESSION_TIMEOUT": "6s",
                // An optional key without a default (the Kubernetes manifest sets it per pod).
                "VERDICT_PIPELINE_TRANSACTIONAL_ID": "verdict-pod-0",
            ])
        #expect(configuration.pipeline.transactionalID == "verdict-pod-0")
        #expect(configuration.kafka.bootstrapServers == ["b:2", "c:3"])
        #expect(configuration.sidecar.port == 9200)
        #expect(configuration.pipeline.maxInFlight == 500)
        #expect(configuration.kafka.consumer.sessionTimeout.duration == .seconds(6))
    }

    @Test("the effective configuration says where each value came from and redacts secrets")
    func effectiveConfiguration() throws {
        let path = try Self.write(
            """
            kafka:
              consumer:
                group_id: verdict-eu
                properties: {"sasl.password": "hunter2-not-for-logs", "fetch.max.bytes": "1048576"}
            """)
        let values = try VerdictConfiguration.effective(path: path, environment: ["VERDICT_SIDECAR_PORT": "9300"])
        let byKey = Dictionary(uniqueKeysWithValues: values.map { ($0.key, $0) })
        #expect(byKey["kafka.consumer.group_id"]?.origin == .file)
        #expect(byKey["kafka.consumer.group_id"]?.value == "verdict-eu")
        #expect(byKey["sidecar.port"]?.origin == .environment)
        #expect(byKey["sidecar.port"]?.value == "9300")
        #expect(byKey["pipeline.commit_interval"]?.origin == .default)
        #expect(byKey["kafka.bootstrap_servers"]?.value == "[localhost:9092]")
        let properties = try #require(byKey["kafka.consumer.properties"])
        #expect(properties.value.contains("<redacted>") && properties.value.contains("1048576"))
        #expect(!values.contains { $0.value.contains("hunter2") })
    }

    @Test("a misspelt key is refused with a suggestion")
    func unknownKeySuggestion() throws {
        let path = try Self.write("pipeline:\n  max_inflight: 10\n")
        #expect {
            try VerdictConfiguration.load(path: path, environment: [:])
        } throws: { error in
            "\(error)".contains("unknown key pipeline.max_inflight; did you mean max_in_flight?")
        }
    }

    @Test("a misspelt key is refused with its path and the keys that exist")
    func unknownKey() throws {
        let path = try Self.write("kafka:\n  consumer:\n    group: verdict-eu\n")
        #expect {
            try VerdictConfiguration.load(path: path, environment: [:])
        } throws: { error in
            let message = "\(error)"
            return message.contains("kafka.consumer.group") && message.contains("group_id")
        }
    }

    @Test("optional keys and free-form maps are accepted")
    func optionalKeys() throws {
        let path = try Self.write(
            """
            kafka:
              security:
                protocol: sasl_ssl
                sasl: {mechanism: SCRAM-SHA-512, username: verdict, password_env: KAFKA_PASSWORD}
                tls: {ca_file: /etc/ca.pem}
              consumer:
                properties: {fetch.max.bytes: "1048576"}
            model:
              shadow_path: ../models/challenger
            pipeline:
              transactional_id: verdict-0
            """)
        let configuration = try VerdictConfiguration.load(path: path, environment: [:])
        #expect(configuration.kafka.security.sasl?.username == "verdict")
        #expect(configuration.kafka.consumer.properties["fetch.max.bytes"] == "1048576")
        #expect(configuration.model.shadowPath == "../models/challenger")
    }

    @Test("pass-through properties that would break the guarantee are refused with the reason")
    func guardedPassThrough() throws {
        let consumer = try Self.write("kafka:\n  consumer:\n    properties: {enable.auto.offset.store: \"true\"}\n")
        let c = try VerdictConfiguration.load(path: consumer, environment: [:])
        #expect(throws: ConfigurationError.self) { try c.consumerConfiguration() }
        let producer = try Self.write("kafka:\n  producer:\n    properties: {enable.idempotence: \"false\"}\n")
        let p = try VerdictConfiguration.load(path: producer, environment: [:])
        #expect(throws: ConfigurationError.self) { try p.producerConfiguration() }
    }

    @Test("inconsistent values are refused with what to set")
    func checks() throws {
        for yaml in [
            "pipeline:\n  guarantee: at_most_once\n", "topics:\n  input: []\n", "sidecar:\n  port: 70000\n",
            "kafka:\n  security:\n    protocol: kerberos\n",
        ] {
            let path = try Self.write(yaml)
            #expect(throws: ConfigurationError.self, "\(yaml)") { try VerdictConfiguration.load(path: path, environment: [:]) }
        }
    }

    @Test("exactly-once gives a transactional producer and no auto-commit; at-least-once commits on the interval")
    func guaranteeMapping() throws {
        let eos = try VerdictConfiguration.load(path: try Self.write("pipeline:\n  guarantee: exactly_once\n  transactional_id: t-1\n"), environment: [:])
        #expect(try eos.producerConfiguration().transactionalID == "t-1")
        #expect(try eos.consumerConfiguration().autoCommitInterval == nil)
        let alo = try VerdictConfiguration.load(path: try Self.write("pipeline:\n  commit_interval: 200ms\n"), environment: [:])
        #expect(try alo.producerConfiguration().transactionalID == nil)
        #expect(try alo.consumerConfiguration().autoCommitInterval == .milliseconds(200))
        // Fetches wait briefly at the broker (latency), unless the pass-through says otherwise.
        #expect(try alo.consumerConfiguration().client.properties["fetch.wait.max.ms"] == "10")
        let tuned = try VerdictConfiguration.load(path: try Self.write("kafka:\n  consumer:\n    fetch_wait: 100ms\n"), environment: [:])
        #expect(try tuned.consumerConfiguration().client.properties["fetch.wait.max.ms"] == "100")
    }

    @Test("max_poll_interval reaches librdkafka, may not be set through the pass-through, and may not be below the session timeout")
    func maxPollInterval() throws {
        let raised = try VerdictConfiguration.load(path: try Self.write("kafka:\n  consumer:\n    max_poll_interval: 30m\n"), environment: [:])
        #expect(try raised.consumerConfiguration().librdkafkaProperties()["max.poll.interval.ms"] == "1800000")
        let variable = try VerdictConfiguration.load(path: try Self.write(""), environment: ["VERDICT_KAFKA_CONSUMER_MAX_POLL_INTERVAL": "10m"])
        #expect(try variable.consumerConfiguration().maxPollInterval == .seconds(600))
        let passedThrough = try VerdictConfiguration.load(
            path: try Self.write("kafka:\n  consumer:\n    properties: {max.poll.interval.ms: \"900000\"}\n"), environment: [:])
        let refused = #expect(throws: ConfigurationError.self) { try passedThrough.consumerConfiguration() }
        #expect(refused.map { "\($0)" }?.contains("kafka.consumer.max_poll_interval") == true)
        let short = try VerdictConfiguration.load(
            path: try Self.write("kafka:\n  consumer:\n    session_timeout: 45s\n    max_poll_interval: 30s\n"), environment: [:])
        let tooShort = #expect(throws: ConfigurationError.self) { try short.consumerConfiguration() }
        #expect(tooShort.map { "\($0)" }?.contains("at least the session timeout") == true)
        // Exactly-once retries a commit on the poll thread: never for longer than half the interval.
        #expect(TransactionalRelay.Configuration(callTimeout: .seconds(30), maxPollInterval: .seconds(300)).commitDeadline == .seconds(120))
        #expect(TransactionalRelay.Configuration(callTimeout: .seconds(30), maxPollInterval: .seconds(90)).commitDeadline == .seconds(45))
        #expect(TransactionalRelay.Configuration(callTimeout: .seconds(7), maxPollInterval: .seconds(90)).callTimeout == .seconds(7))
    }

    /// A value of the key's kind that differs from its default, as YAML and as the variable's text.
    static func sample(_ key: ConfigurationKey) -> (yaml: String, text: String, expected: ConfigurationKey.Value)? {
        switch key.kind {
        case .text, .name:
            return ("sample-value", "sample-value", .text("sample-value"))
        case .choice(let values):
            let other = values.first { ConfigurationKey.Value.text($0) != key.defaultValue } ?? values[0]
            return (other, other, .text(other))
        case .integer(let range):
            let value = range.lowerBound == 0 ? 7 : range.lowerBound + 1
            return (String(value), String(value), .integer(value))
        case .bytes(let range):
            let value = range.lowerBound <= 2048 ? 2048 : range.lowerBound
            return ("2KiB", "2KiB", .integer(value))
        case .number(let range):
            let value = range.lowerBound + 12.5
            return (String(value), String(value), .number(value))
        case .flag:
            let value = key.defaultValue != .flag(true)
            return (String(value), String(value), .flag(value))
        case .duration:
            return ("90s", "90s", .duration(ConfigDuration(.seconds(90))))
        case .names:
            return ("[a, b]", "a,b", .names(["a", "b"]))
        case .properties:
            return ("{fetch.max.bytes: \"1048576\"}", "", .properties(["fetch.max.bytes": "1048576"]))
        case .rates:
            return ("{USD: 1, XTS: null}", "", .rates(["USD": 1.0, "XTS": Double?.none]))
        }
    }

    /// Values the key's kind refuses, with the text the message must show.
    static func invalid(_ key: ConfigurationKey) -> [String] {
        switch key.kind {
        case .text: []
        case .name: ["\"\""]
        case .choice: ["bogus-choice"]
        case .integer(let range): ["seven", String(range.lowerBound - 1)] + (range.upperBound == .max ? [] : [String(range.upperBound + 1)])
        case .bytes(let range):
            ["lots", "5XB", "9999999999GiB", String(range.lowerBound - 1)] + (range.upperBound == .max ? [] : [String(range.upperBound + 1)])
        case .number(let range): ["lots", String(range.upperBound * 2)]
        case .flag: ["maybe"]
        case .duration(let minimum): ["soon"] + (minimum > .zero ? ["0ms"] : [])
        case .names(let allowEmpty): allowEmpty ? ["{a: b}"] : ["[]"]
        case .properties: ["[a, b]"]
        case .rates: ["{usd: 1}", "{USD: -1}"]
        }
    }

    /// The YAML text of a file setting `path` to `value`.
    static func yaml(_ path: String, _ value: String) -> String {
        let parts = path.split(separator: ".")
        var text = ""
        for (depth, part) in parts.enumerated() {
            text += String(repeating: "  ", count: depth) + part + ":" + (depth == parts.count - 1 ? " " + value : "") + "\n"
        }
        return text
    }

    static func loadable(_ key: ConfigurationKey, _ file: String, environment: [String: String] = [:]) throws -> VerdictConfiguration {
        var environment = environment
        // SASL needs a user and a password source; give them from the environment unless under test.
        if key.path.hasPrefix("kafka.security.sasl.") {
            if key.path != "kafka.security.sasl.username" { environment["VERDICT_KAFKA_SECURITY_SASL_USERNAME"] = "user" }
            if !key.path.hasSuffix("password_file"), !key.path.hasSuffix("password_env") { environment["VERDICT_KAFKA_SECURITY_SASL_PASSWORD_ENV"] = "PW" }
        }
        return try VerdictConfiguration.load(path: try write(file), environment: environment)
    }

    @Test("every declared key: its default, a value from the file, a value from the environment, each invalid value refused with its message")
    func everyKey() throws {
        let defaults = try VerdictConfiguration.load(path: nil, environment: [:])
        let origins = Dictionary(uniqueKeysWithValues: try VerdictConfiguration.effective(path: nil, environment: [:]).map { ($0.key, $0.origin) })
        for key in VerdictConfiguration.keys {
            // The default is the typed configuration's initial value, and it loads.
            #expect(defaults.value(of: key) == key.read(VerdictConfiguration()), "\(key.path)")
            #expect(origins[key.path] == .default, "\(key.path)")
            guard let sample = Self.sample(key) else { continue }
            let fromFile = try Self.loadable(key, Self.yaml(key.path, sample.yaml))
            #expect(fromFile.value(of: key) == sample.expected, "\(key.path) from the file")
            if let variable = key.environmentVariable {
                let fromEnvironment = try Self.loadable(key, "{}\n", environment: [variable: sample.text])
                #expect(fromEnvironment.value(of: key) == sample.expected, "\(key.path) from \(variable)")
                // The environment wins over the file.
                let both = try Self.loadable(key, Self.yaml(key.path, sample.yaml), environment: [variable: sample.text])
                #expect(both.value(of: key) == sample.expected, "\(key.path) from both")
            } else {
                #expect(key.path.hasSuffix("properties") || key.path.hasSuffix("currencies"), "only the maps are file-only: \(key.path)")
            }
            for bad in Self.invalid(key) {
                #expect("\(key.path) = \(bad)") {
                    try Self.loadable(key, Self.yaml(key.path, bad))
                } throws: { error in
                    let message = "\(error)"
                    // The file, the key, what it accepts and the default.
                    return message.contains(key.path) && message.contains("give \(key.kind.accepts)") && message.contains("(default ")
                        && message.contains(".yaml:")
                }
                if let variable = key.environmentVariable, !bad.hasPrefix("{"), !bad.hasPrefix("["), bad != "\"\"" {
                    #expect(throws: ConfigurationError.self, "\(variable)=\(bad)") {
                        try Self.loadable(key, "{}\n", environment: [variable: bad])
                    }
                }
            }
        }
    }

    @Test("an invalid variable is refused with its name, the key, the value, what is allowed and the default")
    func invalidVariableMessage() throws {
        #expect {
            try VerdictConfiguration.load(path: nil, environment: ["VERDICT_PIPELINE_MAX_BATCH": "0"])
        } throws: { error in
            "\(error)" == "configuration error: VERDICT_PIPELINE_MAX_BATCH=0: pipeline.max_batch is '0'; give an integer from 1 to 100000 (default 2000)"
        }
        #expect {
            try VerdictConfiguration.load(path: nil, environment: ["VERDICT_LOGGING_LEVEL": "verbose"])
        } throws: { error in
            "\(error)".contains("logging.level is 'verbose'; give `trace`, `debug`, `info`")
        }
    }

    @Test("sizes take binary and decimal units", arguments: [("65536", 65_536), ("64KiB", 65_536), ("16MiB", 16_777_216), ("2MB", 2_000_000), ("512B", 512)])
    func sizes(text: String, bytes: Int) throws {
        let configuration = try VerdictConfiguration.load(path: try Self.write("scoring:\n  validation:\n    max_record_bytes: \(text)\n"), environment: [:])
        #expect(configuration.scoring.validation.maxRecordBytes == bytes)
        let fromVariable = try VerdictConfiguration.load(path: nil, environment: ["VERDICT_MODEL_MAX_FILE_BYTES": text])
        #expect(fromVariable.model.maxFileBytes == bytes)
    }

    @Test("Kafka defaults come from the VerdictKafka structs, and the relay's bounds from Relay.Configuration")
    func kafkaDefaultsHaveOneSource() throws {
        let configuration = VerdictConfiguration()
        let consumer = try configuration.consumerConfiguration()
        let producer = try configuration.producerConfiguration()
        let kafkaConsumer = KafkaConsumerConfiguration()
        let kafkaProducer = KafkaProducerConfiguration()
        #expect(consumer.maxBatchSize == kafkaConsumer.maxBatchSize)
        #expect(consumer.sessionTimeout == kafkaConsumer.sessionTimeout)
        #expect(consumer.maxPollInterval == kafkaConsumer.maxPollInterval)
        #expect(consumer.offsetReset == kafkaConsumer.offsetReset)
        #expect(consumer.groupID == kafkaConsumer.groupID)
        #expect(consumer.autoCommitInterval == kafkaConsumer.autoCommitInterval)
        #expect(consumer.client.bootstrapServers == KafkaClientConfiguration().bootstrapServers)
        #expect(producer.linger == kafkaProducer.linger && producer.messageTimeout == kafkaProducer.messageTimeout)
        #expect(producer.compression == kafkaProducer.compression && producer.maxQueuedMessages == kafkaProducer.maxQueuedMessages)
        #expect(configuration.pipeline.maxInFlight == Relay.Configuration().maxInFlight)
        #expect(configuration.pipeline.revokeTimeout.duration == Relay.Configuration().revokeDrainTimeout)
    }

    @Test("docs/configuration.md's reference is the one generated from the declarations (run `make docs` when this fails)")
    func referenceIsCurrent() throws {
        let page = try String(contentsOf: Self.root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let regenerated = try #require(VerdictConfiguration.regenerate(page), "docs/configuration.md lost its generated-part markers")
        #expect(regenerated == page, "docs/configuration.md is stale: run `make docs`")
        // Every key is in it, with its variable.
        for key in VerdictConfiguration.keys {
            #expect(page.contains(key.environmentVariable ?? key.path.split(separator: ".").last.map(String.init) ?? ""), "\(key.path)")
        }
    }

    @Test("a file whose section is not a map, or whose key holds a map, is refused with the path")
    func shapes() throws {
        for (yaml, expected) in [
            ("pipeline: 5\n", "pipeline is '5'; give a map of keys"),
            ("pipeline:\n  max_batch: {a: 1}\n", "pipeline.max_batch is"),
            ("kafka:\n  security:\n    sasl: yes\n", "kafka.security.sasl is 'yes'"),
        ] {
            #expect("\(yaml)") {
                try VerdictConfiguration.load(path: try Self.write(yaml), environment: [:])
            } throws: { error in "\(error)".contains(expected) }
        }
    }

    @Test("resume_below at or above max_in_flight, and SASL without a user or password source, are refused with what to set")
    func crossKeyChecks() throws {
        for (yaml, expected) in [
            ("pipeline:\n  max_in_flight: 100\n  resume_below: 100\n", "pipeline.resume_below (100) must be below pipeline.max_in_flight (100)"),
            ("kafka:\n  security:\n    sasl: {username: u}\n", "needs password_file or password_env"),
            ("kafka:\n  security:\n    sasl: {password_env: P}\n", "kafka.security.sasl needs username"),
        ] {
            #expect("\(yaml)") {
                try VerdictConfiguration.load(path: try Self.write(yaml), environment: [:])
            } throws: { error in "\(error)".contains(expected) }
        }
    }
}
