public import Logging
import Foundation
import Synchronization
public import VerdictKafka

/// Moves records from a consumer group to a producer with at-least-once bookkeeping:
/// consume -> process -> produce -> (delivery report) -> watermark -> store offset -> commit.
///
/// The decisions live in ``RelayState`` (lock, decide, act); this class performs them.
/// - An input offset is stored only after its output was acknowledged, through the contiguous
///   watermark, so a crash re-delivers anything not yet published and skips nothing.
/// - A retriable delivery failure (broker down, timeout, leader moving) is retried with exponential
///   backoff and jitter for as long as it takes; the stream resumes by itself when the broker is
///   back. A non-retriable one (authorization, unknown topic, record too large) holds its partition
///   (paused, nothing stored past it) and, after ``Configuration/unhealthyAfter``, turns /healthz to
///   503 naming the partition, the topic and the error. A fatal producer error stops the stream.
/// - In-flight records are bounded: past ``Configuration/maxInFlight`` the poll thread waits for
///   acknowledgements until fewer than ``Configuration/resumeBelow`` are in flight. Only if that
///   takes longer than ``Configuration/pauseAfter`` (a stalled broker) does the consumer pause its
///   partitions, resuming them below ``Configuration/resumeBelow``: librdkafka drops a paused
///   partition's prefetched records and fetches them again on resume, a broker round trip per
///   pause that capped throughput when the relay paused at every bound.
/// - Records of partitions not assigned when they arrive (fetched just before a revoke) are dropped
///   before tracking; assignment and any backward offset restart a partition's bookkeeping.
/// - On revoke, in-flight work of the revoked partitions is drained (bounded by
///   ``Configuration/revokeDrainTimeout``), offsets stored, and the consumer commits before release.
/// - No call on the poll thread waits without a deadline: a send waits at most
///   ``Configuration/sendTimeout`` for queue space, then is retried from the poll loop.
public final class Relay: KafkaConsumerHandler, Sendable {
    /// Bounds and budgets of a relay.
    public struct Configuration: Sendable {
        /// Records consumed and not yet acknowledged, before the consumer pauses. Default 20 000.
        public var maxInFlight: Int
        /// In-flight count below which paused partitions resume. Default maxInFlight / 2.
        public var resumeBelow: Int
        /// How long a revoke waits for in-flight records of the revoked partitions. Default 5 s.
        public var revokeDrainTimeout: Duration
        /// How long the poll thread waits at the bound for acknowledgements before it pauses the
        /// partitions instead. Default 1 s.
        public var pauseAfter: Duration
        /// First retry delay of a retriable delivery failure (doubling per attempt). Default 100 ms.
        public var backoffBase: Duration
        /// Longest retry delay. Default 30 s.
        public var backoffMax: Duration
        /// How long a partition may be held by a non-retriable error before /healthz answers 503
        /// (`pipeline.unhealthy_after`). Default 60 s.
        public var unhealthyAfter: Duration
        /// How long one send waits for room in a full producer queue. Default 100 ms.
        public var sendTimeout: Duration

        public init(
            maxInFlight: Int = 20_000, resumeBelow: Int? = nil, revokeDrainTimeout: Duration = .seconds(5), pauseAfter: Duration = .seconds(1),
            backoffBase: Duration = .milliseconds(100), backoffMax: Duration = .seconds(30), unhealthyAfter: Duration = .seconds(60),
            sendTimeout: Duration = .milliseconds(100)
        ) {
            self.maxInFlight = maxInFlight
            self.resumeBelow = resumeBelow ?? maxInFlight / 2
            self.revokeDrainTimeout = revokeDrainTimeout
            self.pauseAfter = pauseAfter
            self.backoffBase = backoffBase
            self.backoffMax = backoffMax
            self.unhealthyAfter = unhealthyAfter
            self.sendTimeout = sendTimeout
        }
    }

    /// Counters since the relay started.
    public typealias Counters = RelayCounters

    public let configuration: Configuration
    private let processor: any RecordProcessor
    private let logger: Logger
    private let observer: (any RelayObserver)?
    /// The decisions, under one lock: one acquisition per batch and per delivery report.
    private let state: Mutex<RelayState>
    /// Serialises offset stores: two threads storing one partition could otherwise store an older
    /// offset after a newer one.
    private let storeLock = Mutex(())
    private let producerBox = Mutex<KafkaProducer?>(nil)
    private let consumerBox = Mutex<WeakConsumer>(WeakConsumer())
    private let paused = Atomic<Bool>(false)
    /// Cleared on shutdown: batches that arrive afterwards are left unprocessed (and unstored), so
    /// the next owner reads them again.
    private let accepting = Atomic<Bool>(true)
    private let repauseNeeded = Atomic<Bool>(false)
    /// Partitions already paused because they are held.
    private let pausedHeld = Mutex<Set<KafkaTopicPartition>>([])
    private let started = ContinuousClock.now

