import CRdKafka
public import Logging

/// Cluster administration Verdict needs: creating topics (for the development broker, tests and the
/// demo) and checking that topics exist.
public final class KafkaAdmin: Sendable {
    private let handle: RDKafkaHandle
    private let configuration: KafkaClientConfiguration

    /// Creates an admin client.
    ///
    /// - Throws: ``KafkaError`` (configuration) when librdkafka refuses a property.
    public init(configuration: KafkaClientConfiguration, logger: Logger) throws(KafkaError) {
        var properties = try configuration.baseProperties()
        properties.merge(configuration.properties) { _, passThrough in passThrough }
        let callbacks = RDKafkaCallbacks(
            logger: logger,
            onError: { error in
                logger.debug("kafka admin client error", metadata: [LogKey.error: "\(error)"])
            })
        handle = try RDKafkaHandle(kind: .producer, properties: properties, callbacks: callbacks)
        self.configuration = configuration
    }

    /// Creates topics.
    ///
    /// - Parameters:
    ///   - topics: Name and partition count of each topic.
    ///   - replicationFactor: Replicas per partition; -1 uses the broker's default.
    ///   - ignoreExisting: Treat "topic already exists" as success.
    ///   - timeout: How long the whole request may take.
    /// - Throws: ``KafkaError`` naming the first topic the broker refused, or
    ///   ``KafkaError/Code/timedOut`` when the broker did not answer.
    public func createTopics(
        _ topics: [(name: String, partitions: Int)],
        replicationFactor: Int = -1,
        ignoreExisting: Bool = true,
        timeout: Duration = .seconds(10)
    ) async throws(KafkaError) {
        let handle = self.handle
        let requests = topics.map { ($0.name, $0.partitions) }
        let result: KafkaError? = await DedicatedThread.run(name: "verdict-admin") {
            Self.createTopicsBlocking(handle: handle, requests, replicationFactor: replicationFactor, ignoreExisting: ignoreExisting, timeout: timeout)
        }
        if let result { throw result }
    }

    /// Asks the brokers for metadata of `topics`.
    ///
    /// - Throws: ``KafkaError/Code/brokerUnreachable`` naming the bootstrap servers;
    ///   ``KafkaError/Code/unknownTopic`` naming the first missing topic.
    public func checkTopics(_ topics: [String], timeout: Duration = .seconds(5)) async throws(KafkaError) {
        let handle = self.handle
        let brokers = configuration.bootstrapServers
        let result: KafkaError? = await DedicatedThread.run(name: "verdict-meta") {
            do throws(KafkaError) {
                try handle.checkTopics(topics, timeout: timeout, brokers: brokers)
                return nil
            } catch { return error }
        }
        if let result { throw result }
    }

    private static func createTopicsBlocking(
        handle: RDKafkaHandle,
        _ topics: [(String, Int)],
        replicationFactor: Int,
        ignoreExisting: Bool,
        timeout: Duration
    ) -> KafkaError? {
        let rk = handle.pointer
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for (name, partitions) in topics {
            guard let topic = rd_kafka_NewTopic_new(name, Int32(partitions), Int32(replicationFactor), &errstr, errstr.count) else {
                return KafkaError(code: .invalidArgument, message: "topic \(name): \(String(cBuffer: errstr))")
            }
            newTopics.append(topic)
        }
        guard let queue = rd_kafka_queue_new(rk) else { return KafkaError(code: .state, message: "cannot create an admin queue") }
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeout.timeoutMilliseconds, &errstr, errstr.count)
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeout.timeoutMilliseconds, &errstr, errstr.count)
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(rk, buffer.baseAddress, buffer.count, options, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, (timeout + .seconds(1)).timeoutMilliseconds) else {
            return KafkaError.timedOut("creating topics \(topics.map(\.0))", after: timeout)
        }
        defer { rd_kafka_event_destroy(event) }
        let eventErr = rd_kafka_event_error(event)
        if eventErr != RD_KAFKA_RESP_ERR_NO_ERROR {
            let detail = rd_kafka_event_error_string(event).map { String(cString: $0) }
            return KafkaError(rdkafka: eventErr, detail: detail, context: "creating topics")
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else { return nil }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return nil }
        for index in 0..<count {
            let topicResult = results[index]
            let err = rd_kafka_topic_result_error(topicResult)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR || (ignoreExisting && err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) { continue }
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let detail = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) }
            return KafkaError(rdkafka: err, detail: detail, context: "creating topic \(name)")
        }
        return nil
    }
}
