#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Logging
import Synchronization
public import VerdictKafka

/// Exactly-once processing: each batch's outputs and its input offsets commit in one Kafka
/// transaction (transactional producer + send_offsets_to_transaction), so a consumer reading
/// `read_committed` sees every decision exactly once, whatever fails.
///
/// Failure handling, following librdkafka's transactional API contract:
/// - A retriable error of `send_offsets_to_transaction` or `commit_transaction` is retried by
///   calling the same function again (a commit resumes; it is never aborted while it may still
///   succeed, which librdkafka refuses with a conflict), with backoff, within
///   ``Configuration/commitDeadline``.
/// - An abortable error aborts the transaction; the abort itself is retried until it succeeds, and
///   only then are the batch's partitions rewound to their first offsets and processed again.
/// - A transaction aborted because the brokers refuse one of its records is bisected at once: its
///   records go again in two transactions, then four, down to one; a single record still refused is
///   dead-lettered (`PUBLISH_FAILED`) instead of its output, so one poison record cannot stop a
///   partition forever. Other aborts (coordinator, group) rewind and read the batch again, backing off.
/// - A fatal error (fenced by a newer instance with the same transactional.id) stops processing; the
///   service exits non-zero and its transaction is aborted by the coordinator.
/// - On shutdown, no new batch starts; the open one ends (commit or abort) within its deadline.
public final class TransactionalRelay: KafkaConsumerHandler, Sendable {
    /// Budgets of the transactional relay.
    public struct Configuration: Sendable {
        /// The timeout of each librdkafka transactional call. Default 30 s (the message timeout).
        public var callTimeout: Duration
        /// How long a transaction may keep retrying its commit before the relay gives up and stops
        /// (the coordinator then aborts it after `transaction.timeout.ms`). Default 120 s, below
        /// librdkafka's default `max.poll.interval.ms` of 300 s.
        public var commitDeadline: Duration
        public init(callTimeout: Duration = .seconds(30), commitDeadline: Duration = .seconds(120)) {
            self.callTimeout = callTimeout
            self.commitDeadline = commitDeadline
        }

        /// The default budgets, with the commit deadline kept within half of the consumer's
        /// `max.poll.interval.ms`: a commit retried on the poll thread for longer would take the
        /// consumer out of the group with its transaction open.
        public init(callTimeout: Duration, maxPollInterval: Duration) {
            self.init(callTimeout: callTimeout)
            commitDeadline = min(commitDeadline, maxPollInterval / 2)
        }
    }

    private let processor: any RecordProcessor
    private let producer: KafkaProducer
    private let logger: Logger
    private let observer: (any RelayObserver)?
    private let configuration: Configuration
    private let failure = Mutex<KafkaError?>(nil)
    private let counts = Mutex<(committed: Int, aborted: Int, deadLettered: Int)>((0, 0, 0))
    private let accepting = Atomic<Bool>(true)
    /// Transactions aborted in a row, for the backoff between them.
    private let abortStreak = Mutex(0)

    public init(
        processor: any RecordProcessor, producer: KafkaProducer, configuration: Configuration = Configuration(), logger: Logger,
        observer: (any RelayObserver)? = nil
    ) {
        self.processor = processor
        self.producer = producer
        self.configuration = configuration
        self.logger = logger
        self.observer = observer
    }

    /// Batches committed and aborted so far.
    public var transactions: (committed: Int, aborted: Int) { counts.withLock { ($0.committed, $0.aborted) } }

    /// Records dead-lettered because their transaction aborted even alone.
    public var deadLettered: Int { counts.withLock { $0.deadLettered } }

    /// The fatal error that stopped processing, if any.
    public var fatalError: KafkaError? { failure.withLock { $0 } }

    /// No new transaction starts after this (shutdown); the open one still ends.
    public func stopAccepting() {
        accepting.store(false, ordering: .relaxed)
        processor.stop()
    }

