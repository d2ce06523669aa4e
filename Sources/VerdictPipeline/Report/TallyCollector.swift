import Foundation
public import Synchronization
public import VerdictKafka

/// Feeds a ``StreamTally`` from a consumer subscribed to a run's input, decisions and dead-letter
/// topics (`verdict report` and the integration tests read runs back the same way).
public final class TallyCollector: KafkaConsumerHandler {
    public let tally = Mutex(StreamTally())
    private let seen = Atomic<Int>(0)
    private let input: String, decisions: String, deadLetters: String

    public init(input: String, decisions: String, deadLetters: String) {
        self.input = input
        self.decisions = decisions
        self.deadLetters = deadLetters
    }

    public func consumer(_ consumer: KafkaConsumer, didReceive messages: [KafkaMessage]) {
        tally.withLock { tally in
            for message in messages {
                switch message.topic {
                case input: tally.addInput(message)
                case decisions: tally.addDecision(message)
                case deadLetters: tally.addDeadLetter(message)
                default: break
                }
            }
        }
        seen.add(messages.count, ordering: .relaxed)
    }

    public func consumer(_ consumer: KafkaConsumer, didFail error: KafkaError) {
        FileHandle.standardError.write(Data("reading the run back: \(error)\n".utf8))
    }

    /// Records read, input events read, and whether each has an outcome.
    public func progress() -> (records: Int, inputs: Int, complete: Bool) {
        let (inputs, complete) = tally.withLock { ($0.inputs.count, $0.complete) }
        return (seen.load(ordering: .relaxed), inputs, complete)
    }
}
