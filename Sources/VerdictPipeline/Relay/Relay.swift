public import Logging
import Synchronization
public import VerdictKafka

/// Moves records from a consumer group to a producer with at-least-once bookkeeping:
/// consume -> process -> produce -> (delivery report) -> watermark -> store offset -> commit.
///
/// - An input offset is stored only after its output was acknowledged, through the contiguous
///   watermark, so a crash re-delivers anything not yet published and skips nothing.
/// - A failed delivery is retried (up to ``Configuration/maxDeliveryAttempts``); past that the
///   partition stops advancing and the failure is reported: it is never committed past.
/// - In-flight records are bounded: past ``Configuration/maxInFlight`` the poll thread waits for
///   acknowledgements until fewer than ``Configuration/resumeBelow`` are in flight. Only if that
///   takes longer than ``Configuration/pauseAfter`` (a stalled broker) does the consumer pause its
///   partitions, resuming them below ``Configuration/resumeBelow``: librdkafka drops a paused
///   partition's prefetched records and fetches them again on resume, a broker round trip per
///   pause that capped throughput when the relay paused at every bound.
/// - On revoke, in-flight work of the revoked partitions is drained (bounded by
///   ``Configuration/revokeDrainTimeout``), offsets stored, and the consumer commits before release.
public final class Relay: KafkaConsumerHandler, Sendable {
    /// Bounds and budgets of a relay.
    public struct Configuration: Sendable {
        /// Records consumed and not yet acknowledged, before the consumer pauses. Default 20 000.
        public var maxInFlight: Int
        /// In-flight count below which paused partitions resume. Default maxInFlight / 2.
        public var resumeBelow: Int
        /// Sends of one output before its partition is declared stuck. Default 5.
        public var maxDeliveryAttempts: Int
        /// How long a revoke waits for in-flight records of the revoked partitions. Default 5 s.
        public var revokeDrainTimeout: Duration
        /// How long the poll thread waits at the bound for acknowledgements before it pauses the
        /// partitions instead. Rebalance callbacks wait at most this long. Default 1 s.
        public var pauseAfter: Duration

        public init(
            maxInFlight: Int = 20_000, resumeBelow: Int? = nil, maxDeliveryAttempts: Int = 5,
            revokeDrainTimeout: Duration = .seconds(5), pauseAfter: Duration = .seconds(1)
        ) {
            self.maxInFlight = maxInFlight
            self.resumeBelow = resumeBelow ?? maxInFlight / 2
            self.maxDeliveryAttempts = maxDeliveryAttempts
            self.revokeDrainTimeout = revokeDrainTimeout
            self.pauseAfter = pauseAfter
        }
    }

    /// Counters since the relay started.
    public struct Counters: Sendable, Equatable {
        public var consumed = 0
        public var delivered = 0
        public var retried = 0
        /// Outputs that failed every attempt; their partitions are stuck at them.
        public var failedPermanently = 0
        /// In-flight records dropped because their partition was revoked before they finished.
        public var abandoned = 0
        public var pauses = 0
    }

    /// Receives what the relay does, for metrics. Called on the poll thread or the producer's thread.
    public protocol Observer: Sendable {
        func relay(processed count: Int, seconds: Double)
        func relay(delivered count: Int)
        func relay(deliveryFailed error: KafkaError, permanently: Bool)
        func relay(inFlight: Int, paused: Bool)
        func relay(rebalance event: KafkaRebalanceEvent)
        func relay(consumerError error: KafkaError)
        func relay(statistics: KafkaStatistics)
        /// The poll loop went round (at least every poll timeout): the liveness heartbeat.
        func relayDidPoll()
        /// Exactly-once only: a batch's transaction committed, or was aborted (its records are then
        /// processed again; readers with read_committed never see the aborted ones).
        func relay(transactionEnded committed: Bool, records: Int)
    }

    public let configuration: Configuration
    private let processor: any RecordProcessor
    private let logger: Logger
    private let observer: (any Observer)?
    /// Bookkeeping and counters under one lock: one acquisition per batch and per delivery report.
    private let state = Mutex(State())
    private let producerBox = Mutex<KafkaProducer?>(nil)
    private let consumerBox = Mutex<WeakConsumer>(WeakConsumer())
    private let retryQueue = Mutex<[UInt64]>([])
    private let paused = Atomic<Bool>(false)
    /// Cleared on shutdown: batches that arrive afterwards are left unprocessed (and unstored), so
    /// the next owner reads them again.
    private let accepting = Atomic<Bool>(true)
    private let repauseNeeded = Atomic<Bool>(false)

