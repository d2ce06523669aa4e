import Foundation
import Logging
import Testing
@testable import VerdictKafka

@Suite("Kafka configuration")
struct KafkaConfigurationTests {
    @Test("consumer defaults: explicit offset store, cooperative-sticky, read_committed")
    func consumerDefaults() throws {
        let properties = try KafkaConsumerConfiguration().librdkafkaProperties()
        #expect(properties["enable.auto.offset.store"] == "false")
        #expect(properties["partition.assignment.strategy"] == "cooperative-sticky")
        #expect(properties["isolation.level"] == "read_committed")
        #expect(properties["group.id"] == "verdict")
        #expect(properties["bootstrap.servers"] == "localhost:9092")
        #expect(properties["auto.offset.reset"] == "earliest")
        #expect(properties["enable.auto.commit"] == "true")
        // librdkafka's 1 s default idles a consumer that processes more slowly than it fetches.
        #expect(properties["fetch.queue.backoff.ms"] == "20")
    }

    @Test("a pass-through property overrides a default")
    func passThroughOverrides() throws {
        var configuration = KafkaConsumerConfiguration()
        configuration.client.properties["fetch.queue.backoff.ms"] = "250"
        #expect(try configuration.librdkafkaProperties()["fetch.queue.backoff.ms"] == "250")
    }

    @Test("disabling auto commit turns it off in librdkafka")
    func noAutoCommit() throws {
        var configuration = KafkaConsumerConfiguration()
        configuration.autoCommitInterval = nil
        #expect(try configuration.librdkafkaProperties()["enable.auto.commit"] == "false")
    }

    @Test("producer defaults: idempotence on; transactional id passed through")
    func producerDefaults() throws {
        var configuration = KafkaProducerConfiguration()
        #expect(try configuration.librdkafkaProperties()["enable.idempotence"] == "true")
        configuration.transactionalID = "verdict-0"
        #expect(try configuration.librdkafkaProperties()["transactional.id"] == "verdict-0")
        configuration.idempotence = false
        #expect(throws: KafkaError.self) { try configuration.librdkafkaProperties() }
    }

    @Test("pass-through properties override the typed settings")
    func passThroughWins() throws {
        var configuration = KafkaProducerConfiguration()
        configuration.client.properties = ["linger.ms": "50", "socket.keepalive.enable": "true"]
        let properties = try configuration.librdkafkaProperties()
        #expect(properties["linger.ms"] == "50")
        #expect(properties["socket.keepalive.enable"] == "true")
    }

    @Test("empty bootstrap servers or group id are refused with what to set")
    func refusesEmpty() {
        var consumer = KafkaConsumerConfiguration()
        consumer.client.bootstrapServers = []
        #expect { try consumer.librdkafkaProperties() } throws: { error in
            (error as? KafkaError)?.code == .configuration && "\(error)".contains("bootstrap")
        }
        consumer = KafkaConsumerConfiguration(groupID: "")
        #expect { try consumer.librdkafkaProperties() } throws: { error in
            "\(error)".contains("group")
        }
    }

    @Test("SASL over TLS maps to librdkafka's properties with the password read from a file")
    func saslFromFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-secret-\(UUID().uuidString)")
        try "s3cret\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let security = KafkaSecurity(
            transport: .saslSSL,
            sasl: .init(mechanism: "SCRAM-SHA-512", username: "verdict", password: .file(file.path)),
            tls: .init(caLocation: "/etc/ssl/ca.pem")
        )
        let properties = try KafkaClientConfiguration(security: security).baseProperties()
        #expect(properties["security.protocol"] == "sasl_ssl")
        #expect(properties["sasl.mechanism"] == "SCRAM-SHA-512")
        #expect(properties["sasl.username"] == "verdict")
        #expect(properties["sasl.password"] == "s3cret")
        #expect(properties["ssl.ca.location"] == "/etc/ssl/ca.pem")
        #expect(properties["ssl.endpoint.identification.algorithm"] == "https")
    }

    @Test("a secret from a missing environment variable names the variable")
    func missingEnvironmentSecret() {
        let secret = KafkaSecret.environment("VERDICT_TEST_SURELY_UNSET_\(UInt32.random(in: 0...UInt32.max))")
        #expect { try secret.resolve() } throws: { error in
            "\(error)".contains("VERDICT_TEST_SURELY_UNSET_")
        }
    }

    @Test("SASL settings with a plaintext protocol are refused")
    func saslNeedsProtocol() {
        let security = KafkaSecurity(transport: .plaintext, sasl: .init(mechanism: "PLAIN", username: "u", password: .literal("p")))
        #expect(throws: KafkaError.self) { try security.properties() }
        let missing = KafkaSecurity(transport: .saslPlaintext)
        #expect(throws: KafkaError.self) { try missing.properties() }
    }

    @Test("redaction hides every secret and keeps the rest")
    func redaction() {
        let text = KafkaRedaction.describe([
            "sasl.password": "hunter2",
            "ssl.key.password": "k3y",
            "ssl.key.pem": "-----BEGIN",
            "sasl.oauthbearer.config": "principal=x secret=y",
            "bootstrap.servers": "kafka:9092",
        ])
        #expect(!text.contains("hunter2"))
        #expect(!text.contains("k3y"))
        #expect(!text.contains("BEGIN"))
        #expect(!text.contains("secret=y"))
        #expect(text.contains("bootstrap.servers=kafka:9092"))
        #expect(text.contains("sasl.password=[redacted]"))
    }

    @Test("secret descriptions never show literal values")
    func secretDescription() {
        #expect("\(KafkaSecret.literal("hunter2"))" == "<literal secret>")
        #expect("\(KafkaSecret.file("/run/secrets/kafka"))" == "file:/run/secrets/kafka")
    }

    @Test("librdkafka refusing a property names it, with a secret value redacted")
    func refusedProperty() {
        var configuration = KafkaProducerConfiguration()
        configuration.client.properties = ["no.such.property": "1"]
        #expect { _ = try KafkaProducer(configuration: configuration, logger: .init(label: "t"), deliveryReports: { _ in }) } throws: { error in
            "\(error)".contains("no.such.property")
        }
        configuration.client.properties = ["sasl.password.nonexistent": "hunter2"]
        #expect { _ = try KafkaProducer(configuration: configuration, logger: .init(label: "t"), deliveryReports: { _ in }) } throws: { error in
            !"\(error)".contains("hunter2")
        }
    }
}
