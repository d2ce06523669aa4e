import CRdKafka
public import Logging

/// One partition's position of a consumer group against the end of its log.
public struct KafkaPartitionLag: Sendable, Hashable {
    public var topicPartition: KafkaTopicPartition
    /// The group's committed offset; nil when the group has committed nothing for the partition.
    public var committed: Int64?
    /// The partition's low and high watermarks (the first retained offset and the next to be written).
    public var low: Int64
    public var high: Int64

    public init(topicPartition: KafkaTopicPartition, committed: Int64?, low: Int64, high: Int64) {
        self.topicPartition = topicPartition
        self.committed = committed
        self.low = low
        self.high = high
    }

    /// Records the group has still to process: from the committed offset to the end, or every
    /// retained record when nothing is committed (where `offset_reset: earliest` starts). Never
    /// negative: a watermark answer older than the commit reads as zero, not as a negative lag.
    public var lag: Int64 {
        let from = committed.map { max($0, low) } ?? low
        return high > from ? high - from : 0
    }
}

/// Reads a consumer group's lag from the brokers (committed offsets and watermarks) without joining
/// the group, so it keeps working while no member runs: that is when lag matters most.
///
/// `verdict lag-exporter` serves it to Prometheus. A consumer's own lag metric vanishes with the
/// consumer; this one does not.
public final class KafkaGroupLag: Sendable {
    private let handle: RDKafkaHandle
    private let configuration: KafkaClientConfiguration
    public let groupID: String

    /// Creates the reader. It never subscribes, so it never joins or disturbs the group.
    ///
    /// - Throws: ``KafkaError`` (configuration) when librdkafka refuses a property.
    public init(configuration: KafkaClientConfiguration, groupID: String, logger: Logger) throws(KafkaError) {
        var properties = try configuration.baseProperties()
        properties.merge(configuration.properties) { _, passThrough in passThrough }
        properties["group.id"] = groupID
        properties["enable.auto.commit"] = "false"
        let callbacks = RDKafkaCallbacks(
            logger: logger,
            onError: { error in
                logger.debug("kafka lag reader error", metadata: [LogKey.error: "\(error)"])
            })
        handle = try RDKafkaHandle(kind: .consumer, properties: properties, callbacks: callbacks)
        self.configuration = configuration
        self.groupID = groupID
    }

    /// The group's lag on every partition of `topics`, in topic and partition order.
    ///
    /// - Throws: ``KafkaError/Code/brokerUnreachable`` naming the bootstrap servers,
    ///   ``KafkaError/Code/unknownTopic`` for a missing topic, or the broker's error for the
    ///   committed offsets or a watermark.
    public func measure(topics: [String], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [KafkaPartitionLag] {
        let handle = self.handle
        let brokers = configuration.bootstrapServers
        let result: Result<[KafkaPartitionLag], KafkaError> = await DedicatedThread.run(name: "verdict-lag") {
            do throws(KafkaError) {
                return .success(try Self.measureBlocking(handle: handle, topics: topics, timeout: timeout, brokers: brokers))
            } catch { return .failure(error) }
        }
        return try result.get()
    }

    private static func measureBlocking(handle: RDKafkaHandle, topics: [String], timeout: Duration, brokers: [String]) throws(KafkaError) -> [KafkaPartitionLag]
    {
        let counts = try handle.partitionCounts(topics, timeout: timeout, brokers: brokers)
        var partitions: [KafkaTopicPartition] = []
        for topic in topics.sorted() {
            for partition in 0..<(counts[topic] ?? 0) { partitions.append(KafkaTopicPartition(topic: topic, partition: partition)) }
        }
        guard !partitions.isEmpty else { return [] }
        let list = RDKafkaTopicPartitionList(partitions)
        let err = rd_kafka_committed(handle.pointer, list.pointer, timeout.timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdkafka: err, context: "reading the group's committed offsets") }
        if let error = RDKafkaTopicPartitionList.firstError(in: list.pointer, context: "reading the committed offset of") { throw error }
        var committed: [KafkaTopicPartition: Int64] = [:]
        for entry in RDKafkaTopicPartitionList.offsets(of: list.pointer) where entry.offset >= 0 {
            committed[entry.topicPartition] = entry.offset
        }
        var lags: [KafkaPartitionLag] = []
        lags.reserveCapacity(partitions.count)
        for tp in partitions {
            var low: Int64 = 0, high: Int64 = 0
            let err = rd_kafka_query_watermark_offsets(handle.pointer, tp.topic, Int32(tp.partition), &low, &high, timeout.timeoutMilliseconds)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdkafka: err, context: "reading the watermarks of \(tp)") }
            lags.append(KafkaPartitionLag(topicPartition: tp, committed: committed[tp], low: low, high: high))
        }
        return lags
    }
}