    private struct State {
        var tracker = InFlightTracker()
        var counters = Counters()
    }

    private struct WeakConsumer: Sendable {
        weak var consumer: KafkaConsumer?
    }

    /// Creates a relay. Connect it with ``attach(producer:)`` before the consumer starts, and give
    /// the producer ``handleDelivery(_:)`` as its delivery-report closure.
    public init(processor: any RecordProcessor, configuration: Configuration = Configuration(), logger: Logger, observer: (any Observer)? = nil) {
        self.processor = processor
        self.configuration = configuration
        self.logger = logger
        self.observer = observer
    }

    /// The producer outputs go to.
    public func attach(producer: KafkaProducer) {
        producerBox.withLock { $0 = producer }
    }

    /// Counters so far.
    public var counters: Counters { state.withLock { $0.counters } }

    /// Records consumed and not yet acknowledged.
    public var inFlight: Int { state.withLock { $0.tracker.inFlight } }

    /// Whether the consumer is paused for backpressure.
    public var isPaused: Bool { paused.load(ordering: .relaxed) }

    // MARK: Consumer side (poll thread)

    /// Stops taking new batches (shutdown). Work already in flight still completes.
    public func stopAccepting() {
        accepting.store(false, ordering: .relaxed)
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
        let started = clock.now
        var outputs: [KafkaProducerRecord] = []
        outputs.reserveCapacity(messages.count)
        processor.process(messages, into: &outputs)
        precondition(outputs.count == messages.count, "a RecordProcessor must return one output per input")
        let (ids, inFlight): ([UInt64?], Int) = state.withLock { state in
            state.counters.consumed += messages.count
            return (zip(messages, outputs).map { state.tracker.track($0, output: $1) }, state.tracker.inFlight)
        }
        for (index, id) in ids.enumerated() {
            guard let id else { continue }
            send(outputs[index], id: id, producer: producer)
        }
        observer?.relay(processed: messages.count, seconds: (clock.now - started).seconds)
        if inFlight >= configuration.maxInFlight {
            observer?.relay(inFlight: inFlight, paused: true)
            if let remaining = waitForAcknowledgements(producer, consumer) {
                observer?.relay(inFlight: remaining, paused: false)
            } else if !paused.exchange(true, ordering: .relaxed) {
                pauseAll(consumer)
                state.withLock { $0.counters.pauses += 1 }
            }
        }
    }

    /// Waits on the poll thread until fewer than `resumeBelow` records are in flight (returns how
    /// many are), or `pauseAfter` passes or the relay stops accepting (returns nil).
    private func waitForAcknowledgements(_ producer: KafkaProducer, _ consumer: KafkaConsumer) -> Int? {
        var remaining = 0
        _ = drain(until: ContinuousClock.now + configuration.pauseAfter, producer: producer) {
            storeCompletedOffsets(consumer)
            remaining = state.withLock { $0.tracker.inFlight }
            return remaining < configuration.resumeBelow || !accepting.load(ordering: .relaxed)
        }
        return remaining < configuration.resumeBelow ? remaining : nil
    }

    /// Retries failed outputs and waits for delivery reports until `done` holds (true) or
    /// `deadline` passes (false). Each wait returns at the next delivery report, or after 20 ms.
    private func drain(until deadline: ContinuousClock.Instant, producer: KafkaProducer?, _ done: () -> Bool) -> Bool {
        while true {
            resendFailed()
            if done() { return true }
            guard ContinuousClock.now < deadline else { return false }
            producer?.waitForQueueSpace(timeout: .milliseconds(20))
        }
    }

