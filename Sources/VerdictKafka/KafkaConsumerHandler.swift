/// Receives what a ``KafkaConsumer`` produces. Every method is called on the consumer's poll thread,
/// one at a time, never on Swift's cooperative pool.
public protocol KafkaConsumerHandler: AnyObject, Sendable {
    /// A batch of records, in offset order within each partition.
    ///
    /// The poll thread fetches the next batch only after this returns, so a slow handler slows
    /// fetching (and, past `max.poll.interval.ms`, loses the assignment): hand heavy work to workers.
    func consumer(_ consumer: KafkaConsumer, didReceive messages: [KafkaMessage])

    /// The assignment is about to change. Called inside librdkafka's rebalance callback, before the
    /// change takes effect: on `.revoked`, finish or abandon in-flight work for those partitions and
    /// store the offsets that are done; the consumer commits them after this returns.
    func consumer(_ consumer: KafkaConsumer, rebalance event: KafkaRebalanceEvent)

    /// A consumer-level error (an unknown topic, all brokers down, a fatal error).
    func consumer(_ consumer: KafkaConsumer, didFail error: KafkaError)

    /// Statistics parsed from librdkafka's stats JSON, every `statisticsInterval`.
    func consumer(_ consumer: KafkaConsumer, statistics: KafkaStatistics)

    /// Called after every poll, with or without records (at least every `pollTimeout`): the place for
    /// periodic work on the poll thread, such as storing offsets that completed meanwhile.
    func consumerDidPoll(_ consumer: KafkaConsumer)
}

extension KafkaConsumerHandler {
    public func consumer(_ consumer: KafkaConsumer, rebalance event: KafkaRebalanceEvent) {}
    public func consumer(_ consumer: KafkaConsumer, didFail error: KafkaError) {}
    public func consumer(_ consumer: KafkaConsumer, statistics: KafkaStatistics) {}
    public func consumerDidPoll(_ consumer: KafkaConsumer) {}
}
