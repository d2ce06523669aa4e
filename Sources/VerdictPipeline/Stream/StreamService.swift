import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization
import VerdictKafka
import VerdictScoring

/// The stream: consume transaction events with a consumer group, score them, publish decisions and
/// dead letters, commit offsets only for what the brokers acknowledged. A ServiceLifecycle service:
/// it runs until graceful shutdown, then stops fetching, finishes in-flight work, flushes, commits
/// and closes, all within `pipeline.shutdown_timeout`; past the deadline it commits what is safe
/// and fails (the process exits non-zero).
public final class StreamService: Service, Sendable {
    public struct ShutdownError: Error, CustomStringConvertible {
        public var description: String
    }

    private let configuration: VerdictConfiguration
    private let processor: any RecordProcessor
    private let stateTopic: String?
    private let metrics: PipelineMetrics?
    private let status: PipelineStatus
    private let logger: Logger
    private let running = Mutex<Running?>(nil)

    /// The parts that exist while the stream runs (for emergency stops from signal handlers).
    private struct Running: Sendable {
        var consumer: KafkaConsumer
        var producer: KafkaProducer
        var relay: Relay?
        var transactional: TransactionalRelay?
    }

    /// - Parameter stateTopic: The topic the processor keeps state snapshots in, checked at start.
    public init(
        configuration: VerdictConfiguration, processor: any RecordProcessor, stateTopic: String? = nil, metrics: PipelineMetrics?,
        status: PipelineStatus, logger: Logger
    ) {
        self.configuration = configuration
        self.processor = processor
        self.stateTopic = stateTopic
        self.metrics = metrics
        self.status = status
        self.logger = logger
    }

