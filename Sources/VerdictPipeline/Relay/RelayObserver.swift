public import VerdictKafka

/// Receives what the relays (``Relay``, ``TransactionalRelay``) do, for metrics and health. Called on
/// the poll thread or the producer's thread.
public protocol RelayObserver: Sendable {
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
    /// Every poll: the partitions held by a non-retriable error (with the topic and error), the
    /// partitions waiting for retries, and why the relay is unhealthy (empty when it is not).
    func relay(held: [KafkaTopicPartition: String], retrying: Int, unhealthy: [String])
    /// The producer cannot continue; the service must stop after committing what is safe.
    func relay(fatal error: String)
}