    public func consumer(_ consumer: KafkaConsumer, didReceive messages: [KafkaMessage]) {
        guard failure.withLock({ $0 }) == nil, accepting.load(ordering: .relaxed) else { return }
        var outputs: [KafkaProducerRecord] = []
        outputs.reserveCapacity(messages.count)
        processor.process(messages, into: &outputs)
        // State snapshots ride in the transaction of the whole batch, whose offsets are those right
        // after them. A bisected batch's pieces carry none: a refused snapshot chunk must never
        // turn into a dead-lettered event.
        var snapshots = processor.transactionRecords()
        // Shutdown began while the batch was processed (a rebuild gave up): nothing is committed.
        guard accepting.load(ordering: .relaxed) else {
            processor.transactionEnded(committed: false, refused: false)
            return
        }
        // Transactions over contiguous pieces of the batch, in order. A piece whose records the
        // brokers refuse is split in halves, down to single records; a single record still refused
        // is dead-lettered in place of its output. Each piece commits its own offsets: records of a
        // partition are in order, so a piece holds a prefix of what is left of each partition.
        var pieces: [Range<Int>] = [messages.indices]
        var deadLettered: Set<Int> = []
        while let piece = pieces.first {
            pieces.removeFirst()
            let batch = Array(messages[piece])
            let pieceOutputs = Array(outputs[piece])
            let extra = snapshots
            snapshots = []
            let outcome = runTransaction(batch, outputs: extra.isEmpty ? pieceOutputs : pieceOutputs + extra, consumer: consumer)
            if !extra.isEmpty {
                switch outcome {
                case .committed: processor.transactionEnded(committed: true, refused: false)
                case .aborted(_, let recordLevel): processor.transactionEnded(committed: false, refused: recordLevel)
                case .stopped: processor.transactionEnded(committed: false, refused: false)
                }
            }
            switch outcome {
            case .committed:
                counts.withLock { $0.committed += 1 }
                abortStreak.withLock { $0 = 0 }
                observer?.relay(processed: batch.count, seconds: 0)
                observer?.relay(transactionEnded: true, records: pieceOutputs.count)
            case .stopped:
                return
            case .aborted(let error, let recordLevel):
                counts.withLock { $0.aborted += 1 }
                observer?.relay(transactionEnded: false, records: pieceOutputs.count)
                if recordLevel && !extra.isEmpty {
                    // The refused record may be a snapshot chunk: the outputs go again without them.
                    pieces.insert(piece, at: 0)
                    logger.warning(
                        "transaction with a state snapshot aborted on a refused record; the batch is sent again without the snapshot",
                        metadata: [LogKey.error: "\(error)", LogKey.records: "\(piece.count)"])
                    continue
                }
                if recordLevel && piece.count > 1 {
                    let middle = piece.lowerBound + piece.count / 2
                    pieces.insert(contentsOf: [piece.lowerBound..<middle, middle..<piece.upperBound], at: 0)
                    logger.warning(
                        "transaction aborted on a refused record; retrying the records in halves",
                        metadata: [
                            LogKey.error: "\(error)", LogKey.records: "\(piece.count)",
                        ])
                    continue
                }
                if recordLevel, let index = piece.first {
                    let message = messages[index]
                    guard !deadLettered.contains(index),
                        let deadLetter = processor.deadLetter(for: message, reason: "its output could not be published: \(error.message)")
                    else {
                        // Not even the dead letter can be published: retrying would loop forever.
                        stop(
                            error,
                            "a record's output and its dead letter are both refused; processing stopped (check the dead-letter topic and message.max.bytes)")
                        return
                    }
                    outputs[index] = deadLetter
                    deadLettered.insert(index)
                    counts.withLock { $0.deadLettered += 1 }
                    logger.error(
                        "a record's output was refused even alone; it is dead-lettered instead",
                        metadata: [
                            LogKey.error: "\(error)", LogKey.partition: "\(message.topicPartition)", LogKey.offset: "\(message.offset)",
                        ])
                    pieces.insert(piece, at: 0)
                    continue
                }
                // A coordinator, group or fencing-related abort: everything from this piece on is read again.
                let positions = Self.firstOffsets(Array(messages[piece.lowerBound...])).map {
                    KafkaTopicPartitionOffset(topicPartition: $0.key, offset: $0.value)
                }
                do {
                    try consumer.seek(positions, timeout: configuration.callTimeout)
                } catch {
                    // Without the rewind the records would be skipped: stop rather than lose them.
                    stop(error, "cannot rewind after an aborted transaction; processing stopped to lose nothing")
                    return
                }
                let consecutive = abortStreak.withLock { streak -> Int in
                    streak += 1
                    return streak
                }
                logger.warning(
                    "transaction aborted; the batch is read again",
                    metadata: [
                        LogKey.error: "\(error)", LogKey.records: "\(messages.count - piece.lowerBound)", LogKey.attempt: "\(consecutive)",
                    ])
                // Aborts in a row (a coordinator moving, a rebalance under way) back off, 50 ms
                // doubling to 2 s, instead of writing aborted batches as fast as the broker takes them.
                Self.sleep(min(.seconds(2), .milliseconds(50) * (1 << min(consecutive - 1, 6))))
                return
            }
        }
    }

    private enum Outcome {
        case committed
        /// `recordLevel`: the error came from producing the batch's records (a record the broker or
        /// the client refuses), not from the group or the coordinator; only those can be a poison
        /// record, so only those count toward bisecting.
        case aborted(KafkaError, recordLevel: Bool)
        case stopped
    }

