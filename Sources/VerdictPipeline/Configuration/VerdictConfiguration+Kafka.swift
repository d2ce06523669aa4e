import Foundation
public import VerdictKafka
import VerdictScoring

extension VerdictConfiguration {
    /// The client settings every Kafka client of the service shares.
    ///
    /// - Throws: ``ConfigurationError`` for an unusable security block.
    public func kafkaClient() throws(ConfigurationError) -> KafkaClientConfiguration {
        var security = KafkaSecurity()
        guard let transport = KafkaSecurity.TransportProtocol(rawValue: kafka.security.protocol) else {
            throw ConfigurationError("kafka.security.protocol '\(kafka.security.protocol)' is not plaintext, ssl, sasl_plaintext or sasl_ssl")
        }
        security.transport = transport
        if let sasl = kafka.security.sasl {
            let password: KafkaSecret
            if let file = sasl.passwordFile {
                password = .file(resolve(file))
            } else if let env = sasl.passwordEnv {
                password = .environment(env)
            } else {
                throw ConfigurationError("kafka.security.sasl needs password_file or password_env (the password itself never goes in this file)")
            }
            security.sasl = .init(mechanism: sasl.mechanism, username: sasl.username, password: password)
        }
        if let tls = kafka.security.tls {
            let keyPassword: KafkaSecret? = tls.keyPasswordFile.map { .file(resolve($0)) } ?? tls.keyPasswordEnv.map { .environment($0) }
            security.tls = .init(
                caLocation: tls.caFile.map(resolve), certificateLocation: tls.certFile.map(resolve),
                keyLocation: tls.keyFile.map(resolve), keyPassword: keyPassword, verifyHostname: tls.verifyHostname)
        }
        let interval = kafka.statisticsInterval.seconds
        return KafkaClientConfiguration(
            bootstrapServers: kafka.bootstrapServers, clientID: kafka.clientID, security: security,
            statisticsInterval: interval > 0 ? .milliseconds(Int64(interval * 1000)) : nil
        )
    }

    public var exactlyOnce: Bool { pipeline.guarantee == "exactly_once" }

    /// Pass-through properties that would break the delivery guarantee or bypass a key of ours.
    static let guardedConsumerProperties: [String: String] = [
        "enable.auto.offset.store": "offsets are stored only after a decision is acknowledged; this must stay false",
        "enable.auto.commit": "set pipeline.commit_interval (exactly-once commits in transactions)",
        "group.id": "set kafka.consumer.group_id",
        "group.instance.id": "set kafka.consumer.group_instance_id",
        "max.poll.interval.ms": "set kafka.consumer.max_poll_interval (a rebuild of aggregate state warns against it)",
        "isolation.level": "the service reads read_committed so aborted upstream transactions are never scored",
        "bootstrap.servers": "set kafka.bootstrap_servers",
    ]
    static let guardedProducerProperties: [String: String] = [
        "enable.idempotence": "idempotence prevents duplicates on retries; it must stay on",
        "acks": "decisions are acknowledged by all in-sync replicas (acks=all, required by idempotence)",
        "transactional.id": "set pipeline.transactional_id with pipeline.guarantee: exactly_once",
        "bootstrap.servers": "set kafka.bootstrap_servers",
    ]

    static func checkPassThrough(_ properties: [String: String], guarded: [String: String], key: String) throws(ConfigurationError) {
        for name in properties.keys.sorted() {
            if let why = guarded[name] { throw ConfigurationError("\(key) may not set \(name): \(why)") }
        }
    }

    public func consumerConfiguration() throws(ConfigurationError) -> KafkaConsumerConfiguration {
        var client = try kafkaClient()
        try Self.checkPassThrough(kafka.consumer.properties, guarded: Self.guardedConsumerProperties, key: "kafka.consumer.properties")
        let (seconds, attoseconds) = kafka.consumer.fetchWait.duration.components
        client.properties = ["fetch.wait.max.ms": String(seconds * 1000 + attoseconds / 1_000_000_000_000_000)]
        client.properties.merge(kafka.consumer.properties) { _, passThrough in passThrough }
        guard let reset = KafkaConsumerConfiguration.OffsetReset(rawValue: kafka.consumer.offsetReset) else {
            throw ConfigurationError("kafka.consumer.offset_reset '\(kafka.consumer.offsetReset)' is not earliest, latest or error")
        }
        // librdkafka refuses a consumer whose max.poll.interval.ms is below its session.timeout.ms.
        guard kafka.consumer.maxPollInterval.duration >= kafka.consumer.sessionTimeout.duration else {
            throw ConfigurationError(
                "kafka.consumer.max_poll_interval (\(kafka.consumer.maxPollInterval)) is shorter than kafka.consumer.session_timeout (\(kafka.consumer.sessionTimeout)); raise it to at least the session timeout"
            )
        }
        return KafkaConsumerConfiguration(
            client: client,
            groupID: kafka.consumer.groupID,
            groupInstanceID: kafka.consumer.groupInstanceID,
            offsetReset: reset,
            sessionTimeout: kafka.consumer.sessionTimeout.duration,
            maxPollInterval: kafka.consumer.maxPollInterval.duration,
            // Exactly-once commits offsets in the transactions; at-least-once stores them after
            // delivery and commits them every commit_interval, on revoke and on shutdown.
            autoCommitInterval: exactlyOnce ? nil : pipeline.commitInterval.duration,
            readCommitted: true,
            maxBatchSize: pipeline.maxBatch,
            pollTimeout: .milliseconds(100)
        )
    }

    public func producerConfiguration() throws(ConfigurationError) -> KafkaProducerConfiguration {
        var client = try kafkaClient()
        try Self.checkPassThrough(kafka.producer.properties, guarded: Self.guardedProducerProperties, key: "kafka.producer.properties")
        client.properties = kafka.producer.properties
        guard let compression = KafkaProducerConfiguration.Compression(rawValue: kafka.producer.compression) else {
            throw ConfigurationError("kafka.producer.compression '\(kafka.producer.compression)' is not none, gzip, snappy, lz4 or zstd")
        }
        let host = ProcessInfo.processInfo.hostName
        return KafkaProducerConfiguration(
            client: client,
            idempotence: true,
            linger: kafka.producer.linger.duration,
            messageTimeout: kafka.producer.messageTimeout.duration,
            maxQueuedMessages: kafka.producer.maxQueuedMessages,
            compression: compression,
            transactionalID: exactlyOnce ? (pipeline.transactionalID ?? "verdict-\(host)") : nil
        )
    }
}
