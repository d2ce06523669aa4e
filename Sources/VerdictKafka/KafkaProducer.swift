import CRdKafka
public import Logging
import Synchronization

/// Produces records to Kafka and hands back one delivery report per record.
///
/// - Delivery reports arrive on the producer's own poll thread (blocked in `rd_kafka_poll`, not
///   sleeping), through the closure given at creation, one call per batch librdkafka served; keep
///   it short (record the result, signal).
/// - ``send(_:id:)`` never blocks: when the local queue is full it throws
///   ``KafkaError/Code/queueFull`` so the caller can pause or wait with ``waitForQueueSpace(timeout:)``.
/// - Idempotence is on by default (see ``KafkaProducerConfiguration``).
public final class KafkaProducer: Sendable {
    private let handle: RDKafkaHandle
    private let configuration: KafkaProducerConfiguration
    private let logger: Logger
    /// `rd_kafka_topic_t` handles by name, created once; librdkafka's topic handles are thread-safe.
    private let topics = Mutex<[String: TopicHandle]>([:])
    private let lastTopic = Mutex<(name: String, handle: TopicHandle)?>(nil)
    private let pollThread: Mutex<DedicatedThread?>
    private let shared = Shared()
    /// Reports collected by the delivery callback until the poll that served them returns.
    private let deliveries = DeliveryReportBuffer()
    private let deliveryReports: @Sendable ([KafkaDeliveryReport]) -> Void

    /// State the poll thread and the delivery callback share with the producer.
    private final class Shared: Sendable {
        let running = Atomic<Bool>(true)
        /// Threads blocked in waitForQueueSpace; the callback signals only when there are some.
        let waiters = Atomic<Int>(0)
        let deliverySignal = WaitSignal()
    }

