import CoreMetrics
import Foundation
public import Logging
import Synchronization
public import VerdictKafka
import VerdictScoring

/// Reads a partition's records from an offset (nil: its first retained one) up to, not including,
/// another, in batches; returns how many. ``KafkaPartitionReader/read(_:from:before:timeout:_:)`` in the service.
public typealias PartitionHistory = @Sendable (KafkaTopicPartition, Int64?, Int64, ([KafkaMessage]) -> Void) throws -> Int

/// The stream's RecordProcessor: scores a batch with the current model and turns each outcome into
/// the record to publish (a decision keyed like its input, or a dead letter), input headers carried.
///
/// With stream aggregates it keeps their state per partition (``ModelManager/aggregates``) and
/// scores no partition before its state holds every earlier event of its log: the first batch of
/// a partition after assignment, and any record at or below the state's position (a rewind),
/// first rebuild the state from the partition's log up to that record (``Scorer/warm(_:state:asOf:)``).
public final class ScoringProcessor: RecordProcessor {
    private let models: ModelManager
    private let decisionsTopic: String
    private let deadLetterTopic: String
    private let metrics: PipelineMetrics?
    private let history: PartitionHistory?
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    /// Where partitions' state is kept between owners and runs: the state topic, the local directory.
    private let stores: [any StateSnapshotStore]
    /// Exactly-once: the state topic whose periodic snapshots go in the decisions' transaction.
    private let transactionTopic: StateTopic?
    /// The snapshot records for the transaction of the batch being processed.
    private let transactionSnapshots = Mutex<(records: [KafkaProducerRecord], partitions: [KafkaTopicPartition])>(([], []))
    private let status: PipelineStatus?
    private let snapshotInterval: Double
    /// librdkafka's max.poll.interval.ms in seconds: how long rebuilds may hold the poll thread.
    private let pollInterval: Double
    /// The newest record timestamp (milliseconds) each partition's state holds, where it is known
    /// (`Int64.min`: no timestamped record yet). Snapshots carry it, for replays.
    private let recordTimes = Mutex<[KafkaTopicPartition: Int64]>([:])
    /// When each partition's state was last snapshotted (seconds since the epoch).
    private let snapshotted = Mutex<[KafkaTopicPartition: Double]>([:])
    /// Snapshots are encoded and written here, off the poll thread (a million keys take seconds).
    private let snapshotQueue = DispatchQueue(label: "verdict.state-snapshots")

    /// - Parameters:
    ///   - history: Reads a partition's log for rebuilding aggregate state; nil when the features
    ///     have no aggregates (a rebuild then starts from an empty state, which only a test wants).
    ///   - snapshots: Where partitions' state is cached between runs on this pod.
    ///   - stores: More stores of snapshots, the state topic first; with no store at all a partition
    ///     is rebuilt from the start of its log.
    ///   - snapshotsInTransactions: Exactly-once: the periodic snapshots of the ``StateTopic`` among
    ///     `stores` go in the decisions' transaction (``transactionRecords()``) instead of being
    ///     written beside it, so each is committed with the offsets after it, or aborted with them.
    ///   - snapshotInterval: Seconds between two snapshots of a partition (also written on release).
    ///   - status: Told of a rebuild's progress: a rebuild blocks the poll loop, and /healthz must
    ///     read one that advances as alive and one that is stuck (retrying) as not.
    ///   - pollInterval: The consumer's `max.poll.interval.ms`, in seconds: rebuilds that hold the
    ///     poll thread for half of it are logged as a warning, and past it as an error.
    public init(
        models: ModelManager, decisionsTopic: String, deadLetterTopic: String, metrics: PipelineMetrics?, history: PartitionHistory? = nil,
        snapshots: StateSnapshotDirectory? = nil, stores: [any StateSnapshotStore] = [], snapshotsInTransactions: Bool = false,
        snapshotInterval: Double = 60, status: PipelineStatus? = nil,
        pollInterval: Duration = KafkaConsumerConfiguration().maxPollInterval, logger: Logger = Logger(label: "verdict.scoring")
    ) {
        self.status = status
        self.pollInterval = pollInterval.seconds
        self.stores = stores + (snapshots.map { [$0] } ?? [])
        transactionTopic = snapshotsInTransactions ? stores.lazy.compactMap { $0 as? StateTopic }.first : nil
        self.snapshotInterval = snapshotInterval
        self.models = models
        self.decisionsTopic = decisionsTopic
        self.deadLetterTopic = deadLetterTopic
        self.metrics = metrics
        self.history = history
        self.logger = logger
    }