    private struct WeakConsumer: Sendable {
        weak var consumer: KafkaConsumer?
    }

    /// Creates a relay. Connect it with ``attach(producer:)`` before the consumer starts, and give
    /// the producer ``handleDelivery(_:)`` as its delivery-report closure.
    public init(processor: any RecordProcessor, configuration: Configuration = Configuration(), logger: Logger, observer: (any RelayObserver)? = nil) {
        self.processor = processor
        self.configuration = configuration
        self.logger = logger
        self.observer = observer
        state = Mutex(
            RelayState(
                policy: RelayState.Policy(
                    maxInFlight: configuration.maxInFlight, resumeBelow: configuration.resumeBelow,
                    backoffBase: configuration.backoffBase.seconds, backoffMax: configuration.backoffMax.seconds,
                    unhealthyAfter: configuration.unhealthyAfter.seconds
                ), seed: UInt64(truncatingIfNeeded: ContinuousClock.now.hashValue)))
    }

    /// Seconds since the relay was created (the state machine's clock).
    private var now: Double { (ContinuousClock.now - started).seconds }

    /// The producer outputs go to.
    public func attach(producer: KafkaProducer) {
        producerBox.withLock { $0 = producer }
    }

    /// Counters so far.
    public var counters: Counters { state.withLock { $0.counters } }

    /// Records consumed and not yet acknowledged.
    public var inFlight: Int { state.withLock { $0.inFlight } }

    /// Whether the consumer is paused for backpressure.
    public var isPaused: Bool { paused.load(ordering: .relaxed) }

    // MARK: Consumer side (poll thread)

    /// Stops taking new batches (shutdown). Work already in flight still completes.
    public func stopAccepting() {
        accepting.store(false, ordering: .relaxed)
        processor.stop()
    }

    public func consumer(_ consumer: KafkaConsumer, didReceive messages: [KafkaMessage]) {
        consumerBox.withLock { if $0.consumer == nil { $0.consumer = consumer } }
        storeCompletedOffsets(consumer)
        guard accepting.load(ordering: .relaxed) else { return }
        guard let producer = producerBox.withLock({ $0 }) else {
            logger.critical("relay has no producer attached; records are not processed")
            return
        }
        let clock = ContinuousClock()
        let startedAt = clock.now
        var outputs: [KafkaProducerRecord] = []
        outputs.reserveCapacity(messages.count)
        processor.process(messages, into: &outputs)
        precondition(outputs.count == messages.count, "a RecordProcessor must return one output per input")
        // Shutdown began while the batch was processed (a rebuild gave up): it is not published or
        // stored, so the next owner reads it again.
        guard accepting.load(ordering: .relaxed) else { return }
        let (accepted, inFlight) = state.withLock { state in (state.accept(messages, outputs: outputs), state.inFlight) }
        report(accepted)
        for (index, id) in accepted.sends {
            send(outputs[index], id: id, producer: producer)
        }
        observer?.relay(processed: messages.count, seconds: (clock.now - startedAt).seconds)
        if inFlight >= configuration.maxInFlight {
            observer?.relay(inFlight: inFlight, paused: true)
            if let remaining = waitForAcknowledgements(producer, consumer) {
                observer?.relay(inFlight: remaining, paused: false)
            } else if !paused.exchange(true, ordering: .relaxed) {
                pauseAll(consumer)
                state.withLock { $0.countPause() }
            }
        }
    }

    /// Logs what the state machine refused to track; nothing is skipped silently.
    private func report(_ accepted: RelayState.Accepted) {
        if accepted.droppedUnassigned > 0 {
            logger.info(
                "records of partitions no longer assigned were dropped before processing; their next owner reads them",
                metadata: [
                    LogKey.records: "\(accepted.droppedUnassigned)"
                ])
        }
        if !accepted.rewound.isEmpty {
            logger.warning(
                "backward offset: the partition's bookkeeping restarts there (records in flight are redone)",
                metadata: [
                    LogKey.partitions: "\(accepted.rewound)"
                ])
        }
        if accepted.refused > 0 {
            logger.error(
                "records refused by the offset tracker; they are not stored past and will be read again",
                metadata: [
                    LogKey.records: "\(accepted.refused)"
                ])
        }
    }