    private final class TopicHandle: @unchecked Sendable {
        // An rd_kafka_topic_t is reference counted and safe to use from any thread (librdkafka docs).
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer) { self.pointer = pointer }
        deinit { rd_kafka_topic_destroy(pointer) }
    }

    /// Creates a producer and starts its poll thread.
    ///
    /// - Parameters:
    ///   - configuration: Producer settings; secrets are resolved now.
    ///   - logger: Receives librdkafka's log lines and state changes.
    ///   - onStatistics: Called with parsed statistics every `statisticsInterval`, if set.
    ///   - onError: Client-level errors (all brokers down, fatal errors). Default: logged.
    ///   - deliveryReports: Called once per record on the poll thread.
    /// - Throws: ``KafkaError`` (configuration) when librdkafka refuses a property.
    public convenience init(
        configuration: KafkaProducerConfiguration,
        logger: Logger,
        onStatistics: (@Sendable (KafkaStatistics) -> Void)? = nil,
        onError: (@Sendable (KafkaError) -> Void)? = nil,
        deliveryReports: @escaping @Sendable (KafkaDeliveryReport) -> Void
    ) throws(KafkaError) {
        try self.init(
            configuration: configuration, logger: logger, onStatistics: onStatistics, onError: onError,
            deliveryReportBatches: { reports in
                for report in reports { deliveryReports(report) }
            })
    }

    /// Creates a producer whose delivery reports arrive in batches, and starts its poll thread.
    ///
    /// - Parameters:
    ///   - configuration: Producer settings; secrets are resolved now.
    ///   - logger: Receives librdkafka's log lines and state changes.
    ///   - onStatistics: Called with parsed statistics every `statisticsInterval`, if set.
    ///   - onError: Client-level errors (all brokers down, fatal errors). Default: logged.
    ///   - deliveryReportBatches: Called with the reports of each batch librdkafka served, on the
    ///     poll thread (or on the thread of a flush or a transaction commit that served them), never
    ///     with an empty array. Every record gets exactly one report.
    /// - Throws: ``KafkaError`` (configuration) when librdkafka refuses a property.
    public init(
        configuration: KafkaProducerConfiguration,
        logger: Logger,
        onStatistics: (@Sendable (KafkaStatistics) -> Void)? = nil,
        onError: (@Sendable (KafkaError) -> Void)? = nil,
        deliveryReportBatches: @escaping @Sendable ([KafkaDeliveryReport]) -> Void
    ) throws(KafkaError) {
        let shared = self.shared
        let buffer = self.deliveries
        self.deliveryReports = deliveryReportBatches
        let errorLogger = logger
        let callbacks = RDKafkaCallbacks(
            logger: logger,
            onError: onError ?? { error in errorLogger.error("kafka producer error", metadata: [LogKey.error: "\(error)"]) },
            onStatistics: onStatistics,
            onDelivery: { message in buffer.add(message) }
        )
        let properties = try configuration.librdkafkaProperties()
        handle = try RDKafkaHandle(kind: .producer, properties: properties, callbacks: callbacks)
        self.configuration = configuration
        self.logger = logger
        let handle = self.handle
        pollThread = Mutex(
            DedicatedThread(name: "verdict-dr") {
                while shared.running.load(ordering: .relaxed) {
                    // Reports collected by another thread's flush are handed on here too, at the latest
                    // one poll timeout later.
                    let served = rd_kafka_poll(handle.pointer, 100)
                    buffer.drain(to: deliveryReportBatches)
                    // Waiters wake once per served batch of reports, not once per report: a wake-up per
                    // report cost a context switch per record when the relay waited at its bound.
                    if served > 0 && shared.waiters.load(ordering: .relaxed) > 0 {
                        shared.deliverySignal.broadcast()
                    }
                }
            })
        logger.info(
            "kafka producer created",
            metadata: [
                LogKey.client: "\(handle.name)",
                LogKey.config: "\(KafkaRedaction.describe(properties))",
            ])
    }

    deinit {
        stopPolling()
    }

    /// Enqueues a record. Returns at once; the outcome arrives as a delivery report with `id`.
    ///
    /// - Parameters:
    ///   - record: Topic, optional partition, key, value (nil for a tombstone) and headers.
    ///   - id: Echoed in the record's ``KafkaDeliveryReport``.
    /// - Throws: ``KafkaError/Code/queueFull`` when the local queue is full (back off and retry);
    ///   ``KafkaError/Code/unknownTopic`` for an unknown partition; ``KafkaError/Code/fatal`` when the
    ///   producer is unusable.
    public func send(_ record: KafkaProducerRecord, id: UInt64) throws(KafkaError) {
        let topic = try topicHandle(record.topic)
        var headers: OpaquePointer?
        if !record.headers.isEmpty {
            headers = rd_kafka_headers_new(record.headers.count)
            for header in record.headers {
                if let value = header.value {
                    value.withUnsafeBytes { bytes in
                        _ = rd_kafka_header_add(headers, header.name, -1, bytes.baseAddress, bytes.count)
                    }
                } else {
                    _ = rd_kafka_header_add(headers, header.name, -1, nil, 0)
                }
            }
        }
        let error: OpaquePointer? = withOptionalBytes(record.key) { key in
            withOptionalBytes(record.value) { value in
                withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 8) { vus in
                    var count = 0
                    func append(_ type: rd_kafka_vtype_t, _ fill: (inout rd_kafka_vu_t) -> Void) {
                        var vu = rd_kafka_vu_t()
                        vu.vtype = type
                        fill(&vu)
                        vus.initializeElement(at: count, to: vu)
                        count += 1
                    }
                    append(RD_KAFKA_VTYPE_RKT) { $0.u.rkt = topic.pointer }
                    append(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = Int32(record.partition ?? Int(RD_KAFKA_PARTITION_UA)) }
                    // RD_KAFKA_MSG_F_COPY: librdkafka copies key and value, so Swift's buffers may go away.
                    append(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
                    append(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(id)) }
                    if let value {
                        append(RD_KAFKA_VTYPE_VALUE) {
                            $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                            $0.u.mem.size = value.count
                        }
                    }
                    if let key {
                        append(RD_KAFKA_VTYPE_KEY) {
                            $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                            $0.u.mem.size = key.count
                        }
                    }
                    if let headers {
                        append(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = headers }
                    }
                    if let timestamp = record.timestamp {
                        append(RD_KAFKA_VTYPE_TIMESTAMP) { $0.u.i64 = timestamp }
                    }
                    return rd_kafka_produceva(handle.pointer, vus.baseAddress, count)
                }
            }
        }
        if let error {
            // On failure the headers were not taken over by librdkafka.
            if let headers { rd_kafka_headers_destroy(headers) }
            throw KafkaError(consuming: error, context: "producing to topic \(record.topic)")
        }
    }

    /// Like ``send(_:id:)``, but when the queue is full blocks the calling thread (a dedicated thread,
    /// never Swift's cooperative pool) until delivery reports make room, for at most `timeout`.
    ///
    /// - Throws: ``KafkaError/Code/queueFull`` when there was no room within `timeout`, or any error
    ///   ``send(_:id:)`` throws.
    public func sendBlocking(_ record: KafkaProducerRecord, id: UInt64, timeout: Duration) throws(KafkaError) {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            do {
                try send(record, id: id)
                return
            } catch {
                guard error.code == .queueFull, clock.now < deadline else { throw error }
                waitForQueueSpace(timeout: .milliseconds(100))
            }
        }
    }

    /// Blocks the calling thread until a delivery report frees queue space, or `timeout` passes.
    /// Call after ``send(_:id:)`` threw ``KafkaError/Code/queueFull``, then send again. Never call it
    /// from Swift's cooperative pool.
    public func waitForQueueSpace(timeout: Duration) {
        shared.waiters.add(1, ordering: .relaxed)
        defer { shared.waiters.subtract(1, ordering: .relaxed) }
        shared.deliverySignal.wait(timeout: timeout)
    }

    /// Records in the producer's queues or in flight to the brokers, not yet reported.
    public var outstandingCount: Int { Int(rd_kafka_outq_len(handle.pointer)) }

    /// Waits until every enqueued record has its delivery report, or `timeout` passes.
    ///
    /// - Returns: The number of records still without a report (0 when all were reported).
    public func flush(timeout: Duration) async -> Int {
        let handle = self.handle
        let (deliveries, deliveryReports) = (self.deliveries, self.deliveryReports)
        return await DedicatedThread.run(name: "verdict-flush") {
            _ = rd_kafka_flush(handle.pointer, timeout.timeoutMilliseconds)
            // The reports this flush served reach the caller before it returns.
            deliveries.drain(to: deliveryReports)
            return Int(rd_kafka_outq_len(handle.pointer))
        }
    }

    /// Blocking ``flush(timeout:)``, for callers already on a dedicated thread (a poll thread or a
    /// rebalance callback).
    public func flushBlocking(timeout: Duration) -> Int {
        _ = rd_kafka_flush(handle.pointer, timeout.timeoutMilliseconds)
        deliveries.drain(to: deliveryReports)
        return outstandingCount
    }

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

    /// Flushes for at most `timeout`, reports what is left as failed (purged), and destroys the client.
    ///
    /// - Returns: The number of records that were not delivered before the deadline (each also got a
    ///   failed delivery report).
    @discardableResult
    public func close(timeout: Duration) async -> Int {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        let left = await flush(timeout: timeout)
        if left > 0 {
            logger.warning("kafka producer closing with undelivered records; they are reported as purged", metadata: [LogKey.undelivered: "\(left)"])
            rd_kafka_purge(handle.pointer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
            // Serve the purge reports so the caller hears about every record.
            _ = await flush(timeout: .milliseconds(500))
        }
        stopPolling()
        topics.withLock { $0.removeAll() }
        lastTopic.withLock { $0 = nil }
        let remaining = max(.milliseconds(100), deadline - clock.now)
        if !handle.destroy(timeout: remaining) {
            logger.warning("kafka producer did not shut down within its deadline; abandoning it")
        }
        // Reports served after the poll thread stopped (by the destroy) still reach the caller.
        deliveries.drain(to: deliveryReports)
        logger.info("kafka producer closed")
        return left
    }

    private func stopPolling() {
        guard shared.running.exchange(false, ordering: .relaxed) else { return }
        rd_kafka_yield(handle.pointer)
        let thread = pollThread.withLock { thread in
            defer { thread = nil }
            return thread
        }
        thread?.join()
    }

    private func topicHandle(_ name: String) throws(KafkaError) -> TopicHandle {
        // Consecutive sends mostly go to one topic: comparing with the last one's name is cheaper
        // than hashing it (equal Strings that share storage compare without reading their bytes).
        if let existing = lastTopic.withLock({ last in last.flatMap { $0.name == name ? $0.handle : nil } }) { return existing }
        if let existing = topics.withLock({ $0[name] }) {
            lastTopic.withLock { $0 = (name, existing) }
            return existing
        }
        guard let created = rd_kafka_topic_new(handle.pointer, name, nil) else {
            throw KafkaError(rdkafka: rd_kafka_last_error(), context: "creating a handle for topic \(name)")
        }
        let topic = TopicHandle(created)
        return topics.withLock { topics in
            if let raced = topics[name] { return raced }
            topics[name] = topic
            return topic
        }
    }

    // MARK: Transactions (exactly-once)

    /// Registers the transactional id with the cluster and fences older instances using it.
    /// Call once before the first transaction. Requires ``KafkaProducerConfiguration/transactionalID``.
    public func initTransactions(timeout: Duration) async throws(KafkaError) {
        try await transactionCall("initializing transactions") { rk in rd_kafka_init_transactions(rk, timeout.timeoutMilliseconds) }
    }

    /// Starts a transaction; records sent afterwards belong to it.
    public func beginTransaction() throws(KafkaError) {
        if let error = rd_kafka_begin_transaction(handle.pointer) {
            throw KafkaError(consuming: error, context: "beginning a transaction")
        }
    }

    /// Adds the consumer's offsets to the transaction, so they commit atomically with its records.
    ///
    /// - Parameters:
    ///   - offsets: The next offset to read per partition.
    ///   - consumer: The consumer whose group the offsets belong to.
    public func sendOffsetsToTransaction(_ offsets: [KafkaTopicPartitionOffset], consumer: KafkaConsumer, timeout: Duration) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let metadata = consumer.groupMetadata()
        defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
        let metadataAddress = UInt(bitPattern: metadata)
        try await transactionCall("sending offsets to the transaction") { rk in
            let list = RDKafkaTopicPartitionList(offsets)
            return rd_kafka_send_offsets_to_transaction(rk, list.pointer, OpaquePointer(bitPattern: metadataAddress), timeout.timeoutMilliseconds)
        }
    }

    /// Commits the transaction (flushing its records first).
    public func commitTransaction(timeout: Duration) async throws(KafkaError) {
        try await transactionCall("committing the transaction") { rk in rd_kafka_commit_transaction(rk, timeout.timeoutMilliseconds) }
    }

    /// Aborts the transaction: its records are never visible to read_committed consumers.
    public func abortTransaction(timeout: Duration) async throws(KafkaError) {
        try await transactionCall("aborting the transaction") { rk in rd_kafka_abort_transaction(rk, timeout.timeoutMilliseconds) }
    }

    // Blocking forms for the poll thread, which runs a transaction per batch.

    /// Blocking ``initTransactions(timeout:)``; never call it from Swift's cooperative pool.
    public func initTransactionsBlocking(timeout: Duration) throws(KafkaError) {
        if let error = rd_kafka_init_transactions(handle.pointer, timeout.timeoutMilliseconds) {
            throw KafkaError(consuming: error, context: "initializing transactions")
        }
    }

    /// Blocking ``sendOffsetsToTransaction(_:consumer:timeout:)``.
    public func sendOffsetsToTransactionBlocking(_ offsets: [KafkaTopicPartitionOffset], consumer: KafkaConsumer, timeout: Duration) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let metadata = consumer.groupMetadata()
        defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
        let list = RDKafkaTopicPartitionList(offsets)
        if let error = rd_kafka_send_offsets_to_transaction(handle.pointer, list.pointer, metadata, timeout.timeoutMilliseconds) {
            throw KafkaError(consuming: error, context: "sending offsets to the transaction")
        }
    }

    /// Blocking ``commitTransaction(timeout:)``.
    public func commitTransactionBlocking(timeout: Duration) throws(KafkaError) {
        // A commit flushes, serving reports on this thread: they reach the caller before it returns.
        defer { deliveries.drain(to: deliveryReports) }
        if let error = rd_kafka_commit_transaction(handle.pointer, timeout.timeoutMilliseconds) {
            throw KafkaError(consuming: error, context: "committing the transaction")
        }
    }

    /// Blocking ``abortTransaction(timeout:)``.
    public func abortTransactionBlocking(timeout: Duration) throws(KafkaError) {
        defer { deliveries.drain(to: deliveryReports) }
        if let error = rd_kafka_abort_transaction(handle.pointer, timeout.timeoutMilliseconds) {
            throw KafkaError(consuming: error, context: "aborting the transaction")
        }
    }

    private func transactionCall(_ what: String, _ body: @escaping @Sendable (OpaquePointer) -> OpaquePointer?) async throws(KafkaError) {
        let handle = self.handle
        let (deliveries, deliveryReports) = (self.deliveries, self.deliveryReports)
        let result: KafkaError? = await DedicatedThread.run(name: "verdict-txn") {
            defer { deliveries.drain(to: deliveryReports) }
            return body(handle.pointer).map { KafkaError(consuming: $0, context: what) }
        }
        if let result { throw result }
    }
}

extension KafkaDeliveryReport {
    init(_ message: UnsafePointer<rd_kafka_message_t>, topic: String) {
        let m = message.pointee
        let id = UInt64(UInt(bitPattern: m._private))
        if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            self.init(id: id, topic: topic, partition: Int(m.partition), offset: m.offset >= 0 ? m.offset : nil, error: nil)
        } else {
            let detail = String(cString: rd_kafka_err2str(m.err))
            let error = KafkaError(rdkafka: m.err, detail: detail, context: "delivering to \(topic)[\(m.partition)]")
            // librdkafka still holds the record's bytes and headers in its report (not its
            // timestamp: rd_kafka_message_timestamp answers "not available" for a failed record).
            let record = KafkaProducerRecord(
                topic: topic, partition: m.partition >= 0 ? Int(m.partition) : nil,
                key: m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) },
                value: m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) },
                headers: RDKafkaMessageCopier.headers(of: message))
            self.init(id: id, topic: topic, partition: Int(m.partition), offset: nil, error: error, record: record)
        }
    }
}

/// Calls `body` with the bytes of `array`, or nil when `array` is nil.
@inline(__always)
func withOptionalBytes<R>(_ array: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBytes { body($0) }
}
