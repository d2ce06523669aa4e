import ArgumentParser
import Foundation
import Logging
import Synchronization
import VerdictKafka
import VerdictPipeline
import VerdictScoring
import VerdictSynthetic

/// `verdict bench latency`: end-to-end latency at a steady rate, measured from outside the service.
/// It produces generated events at `--rate` and consumes the decisions and dead-letter topics at the
/// same time; an event's latency runs from just before its produce call to the moment its outcome
/// reaches this consumer, so it includes Verdict's delivery and the broker's fetch path (an upper
/// bound on "event produced -> decision delivered"). `verdict serve` must be running on the topics.
struct BenchLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "End-to-end latency of a running verdict serve at a steady event rate."
    )

    @Option(help: "Bootstrap servers.") var brokers: String
    @Option(help: "Input topic verdict serve consumes.") var input: String = "transactions"
    @Option(help: "Decisions topic.") var decisions: String = "decisions"
    @Option(name: .customLong("dead-letters"), help: "Dead-letter topic.") var deadLetters: String = "transactions.dlq"
    @Option(help: "Events per second.") var rate: Double = 10_000
    @Option(help: "Seconds of traffic.") var duration: Double = 30
    @Option(help: "Seconds at the start left out of the figures (connection and cache warm-up).") var warmup: Double = 2
    @Option(help: "Random seed.") var seed: UInt64 = 99
    @Flag(help: "Measure the broker alone: consume the input topic directly (no verdict serve needed); the peer figure for the same rate.")
    var baseline = false
    @Option(name: .customLong("fetch-wait-ms"), help: "fetch.wait.max.ms of this benchmark's consumer.") var fetchWait: Int = 5

    final class Clocks: @unchecked Sendable {
        /// Send time (ns, monotonic) by producer id; then by input (partition, offset) once delivered.
        let sent = Mutex<[UInt64: UInt64]>([:])
        /// Send times of delivered inputs by (partition, offset), and arrival times of outcomes
        /// consumed before their input's delivery report was handled. One lock over both: with two,
        /// a report and its outcome racing each other could each miss the other and lose the event.
        let pending = Mutex<Pending>(Pending())
        struct Pending {
            var sentByOffset: [Int64: UInt64] = [:]
            var early: [Int64: UInt64] = [:]
        }
        let latencies = Mutex<[Double]>([])
        let outcomes = Atomic<Int>(0)
        let warmupIDs: UInt64
        init(warmupIDs: UInt64) { self.warmupIDs = warmupIDs }

        static func key(partition: Int, offset: Int64) -> Int64 { Int64(partition) << 48 | offset }
        static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    }

    final class OutcomeHandler: KafkaConsumerHandler {
        let clocks: Clocks
        /// Baseline mode: the consumer reads the input topic itself, so an event is its own outcome.
        let baseline: Bool
        init(_ clocks: Clocks, baseline: Bool) {
            self.clocks = clocks
            self.baseline = baseline
        }

        func consumer(_ consumer: KafkaConsumer, didReceive messages: [KafkaMessage]) {
            let arrived = Clocks.now()
            var measured: [Double] = []
            for message in messages {
                guard let value = message.value else { continue }
                let source =
                    baseline
                    ? DecisionRecord.Source(topic: message.topic, partition: message.partition, offset: message.offset)
                    : DecisionRecord.parse(value)?.source ?? DeadLetterRecord.parse(value)?.source
                guard let source else { continue }
                clocks.outcomes.add(1, ordering: .relaxed)
                let key = Clocks.key(partition: source.partition, offset: source.offset)
                let sent: UInt64? = clocks.pending.withLock { pending in
                    if let sent = pending.sentByOffset.removeValue(forKey: key) { return sent }
                    pending.early[key] = arrived
                    return nil
                }
                if let sent { measured.append(Double(arrived &- sent) / 1e6) }
            }
            clocks.latencies.withLock { $0.append(contentsOf: measured) }
        }
    }

    func run() async throws {
        try await measure(brokers: brokers)
    }

    private func measure(brokers: String) async throws {
        let total = Int(rate * duration)
        let clocks = Clocks(warmupIDs: UInt64(rate * warmup))
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: CommandSupport.client(brokers), linger: .milliseconds(1)),
            logger: CommandSupport.logger(level: .warning),
            deliveryReports: { report in
                guard let offset = report.offset, let sent = clocks.sent.withLock({ $0.removeValue(forKey: report.id) }) else { return }
                guard report.id >= clocks.warmupIDs else { return }
                let key = Clocks.key(partition: report.partition, offset: offset)
                let arrived: UInt64? = clocks.pending.withLock { pending in
                    if let arrived = pending.early.removeValue(forKey: key) { return arrived }
                    pending.sentByOffset[key] = sent
                    return nil
                }
                if let arrived { clocks.latencies.withLock { $0.append(Double(arrived &- sent) / 1e6) } }
            }
        )
        try await producer.checkTopics([input])
        var client = CommandSupport.client(brokers)
        // A downstream consumer that wants decisions as they land (the service's own default).
        client.properties["fetch.wait.max.ms"] = String(fetchWait)
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                client: client, groupID: "verdict-bench-latency-\(UUID().uuidString.prefix(8))",
                offsetReset: .latest, sessionTimeout: .seconds(6), autoCommitInterval: nil
            ),
            logger: CommandSupport.logger(level: .warning)
        )
        try consumer.subscribe(topics: baseline ? [input] : [decisions, deadLetters])
        consumer.start(handler: OutcomeHandler(clocks, baseline: baseline))
        // Joined and positioned at the end before the first event goes out.
        let joinDeadline = ContinuousClock.now + .seconds(30)
        while consumer.assignment.isEmpty && ContinuousClock.now < joinDeadline { try await Task.sleep(for: .milliseconds(100)) }
        try await Task.sleep(for: .seconds(1))

        var options = EventGenerator.Options()
        options.seed = seed
        options.spacing = 0
        let box = GeneratorBox(EventGenerator(options: options))
        let input = self.input, rate = self.rate
        let clock = ContinuousClock()
        let started = clock.now
        try await CommandSupport.onDedicatedThread {
            for i in 0..<total {
                let due = started + .seconds(Double(i) / rate)
                let wait = clock.now.duration(to: due)
                if wait > .microseconds(50) { Thread.sleep(forTimeInterval: wait.seconds) }
                let event = box.generator.next(now: Date().timeIntervalSince1970)
                clocks.sent.withLock { $0[UInt64(i)] = Clocks.now() }
                try producer.sendBlocking(KafkaProducerRecord(topic: input, key: event.key, value: event.value), id: UInt64(i), timeout: .seconds(30))
            }
        }
        _ = await producer.flush(timeout: .seconds(30))
        let achieved = Double(total) / (clock.now - started).seconds
        let settle = ContinuousClock.now + .seconds(30)
        while clocks.outcomes.load(ordering: .relaxed) < total && ContinuousClock.now < settle { try await Task.sleep(for: .milliseconds(100)) }
        await producer.close(timeout: .seconds(10))
        _ = await consumer.close(timeout: .seconds(10))

        let latencies = clocks.latencies.withLock { $0 }
        let missing = clocks.pending.withLock { $0.sentByOffset.count }
        let p = Percentiles.of(latencies, [0.5, 0.9, 0.99, 0.999, 1])
        print(
            String(
                format: "latency: %d events at %.0f/s offered (%.0f/s achieved), %d measured after %.0f s warm-up", total, rate, achieved, latencies.count,
                warmup))
        print(
            String(
                format:
                    "latency: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (produce call -> \(baseline ? "event consumed, broker only" : "outcome consumed downstream"))",
                p[0], p[1], p[2], p[3], p[4]))
        if missing > 0 {
            print("latency: \(missing) events had no outcome within 30 s of the last send")
            throw ExitCode(1)
        }
    }
}
