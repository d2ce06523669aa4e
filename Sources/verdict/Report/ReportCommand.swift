import ArgumentParser
import Foundation
import Logging
import VerdictKafka
import Synchronization
import VerdictPipeline

/// `verdict report`: reads the input, decisions and dead-letter topics and says what happened:
/// events in, decisions by outcome, dead letters by reason, whether every event has exactly one
/// outcome, throughput and end-to-end latency, and sample decisions with their reasons.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Summarize a run from its topics: outcomes, dead letters, completeness, throughput, latency, samples."
    )

    @Option(help: "Bootstrap servers.") var brokers: String
    @Option(help: "Input topic.") var input: String = "transactions"
    @Option(help: "Decisions topic.") var decisions: String = "decisions"
    @Option(name: .customLong("dead-letters"), help: "Dead-letter topic.") var deadLetters: String = "transactions.dlq"
    @Option(help: "Stop as soon as this many input events each have an outcome.") var expect: Int?
    @Option(help: "Stop after this many seconds without new records (once something was read).") var idle: Double = 5
    @Option(help: "Give up after this many seconds.") var timeout: Double = 120
    @Option(help: "Sample decisions to show (one per outcome kind, DECLINE first).") var samples: Int = 3
    @Flag(help: "Exit non-zero unless every input event has an outcome.") var strict = false

    func run() async throws {
        let collector = TallyCollector(input: input, decisions: decisions, deadLetters: deadLetters)
        // A throwaway group that commits nothing: the report reads every topic from the beginning.
        let configuration = KafkaConsumerConfiguration(
            client: CommandSupport.client(brokers),
            groupID: "verdict-report-\(UUID().uuidString.prefix(8).lowercased())",
            offsetReset: .earliest,
            sessionTimeout: .seconds(6),
            autoCommitInterval: nil
        )
        let consumer = try KafkaConsumer(configuration: configuration, logger: CommandSupport.logger(level: .warning))
        try consumer.subscribe(topics: [input, decisions, deadLetters])
        consumer.start(handler: collector)

        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(timeout)
        var lastCount = 0
        var lastChange = clock.now
        while clock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            let (count, inputs, complete) = collector.progress()
            if let expect, inputs >= expect, complete { break }
            if count != lastCount {
                lastCount = count
                lastChange = clock.now
            } else if count > 0, expect == nil || (inputs >= expect! && complete), clock.now - lastChange >= .seconds(idle) {
                break
            } else if count > 0, expect != nil, clock.now - lastChange >= .seconds(max(idle, 30)) {
                break  // nothing new for long: report what is missing rather than wait for the deadline
            }
        }
        _ = await consumer.close(timeout: .seconds(10))
        let tally = collector.tally.withLock { $0 }
        print(ReportRendering.render(tally, input: input, samples: samples))
        if strict, !tally.complete || (expect.map { tally.inputs.count < $0 } ?? false) { throw ExitCode(1) }
    }
}