    /// Waits on the poll thread until fewer than `resumeBelow` records are in flight (returns how
    /// many are), or `pauseAfter` passes or the relay stops accepting (returns nil).
    private func waitForAcknowledgements(_ producer: KafkaProducer, _ consumer: KafkaConsumer) -> Int? {
        var remaining = 0
        _ = drain(until: ContinuousClock.now + configuration.pauseAfter, producer: producer) {
            storeCompletedOffsets(consumer)
            remaining = state.withLock { $0.inFlight }
            return remaining < configuration.resumeBelow || !accepting.load(ordering: .relaxed)
        }
        return remaining < configuration.resumeBelow ? remaining : nil
    }

    /// Sends due retries and waits for delivery reports until `done` holds (true) or `deadline`
    /// passes (false). Each wait returns at the next delivery report, or after 20 ms.
    private func drain(until deadline: ContinuousClock.Instant, producer: KafkaProducer?, _ done: () -> Bool) -> Bool {
        while true {
            resendDue()
            if done() { return true }
            guard ContinuousClock.now < deadline else { return false }
            producer?.waitForQueueSpace(timeout: .milliseconds(20))
        }
    }

    public func consumerDidPoll(_ consumer: KafkaConsumer) {
        observer?.relayDidPoll()
        consumerBox.withLock { if $0.consumer == nil { $0.consumer = consumer } }
        storeCompletedOffsets(consumer)
        resendDue()
        if repauseNeeded.exchange(false, ordering: .relaxed) && paused.load(ordering: .relaxed) {
            pauseAll(consumer)
        }
        let now = self.now
        let (inFlight, held, retrying, health) = state.withLock { state in
            (state.inFlight, state.held, state.retrying.count, state.health(now: now))
        }
        pauseHeld(consumer, Set(held.keys))
        observer?.relay(held: held.mapValues { "\($0.topic): \($0.error)" }, retrying: retrying, unhealthy: health.reasons)
        let isPaused = paused.load(ordering: .relaxed)
        if isPaused && inFlight < configuration.resumeBelow {
            resume(consumer, inFlight: inFlight)
        } else {
            // The gauge follows every poll, not only pause and resume.
            observer?.relay(inFlight: inFlight, paused: isPaused)
        }
    }

    public func consumer(_ consumer: KafkaConsumer, rebalance event: KafkaRebalanceEvent) {
        observer?.relay(rebalance: event)
        switch event {
        case .assigned(let list):
            state.withLock { $0.assigned(list) }
            pausedHeld.withLock { $0.subtract(list) }
            // Newly assigned partitions start unpaused; pause them on the next poll if we are paused.
            if paused.load(ordering: .relaxed) { repauseNeeded.store(true, ordering: .relaxed) }
        case .revoked(let list):
            let partitions = Set(list)
            _ = drain(until: ContinuousClock.now + configuration.revokeDrainTimeout, producer: producerBox.withLock { $0 }) {
                state.withLock { $0.tracker.inFlight(partitions) } == 0
            }
            storeCompletedOffsets(consumer)
            let abandoned = state.withLock { $0.revoked(list) }
            pausedHeld.withLock { $0.subtract(list) }
            processor.released(list)
            if abandoned > 0 {
                logger.warning(
                    "revoked partitions with records still in flight; the next owner re-processes them",
                    metadata: [
                        LogKey.abandoned: "\(abandoned)", LogKey.partitions: "\(list)",
                    ])
            }
        case .lost(let list):
            _ = state.withLock { $0.revoked(list) }
            pausedHeld.withLock { $0.subtract(list) }
            processor.released(list)
        }
    }

    public func consumer(_ consumer: KafkaConsumer, didFail error: KafkaError) {
        observer?.relay(consumerError: error)
    }

    public func consumer(_ consumer: KafkaConsumer, statistics: KafkaStatistics) {
        observer?.relay(statistics: statistics)
    }

    /// Stores every offset that completed since the last call (serialised across threads).
    public func storeCompletedOffsets(_ consumer: KafkaConsumer) {
        storeLock.withLock { _ in
            let offsets = state.withLock { $0.takeOffsetsToStore() }
            guard !offsets.isEmpty else { return }
            do {
                try consumer.storeOffsets(offsets)
            } catch {
                // A partition revoked meanwhile: its next owner re-reads from the committed offset.
                logger.debug("cannot store offsets", metadata: [LogKey.error: "\(error)"])
            }
        }
    }

    // MARK: Producer side (delivery reports)

