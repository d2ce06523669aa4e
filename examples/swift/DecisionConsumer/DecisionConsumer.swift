// A downstream consumer of Verdict's decisions in Swift, on the VerdictKafka wrapper: it processes
// each transaction_id once (decisions can repeat under at-least-once) and commits offsets only
// after processing.
//
//   swift run verdict-example-consumer --brokers localhost:9092 --topic decisions --group ledger --expect 1000
//
// Exits 0 once --expect distinct decisions were seen (or, without --expect, after --idle seconds
// without a new one), 1 when it gave up before that.
import Foundation
import Logging
import Synchronization
import VerdictKafka

struct Options {
    var brokers = "localhost:9092"
    var topic = "decisions"
    var group = "ledger"
    var expect = 0
    var idle = 30.0

    init(_ arguments: [String]) throws {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { throw UsageError("\(flag) needs a value") }
            switch flag {
            case "--brokers": brokers = value
            case "--topic": topic = value
            case "--group": group = value
            case "--expect": guard let n = Int(value), n >= 0 else { throw UsageError("--expect \(value) is not a count") }; expect = n
            case "--idle": guard let s = Double(value), s > 0 else { throw UsageError("--idle \(value) is not seconds") }; idle = s
            default: throw UsageError("unknown option \(flag)")
            }
        }
    }
}

struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The decisions seen so far, by transaction id. In production this is the unique key of the table
/// the decision is written to.
final class Ledger: KafkaConsumerHandler {
    struct State {
        var seen: Set<String> = []
        var duplicates = 0
        var byDecision: [String: Int] = [:]
        var lastNew = ContinuousClock.now
        var malformed = 0
    }
    let state = Mutex(State())

    func consumer(_ consumer: KafkaConsumer, didReceive messages: [KafkaMessage]) {
        var done: [KafkaTopicPartition: Int64] = [:]
        state.withLock { state in
            for message in messages {
                defer { done[message.topicPartition] = message.offset + 1 }
                guard let value = message.value,
                    let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
                    let transactionID = object["transaction_id"] as? String,
                    let decision = object["decision"] as? String
                else {
                    state.malformed += 1
                    continue
                }
                if state.seen.insert(transactionID).inserted {
                    state.byDecision[decision, default: 0] += 1
                    state.lastNew = .now
                } else {
                    state.duplicates += 1
                }
            }
        }
        // Processed: now the offsets may be committed (the consumer commits stored offsets).
        try? consumer.storeOffsets(done.map { KafkaTopicPartitionOffset(topicPartition: $0.key, offset: $0.value) })
    }

    func consumer(_ consumer: KafkaConsumer, statistics: KafkaStatistics) {}
    func consumerDidPoll(_ consumer: KafkaConsumer) {}
}

@main
struct DecisionConsumer {
    static func main() async {
        let options: Options
        do { options = try Options(Array(CommandLine.arguments.dropFirst())) } catch {
            FileHandle.standardError.write(Data("verdict-example-consumer: \(error)\n".utf8))
            exit(2)
        }
        var logger = Logger(label: "decision-consumer")
        logger.logLevel = .warning
        var configuration = KafkaConsumerConfiguration(
            client: KafkaClientConfiguration(bootstrapServers: options.brokers.split(separator: ",").map(String.init)),
            groupID: options.group
        )
        // Exactly-once Verdict writes decisions in transactions: read only committed ones (the default).
        configuration.readCommitted = true
        let ledger = Ledger()
        do {
            let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
            try consumer.subscribe(topics: [options.topic])
            consumer.start(handler: ledger)
            while true {
                try await Task.sleep(for: .milliseconds(200))
                let (count, idleFor) = ledger.state.withLock { ($0.seen.count, ContinuousClock.now - $0.lastNew) }
                if options.expect > 0 && count >= options.expect { break }
                if idleFor > .seconds(options.idle) { break }
            }
            _ = await consumer.close(timeout: .seconds(10))
        } catch {
            FileHandle.standardError.write(Data("verdict-example-consumer: \(error)\n".utf8))
            exit(1)
        }
        let state = ledger.state.withLock { $0 }
        let counts = state.byDecision.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print(
            "verdict-example-consumer: \(state.seen.count) distinct decisions (\(counts)), \(state.duplicates) duplicates skipped, \(state.malformed) malformed"
        )
        exit(options.expect > 0 && state.seen.count < options.expect ? 1 : 0)
    }
}
