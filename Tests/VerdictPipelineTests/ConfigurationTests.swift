import Foundation
import Testing
import VerdictKafka
import VerdictPipeline
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
}