    public func run() async throws {
        let c = configuration
        let observer = PipelineObserver(metrics: metrics, status: status)
        var relay: Relay?
        var transactional: TransactionalRelay?
        let producer: KafkaProducer
        // A fatal producer error (fenced, idempotence broken) cannot be retried away: the stream stops
        // and the process exits non-zero after committing what is safe.
        let onError: @Sendable (KafkaError) -> Void = { [logger, status] error in
            logger.error("kafka producer error", metadata: [LogKey.error: "\(error)"])
            if error.isFatal { status.failed("producer: \(error)") }
        }
        if c.exactlyOnce {
            producer = try KafkaProducer(configuration: c.producerConfiguration(), logger: logger, onError: onError, deliveryReports: { _ in })
            transactional = TransactionalRelay(
                processor: processor, producer: producer,
                configuration: TransactionalRelay.Configuration(
                    callTimeout: c.kafka.producer.messageTimeout.duration, maxPollInterval: c.kafka.consumer.maxPollInterval.duration),
                logger: logger, observer: observer
            )
        } else {
            let atLeastOnce = Relay(
                processor: processor,
                configuration: Relay.Configuration(
                    maxInFlight: c.pipeline.maxInFlight, resumeBelow: c.pipeline.resumeBelow, revokeDrainTimeout: c.pipeline.revokeTimeout.duration,
                    unhealthyAfter: c.pipeline.unhealthyAfter.duration
                ),
                logger: logger, observer: observer
            )
            producer = try KafkaProducer(
                configuration: c.producerConfiguration(), logger: logger, onError: onError, deliveryReportBatches: atLeastOnce.handleDeliveries)
            atLeastOnce.attach(producer: producer)
            relay = atLeastOnce
        }
        let consumer = try KafkaConsumer(configuration: c.consumerConfiguration(), logger: logger, revokeCommitTimeout: c.pipeline.revokeTimeout.duration)
        do {
            try await consumer.checkTopics(c.topics.input.filter { !$0.hasPrefix("^") })
            try await producer.checkTopics([c.topics.decisions, c.topics.deadLetters])
            if let stateTopic { try await Self.checkStateTopic(stateTopic, producer: producer) }
            if c.exactlyOnce { try await producer.initTransactions(timeout: .seconds(30)) }
        } catch {
            status.failed(error.description)
            await consumer.close(timeout: .seconds(2))
            await producer.close(timeout: .seconds(2))
            throw error
        }
        running.withLock { $0 = Running(consumer: consumer, producer: producer, relay: relay, transactional: transactional) }
        try consumer.subscribe(topics: c.topics.input)
        consumer.start(handler: (relay as (any KafkaConsumerHandler)?) ?? transactional!)
        logger.info(
            "stream started",
            metadata: [
                LogKey.topics: "\(c.topics.input.joined(separator: ","))", LogKey.group: "\(c.kafka.consumer.groupID)",
                LogKey.brokers: "\(c.kafka.bootstrapServers.joined(separator: ","))", LogKey.guarantee: "\(c.pipeline.guarantee)",
            ])

        // Run until graceful shutdown, or until something fatal stops the stream.
        let fatal: String? = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                try? await gracefulShutdown()
                return nil
            }
            let watched = transactional
            group.addTask { [status] in
                while !Task.isCancelled {
                    if let message = watched?.fatalError?.description ?? status.fatalError { return message }
                    try? await Task.sleep(for: .milliseconds(500))
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        try await shutdown(consumer: consumer, producer: producer, relay: relay, reason: fatal)
        if let fatal { throw ShutdownError(description: "the stream stopped: \(fatal)") }
    }

    /// A missing state topic is refused at start: without it every partition an instance takes
    /// would be rebuilt from the start of its log, which the operator should choose knowingly.
    private static func checkStateTopic(_ topic: String, producer: KafkaProducer) async throws(KafkaError) {
        do {
            try await producer.checkTopics([topic])
        } catch let error where error.code == .unknownTopic {
            throw KafkaError(
                code: .unknownTopic,
                message:
                    "the state topic \(topic) (topics.state) does not exist: create it with as many partitions as the input (cleanup.policy=compact, or retention of a few pipeline.state_snapshot_intervals), or set topics.state: \"\" to rebuild each partition's aggregate state from its log"
            )
        }
    }

    private func shutdown(consumer: KafkaConsumer, producer: KafkaProducer, relay: Relay?, reason: String?) async throws {
        let timeout = configuration.pipeline.shutdownTimeout.duration
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        func remaining() -> Duration { max(.milliseconds(200), deadline - clock.now) }
        logger.info(
            "stream stopping: finishing in-flight work",
            metadata: [LogKey.reason: "\(reason ?? "shutdown requested")", LogKey.inFlight: "\(relay?.inFlight ?? 0)"])
        relay?.stopAccepting()
        running.withLock { $0?.transactional?.stopAccepting() }
        try? consumer.pause(consumer.assignment)
        if let relay {
            while relay.inFlight > 0 && clock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            relay.storeCompletedOffsets(consumer)
        }
        let drained = (relay?.inFlight ?? 0) == 0
        var committed = true
        if relay != nil {
            do {
                try await consumer.commit(timeout: remaining())
            } catch {
                committed = false
                logger.warning("final commit failed; the next owner re-reads from the last committed offset", metadata: [LogKey.error: "\(error)"])
            }
        }
        let closed = await consumer.close(timeout: remaining())
        let undelivered = await producer.close(timeout: remaining())
        running.withLock { $0 = nil }
        // Closing released the partitions, which queued their state snapshots: wait for them, but
        // not past the deadline (a snapshot is a cache; an unfinished one is never renamed in).
        if await processor.finish(within: remaining()) == false {
            logger.warning("the state snapshots were not all written before the shutdown deadline; the next start reads more of the log")
        }
        let counters = relay?.counters
        logger.info(
            "stream stopped",
            metadata: [
                LogKey.consumed: "\(counters?.consumed ?? 0)", LogKey.delivered: "\(counters?.delivered ?? 0)",
                LogKey.duration: "\(String(format: "%.3f", (timeout - (deadline - clock.now)).seconds))",
            ])
        guard drained && committed && closed && undelivered == 0 && clock.now <= deadline + .seconds(1) else {
            throw ShutdownError(
                description:
                    "shutdown did not finish cleanly within \(configuration.pipeline.shutdownTimeout) (drained: \(drained), committed: \(committed), closed: \(closed), undelivered: \(undelivered)); uncommitted records will be re-read"
            )
        }
    }

    /// The second signal: no draining. Stores and commits what is already safe (bounded to two
    /// seconds), then returns so the caller can exit non-zero.
    public func emergencyStop() {
        guard let parts = running.withLock({ $0 }) else { return }
        parts.relay?.stopAccepting()
        parts.relay?.storeCompletedOffsets(parts.consumer)
        do {
            try parts.consumer.commitBlocking(timeout: .seconds(2))
        } catch {
            logger.warning("emergency commit failed", metadata: [LogKey.error: "\(error)"])
        }
        logger.warning("stopped immediately on a second signal; in-flight records will be re-read")
    }

    /// The relay's counters (at-least-once mode), for tests and the demo.
    public var counters: Relay.Counters? { running.withLock { $0?.relay?.counters } }
}