    public func consumerDidPoll(_ consumer: KafkaConsumer) {
        observer?.relayDidPoll()
        consumerBox.withLock { if $0.consumer == nil { $0.consumer = consumer } }
        storeCompletedOffsets(consumer)
        resendFailed()
        if repauseNeeded.exchange(false, ordering: .relaxed) && paused.load(ordering: .relaxed) {
            pauseAll(consumer)
        }
        let inFlight = state.withLock { $0.tracker.inFlight }
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
        case .assigned:
            // Newly assigned partitions start unpaused; pause them on the next poll if we are paused.
            if paused.load(ordering: .relaxed) { repauseNeeded.store(true, ordering: .relaxed) }
        case .revoked(let list):
            let partitions = Set(list)
            _ = drain(until: ContinuousClock.now + configuration.revokeDrainTimeout, producer: producerBox.withLock { $0 }) {
                state.withLock { $0.tracker.inFlight(partitions) } == 0
            }
            storeCompletedOffsets(consumer)
            let abandoned = state.withLock { state in
                let abandoned = state.tracker.remove(partitions)
                state.counters.abandoned += abandoned
                return abandoned
            }
            if abandoned > 0 {
                logger.warning("revoked partitions with records still in flight; the next owner re-processes them", metadata: [
                    "relay.abandoned": "\(abandoned)", "kafka.partitions": "\(list)",
                ])
            }
        case .lost(let list):
            state.withLock { state in
                state.counters.abandoned += state.tracker.remove(Set(list))
            }
        }
    }

    public func consumer(_ consumer: KafkaConsumer, didFail error: KafkaError) {
        observer?.relay(consumerError: error)
    }

    public func consumer(_ consumer: KafkaConsumer, statistics: KafkaStatistics) {
        observer?.relay(statistics: statistics)
    }

    /// Stores every offset that completed since the last call.
    public func storeCompletedOffsets(_ consumer: KafkaConsumer) {
        let offsets = state.withLock { $0.tracker.takeOffsetsToStore() }
        guard !offsets.isEmpty else { return }
        do {
            try consumer.storeOffsets(offsets)
        } catch {
            // A partition revoked meanwhile: its next owner re-reads from the committed offset.
            logger.debug("cannot store offsets", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Producer side (delivery reports)

    /// Hand this to the producer as its delivery-report closure.
    public func handleDelivery(_ report: KafkaDeliveryReport) {
        if let error = report.error {
            handleFailure(report.id, error: error)
        } else {
            state.withLock { state in
                state.tracker.delivered(report.id)
                state.counters.delivered += 1
            }
            observer?.relay(delivered: 1)
        }
    }

    private func handleFailure(_ id: UInt64, error: KafkaError) {
        let maxAttempts = configuration.maxDeliveryAttempts
        let retriable = error.code != .purged
            && (error.isRetriable || error.isIndefinite || error.code == .brokerUnreachable || error.code == .timedOut)
        let outcome: (entry: InFlightTracker.Pending, retry: Bool)? = state.withLock { state in
            guard let (_, entry) = state.tracker.failed(id) else { return nil }
            let retry = retriable && entry.attempts <= maxAttempts
            if retry { state.counters.retried += 1 } else { state.counters.failedPermanently += 1 }
            return (entry, retry)
        }
        guard let (entry, retry) = outcome else { return }
        if retry {
            retryQueue.withLock { $0.append(id) }
            logger.warning("delivery failed; retrying", metadata: [
                "error": "\(error)", "kafka.partition": "\(entry.partition)", "kafka.offset": "\(entry.offset)", "relay.attempt": "\(entry.attempts)",
            ])
        } else {
            logger.error("delivery failed permanently; the partition stops advancing at this offset until restart", metadata: [
                "error": "\(error)", "kafka.partition": "\(entry.partition)", "kafka.offset": "\(entry.offset)",
            ])
        }
        observer?.relay(deliveryFailed: error, permanently: !retry)
    }

    // MARK: Sending

    private func send(_ record: KafkaProducerRecord, id: UInt64, producer: KafkaProducer) {
        do {
            // A full producer queue is the hard bound: wait for delivery reports to make room.
            try producer.sendBlocking(record, id: id, timeout: .seconds(3600))
        } catch {
            logger.error("cannot enqueue an output record; its partition stops advancing", metadata: ["error": "\(error)"])
            handleFailure(id, error: error)
        }
    }

    private func resendFailed() {
        let ids = retryQueue.withLock { queue in
            defer { queue.removeAll() }
            return queue
        }
        guard !ids.isEmpty, let producer = producerBox.withLock({ $0 }) else { return }
        for id in ids {
            guard let record = state.withLock({ $0.tracker.pendingRecord(id) }) else { continue }
            send(record, id: id, producer: producer)
        }
    }

    // MARK: Backpressure

    private func pauseAll(_ consumer: KafkaConsumer) {
        do {
            try consumer.pause(consumer.assignment)
            logger.info("consumer paused: too many records in flight", metadata: ["relay.max_in_flight": "\(configuration.maxInFlight)"])
        } catch {
            logger.warning("cannot pause partitions", metadata: ["error": "\(error)"])
        }
    }

    private func resume(_ consumer: KafkaConsumer, inFlight: Int) {
        guard paused.exchange(false, ordering: .relaxed) else { return }
        do {
            try consumer.resume(consumer.assignment)
            logger.info("consumer resumed", metadata: ["relay.in_flight": "\(inFlight)"])
        } catch {
            logger.warning("cannot resume partitions", metadata: ["error": "\(error)"])
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
