/// A record to produce.
public struct KafkaProducerRecord: Sendable, Hashable {
    public var topic: String
    /// The partition; nil lets librdkafka's partitioner choose by key (murmur2-compatible `consistent_random`).
    public var partition: Int?
    public var key: [UInt8]?
    /// The value; nil produces a tombstone.
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// The record's timestamp in milliseconds since the epoch; nil lets librdkafka stamp the time
    /// of the send (tools that load history stamp each record with its event's time).
    public var timestamp: Int64?

    public init(topic: String, partition: Int? = nil, key: [UInt8]? = nil, value: [UInt8]?, headers: [KafkaHeader] = [], timestamp: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }
}

/// The broker's answer for one produced record, handed back on the producer's poll thread.
public struct KafkaDeliveryReport: Sendable, Equatable {
    /// The id the caller gave ``KafkaProducer/send(_:id:)``.
    public var id: UInt64
    public var topic: String
    public var partition: Int
    /// The offset the record was written at; nil when it failed or the broker did not say.
    public var offset: Int64?
    /// Why the record was not delivered; nil when it was.
    public var error: KafkaError?
    /// The record that was not delivered, copied back from librdkafka: its key, value, headers and
    /// the partition it was assigned (nil if none was), so a caller can send it again without
    /// keeping its own copy of every record in flight; nil when it was delivered.
    ///
    /// - Important: Its `timestamp` is nil: librdkafka does not report the timestamp of a failed
    ///   record. A caller that set one must set it again before resending.
    public var record: KafkaProducerRecord?

    public init(id: UInt64, topic: String, partition: Int, offset: Int64?, error: KafkaError?, record: KafkaProducerRecord? = nil) {
        self.id = id
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.error = error
        self.record = record
    }

    /// The record was acknowledged by the broker.
    public var isDelivered: Bool { error == nil }
}
