import CRdKafka
public import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A group consumer over librdkafka with explicit offset storage and synchronous rebalance handling.
///
/// Usage: create, ``subscribe(topics:)``, ``start(handler:)`` (spawns the poll thread), store offsets
/// as work completes (``storeOffsets(_:)``, ideally through an ``OffsetWatermark``), and
/// ``close(timeout:)``. Offsets are never stored automatically (`enable.auto.offset.store=false`):
/// only what the application stored is ever committed.
///
/// Rebalances are delivered to the handler inside librdkafka's rebalance callback. On revoke the
/// handler drains or abandons in-flight work and stores offsets; the consumer then commits (bounded by
/// ``revokeCommitTimeout``) and only then releases the partitions. Lost partitions are not committed.
public final class KafkaConsumer: Sendable {
    private let handle: RDKafkaHandle
    private let configuration: KafkaConsumerConfiguration
    private let logger: Logger
    private let shared: Shared
    private let pollThread = Mutex<DedicatedThread?>(nil)

    /// How long the commit after a revoke may take before the partitions are released anyway.
    public let revokeCommitTimeout: Duration

    /// State shared between the consumer, its poll thread and librdkafka's callbacks.
    private final class Shared: Sendable {
        struct Target: Sendable {
            let handler: any KafkaConsumerHandler
            weak var consumer: KafkaConsumer?
        }
        let target = Mutex<Target?>(nil)
        let running = Atomic<Bool>(false)
        let closed = Atomic<Bool>(false)
        /// Rebalances seen, for diagnostics and readiness.
        let rebalances = Atomic<Int>(0)
        let assignment = Mutex<Set<KafkaTopicPartition>>([])
        /// While closing, commits inside the rebalance callback must finish before this (uptime ns).
        let closeDeadline = Atomic<UInt64>(UInt64.max)
        let logger: Logger

        init(logger: Logger) { self.logger = logger }

        func dispatch(_ body: (any KafkaConsumerHandler, KafkaConsumer) -> Void) {
            guard let target = target.withLock({ $0 }), let consumer = target.consumer else { return }
            body(target.handler, consumer)
        }
    }

