import CRdKafka
public import Logging

/// Reads one partition from its first retained record up to an offset, outside the consumer group:
/// what the stream rebuilds a partition's aggregate state from before it scores the partition.
///
/// It uses the group consumer's settings (brokers, security, isolation level, pass-through
/// properties) under a group id of its own, and never subscribes, so it never joins the group,
/// commits nothing and disturbs no member.
public final class KafkaPartitionReader: Sendable {
    private let properties: [String: String]
    private let logger: Logger
    private let maxBatch: Int
    /// `max.partition.fetch.bytes` of the reader, unless the consumer's properties set it.
    public static let fetchBytes = 16 << 20

    /// - Throws: ``KafkaError`` (configuration) when the consumer's settings are invalid.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger) throws(KafkaError) {
        var properties = try configuration.librdkafkaProperties()
        properties["group.id"] = configuration.groupID + ".verdict-rebuild"
        properties.removeValue(forKey: "group.instance.id")
        properties["enable.auto.commit"] = "false"
        properties["enable.auto.offset.store"] = "false"
        properties["enable.partition.eof"] = "true"
        // One partition is read, so a fetch may carry much more of it than librdkafka's 1 MB
        // default: state snapshots come in 512 KiB chunks, which the default fetched two at a time.
        if properties["max.partition.fetch.bytes"] == nil { properties["max.partition.fetch.bytes"] = String(Self.fetchBytes) }
        self.properties = properties
        self.logger = logger
        maxBatch = max(1, configuration.maxBatchSize)
    }

    /// The partition count of each of `topics`.
    ///
    /// - Throws: ``KafkaError/Code/brokerUnreachable`` naming the bootstrap servers, or
    ///   ``KafkaError/Code/unknownTopic`` naming the first missing topic.
    public func partitionCounts(_ topics: [String], timeout: Duration) throws(KafkaError) -> [String: Int] {
        let callbacks = RDKafkaCallbacks(
            logger: logger,
            onError: { [logger] error in
                logger.debug("kafka rebuild reader error", metadata: [LogKey.error: "\(error)"])
            })
        let handle = try RDKafkaHandle(kind: .consumer, properties: properties, callbacks: callbacks)
        let brokers = (properties["bootstrap.servers"] ?? "").split(separator: ",").map(String.init)
        return try handle.partitionCounts(topics, timeout: timeout, brokers: brokers)
    }

    /// The partition's low and high watermarks: its first retained offset and the offset the next
    /// record gets. A broker may answer with a stale high watermark (Tansu does); callers that
    /// need the end of the log read on to its end instead of stopping at it.
    ///
    /// - Throws: ``KafkaError`` when the brokers do not answer within `timeout`, or the partition
    ///   does not exist.
    public func watermarks(_ partition: KafkaTopicPartition, timeout: Duration) throws(KafkaError) -> (low: Int64, high: Int64) {
        let handle = try RDKafkaHandle(kind: .consumer, properties: properties, callbacks: RDKafkaCallbacks(logger: logger, onError: { _ in }))
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(
            handle.pointer, partition.topic, Int32(partition.partition), &low, &high, timeout.timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdkafka: err, context: "reading the watermarks of \(partition)") }
        return (low, high)
    }

    /// Calls `body` with the records of `partition` from `start` (nil: its first retained offset)
    /// up to, not including, `end`, in offset order, in batches.
    ///
    /// - Returns: How many records were read.
    /// - Throws: ``KafkaError`` when the partition cannot be read before `timeout`: the broker is
    ///   unreachable, or the records below `end` did not all arrive in time (`timedOut`).
    @discardableResult
    public func read(
        _ partition: KafkaTopicPartition, from start: Int64? = nil, before end: Int64, timeout: Duration, _ body: ([KafkaMessage]) -> Void
    ) throws(KafkaError) -> Int {
        try scan(partition, from: start, before: end, timeout: timeout) { batch in
            body(batch)
            return true
        }
    }

    /// Like ``read(_:from:before:timeout:_:)``, but `body` may stop the reading early by returning
    /// false (a replay stops at the end of its time range instead of reading the rest of the log).
    /// Pass `Int64.max` as `end` to read to the end of the log.
    @discardableResult
    public func scan(
        _ partition: KafkaTopicPartition, from start: Int64? = nil, before end: Int64, timeout: Duration, _ body: ([KafkaMessage]) -> Bool
    ) throws(KafkaError) -> Int {
        let callbacks = RDKafkaCallbacks(
            logger: logger,
            onError: { [logger] error in
                logger.debug("kafka rebuild reader error", metadata: [LogKey.error: "\(error)"])
            })
        let handle = try RDKafkaHandle(kind: .consumer, properties: properties, callbacks: callbacks)
        let rk = handle.pointer
        rd_kafka_poll_set_consumer(rk)
        let list = RDKafkaTopicPartitionList([
            KafkaTopicPartitionOffset(topic: partition.topic, partition: partition.partition, offset: start ?? Int64(RD_KAFKA_OFFSET_BEGINNING))
        ])
        let assigned = rd_kafka_assign(rk, list.pointer)
        guard assigned == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdkafka: assigned, context: "assigning \(partition) to the rebuild reader") }
        defer {
            rd_kafka_assign(rk, nil)
            rd_kafka_consumer_close(rk)
        }
        guard let queue = rd_kafka_queue_get_consumer(rk) else { throw .configuration("the rebuild reader has no consumer queue") }
        defer { rd_kafka_queue_destroy(queue) }
        let slots = UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>.allocate(capacity: maxBatch)
        defer { slots.deallocate() }
        var copier = RDKafkaMessageCopier()
        let deadline = ContinuousClock.now + timeout
        var read = 0
        var done = end <= max(0, start ?? 0)
        while !done {
            guard ContinuousClock.now < deadline else {
                throw .timedOut("rebuilding \(partition) up to offset \(end) (\(read) records read)", after: timeout)
            }
            let count = rd_kafka_consume_batch_queue(queue, 100, slots, maxBatch)
            guard count > 0 else { continue }
            var batch: [KafkaMessage] = []
            batch.reserveCapacity(count)
            var failure: KafkaError?
            for index in 0..<count {
                guard let message = slots[index] else { continue }
                defer { rd_kafka_message_destroy(message) }
                if message.pointee.err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    // The end of the log: nothing below `end` is left to arrive.
                    done = true
                } else if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    if failure == nil { failure = copier.error(message) }
                } else if !done {
                    if message.pointee.offset >= end {
                        done = true
                    } else {
                        batch.append(copier.copy(message))
                    }
                }
            }
            if !batch.isEmpty {
                read += batch.count
                if !body(batch) { done = true }
            }
            if let failure, !done, failure.isFatal || failure.code == .unknownTopic {
                throw failure
            }
        }
        return read
    }
}