    public func stop() {
        stopping.store(true, ordering: .relaxed)
    }

    public func released(_ partitions: [KafkaTopicPartition]) {
        guard let state = models.aggregates else { return }
        // The state is complete up to its position: the next owner, or the next run, starts there.
        for partition in partitions { writeSnapshot(partition, state: state, periodic: false) }
        state.drop(partitions.map { EventSource.Partition(topic: $0.topic, partition: $0.partition) })
        recordTimes.withLock { times in for partition in partitions { times[partition] = nil } }
    }

    /// Writes the snapshots that are due: each partition of the batch at most once per interval.
    private func snapshotIfDue(_ messages: [KafkaMessage], state: AggregateStore) {
        guard !stores.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        var due = Set<KafkaTopicPartition>()
        snapshotted.withLock { last in
            for message in messages where now - (last[message.topicPartition] ?? 0) >= snapshotInterval {
                last[message.topicPartition] = now
                due.insert(message.topicPartition)
            }
        }
        for partition in due.sorted() { writeSnapshot(partition, state: state, periodic: true) }
    }

    /// Snapshots the partition's state as it is now: encoded and written off the poll thread, except
    /// for a periodic snapshot in exactly-once mode, whose state-topic records are encoded now for
    /// the batch's transaction. Whenever a snapshot lands it is valid: a restore uses one only when
    /// it ends before the first record to score.
    private func writeSnapshot(_ partition: KafkaTopicPartition, state: AggregateStore, periodic: Bool) {
        guard !stores.isEmpty, let copy = state.copy(EventSource.Partition(topic: partition.topic, partition: partition.partition)) else { return }
        let time = recordTimes.withLock { $0[partition] }.flatMap { $0 == .min ? nil : $0 }
        var later = stores
        var encoded: [UInt8]?
        if periodic, let topic = transactionTopic {
            let bytes = copy.state.snapshot()
            encoded = bytes
            do {
                let records = try topic.records(partition, StoredSnapshot(through: copy.through, state: bytes, newestRecordTime: time))
                transactionSnapshots.withLock {
                    $0.records += records
                    $0.partitions.append(partition)
                }
                later.removeAll { $0 is StateTopic }
            } catch {
                logger.warning(
                    "cannot snapshot the partition's state in its transaction; it is written beside it",
                    metadata: [LogKey.partition: "\(partition)", LogKey.error: "\(error)"])
            }
        }
        snapshotQueue.async { [metrics, logger, later, encoded] in
            let bytes = encoded ?? copy.state.snapshot()
            for store in later {
                do {
                    try store.write(partition, StoredSnapshot(through: copy.through, state: bytes, newestRecordTime: time))
                    metrics?.aggregateSnapshot(written: true, store: store.kind)
                } catch {
                    // The next owner or run then reads more of the log; the stream itself is fine.
                    metrics?.aggregateSnapshot(written: false, store: store.kind)
                    logger.warning(
                        "cannot write the partition's state snapshot; its next owner reads more of its log",
                        metadata: [LogKey.partition: "\(partition)", LogKey.store: "\(store.description)", LogKey.error: "\(error)"])
                }
            }
        }
    }

