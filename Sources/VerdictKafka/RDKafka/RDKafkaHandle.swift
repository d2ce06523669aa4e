import CRdKafka
import Logging
import Synchronization

/// What librdkafka calls back into Swift. Built before the handle and immutable afterwards, so the
/// C callbacks (which may run on librdkafka's internal threads) read it without a lock.
final class RDKafkaCallbacks: Sendable {
    let logger: Logger
    let onError: @Sendable (KafkaError) -> Void
    let onStatistics: (@Sendable (KafkaStatistics) -> Void)?
    let onDelivery: (@Sendable (UnsafePointer<rd_kafka_message_t>) -> Void)?
    let onRebalance: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Void)?

    init(
        logger: Logger,
        onError: @escaping @Sendable (KafkaError) -> Void,
        onStatistics: (@Sendable (KafkaStatistics) -> Void)? = nil,
        onDelivery: (@Sendable (UnsafePointer<rd_kafka_message_t>) -> Void)? = nil,
        onRebalance: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Void)? = nil
    ) {
        self.logger = logger
        self.onError = onError
        self.onStatistics = onStatistics
        self.onDelivery = onDelivery
        self.onRebalance = onRebalance
    }

    static func from(_ rk: OpaquePointer?) -> RDKafkaCallbacks? {
        guard let rk, let opaque = rd_kafka_opaque(rk) else { return nil }
        return Unmanaged<RDKafkaCallbacks>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// Owns one `rd_kafka_t` (a producer or a consumer) and the callbacks it calls.
///
/// librdkafka documents `rd_kafka_t` as thread-safe: produce, poll, commit, pause and metadata calls
/// may come from any thread, hence `@unchecked Sendable`. Destroy is the exception: it happens once,
/// guarded by `destroyed`.
final class RDKafkaHandle: @unchecked Sendable {
    enum Kind { case producer, consumer }

    let pointer: OpaquePointer
    let kind: Kind
    let callbacks: RDKafkaCallbacks
    private let destroyed = Atomic<Bool>(false)

    /// Creates the client.
    ///
    /// - Throws: ``KafkaError`` (configuration) naming the property librdkafka refused.
    init(kind: Kind, properties: [String: String], callbacks: RDKafkaCallbacks) throws(KafkaError) {
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        for key in properties.keys.sorted() {
            let value = properties[key]!
            if rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let shown = KafkaRedaction.isSecret(key) ? "[redacted]" : value
                throw .configuration("librdkafka refused \(key)=\(shown): \(String(cBuffer: errstr))")
            }
        }
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(callbacks).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let callbacks = RDKafkaCallbacks.from(rk) else { return }
            let text = message.map { String(cString: $0) } ?? ""
            let fac = facility.map { String(cString: $0) } ?? ""
            callbacks.logger.log(level: .init(syslog: level), "\(text)", metadata: [LogKey.facility: "\(fac)"])
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, _ in
            guard let callbacks = RDKafkaCallbacks.from(rk) else { return }
            let detail = reason.map { String(cString: $0) }
            var error = KafkaError(rdkafka: rd_kafka_resp_err_t(rawValue: err), detail: detail)
            if rd_kafka_resp_err_t(rawValue: err) == RD_KAFKA_RESP_ERR__FATAL, let rk {
                var fatal = [CChar](repeating: 0, count: 512)
                let code = rd_kafka_fatal_error(rk, &fatal, fatal.count)
                error = KafkaError(rdkafka: code, detail: String(cBuffer: fatal), context: "fatal error")
                error.code = .fatal
                error.isFatal = true
            }
            callbacks.onError(error)
        }
        if callbacks.onStatistics != nil {
            rd_kafka_conf_set_stats_cb(conf) { rk, json, length, _ in
                guard let callbacks = RDKafkaCallbacks.from(rk), let json else { return 0 }
                let bytes = UnsafeRawBufferPointer(start: json, count: length)
                do {
                    callbacks.onStatistics?(try KafkaStatistics(json: bytes))
                } catch {
                    callbacks.logger.warning("cannot parse librdkafka statistics", metadata: [LogKey.error: "\(error)"])
                }
                return 0  // librdkafka frees the JSON buffer
            }
        }
        if callbacks.onDelivery != nil {
            rd_kafka_conf_set_dr_msg_cb(conf) { rk, message, _ in
                guard let callbacks = RDKafkaCallbacks.from(rk), let message else { return }
                callbacks.onDelivery?(message)
            }
        }
        if callbacks.onRebalance != nil {
            rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, _ in
                guard let rk, let callbacks = RDKafkaCallbacks.from(rk), let partitions else { return }
                callbacks.onRebalance?(rk, err, partitions)
            }
        }
        // On success rd_kafka_new owns `conf`; on failure the caller still does.
        guard let rk = rd_kafka_new(kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw .configuration("cannot create the Kafka \(kind) client: \(String(cBuffer: errstr))")
        }
        self.pointer = rk
        self.kind = kind
        self.callbacks = callbacks
    }

    /// Destroys the handle, waiting at most `timeout`. librdkafka's destroy can block on brokers that
    /// stopped answering; past the deadline it finishes on a detached thread and this returns false.
    @discardableResult
    func destroy(timeout: Duration, flags: Int32 = 0) -> Bool {
        guard !destroyed.exchange(true, ordering: .acquiringAndReleasing) else { return true }
        let rk = UncheckedPointer(pointer)
        let callbacks = self.callbacks
        return DedicatedThread.runBounded(name: "rdk-destroy", timeout: timeout) {
            rd_kafka_destroy_flags(rk.pointer, flags)
            // Keeps the callbacks alive for as long as destroy may still call them.
            withExtendedLifetime(callbacks) {}
        }
    }

    deinit {
        destroy(timeout: .seconds(10), flags: Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
    }

    /// librdkafka's name for this client instance (e.g. `verdict#producer-1`).
    var name: String { String(cString: rd_kafka_name(pointer)) }

    /// Asks the brokers for the metadata of `topics`, failing clearly when a broker cannot be reached
    /// or a topic does not exist.
    func checkTopics(_ topics: [String], timeout: Duration, brokers: [String]) throws(KafkaError) {
        _ = try partitionCounts(topics, timeout: timeout, brokers: brokers)
    }

    /// The partition count of each of `topics` (patterns starting with `^` are not looked up).
    ///
    /// - Throws: ``KafkaError/Code/brokerUnreachable`` naming `brokers`, ``KafkaError/Code/unknownTopic``
    ///   naming the first missing topic, or the broker's error for a topic.
    func partitionCounts(_ topics: [String], timeout: Duration, brokers: [String]) throws(KafkaError) -> [String: Int] {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(pointer, 1, nil, &metadata, timeout.timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            let brokerList = brokers.joined(separator: ",")
            throw KafkaError(
                code: .brokerUnreachable,
                message: "cannot reach the Kafka brokers \(brokerList) within \(timeout) (\(String(cString: rd_kafka_err2str(err)))); "
                    + "check bootstrap.servers, the network path and the security protocol",
                librdkafkaName: String(cString: rd_kafka_err2name(err)),
                isRetriable: true
            )
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        var found: [String: (err: rd_kafka_resp_err_t, partitions: Int)] = [:]
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let topic = metadata.pointee.topics[index]
            found[String(cString: topic.topic)] = (topic.err, Int(max(topic.partition_cnt, 0)))
        }
        var counts: [String: Int] = [:]
        for topic in topics where !topic.hasPrefix("^") {
            guard let entry = found[topic] else {
                throw KafkaError(
                    code: .unknownTopic,
                    message: "topic '\(topic)' does not exist on the cluster at \(brokers.joined(separator: ",")); "
                        + "create it (Verdict does not auto-create topics) or fix its name in the configuration"
                )
            }
            if entry.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(rdkafka: entry.err, context: "topic '\(topic)'")
            }
            counts[topic] = entry.partitions
        }
        return counts
    }
}

extension Logger.Level {
    /// librdkafka logs with syslog levels.
    init(syslog level: Int32) {
        switch level {
        case ...2: self = .critical
        case 3: self = .error
        case 4: self = .warning
        case 5, 6: self = .info
        default: self = .debug
        }
    }
}

/// Moves a C handle into a @Sendable closure; the handle's own thread-safety rules still apply.
struct UncheckedPointer: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}

extension String {
    /// A String from a NUL-terminated C buffer librdkafka wrote into.
    init(cBuffer: [CChar]) {
        let bytes = cBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self.init(decoding: bytes, as: UTF8.self)
    }
}