    /// Creates a consumer. It joins its group when ``subscribe(topics:)`` and ``start(handler:)`` were called.
    ///
    /// - Parameters:
    ///   - configuration: Consumer settings; secrets are resolved now.
    ///   - logger: Receives librdkafka's log lines and state changes.
    ///   - revokeCommitTimeout: Bound on the commit performed when partitions are revoked. Default 5 s.
    /// - Throws: ``KafkaError`` (configuration) when librdkafka refuses a property.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger, revokeCommitTimeout: Duration = .seconds(5)) throws(KafkaError) {
        let shared = Shared(logger: logger)
        let callbacks = RDKafkaCallbacks(
            logger: logger,
            onError: { error in
                shared.logger.warning("kafka consumer error", metadata: [LogKey.error: "\(error)"])
                shared.dispatch { handler, consumer in handler.consumer(consumer, didFail: error) }
            },
            onStatistics: { statistics in
                shared.dispatch { handler, consumer in handler.consumer(consumer, statistics: statistics) }
            },
            onRebalance: { rk, err, partitions in
                shared.dispatch { handler, consumer in
                    consumer.rebalance(rk: rk, err: err, partitions: partitions, handler: handler)
                }
            }
        )
        let properties = try configuration.librdkafkaProperties()
        self.handle = try RDKafkaHandle(kind: .consumer, properties: properties, callbacks: callbacks)
        self.configuration = configuration
        self.logger = logger
        self.shared = shared
        self.revokeCommitTimeout = revokeCommitTimeout
        // Route the main queue (errors, statistics, logs) and rebalances to the consumer queue, so the
        // poll thread serves them all.
        rd_kafka_poll_set_consumer(handle.pointer)
        logger.info(
            "kafka consumer created",
            metadata: [
                LogKey.client: "\(handle.name)",
                LogKey.group: "\(configuration.groupID)",
                LogKey.config: "\(KafkaRedaction.describe(properties))",
            ])
    }

    deinit {
        shared.running.store(false, ordering: .relaxed)
        pollThread.withLock { $0 }?.join()
    }

    /// Subscribes to topics. A name starting with `^` is a regular expression matched against all topics.
    ///
    /// - Throws: ``KafkaError/Code/invalidArgument`` for an empty list.
    public func subscribe(topics: [String]) throws(KafkaError) {
        guard !topics.isEmpty else { throw KafkaError(code: .invalidArgument, message: "subscribe needs at least one topic") }
        let list = RDKafkaTopicPartitionList(capacity: topics.count)
        for topic in topics {
            rd_kafka_topic_partition_list_add(list.pointer, topic, RD_KAFKA_PARTITION_UA)
        }
        let err = rd_kafka_subscribe(handle.pointer, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(rdkafka: err, context: "subscribing to \(topics.joined(separator: ","))")
        }
        logger.info("kafka consumer subscribed", metadata: [LogKey.topics: "\(topics.joined(separator: ","))"])
    }

    /// Starts the poll thread, which calls `handler` with batches, rebalances, errors and statistics.
    /// The consumer holds a strong reference to the handler until it is closed.
    public func start(handler: any KafkaConsumerHandler) {
        shared.target.withLock { $0 = Shared.Target(handler: handler, consumer: self) }
        guard !shared.running.exchange(true, ordering: .relaxed) else { return }
        let handle = self.handle
        let shared = self.shared
        let maxBatch = configuration.maxBatchSize
        let pollMilliseconds = configuration.pollTimeout.timeoutMilliseconds
        let thread = DedicatedThread(name: "verdict-poll") {
            KafkaConsumer.pollLoop(handle: handle, shared: shared, maxBatch: maxBatch, pollMilliseconds: pollMilliseconds)
        }
        pollThread.withLock { $0 = thread }
    }

    private static func pollLoop(handle: RDKafkaHandle, shared: Shared, maxBatch: Int, pollMilliseconds: Int32) {
        let rk = handle.pointer
        let queue = rd_kafka_queue_get_consumer(rk)
        defer { if let queue { rd_kafka_queue_destroy(queue) } }
        let slots = UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>.allocate(capacity: maxBatch)
        defer { slots.deallocate() }
        var copier = RDKafkaMessageCopier()
        while shared.running.load(ordering: .relaxed) {
            // Block until the first message (serving rebalances and errors meanwhile), then take what
            // else is already fetched without waiting: low latency at low rates, full batches at high ones.
            guard let first = rd_kafka_consumer_poll(rk, pollMilliseconds) else {
                shared.dispatch { handler, consumer in handler.consumerDidPoll(consumer) }
                continue
            }
            slots[0] = first
            var count = 1
            if maxBatch > 1, let queue {
                count += max(0, rd_kafka_consume_batch_queue(queue, 0, slots + 1, maxBatch - 1))
            }
            var batch: [KafkaMessage] = []
            batch.reserveCapacity(count)
            var errors: [KafkaError] = []
            for index in 0..<count {
                guard let message = slots[index] else { continue }
                defer { rd_kafka_message_destroy(message) }
                if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    batch.append(copier.copy(message))
                } else if message.pointee.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    errors.append(copier.error(message))
                }
            }
            if !batch.isEmpty {
                shared.dispatch { handler, consumer in handler.consumer(consumer, didReceive: batch) }
            }
            for error in errors {
                shared.logger.warning("kafka consumer error", metadata: [LogKey.error: "\(error)"])
                shared.dispatch { handler, consumer in handler.consumer(consumer, didFail: error) }
            }
            shared.dispatch { handler, consumer in handler.consumerDidPoll(consumer) }
        }
    }

    // MARK: Rebalance

    private func rebalance(
        rk: OpaquePointer,
        err: rd_kafka_resp_err_t,
        partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>,
        handler: any KafkaConsumerHandler
    ) {
        let list = RDKafkaTopicPartitionList.partitions(of: partitions)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        shared.rebalances.add(1, ordering: .relaxed)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            logger.info("kafka partitions assigned", metadata: [LogKey.partitions: "\(list)"])
            handler.consumer(self, rebalance: .assigned(list))
            let error =
                cooperative
                ? rd_kafka_incremental_assign(rk, partitions).map { KafkaError(consuming: $0, context: "incremental assign") }
                : {
                    let e = rd_kafka_assign(rk, partitions); return e == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(rdkafka: e, context: "assign")
                }()
            if let error {
                logger.error("kafka assign failed", metadata: [LogKey.error: "\(error)"])
                handler.consumer(self, didFail: error)
            } else {
                shared.assignment.withLock { $0.formUnion(list) }
            }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(rk) != 0
            logger.info(lost ? "kafka partitions lost" : "kafka partitions revoked", metadata: [LogKey.partitions: "\(list)"])
            handler.consumer(self, rebalance: lost ? .lost(list) : .revoked(list))
            if !lost {
                do {
                    try commitBlocking(timeout: revokeBudget())
                } catch {
                    logger.warning("commit on revoke failed; the next owner re-reads from the last committed offset", metadata: [LogKey.error: "\(error)"])
                }
            }
            let error =
                cooperative
                ? rd_kafka_incremental_unassign(rk, partitions).map { KafkaError(consuming: $0, context: "incremental unassign") }
                : {
                    let e = rd_kafka_assign(rk, nil); return e == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(rdkafka: e, context: "unassign")
                }()
            if let error { logger.error("kafka unassign failed", metadata: [LogKey.error: "\(error)"]) }
            shared.assignment.withLock { $0.subtract(list) }
        default:
            let error = KafkaError(rdkafka: err, context: "rebalance")
            logger.error("kafka rebalance error; dropping the assignment", metadata: [LogKey.error: "\(error)"])
            if cooperative { rd_kafka_incremental_unassign(rk, partitions).map { rd_kafka_error_destroy($0) } } else { rd_kafka_assign(rk, nil) }
            shared.assignment.withLock { $0.removeAll() }
            handler.consumer(self, didFail: error)
        }
    }

    private func revokeBudget() -> Duration {
        let deadline = shared.closeDeadline.load(ordering: .relaxed)
        guard deadline != UInt64.max else { return revokeCommitTimeout }
        let now = Self.uptimeNanoseconds()
        let left = deadline > now ? Duration.nanoseconds(Int64(deadline - now)) : .zero
        return min(revokeCommitTimeout, max(left, .milliseconds(1)))
    }

    // MARK: Offsets

    /// Stores offsets for the next commit. Pass the offset of the *next* record to read (the last
    /// completed offset + 1), as ``OffsetWatermark`` computes it.
    ///
    /// - Throws: ``KafkaError`` naming the first partition that was rejected (for example one no
    ///   longer assigned to this member, code ``KafkaError/Code/state``).
    public func storeOffsets(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(offsets)
        let err = rd_kafka_offsets_store(handle.pointer, list.pointer)
        if let error = RDKafkaTopicPartitionList.firstError(in: list.pointer, context: "storing the offset of") {
            throw error
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(rdkafka: err, context: "storing offsets")
        }
    }

    /// Commits the stored offsets synchronously.
    ///
    /// - Throws: ``KafkaError/Code/timedOut`` when the coordinator does not answer within `timeout`,
    ///   or the broker's error. Having nothing to commit is not an error.
    public func commit(timeout: Duration = .seconds(10)) async throws(KafkaError) {
        let result: Result<Void, KafkaError> = await DedicatedThread.run(name: "verdict-commit") { [self] in
            do throws(KafkaError) {
                try commitBlocking(timeout: timeout)
                return .success(())
            } catch { return .failure(error) }
        }
        try result.get()
    }

    /// Blocking ``commit(timeout:)`` for callers on a dedicated thread (the handler, a rebalance).
    public func commitBlocking(timeout: Duration) throws(KafkaError) {
        let rk = handle.pointer
        guard let queue = rd_kafka_queue_new(rk) else { throw KafkaError(code: .state, message: "cannot create a queue for the commit") }
        defer { rd_kafka_queue_destroy(queue) }
        let err = rd_kafka_commit_queue(rk, nil, queue, nil, nil)
        if err == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdkafka: err, context: "committing offsets") }
        guard let event = rd_kafka_queue_poll(queue, timeout.timeoutMilliseconds) else {
            throw KafkaError.timedOut("committing offsets", after: timeout)
        }
        defer { rd_kafka_event_destroy(event) }
        let eventErr = rd_kafka_event_error(event)
        if eventErr == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
        if eventErr != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(rdkafka: eventErr, context: "committing offsets")
        }
        if let list = rd_kafka_event_topic_partition_list(event),
            let error = RDKafkaTopicPartitionList.firstError(in: list, context: "committing the offset of")
        {
            throw error
        }
    }

    /// The group's committed offsets for `partitions` (-1001 = none committed).
    public func committedOffsets(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [KafkaTopicPartitionOffset]
    {
        let handle = self.handle
        let result: Result<[KafkaTopicPartitionOffset], KafkaError> = await DedicatedThread.run(name: "verdict-committed") {
            let list = RDKafkaTopicPartitionList(partitions)
            let err = rd_kafka_committed(handle.pointer, list.pointer, timeout.timeoutMilliseconds)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { return .failure(KafkaError(rdkafka: err, context: "reading committed offsets")) }
            return .success(RDKafkaTopicPartitionList.offsets(of: list.pointer))
        }
        return try result.get()
    }

    /// Moves the fetch position of assigned partitions (used to rewind after an aborted transaction).
    public func seek(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration = .seconds(10)) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(offsets)
        if let error = rd_kafka_seek_partitions(handle.pointer, list.pointer, timeout.timeoutMilliseconds) {
            throw KafkaError(consuming: error, context: "seeking")
        }
        if let error = RDKafkaTopicPartitionList.firstError(in: list.pointer, context: "seeking") { throw error }
    }

    // MARK: Flow control

    /// Stops fetching from `partitions` (backpressure); records already fetched are still delivered.
    public func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(partitions)
        let err = rd_kafka_pause_partitions(handle.pointer, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdkafka: err, context: "pausing partitions") }
    }

    /// Resumes fetching from `partitions`.
    public func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(partitions)
        let err = rd_kafka_resume_partitions(handle.pointer, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdkafka: err, context: "resuming partitions") }
    }

    /// The partitions currently assigned to this member.
    public var assignment: [KafkaTopicPartition] {
        shared.assignment.withLock { $0.sorted() }
    }

    /// Rebalances (assign and revoke callbacks) seen so far.
    public var rebalanceCount: Int { shared.rebalances.load(ordering: .relaxed) }

    /// Asks the brokers for metadata of `topics`.
    ///
    /// - Throws: ``KafkaError/Code/brokerUnreachable`` naming the bootstrap servers when none answers
    ///   within `timeout`; ``KafkaError/Code/unknownTopic`` naming the first topic that does not exist.
    public func checkTopics(_ topics: [String], timeout: Duration = .seconds(5)) async throws(KafkaError) {
        let handle = self.handle
        let brokers = configuration.client.bootstrapServers
        let result: Result<Void, KafkaError> = await DedicatedThread.run(name: "verdict-meta") {
            do throws(KafkaError) {
                try handle.checkTopics(topics, timeout: timeout, brokers: brokers)
                return .success(())
            } catch { return .failure(error) }
        }
        try result.get()
    }

    /// The consumer group metadata for `send_offsets_to_transaction`; the caller destroys it.
    func groupMetadata() -> OpaquePointer {
        rd_kafka_consumer_group_metadata(handle.pointer)
    }

    // MARK: Close

    /// Leaves the group and destroys the client, within `timeout` even when brokers are unreachable.
    ///
    /// Stops the poll thread, revokes the assignment (the handler sees `.revoked` and the stored
    /// offsets are committed, each step bounded by what is left of `timeout`), leaves the group and
    /// destroys the client. Past the deadline the rest is abandoned.
    ///
    /// - Returns: true when everything finished before the deadline.
    @discardableResult
    public func close(timeout: Duration = .seconds(10)) async -> Bool {
        guard !shared.closed.exchange(true, ordering: .relaxed) else { return true }
        let start = Self.uptimeNanoseconds()
        let deadline = start + UInt64(max(0, timeout.milliseconds)) * 1_000_000
        shared.closeDeadline.store(deadline, ordering: .relaxed)
        shared.running.store(false, ordering: .relaxed)
        let thread = pollThread.withLock { thread in
            defer { thread = nil }
            return thread
        }
        let handle = self.handle
        let logger = self.logger
        let clean: Bool = await DedicatedThread.run(name: "verdict-close") {
            // The poll thread may be inside a handler (a drain that waits for a broker): wait for it
            // until the deadline only. A thread still running then may still use the client, so the
            // client is not destroyed; the process is exiting and the group expires the member.
            let joinStarted = Self.uptimeNanoseconds()
            if let thread, !thread.join(timeout: .nanoseconds(Int64(deadline > joinStarted ? deadline - joinStarted : 0))) {
                logger.error("the poll thread did not stop before the close deadline; the consumer is abandoned, not destroyed")
                return false
            }
            let rk = handle.pointer
            var clean = true
            // Close through the consumer queue and serve it with consumer_poll, which runs the
            // rebalance callback (the handler sees the final revoke) and hands out any remaining
            // records, which are dropped unprocessed (their offsets were never stored).
            if let queue = rd_kafka_queue_get_consumer(rk) {
                if let error = rd_kafka_consumer_close_queue(rk, queue) {
                    logger.warning("kafka consumer close failed", metadata: [LogKey.error: "\(KafkaError(consuming: error))"])
                    clean = false
                }
                while rd_kafka_consumer_closed(rk) == 0 {
                    let now = Self.uptimeNanoseconds()
                    guard now < deadline else { clean = false; break }
                    if let message = rd_kafka_consumer_poll(rk, Int32(min(100, (deadline - now) / 1_000_000 + 1))) {
                        rd_kafka_message_destroy(message)
                    }
                }
                rd_kafka_queue_destroy(queue)
            }
            let now = Self.uptimeNanoseconds()
            let left = Duration.nanoseconds(Int64(deadline > now ? deadline - now : 0))
            if !handle.destroy(timeout: max(left, .milliseconds(200)), flags: Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)) {
                clean = false
            }
            return clean
        }
        shared.target.withLock { $0 = nil }
        shared.assignment.withLock { $0.removeAll() }
        if clean {
            logger.info("kafka consumer closed")
        } else {
            logger.warning("kafka consumer close hit its deadline; the group coordinator will expire this member", metadata: [LogKey.timeout: "\(timeout)"])
        }
        return clean
    }

    static func uptimeNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
