public import VerdictKafka

/// Turns consumed records into the records to publish: exactly one output per input (a decision or
/// a dead letter), so every input offset is accounted for by one delivery report.
public protocol RecordProcessor: Sendable {
    /// Processes a batch on the consumer's poll thread. `outputs` is empty on entry; append one record
    /// per message, in the same order.
    func process(_ messages: [KafkaMessage], into outputs: inout [KafkaProducerRecord])

    /// A dead letter to publish instead of `message`'s output when that output cannot be published
    /// (exactly-once: its transaction aborts even alone); nil when the processor has none.
    func deadLetter(for message: KafkaMessage, reason: String) -> KafkaProducerRecord?

    /// The partitions left this instance (revoked after draining, or lost): state kept for them
    /// is stale from now on.
    func released(_ partitions: [KafkaTopicPartition])

    /// Exactly-once: records to add to the transaction of the batch just processed (state
    /// snapshots), beyond its outputs; they are not tied to any input.
    func transactionRecords() -> [KafkaProducerRecord]

    /// Exactly-once: the transaction that carried ``transactionRecords()`` committed or aborted;
    /// `refused`: it aborted because the brokers refused one of its records.
    func transactionEnded(committed: Bool, refused: Bool)

    /// The stream is shutting down: work that waits (a rebuild's retries) should give up.
    func stop()

    /// The consumer has closed (its partitions released): returns once the work queued off the
    /// poll thread that should outlive the stream, such as the state snapshots written on release,
    /// is done (true), or when `timeout` has passed (false).
    func finish(within timeout: Duration) async -> Bool
}

extension RecordProcessor {
    public func deadLetter(for message: KafkaMessage, reason: String) -> KafkaProducerRecord? { nil }
    public func released(_ partitions: [KafkaTopicPartition]) {}
    public func stop() {}
    public func transactionRecords() -> [KafkaProducerRecord] { [] }
    public func transactionEnded(committed: Bool, refused: Bool) {}
    public func finish(within timeout: Duration) async -> Bool { true }
}

/// Copies every record unchanged to another topic: the ceiling benchmark (`verdict bench passthrough`).
public struct PassthroughProcessor: RecordProcessor {
    public let outputTopic: String

    public init(outputTopic: String) {
        self.outputTopic = outputTopic
    }

    public func process(_ messages: [KafkaMessage], into outputs: inout [KafkaProducerRecord]) {
        for message in messages {
            outputs.append(KafkaProducerRecord(topic: outputTopic, key: message.key, value: message.value, headers: message.headers))
        }
    }
}
