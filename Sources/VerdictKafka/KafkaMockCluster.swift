import CRdKafka
public import Logging

/// librdkafka's in-process mock Kafka cluster, for tests of failure handling without a real broker:
/// brokers can be taken down and brought back, and requests can be made to fail with chosen errors.
/// It supports idempotent and transactional producers and consumer groups.
public final class KafkaMockCluster: @unchecked Sendable {
    // The mock cluster's functions are thread-safe (they post operations to its own thread).
    private let host: RDKafkaHandle
    private let cluster: OpaquePointer

    /// Kafka protocol request types whose handling can fail on purpose.
    public enum RequestKind: Int16, Sendable {
        case produce = 0
        case fetch = 1
        case listOffsets = 2
        case metadata = 3
        case offsetCommit = 8
        case offsetFetch = 9
        case findCoordinator = 10
        case joinGroup = 11
        case heartbeat = 12
        case syncGroup = 14
        case initProducerID = 22
        case addPartitionsToTransaction = 24
        case addOffsetsToTransaction = 25
        case endTransaction = 26
        case transactionOffsetCommit = 28
    }

    /// Broker errors a request can be made to fail with.
    public enum InjectedError: Sendable, Hashable {
        case notLeaderForPartition
        case requestTimedOut
        case notEnoughReplicas
        case notEnoughReplicasAfterAppend
        case coordinatorNotAvailable
        case notCoordinator
        case concurrentTransactions
        case unknownServerError
        case invalidProducerEpoch
        case producerFenced
        case rebalanceInProgress
        case messageTooLarge
        case topicAuthorizationFailed

        var code: rd_kafka_resp_err_t {
            switch self {
            case .notLeaderForPartition: RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION
            case .requestTimedOut: RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT
            case .notEnoughReplicas: RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS
            case .notEnoughReplicasAfterAppend: RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND
            case .coordinatorNotAvailable: RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE
            case .notCoordinator: RD_KAFKA_RESP_ERR_NOT_COORDINATOR
            case .concurrentTransactions: RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS
            case .unknownServerError: RD_KAFKA_RESP_ERR_UNKNOWN
            case .invalidProducerEpoch: RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH
            case .producerFenced: RD_KAFKA_RESP_ERR_PRODUCER_FENCED
            case .rebalanceInProgress: RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS
            case .messageTooLarge: RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
            case .topicAuthorizationFailed: RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED
            }
        }
    }

    /// The `bootstrap.servers` value that reaches the mock brokers.
    public let bootstrapServers: String

    /// Starts a mock cluster.
    ///
    /// - Parameters:
    ///   - brokers: Number of brokers (ids 1...n).
    ///   - logger: Receives the host client's log lines.
    /// - Throws: ``KafkaError`` when the cluster cannot be created.
    public init(brokers: Int = 3, logger: Logger) throws(KafkaError) {
        let callbacks = RDKafkaCallbacks(logger: logger, onError: { _ in })
        // A client with no brokers hosts the cluster; it is never used to produce.
        host = try RDKafkaHandle(kind: .producer, properties: ["log_level": "3"], callbacks: callbacks)
        guard let cluster = rd_kafka_mock_cluster_new(host.pointer, Int32(brokers)) else {
            throw KafkaError(code: .state, message: "cannot start librdkafka's mock cluster")
        }
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
    }

    /// Creates a topic.
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdkafka: err, context: "creating mock topic \(name)") }
    }

    /// Takes a broker down: its connections are closed and new ones refused.
    public func setBrokerDown(_ id: Int) {
        _ = rd_kafka_mock_broker_set_down(cluster, Int32(id))
    }

    /// Brings a broker back.
    public func setBrokerUp(_ id: Int) {
        _ = rd_kafka_mock_broker_set_up(cluster, Int32(id))
    }

    /// Makes the next `errors.count` requests of `kind` (to any broker) fail with these errors, in order.
    public func failNextRequests(_ kind: RequestKind, with errors: [InjectedError]) {
        var codes = errors.map(\.code)
        codes.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_mock_push_request_errors_array(cluster, kind.rawValue, buffer.count, buffer.baseAddress)
        }
    }

    /// Drops the errors still queued for requests of `kind`.
    public func clearRequestErrors(_ kind: RequestKind) {
        rd_kafka_mock_clear_request_errors(cluster, kind.rawValue)
    }

    /// Moves the leadership of a partition to another broker.
    public func setPartitionLeader(topic: String, partition: Int, broker: Int) {
        _ = rd_kafka_mock_partition_set_leader(cluster, topic, Int32(partition), Int32(broker))
    }

    /// Sets the group coordinator (and transaction coordinator) of a key to a broker.
    public func setCoordinator(group: String, broker: Int) {
        _ = rd_kafka_mock_coordinator_set(cluster, "group", group, Int32(broker))
    }

    /// Sets the transaction coordinator of a transactional id to a broker.
    public func setCoordinator(transactionalID: String, broker: Int) {
        _ = rd_kafka_mock_coordinator_set(cluster, "transaction", transactionalID, Int32(broker))
    }

    /// Sets the initial rebalance delay of new groups (the mock default is 3 s).
    /// Delays every response from broker `id` by `rtt`: a slow or throttled broker.
    public func setRoundTripTime(broker id: Int, _ rtt: Duration) {
        _ = rd_kafka_mock_broker_set_rtt(cluster, Int32(id), Int32(rtt.milliseconds))
    }

    public func setGroupInitialRebalanceDelay(_ delay: Duration) {
        rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, Int32(delay.milliseconds))
    }
}
