import ArgumentParser
import Foundation
import Logging
import Synchronization
import VerdictKafka
import VerdictPipeline

/// consume -> produce -> store the input offset after the output's delivery report, through the same
/// relay the scoring pipeline uses, with no processing: the ceiling later benchmarks compare with.
struct BenchPassthrough: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passthrough",
        abstract: "Copy N records from one topic to another with at-least-once bookkeeping; print msgs/s."
    )

    @Option(help: "Bootstrap servers, host:port[,host:port].") var brokers: String = "localhost:9092"
    @Option(help: "Topic to consume.") var input: String
    @Option(help: "Topic to produce to.") var output: String
    @Option(help: "Records to pass through before stopping.") var count: Int = 1_000_000
    @Option(help: "Consumer group (default: a new one, so the topic is read from the start).") var group: String?
    @Option(help: "Give up after this many seconds.") var timeout: Int = 300
    @Option(
        name: .customLong("max-in-flight"),
        help: "Records consumed and not yet acknowledged before the consumer pauses (verdict serve's pipeline.max_in_flight).")
    var maxInFlight: Int = 20_000
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func run() async throws {
        let logger = CommandSupport.logger(level: .warning)
        let result = try await Self.measure(
            brokers: brokers, input: input, output: output, count: count,
            group: group ?? "verdict-bench-\(UUID().uuidString.prefix(8))",
            timeout: .seconds(timeout), maxInFlight: maxInFlight, logger: logger
        )
        if json {
            print(#"{"benchmark":"passthrough","records":\#(result.records),"seconds":\#(result.seconds),"msgs_per_s":\#(Int(result.rate))}"#)
        } else {
            print("passthrough: \(result.records) records \(input) -> \(output) in \(String(format: "%.2f", result.seconds)) s = \(Int(result.rate)) msgs/s")
        }
    }

    struct Result {
        var records: Int
        var seconds: Double
        var rate: Double { Double(records) / seconds }
    }

    /// Timing starts at the first consumed batch (not at group join) and ends at the delivery report
    /// of the `count`-th record.
    static func measure(
        brokers: String, input: String, output: String, count: Int, group: String, timeout: Duration, maxInFlight: Int = 20_000, logger: Logger
    ) async throws -> Result {
        let timing = Timing()
        let relay = Relay(
            processor: PassthroughProcessor(outputTopic: output), configuration: Relay.Configuration(maxInFlight: maxInFlight), logger: logger, observer: timing
        )
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: CommandSupport.client(brokers)),
            logger: logger,
            deliveryReportBatches: relay.handleDeliveries
        )
        relay.attach(producer: producer)
        let consumerConfiguration = KafkaConsumerConfiguration(client: CommandSupport.client(brokers), groupID: group, sessionTimeout: .seconds(6))
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        try await consumer.checkTopics([input, output])
        try consumer.subscribe(topics: [input])
        consumer.start(handler: relay)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while relay.counters.delivered < count {
            if clock.now > deadline {
                await consumer.close(timeout: .seconds(5))
                await producer.close(timeout: .seconds(5))
                throw ValidationError(
                    "only \(relay.counters.delivered) of \(count) records passed through within \(timeout); does \(input) hold \(count) records?")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        let end = ContinuousClock.now
        let start = timing.firstBatch.withLock { $0 } ?? end
        await consumer.close(timeout: .seconds(10))
        await producer.close(timeout: .seconds(10))
        return Result(records: relay.counters.delivered, seconds: (end - start).seconds)
    }

    final class Timing: RelayObserver {
        let firstBatch = Mutex<ContinuousClock.Instant?>(nil)
        func relay(processed count: Int, seconds: Double) {
            firstBatch.withLock { if $0 == nil { $0 = .now } }
        }
        func relay(delivered count: Int) {}
        func relay(deliveryFailed error: KafkaError, permanently: Bool) {}
        func relay(inFlight: Int, paused: Bool) {}
        func relay(rebalance event: KafkaRebalanceEvent) {}
        func relay(consumerError error: KafkaError) {}
        func relay(statistics: KafkaStatistics) {}
        func relayDidPoll() {}
        func relay(transactionEnded committed: Bool, records: Int) {}
        func relay(held: [KafkaTopicPartition: String], retrying: Int, unhealthy: [String]) {}
        func relay(fatal error: String) {}
    }
}