    /// Exactly-once: the snapshot records of the batch just processed, for its transaction.
    public func transactionRecords() -> [KafkaProducerRecord] {
        transactionSnapshots.withLock { $0.records }
    }

    /// Exactly-once: the batch's transaction, with its snapshot records, ended. Partitions whose
    /// snapshot was aborted are snapshotted again with their next batch, not an interval later,
    /// unless the brokers refused a record: retrying that at once would abort every batch.
    public func transactionEnded(committed: Bool, refused: Bool) {
        let partitions = transactionSnapshots.withLock { pending -> [KafkaTopicPartition] in
            defer { pending = ([], []) }
            return pending.partitions
        }
        for _ in partitions { metrics?.aggregateSnapshot(written: committed, store: .topic) }
        if !committed && !refused { snapshotted.withLock { last in for partition in partitions { last[partition] = nil } } }
    }

    /// Waits until the queued snapshots are written (tests).
    public func flushSnapshots() {
        snapshotQueue.sync {}
    }

    /// The snapshots queued when the partitions were released at shutdown hold the whole state:
    /// without waiting for them the process would exit before they are written, and the next
    /// start would read the log from an older snapshot. Waits off the cooperative pool.
    public func finish(within timeout: Duration) async -> Bool {
        await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            // Whichever comes first resumes: the queue reaching this block, or the deadline.
            let once = ResumeOnce(done)
            snapshotQueue.async { once.resume(true) }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout.seconds) { once.resume(false) }
        }
    }

    static func inputs(_ messages: [KafkaMessage], receivedAt: Double) -> [ScoringInput] {
        messages.map {
            ScoringInput(
                value: $0.value, source: EventSource(topic: $0.topic, partition: $0.partition, offset: $0.offset), receivedAt: receivedAt,
                key: $0.key, recordTime: $0.timestamp.map { Double($0.milliseconds) / 1000 })
        }
    }

    public func process(_ messages: [KafkaMessage], into outputs: inout [KafkaProducerRecord]) {
        // The scorer is read once per batch: a reload swaps models between batches, never inside one.
        let scorer = models.scorer
        let state = models.aggregates
        // Records left from a batch that never reached its transaction (a shutdown) are stale.
        if transactionTopic != nil { transactionSnapshots.withLock { $0 = ([], []) } }
        if let state { rebuildWhereNeeded(messages, scorer: scorer, state: state) }
        let receivedAt = Date().timeIntervalSince1970
        let inputs = Self.inputs(messages, receivedAt: receivedAt)
        let outcomes = scorer.score(inputs, state: state)
        if let state {
            noteRecordTimes(messages)
            snapshotIfDue(messages, state: state)
            metrics?.aggregates(state.totals)
        }
        let elapsed = Date().timeIntervalSince1970 - receivedAt
        if let metrics {
            var byTopic: [String: Int] = [:]
            for message in messages { byTopic[message.topic, default: 0] += 1 }
            for (topic, count) in byTopic { metrics.consumed(topic: topic, count: count) }
            metrics.record(outcomes)
            metrics.batchSize.record(messages.count)
            for _ in 0..<messages.count { metrics.processingSeconds.record(elapsed) }
        }
        for (message, outcome) in zip(messages, outcomes) {
            // Keys and headers are copied from the input: a card number in them must not leave.
            let key = Self.masked(message.key)
            let inputHeaders = Self.masked(message.headers)
            switch outcome {
            case .decision(let bytes, _):
                outputs.append(KafkaProducerRecord(topic: decisionsTopic, key: key, value: bytes, headers: inputHeaders))
            case .deadLetter(let bytes, let issues):
                var headers = inputHeaders
                headers.append(KafkaHeader(name: "verdict-dlq-reason", string: issues.first?.code.rawValue ?? "UNKNOWN"))
                headers.append(KafkaHeader(name: "verdict-source-topic", string: message.topic))
                headers.append(KafkaHeader(name: "verdict-source-partition", string: String(message.partition)))
                headers.append(KafkaHeader(name: "verdict-source-offset", string: String(message.offset)))
                outputs.append(KafkaProducerRecord(topic: deadLetterTopic, key: key, value: bytes, headers: headers))
            }
        }
    }

    /// Advances the newest record time of the batch's partitions whose time is known. Only
    /// snapshots read it. A batch holds runs of one partition's records, so the table is touched
    /// once per run, not once per record.
    private func noteRecordTimes(_ messages: [KafkaMessage]) {
        guard !stores.isEmpty else { return }
        var newest: [(KafkaTopicPartition, Int64)] = []
        for message in messages {
            guard let time = message.timestamp?.milliseconds else { continue }
            if let last = newest.last, last.0.partition == message.partition, last.0.topic == message.topic {
                if time > last.1 { newest[newest.count - 1].1 = time }
            } else {
                newest.append((message.topicPartition, time))
            }
        }
        recordTimes.withLock { times in
            for (partition, time) in newest {
                guard let known = times[partition] else { continue }
                if time > known { times[partition] = time }
            }
        }
    }

    /// Rebuilds the state of each partition of the batch whose state does not end right before it:
    /// new to this instance, or rewound to a record the state already holds.
    private func rebuildWhereNeeded(_ messages: [KafkaMessage], scorer: Scorer, state: AggregateStore) {
        var seen = Set<KafkaTopicPartition>()
        var hold = PollHold(limit: pollInterval)
        for message in messages where seen.insert(message.topicPartition).inserted {
            let partition = EventSource.Partition(topic: message.topic, partition: message.partition)
            if state.continues(partition, at: message.offset) { continue }
            rebuild(message.topicPartition, before: message.offset, scorer: scorer, state: state, hold: &hold)
        }
    }

    /// How long one batch's rebuilds have held the poll thread, against `max.poll.interval.ms`.
    /// Past it librdkafka leaves the group: the partitions being rebuilt are revoked, and whoever
    /// takes them rebuilds them again, so a log too long for the interval never gets scored. The
    /// operator hears of it at half the interval, while raising it still helps.
    struct PollHold {
        enum Stage: Int, Comparable {
            case within, half, exceeded
            static func < (a: Stage, b: Stage) -> Bool { a.rawValue < b.rawValue }
        }

        let limit: Double
        private let started = ContinuousClock.now
        private(set) var reported = Stage.within

        init(limit: Double) { self.limit = limit }

        /// The stage just reached, once each, and the seconds held so far.
        mutating func advance() -> (stage: Stage, seconds: Double)? {
            let seconds = (ContinuousClock.now - started).seconds
            let stage: Stage = seconds >= limit ? .exceeded : seconds >= limit / 2 ? .half : .within
            guard stage > reported else { return nil }
            reported = stage
            return (stage, seconds)
        }
    }

    private func checkHold(_ hold: inout PollHold, _ partition: KafkaTopicPartition) {
        guard let (stage, seconds) = hold.advance() else { return }
        let metadata: Logger.Metadata = [
            LogKey.partition: "\(partition)", LogKey.duration: "\(String(format: "%.1f", seconds))",
            LogKey.maxPollInterval: "\(String(format: "%.1f", hold.limit))",
        ]
        if stage == .exceeded {
            logger.error(
                "rebuilding aggregate state held the poll thread past kafka.consumer.max_poll_interval: the consumer leaves the group, and its partitions are rebuilt again when assigned; raise kafka.consumer.max_poll_interval above the rebuild's time, or keep snapshots (topics.state, pipeline.state_directory)",
                metadata: metadata)
        } else {
            logger.warning(
                "rebuilding aggregate state has held the poll thread for half of kafka.consumer.max_poll_interval; past it the consumer leaves the group: raise kafka.consumer.max_poll_interval, or keep snapshots (topics.state, pipeline.state_directory)",
                metadata: metadata)
        }
    }

    /// Folds the partition's log below `end` into its snapshot's state, or into a fresh one. A
    /// failure (broker unreachable) is retried with backoff for as long as it takes: scoring the
    /// partition without its history would publish wrong values. At shutdown it gives up; the relay
    /// then drops the batch unstored.
    private func rebuild(_ partition: KafkaTopicPartition, before end: Int64, scorer: Scorer, state: AggregateStore, hold: inout PollHold) {
        var attempt = 0
        while !stopping.load(ordering: .relaxed) {
            let start = restoreSnapshot(partition, before: end, state: state)
            let clock = ContinuousClock()
            let started = clock.now
            do {
                let read =
                    try history?(partition, start, end) { batch in
                        scorer.warm(Self.inputs(batch, receivedAt: Date().timeIntervalSince1970), state: state)
                        noteRecordTimes(batch)
                        checkHold(&hold, partition)
                        // Past max.poll.interval.ms the consumer is out of the group, and this
                        // rebuild's partitions will be taken away: its progress no longer counts as
                        // alive, so /healthz turns 503 instead of staying green through a rebuild
                        // that cannot end in scoring.
                        if hold.reported < .exceeded { status?.polled() }
                    } ?? 0
                let seconds = (clock.now - started).seconds
                metrics?.aggregateRebuild(records: read, done: true)
                logger.info(
                    "aggregate state rebuilt from the partition's log; scoring it now",
                    metadata: [
                        LogKey.partition: "\(partition)", LogKey.offset: "\(end)", LogKey.records: "\(read)",
                        LogKey.from: "\(start.map(String.init) ?? "the start of the log")",
                        LogKey.duration: "\(String(format: "%.3f", seconds))", LogKey.keys: "\(state.totals.keys)",
                    ])
                return
            } catch {
                attempt += 1
                metrics?.aggregateRebuild(records: 0, done: false)
                let delay = min(30, 0.1 * pow(2, Double(min(attempt, 10))))
                logger.error(
                    "cannot rebuild the partition's aggregate state; it is not scored until it is, retrying",
                    metadata: [
                        LogKey.partition: "\(partition)", LogKey.error: "\(error)", LogKey.attempt: "\(attempt)",
                        LogKey.retryIn: "\(String(format: "%.2f", delay)) s",
                    ])
                // In steps, so that a shutdown is not held by a long backoff.
                let until = Date().addingTimeInterval(delay)
                while Date() < until && !stopping.load(ordering: .relaxed) { Thread.sleep(forTimeInterval: 0.05) }
                checkHold(&hold, partition)
            }
        }
    }

    /// Starts `partition`'s state from the newest snapshot, among the stores, that holds events up
    /// to before `end`, and returns the offset to read the log from; otherwise starts it empty (nil:
    /// the log's start).
    private func restoreSnapshot(_ partition: KafkaTopicPartition, before end: Int64, state: AggregateStore) -> Int64? {
        let key = EventSource.Partition(topic: partition.topic, partition: partition.partition)
        state.reset(key)
        // From the start of the log the state holds no record yet; a restore sets what it knows.
        recordTimes.withLock { $0[partition] = .min }
        var found: [(snapshot: StoredSnapshot, store: any StateSnapshotStore)] = []
        for store in stores {
            do {
                if let snapshot = try store.latest(partition, before: end, progress: { [status] in status?.polled() }) {
                    found.append((snapshot, store))
                }
            } catch {
                logger.warning(
                    "the partition's snapshot cannot be read; looking elsewhere, else rebuilding from the start of the log",
                    metadata: [LogKey.partition: "\(partition)", LogKey.store: "\(store.description)", LogKey.error: "\(error)"])
            }
        }
        for (snapshot, store) in found.sorted(by: { $0.snapshot.through > $1.snapshot.through }) {
            do {
                try state.restore(key, through: snapshot.through, snapshot: snapshot.state)
                recordTimes.withLock { $0[partition] = snapshot.newestRecordTime }
                metrics?.aggregateRestore(from: store.kind)
                logger.info(
                    "the partition's state restored from a snapshot",
                    metadata: [LogKey.partition: "\(partition)", LogKey.store: "\(store.description)", LogKey.offset: "\(snapshot.through)"])
                return snapshot.through + 1
            } catch {
                state.reset(key)
                recordTimes.withLock { $0[partition] = .min }
                logger.warning(
                    "the partition's snapshot cannot be used; looking elsewhere, else rebuilding from the start of the log",
                    metadata: [LogKey.partition: "\(partition)", LogKey.store: "\(store.description)", LogKey.error: "\(error)"])
            }
        }
        metrics?.aggregateRestore(from: nil)
        return nil
    }

    public func deadLetter(for message: KafkaMessage, reason: String) -> KafkaProducerRecord? {
        let input = ScoringInput(
            value: message.value, source: EventSource(topic: message.topic, partition: message.partition, offset: message.offset),
            receivedAt: Date().timeIntervalSince1970)
        let bytes = DeadLetterWriter.write(
            input, issues: [ValidationIssue(.publishFailed, reason)], now: Date().timeIntervalSince1970,
            configuration: models.deadLetterConfiguration)
        var headers = Self.masked(message.headers)
        headers.append(KafkaHeader(name: "verdict-dlq-reason", string: ReasonCode.publishFailed.rawValue))
        headers.append(KafkaHeader(name: "verdict-source-topic", string: message.topic))
        headers.append(KafkaHeader(name: "verdict-source-partition", string: String(message.partition)))
        headers.append(KafkaHeader(name: "verdict-source-offset", string: String(message.offset)))
        return KafkaProducerRecord(topic: deadLetterTopic, key: Self.masked(message.key), value: bytes, headers: headers)
    }

    /// `bytes` with every card number masked (no copy when there is none).
    static func masked(_ bytes: [UInt8]?) -> [UInt8]? {
        guard var bytes else { return nil }
        PANMasking.maskAll(&bytes)
        return bytes
    }

    /// Headers with card numbers masked in names and values, at most
    /// ``DeadLetterConfiguration/maxCopiedHeaderBytes`` of them; the count of any dropped is added
    /// as `verdict-headers-dropped`.
    static func masked(_ headers: [KafkaHeader]) -> [KafkaHeader] {
        guard !headers.isEmpty else { return headers }
        // The common case (small headers without long digit runs) copies nothing.
        var total = 0
        var digits = 0
        for header in headers {
            total += header.name.utf8.count + (header.value?.count ?? 0)
            for b in header.name.utf8 where b >= 0x30 && b <= 0x39 { digits += 1 }
            for b in header.value ?? [] where b >= 0x30 && b <= 0x39 { digits += 1 }
        }
        if total <= DeadLetterConfiguration.maxCopiedHeaderBytes && digits < 13 { return headers }
        var copied: [KafkaHeader] = []
        copied.reserveCapacity(headers.count)
        var budget = DeadLetterConfiguration.maxCopiedHeaderBytes
        var dropped = 0
        for header in headers {
            let size = header.name.utf8.count + (header.value?.count ?? 0)
            guard size <= budget else { dropped += 1; continue }
            budget -= size
            copied.append(KafkaHeader(name: PANMasking.masked(header.name), value: masked(header.value)))
        }
        if dropped > 0 { copied.append(KafkaHeader(name: "verdict-headers-dropped", string: String(dropped))) }
        return copied
    }
}

/// Resumes a continuation once, from whichever of several callers comes first.
private final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<Bool, Never>?>

    init(_ continuation: CheckedContinuation<Bool, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ value: Bool) {
        continuation.withLock { $0.take() }?.resume(returning: value)
    }
}
