import ArgumentParser
import Foundation
import Logging
import Synchronization
import VerdictKafka
import VerdictScoring
import VerdictSynthetic

/// `verdict generate`: synthetic v1 events with fraud patterns, to a file or a Kafka topic.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate realistic synthetic transaction events (deterministic for a seed) into a topic or a file."
    )

    @Option(help: "Bootstrap servers (Kafka mode).") var brokers: String?
    @Option(help: "Topic to produce to (Kafka mode); events keyed by card_id.") var topic: String?
    @Option(help: "JSON-lines file to write (file mode); - for stdout.") var output: String?
    @Option(help: "CSV of transaction_id,is_fraud,pattern (file mode; the training labels).") var labels: String?
    @Option(help: "Number of events.") var count: Int = 100_000
    @Option(help: "Events per second (0 = as fast as possible).") var rate: Double = 0
    @Option(name: .customLong("invalid-fraction"), help: "Share of events made invalid (0..1).") var invalidFraction: Double = 0
    @Option(help: "Random seed: the same seed gives the same events.") var seed: UInt64 = 42
    @Option(help: "First event time in file mode (RFC 3339); default 30 days ago. Kafka mode stamps events with the current time (see --as-of).") var start:
        String?
    @Option(
        name: .customLong("as-of"),
        help:
            "Kafka mode: stamp events as if generation began at this RFC 3339 time (the wall clock shifted by a fixed offset), e.g. to see the decisions of a given time of day. The service decides events older than the rules' degraded.event_age_sla (default 10m) without the model, and refuses those older than max_event_age."
    )
    var asOf: String?
    @Option(help: "Mean seconds between events in file mode.") var spacing: Double = 1
    @Option(help: "Distinct cards.") var cards: Int = 20_000
    @Option(
        help:
            "Traffic shape: sequences (per-card timelines in event-time order, fraud as episodes on a card; what the stream aggregates need; docs/features.md), realistic (each event drawn on its own with the same fraud patterns, 2-3% REVIEW/DECLINE) or wide (features independent over their whole ranges, 10-15% REVIEW/DECLINE)."
    )
    // The command's own default: traffic with per-card timelines, which the stream aggregates need.
    // The library's (`EventGenerator.Options.profile`) stays `realistic`, which fixtures pin.
    var profile: String = EventGenerator.Profile.sequences.rawValue

    func validate() throws {
        guard (brokers != nil && topic != nil) != (output != nil) else {
            throw ValidationError("give either --brokers and --topic (Kafka) or --output (file)")
        }
        guard EventGenerator.Profile(rawValue: profile) != nil else {
            throw ValidationError("--profile '\(profile)' is not one of \(EventGenerator.Profile.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard (0...1).contains(invalidFraction) else { throw ValidationError("--invalid-fraction must be between 0 and 1") }
        guard cards >= 1 else { throw ValidationError("--cards must be at least 1") }
        guard count >= 0 else { throw ValidationError("--count must not be negative") }
        guard spacing >= 0 else { throw ValidationError("--spacing must not be negative") }
        if let asOf {
            guard output == nil else { throw ValidationError("--as-of is for Kafka mode; file mode takes --start") }
            guard let time = Timestamps.parse(asOf) else { throw ValidationError("--as-of '\(asOf)' is not an RFC 3339 time") }
            guard time <= Date().timeIntervalSince1970 else {
                throw ValidationError("--as-of '\(asOf)' is in the future; the service refuses events more than max_clock_skew ahead")
            }
        }
    }

    func run() async throws {
        var options = EventGenerator.Options()
        options.seed = seed
        options.invalidFraction = invalidFraction
        options.cards = cards
        options.profile = EventGenerator.Profile(rawValue: profile) ?? .realistic
        options.spacing = output != nil ? spacing : 0
        if let start {
            guard let parsed = Timestamps.parse(start) else { throw ValidationError("--start '\(start)' is not an RFC 3339 time") }
            options.start = parsed
        } else {
            options.start = (Date().timeIntervalSince1970 - 30 * 86_400).rounded()
        }
        var generator = EventGenerator(options: options)
        if let output {
            let file = try OutputFile(path: output)
            let labelFile = try labels.map { try OutputFile(path: $0) }
            labelFile?.writeLine("transaction_id,is_fraud,pattern,valid")
            for _ in 0..<count {
                let event = generator.next()
                file.writeLine(event.value)
                labelFile?.writeLine("\(event.transactionID),\(event.isFraud ? 1 : 0),\(event.pattern),\(event.valid ? 1 : 0)")
            }
            file.flush()
            labelFile?.flush()
            FileHandle.standardError.write(Data("generate: \(count) events (seed \(seed)) -> \(output)\n".utf8))
            return
        }
        try await produce(&generator)
    }

    private func produce(_ generator: inout EventGenerator) async throws {
        let logger = CommandSupport.logger(level: .warning)
        let box = CounterBox()
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: CommandSupport.client(brokers!)),
            logger: logger,
            deliveryReports: { report in
                if report.isDelivered { box.delivered.add(1, ordering: .relaxed) } else { box.failed.add(1, ordering: .relaxed) }
            }
        )
        try await producer.checkTopics([topic!])
        let topic = self.topic!, count = self.count, rate = self.rate
        let clock = ContinuousClock()
        let started = clock.now
        let box2 = GeneratorBox(generator)
        // Zero unless --as-of: then every event time is shifted back by the same amount.
        let offset = asOf.flatMap(Timestamps.parse).map { $0 - Date().timeIntervalSince1970 } ?? 0
        try await CommandSupport.onDedicatedThread {
            for i in 0..<count {
                if rate > 0 {
                    // Pace against the schedule, not the previous send, so the rate holds on average.
                    let due = started + .seconds(Double(i) / rate)
                    let wait = clock.now.duration(to: due)
                    if wait > .microseconds(50) { Thread.sleep(forTimeInterval: wait.seconds) }
                }
                let event = box2.generator.next(now: Date().timeIntervalSince1970 + offset)
                try producer.sendBlocking(KafkaProducerRecord(topic: topic, key: event.key, value: event.value), id: UInt64(i), timeout: .seconds(60))
            }
        }
        generator = box2.generator
        let left = await producer.flush(timeout: .seconds(60))
        let seconds = (clock.now - started).seconds
        await producer.close(timeout: .seconds(10))
        let delivered = box.delivered.load(ordering: .relaxed)
        print(
            "generate: \(delivered) events to \(topic) in \(String(format: "%.2f", seconds)) s (\(Int(Double(delivered) / max(seconds, 1e-9))) events/s), \(box.failed.load(ordering: .relaxed) + left) failed"
        )
        if delivered < count { throw ExitCode(1) }
    }
}

/// Hands the generator to the producing thread (used by one thread at a time).
final class GeneratorBox: @unchecked Sendable {
    var generator: EventGenerator
    init(_ generator: EventGenerator) { self.generator = generator }
}
