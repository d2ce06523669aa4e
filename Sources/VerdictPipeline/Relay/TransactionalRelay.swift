public import Logging
import Synchronization
public import VerdictKafka

/// Exactly-once processing: each batch's outputs and its input offsets commit in one Kafka
/// transaction (transactional producer + send_offsets_to_transaction), so a consumer reading
/// `read_committed` sees every decision exactly once, whatever fails.
///
/// On an abortable error the transaction is aborted and the batch's partitions are rewound to the
/// batch's first offsets, so the batch is consumed and processed again. A fatal error (fenced by
/// another instance with the same transactional.id) stops processing and is reported.
public final class TransactionalRelay: KafkaConsumerHandler, Sendable {
    private let processor: any RecordProcessor
    private let producer: KafkaProducer
    private let logger: Logger
    private let observer: (any Relay.Observer)?
    private let timeout: Duration
    private let failure = Mutex<KafkaError?>(nil)
    private let counts = Mutex<(committed: Int, aborted: Int)>((0, 0))

    public init(processor: any RecordProcessor, producer: KafkaProducer, timeout: Duration = .seconds(30), logger: Logger, observer: (any Relay.Observer)? = nil) {
        self.processor = processor
        self.producer = producer
        self.timeout = timeout
        self.logger = logger
        self.observer = observer
    }

    /// Batches committed and aborted so far.
    public var transactions: (committed: Int, aborted: Int) { counts.withLock { $0 } }

    /// The fatal error that stopped processing, if any.
    public var fatalError: KafkaError? { failure.withLock { $0 } }

    public func consumer(_ consumer: KafkaConsumer, didReceive messages: [KafkaMessage]) {
        guard failure.withLock({ $0 }) == nil else { return }
        var outputs: [KafkaProducerRecord] = []
        outputs.reserveCapacity(messages.count)
        processor.process(messages, into: &outputs)
        // The first offset of each partition (to rewind to) and the next offset to read (to commit).
        var first: [KafkaTopicPartition: Int64] = [:]
        var next: [KafkaTopicPartition: Int64] = [:]
        for message in messages {
            let partition = message.topicPartition
            if first[partition] == nil { first[partition] = message.offset }
            next[partition] = message.offset + 1
        }
        let offsets = next.map { KafkaTopicPartitionOffset(topicPartition: $0.key, offset: $0.value) }
        do throws(KafkaError) {
            try producer.beginTransaction()
            for (index, record) in outputs.enumerated() {
                try producer.sendBlocking(record, id: UInt64(index), timeout: timeout)
            }
            try producer.sendOffsetsToTransactionBlocking(offsets, consumer: consumer, timeout: timeout)
            try commit()
            counts.withLock { $0.committed += 1 }
            observer?.relay(processed: messages.count, seconds: 0)
            observer?.relay(transactionEnded: true, records: outputs.count)
        } catch {
            handle(error, consumer: consumer, rewind: first, records: outputs.count)
        }
    }

    /// Commits, retrying retriable errors (the outcome of a timed-out commit is unknown until retried).
    private func commit() throws(KafkaError) {
        var attempt = 0
        while true {
            do {
                try producer.commitTransactionBlocking(timeout: timeout)
                return
            } catch {
                attempt += 1
                guard error.isRetriable && !error.isFatal && error.code != .transactionAbortable && attempt < 5 else { throw error }
                logger.warning("transaction commit failed; retrying", metadata: [LogKey.error: "\(error)"])
            }
        }
    }

    private func handle(_ error: KafkaError, consumer: KafkaConsumer, rewind: [KafkaTopicPartition: Int64], records: Int) {
        if error.isFatal {
            failure.withLock { $0 = error }
            logger.critical("transactional producer failed fatally; processing stopped (another instance may use the same transactional.id)", metadata: [LogKey.error: "\(error)"])
            observer?.relay(consumerError: error)
            return
        }
        logger.warning("transaction aborted; the batch is re-read", metadata: [LogKey.error: "\(error)", LogKey.records: "\(records)"])
        do throws(KafkaError) {
            try producer.abortTransactionBlocking(timeout: timeout)
        } catch {
            if error.isFatal {
                failure.withLock { $0 = error }
                logger.critical("aborting the transaction failed fatally; processing stopped", metadata: [LogKey.error: "\(error)"])
                return
            }
        }
        counts.withLock { $0.aborted += 1 }
        observer?.relay(transactionEnded: false, records: records)
        let positions = rewind.map { KafkaTopicPartitionOffset(topicPartition: $0.key, offset: $0.value) }
        do {
            try consumer.seek(positions, timeout: .seconds(10))
        } catch {
            // Without the rewind the batch would be skipped: stop rather than lose it.
            failure.withLock { $0 = error }
            logger.critical("cannot rewind after an aborted transaction; processing stopped to lose nothing", metadata: [LogKey.error: "\(error)"])
        }
    }

    public func consumer(_ consumer: KafkaConsumer, rebalance event: KafkaRebalanceEvent) {
        // Nothing is in flight between batches: each batch committed (or aborted) before returning.
        observer?.relay(rebalance: event)
    }

    public func consumer(_ consumer: KafkaConsumer, didFail error: KafkaError) { observer?.relay(consumerError: error) }
    public func consumer(_ consumer: KafkaConsumer, statistics: KafkaStatistics) { observer?.relay(statistics: statistics) }
    public func consumerDidPoll(_ consumer: KafkaConsumer) { observer?.relayDidPoll() }
}