    /// One transaction: begin, send, offsets, commit; an abortable error ends in a successful abort.
    private func runTransaction(_ messages: [KafkaMessage], outputs: [KafkaProducerRecord], consumer: KafkaConsumer) -> Outcome {
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.commitDeadline
        var next: [KafkaTopicPartition: Int64] = [:]
        for message in messages { next[message.topicPartition] = message.offset + 1 }
        let offsets = next.map { KafkaTopicPartitionOffset(topicPartition: $0.key, offset: $0.value) }
        var producing = true
        do throws(KafkaError) {
            try producer.beginTransaction()
            for (index, record) in outputs.enumerated() {
                try producer.sendBlocking(record, id: UInt64(index), timeout: configuration.callTimeout)
            }
            producing = false
            try retrying("sending offsets to the transaction", until: deadline) { () throws(KafkaError) in
                try producer.sendOffsetsToTransactionBlocking(offsets, consumer: consumer, timeout: configuration.callTimeout)
            }
            try retrying("committing the transaction", until: deadline) { () throws(KafkaError) in
                try producer.commitTransactionBlocking(timeout: configuration.callTimeout)
            }
            return .committed
        } catch {
            if error.isFatal {
                stop(
                    error,
                    "transactional producer failed fatally; processing stopped (a newer instance with the same transactional.id fenced this one, or the producer broke)"
                )
                return .stopped
            }
            if error.code != .transactionAbortable && error.isRetriable {
                // Out of time while the commit could still succeed: aborting now is refused. Stop;
                // the coordinator aborts the transaction after transaction.timeout.ms, and the
                // restarted service reads the batch again from the committed offsets.
                stop(error, "the transaction could not be completed within \(configuration.commitDeadline); processing stopped")
                return .stopped
            }
            guard abort(until: clock.now + configuration.commitDeadline) else { return .stopped }
            // A record refused at send, or a delivery failure surfacing at commit (the message names
            // the refused record's error), points at the batch's content; coordinator, group and
            // fencing errors do not.
            let recordLevel = producing || error.code == .messageTooLarge || error.code == .invalidArgument
            return .aborted(error, recordLevel: recordLevel)
        }
    }

    /// Aborts the open transaction, retrying retriable errors; false (and stopped) when it cannot.
    private func abort(until deadline: ContinuousClock.Instant) -> Bool {
        do throws(KafkaError) {
            try retrying("aborting the transaction", until: deadline) { () throws(KafkaError) in
                try producer.abortTransactionBlocking(timeout: configuration.callTimeout)
            }
            return true
        } catch {
            stop(error, "the transaction could not be aborted; processing stopped (nothing is rewound before an abort succeeds)")
            return false
        }
    }

    /// Calls `body` until it succeeds, throws a non-retriable error, or `deadline` passes; waits
    /// 100 ms doubling to 5 s between attempts.
    private func retrying(_ what: String, until deadline: ContinuousClock.Instant, _ body: () throws(KafkaError) -> Void) throws(KafkaError) {
        var delay = Duration.milliseconds(100)
        var attempt = 1
        while true {
            do {
                try body()
                return
            } catch {
                guard error.isRetriable, !error.isFatal, error.code != .transactionAbortable, ContinuousClock.now + delay < deadline else { throw error }
                if attempt == 1 || attempt % 10 == 0 {
                    logger.warning("\(what) failed; retrying", metadata: [LogKey.error: "\(error)", LogKey.attempt: "\(attempt)"])
                }
                Self.sleep(delay)
                delay = min(delay * 2, .seconds(5))
                attempt += 1
            }
        }
    }

    private func stop(_ error: KafkaError, _ message: String) {
        failure.withLock { $0 = $0 ?? error }
        logger.critical("\(message)", metadata: [LogKey.error: "\(error)"])
        observer?.relay(fatal: "\(message): \(error)")
    }

    private static func firstOffsets(_ messages: [KafkaMessage]) -> [KafkaTopicPartition: Int64] {
        var first: [KafkaTopicPartition: Int64] = [:]
        for message in messages where first[message.topicPartition] == nil { first[message.topicPartition] = message.offset }
        return first
    }

    /// A plain sleep on the poll thread (a dedicated thread, never the cooperative pool).
    private static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 { request = remaining }
    }

    public func consumer(_ consumer: KafkaConsumer, rebalance event: KafkaRebalanceEvent) {
        // Nothing is in flight between batches: each batch committed (or aborted) before returning.
        observer?.relay(rebalance: event)
        switch event {
        case .assigned: break
        case .revoked(let list), .lost(let list): processor.released(list)
        }
    }

    public func consumer(_ consumer: KafkaConsumer, didFail error: KafkaError) { observer?.relay(consumerError: error) }
    public func consumer(_ consumer: KafkaConsumer, statistics: KafkaStatistics) { observer?.relay(statistics: statistics) }
    public func consumerDidPoll(_ consumer: KafkaConsumer) { observer?.relayDidPoll() }
}
