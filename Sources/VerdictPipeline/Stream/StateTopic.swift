import Foundation
public import Logging
import Synchronization
public import VerdictKafka

/// Snapshots of partitions' aggregate state in a Kafka topic (`topics.state`): whichever instance
/// takes a partition restores its state from there, so a pod without its predecessor's volume reads
/// only the log after the snapshot instead of the whole retained log.
///
/// Records are laid out as ``StateTopicRecords`` says. The topic is bounded by compaction (each
/// chunk key keeps its newest record) or by retention (Tansu and librdkafka's mock cluster do not
/// compact); a reader looks for the newest usable snapshot from the end backwards.
///
/// Writes here come from a producer of their own, never transactional. In exactly-once mode the
/// periodic snapshots go instead in the decisions' transaction (``records(_:_:)``), so
/// a snapshot is committed with the offsets after it or not at all.
public final class StateTopic: StateSnapshotStore {
    public let topic: String
    private let producer: KafkaProducer
    private let reader: KafkaPartitionReader
    private let timeout: Duration
    private let logger: Logger
    private let partitionCount = Mutex<Int?>(nil)
    /// Delivery failures of the snapshot being written (writes are serial: one snapshot at a time).
    private let deliveries: Deliveries

    private final class Deliveries: Sendable {
        let failure = Mutex<KafkaError?>(nil)
    }

    /// - Parameters:
    ///   - producer: The service's producer settings; any transactional id is dropped.
    ///   - consumer: The service's consumer settings, which the reader uses (isolation level included).
    ///   - timeout: How long a write or a read may take.
    /// - Throws: ``KafkaError`` (configuration) when librdkafka refuses the settings.
    public init(
        topic: String, producer: KafkaProducerConfiguration, consumer: KafkaConsumerConfiguration, timeout: Duration = .seconds(60),
        logger: Logger
    ) throws(KafkaError) {
        self.topic = topic
        self.timeout = timeout
        self.logger = logger
        var settings = producer
        settings.transactionalID = nil
        let deliveries = Deliveries()
        self.deliveries = deliveries
        self.producer = try KafkaProducer(
            configuration: settings, logger: logger,
            onError: { error in logger.warning("kafka state topic producer error", metadata: [LogKey.error: "\(error)"]) },
            deliveryReports: { report in
                if let error = report.error { deliveries.failure.withLock { $0 = $0 ?? error } }
            })
        reader = try KafkaPartitionReader(configuration: consumer, logger: logger)
    }

    public var description: String { "the state topic \(topic)" }
    public var kind: StateStoreKind { .topic }

    /// The state topic's partition that holds an input partition's snapshots.
    ///
    /// - Throws: ``KafkaError/Code/unknownTopic`` when the topic does not exist.
    public func statePartition(for partition: KafkaTopicPartition) throws(KafkaError) -> Int {
        if let count = partitionCount.withLock({ $0 }) { return partition.partition % count }
        let counts = try reader.partitionCounts([topic], timeout: .seconds(10))
        guard let count = counts[topic], count > 0 else { throw KafkaError(code: .unknownTopic, message: "the state topic \(topic) has no partitions") }
        partitionCount.withLock { $0 = count }
        return partition.partition % count
    }

    /// The records of a snapshot, for a caller that produces them itself (in a transaction).
    public func records(_ partition: KafkaTopicPartition, _ snapshot: StoredSnapshot) throws(KafkaError) -> [KafkaProducerRecord] {
        StateTopicRecords.records(
            partition, snapshot, topic: topic, statePartition: try statePartition(for: partition), id: UInt64.random(in: 1...UInt64.max))
    }

    /// Produces a snapshot and waits until every chunk is acknowledged.
    ///
    /// - Throws: ``KafkaError`` when a chunk is refused or not acknowledged within the timeout; the
    ///   readers then ignore the incomplete snapshot.
    public func write(_ partition: KafkaTopicPartition, _ snapshot: StoredSnapshot) throws {
        let records = try records(partition, snapshot)
        deliveries.failure.withLock { $0 = nil }
        for (index, record) in records.enumerated() {
            try producer.sendBlocking(record, id: UInt64(index), timeout: timeout)
        }
        let left = producer.flushBlocking(timeout: timeout)
        if let error = deliveries.failure.withLock({ $0 }) { throw error }
        guard left == 0 else {
            throw KafkaError(
                code: .timedOut, message: "\(left) chunks of a state snapshot of \(partition) were not acknowledged by \(topic) within \(timeout)",
                isRetriable: true)
        }
    }

    /// The newest complete snapshot of `partition` that ends before `end`: the state partition is
    /// read backwards from its end in growing windows until one is found or the log's start is
    /// reached. A stale high watermark only makes the first window start earlier: each read goes
    /// on to the end of the log.
    public func latest(_ partition: KafkaTopicPartition, before end: Int64, progress: () -> Void = {}) throws -> StoredSnapshot? {
        try latest(partition, before: end, recordTimeBelow: nil, progress: progress)
    }

    /// Like ``latest(_:before:progress:)``, keeping only snapshots whose newest record time is
    /// known and below `recordTimeBelow` (milliseconds), when given.
    public func latest(
        _ partition: KafkaTopicPartition, before end: Int64, recordTimeBelow: Int64?, progress: () -> Void = {}
    ) throws -> StoredSnapshot? {
        let state = KafkaTopicPartition(topic: topic, partition: try statePartition(for: partition))
        let (low, high) = try reader.watermarks(state, timeout: .seconds(10))
        var assembler = StateTopicAssembler(partition: partition, before: end, recordTimeBelow: recordTimeBelow)
        var window: Int64 = 256
        var upper = Int64.max
        // Offsets come from the broker: saturate instead of trapping on a hostile answer.
        func back(_ offset: Int64, _ by: Int64) -> Int64 { max(low, offset.subtractingReportingOverflow(by).overflow ? low : offset - by) }
        var start = back(high, window)
        while true {
            try reader.read(state, from: start, before: upper, timeout: timeout) { batch in
                for message in batch { assembler.add(message) }
                progress()
            }
            for reason in assembler.takeRefused() {
                logger.warning(
                    "a state snapshot in the state topic is damaged; it is ignored",
                    metadata: [LogKey.partition: "\(partition)", LogKey.reason: "\(reason)"])
            }
            if assembler.best != nil && !assembler.awaitsEarlierChunks { return assembler.best }
            guard start > low else { return assembler.best }
            upper = start
            window = min(window * 4, 1 << 20)
            // A snapshot whose later chunks were read starts about its chunk index earlier
            // (a little more, for other partitions' records in between); otherwise the window grows.
            start = assembler.earliestAwaited.map { min(back($0, 16), back(start, 1)) } ?? back(start, window)
        }
    }

    /// Flushes what is queued and destroys the producer.
    public func close() async {
        await producer.close(timeout: .seconds(5))
    }
}