    /// Hand this to the producer as its batched delivery-report closure
    /// (`KafkaProducer(…, deliveryReportBatches:)`): the acknowledgements of a batch take the lock
    /// once, where one acquisition per report contended with the poll thread's per-batch one.
    public func handleDeliveries(_ reports: [KafkaDeliveryReport]) {
        let delivered = state.withLock { state in
            var delivered = 0
            for report in reports where report.error == nil {
                state.delivered(report.id)
                delivered += 1
            }
            return delivered
        }
        for report in reports {
            guard let error = report.error else { continue }
            if let record = report.record {
                handleFailure(report.id, error: error, record: record)
            } else {
                // The wrapper copies every failed record back; without one there is nothing to
                // resend, so the partition is held rather than skipped.
                let missing = KafkaError(code: .invalidArgument, message: "delivery report without its record: \(error)")
                handleFailure(report.id, error: missing, record: KafkaProducerRecord(topic: report.topic, value: nil))
            }
        }
        if delivered > 0 { observer?.relay(delivered: delivered) }
    }

    private func handleFailure(_ id: UInt64, error: KafkaError, record: KafkaProducerRecord) {
        let kind = RelayState.classify(error)
        let now = self.now
        let (action, entry) = state.withLock { state in
            (state.failed(id, kind: kind, error: "\(error)", now: now, record: record), state.tracker.entry(id))
        }
        let partition = entry.map { "\($0.partition)" } ?? "?"
        let offset = entry.map { "\($0.offset)" } ?? "?"
        switch action {
        case .ignored, .resendSoon:
            return
        case .retry(let due, let attempt):
            // One line per output would flood the log during an outage: the first retry and every tenth.
            if attempt == 2 || attempt % 10 == 0 {
                logger.warning(
                    "delivery failed; retrying with backoff until the broker accepts it",
                    metadata: [
                        LogKey.error: "\(error)", LogKey.partition: "\(partition)", LogKey.offset: "\(offset)",
                        LogKey.attempt: "\(attempt)", LogKey.retryIn: "\(String(format: "%.2f", max(0, due - now))) s",
                    ])
            }
            observer?.relay(deliveryFailed: error, permanently: false)
        case .hold(let held, let hold):
            logger.error(
                "delivery failed and cannot succeed by retrying; the partition is held (paused, nothing stored past it) until restart",
                metadata: [
                    LogKey.error: "\(error)", LogKey.partition: "\(held)", LogKey.offset: "\(hold.offset)", LogKey.topic: "\(hold.topic)",
                ])
            observer?.relay(deliveryFailed: error, permanently: true)
        case .fatal(let message):
            logger.critical("the producer failed fatally; the stream stops after committing what is safe", metadata: [LogKey.error: "\(message)"])
            observer?.relay(deliveryFailed: error, permanently: true)
            observer?.relay(fatal: message)
        }
    }

    // MARK: Sending

    private func send(_ record: KafkaProducerRecord, id: UInt64, producer: KafkaProducer) {
        do {
            // A full queue waits briefly for room; past that the send is retried from the poll loop,
            // so neither a poll nor a revoke callback blocks on a stalled broker.
            try producer.sendBlocking(record, id: id, timeout: configuration.sendTimeout)
        } catch {
            handleFailure(id, error: error, record: record)
        }
    }

    private func resendDue() {
        let now = self.now
        let due = state.withLock { $0.dueRetries(now: now) }
        guard !due.isEmpty, let producer = producerBox.withLock({ $0 }) else { return }
        for (id, record) in due {
            send(record, id: id, producer: producer)
        }
    }

    // MARK: Backpressure

    private func pauseAll(_ consumer: KafkaConsumer) {
        do {
            try consumer.pause(consumer.assignment)
            logger.info("consumer paused: too many records in flight", metadata: [LogKey.maxInFlight: "\(configuration.maxInFlight)"])
        } catch {
            logger.warning("cannot pause partitions", metadata: [LogKey.error: "\(error)"])
        }
    }

    /// Held partitions stay paused: their bookkeeping cannot advance, so fetching more would only grow it.
    private func pauseHeld(_ consumer: KafkaConsumer, _ held: Set<KafkaTopicPartition>) {
        let newly = pausedHeld.withLock { paused in
            let newly = held.subtracting(paused)
            paused.formUnion(newly)
            return newly
        }
        guard !newly.isEmpty else { return }
        do {
            try consumer.pause(newly.sorted())
        } catch {
            logger.warning("cannot pause held partitions", metadata: [LogKey.error: "\(error)"])
        }
    }

    private func resume(_ consumer: KafkaConsumer, inFlight: Int) {
        guard paused.exchange(false, ordering: .relaxed) else { return }
        let held = pausedHeld.withLock { $0 }
        do {
            try consumer.resume(consumer.assignment.filter { !held.contains($0) })
            logger.info("consumer resumed", metadata: [LogKey.inFlight: "\(inFlight)"])
        } catch {
            logger.warning("cannot resume partitions", metadata: [LogKey.error: "\(error)"])
        }
        observer?.relay(inFlight: inFlight, paused: false)
    }
}

extension Duration {
    /// The duration in seconds as a Double.
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
