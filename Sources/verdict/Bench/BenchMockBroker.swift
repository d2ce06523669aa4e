import ArgumentParser
import Foundation
import Logging
import VerdictKafka

/// `verdict bench mock-broker`: librdkafka's mock cluster as a stand-alone broker on loopback, so
/// latency can be measured against a broker that answers in microseconds. The development broker
/// (Tansu with memory storage) takes 100-400 ms to acknowledge and serve a record, which hides
/// Verdict's own share of the latency; the mock cluster speaks the real protocol (consumer groups,
/// idempotent and transactional producers) and keeps records in memory. It is a benchmark tool,
/// not a broker to run anything real against.
struct BenchMockBroker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock-broker",
        abstract: "Run librdkafka's mock cluster on loopback until SIGTERM or SIGINT (a fast broker for latency benchmarks)."
    )

    @Option(name: .customLong("topic"), help: "A topic to create, as name:partitions (repeatable).")
    var topics: [String] = ["transactions:4", "decisions:4", "transactions.dlq:1"]
    @Option(help: "Number of mock brokers.") var brokers: Int = 1
    @Option(name: .customLong("address-file"), help: "Write the bootstrap servers here once the topics exist.")
    var addressFile: String?

    func validate() throws {
        for topic in topics {
            let parts = topic.split(separator: ":")
            guard parts.count == 2, !parts[0].isEmpty, let partitions = Int(parts[1]), partitions > 0 else {
                throw ValidationError("--topic \(topic): write it as name:partitions, e.g. transactions:4")
            }
        }
        guard (1...8).contains(brokers) else { throw ValidationError("--brokers must be between 1 and 8") }
    }

    func run() async throws {
        let logger = CommandSupport.logger(level: .warning, label: "verdict.mock-broker")
        let cluster = try KafkaMockCluster(brokers: brokers, logger: logger)
        // New groups otherwise wait 3 s for more members before the first assignment.
        cluster.setGroupInitialRebalanceDelay(.milliseconds(100))
        for topic in topics {
            let parts = topic.split(separator: ":")
            try cluster.createTopic(String(parts[0]), partitions: Int(parts[1])!)
        }
        if let addressFile {
            try Data((cluster.bootstrapServers + "\n").utf8).write(to: URL(fileURLWithPath: addressFile), options: .atomic)
        }
        print("mock-broker: \(cluster.bootstrapServers) (topics: \(topics.joined(separator: ", "))); stop with SIGTERM or SIGINT")
        fflush(nil)  // scripts read the line while this keeps running
        await Self.waitForStopSignal()
        withExtendedLifetime(cluster) {}
    }

    /// Suspends until SIGTERM or SIGINT arrives.
    private static func waitForStopSignal() async {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        let sources = [SIGTERM, SIGINT].map { signal in
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { continuation.yield() }
            source.resume()
            return source
        }
        for await _ in stream { break }
        // Signal sources fire only while they are retained.
        withExtendedLifetime(sources) {}
    }
}
