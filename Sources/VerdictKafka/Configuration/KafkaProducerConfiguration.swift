/// Settings of a ``KafkaProducer``.
///
/// Idempotence is on by default: retries never duplicate or reorder records within a partition.
public struct KafkaProducerConfiguration: Sendable, Hashable {
    /// `compression.type`.
    public enum Compression: String, Sendable, Hashable, CaseIterable {
        case none, gzip, snappy, lz4, zstd
    }

    public var client: KafkaClientConfiguration
    /// `enable.idempotence`. Default true.
    public var idempotence: Bool
    /// `linger.ms`: how long to wait to fill a batch. Default 5 ms.
    public var linger: Duration
    /// `message.timeout.ms`: after this a record is reported failed (`Message timed out`). Default 30 s.
    public var messageTimeout: Duration
    /// `queue.buffering.max.messages`: records the local queue holds before `queueFull`. Default 100 000.
    public var maxQueuedMessages: Int
    /// `compression.type`. Default lz4.
    public var compression: Compression
    /// `transactional.id`; set it for exactly-once (one per instance). Default nil.
    public var transactionalID: String?

    public init(
        client: KafkaClientConfiguration = KafkaClientConfiguration(),
        idempotence: Bool = true,
        linger: Duration = .milliseconds(5),
        messageTimeout: Duration = .seconds(30),
        maxQueuedMessages: Int = 100_000,
        compression: Compression = .lz4,
        transactionalID: String? = nil
    ) {
        self.client = client
        self.idempotence = idempotence
        self.linger = linger
        self.messageTimeout = messageTimeout
        self.maxQueuedMessages = maxQueuedMessages
        self.compression = compression
        self.transactionalID = transactionalID
    }

    /// The librdkafka properties, secrets resolved, pass-through applied last.
    ///
    /// - Throws: ``KafkaError`` (configuration) for contradictory settings or an unreadable secret.
    public func librdkafkaProperties() throws(KafkaError) -> [String: String] {
        guard maxQueuedMessages > 0 else {
            throw .configuration("queue.buffering.max.messages must be positive (got \(maxQueuedMessages))")
        }
        if transactionalID != nil && !idempotence {
            throw .configuration("a transactional producer requires idempotence; remove idempotence=false")
        }
        var result = try client.baseProperties()
        result["enable.idempotence"] = idempotence ? "true" : "false"
        result["linger.ms"] = String(linger.milliseconds)
        result["message.timeout.ms"] = String(messageTimeout.milliseconds)
        result["queue.buffering.max.messages"] = String(maxQueuedMessages)
        result["compression.type"] = compression.rawValue
        if let transactionalID { result["transactional.id"] = transactionalID }
        result.merge(client.properties) { _, passThrough in passThrough }
        return result
    }
}
