import ArgumentParser
import Foundation
import Logging
import Synchronization
import VerdictKafka

/// Fills a topic with fixed-size records as fast as the producer takes them.
struct BenchProduce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Produce N records of a fixed size (default 460 bytes, the size of a v1 event) to a topic."
    )

    @Option(help: "Bootstrap servers, host:port[,host:port].") var brokers: String = "localhost:9092"
    @Option(help: "Topic to produce to.") var topic: String
    @Option(help: "Number of records.") var count: Int = 1_000_000
    @Option(help: "Value size in bytes.") var size: Int = 460
    @Option(help: "Distinct keys (card ids).") var keys: Int = 10_000

    func run() async throws {
        let logger = CommandSupport.logger(level: .warning)
        let box = CounterBox()
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: CommandSupport.client(brokers)),
            logger: logger,
            deliveryReports: { report in
                if report.isDelivered { box.delivered.add(1, ordering: .relaxed) } else { box.failed.add(1, ordering: .relaxed) }
            }
        )
        try await producer.checkTopics([topic])
        let clock = ContinuousClock()
        let started = clock.now
        let count = self.count, size = self.size, keys = self.keys, topic = self.topic
        try await CommandSupport.onDedicatedThread {
            var value = [UInt8](repeating: UInt8(ascii: " "), count: size)
            for i in 0..<count {
                let key = Array("card-\(i % keys)".utf8)
                let stamp = Array("{\"seq\":\(i),".utf8)
                value.replaceSubrange(0..<min(stamp.count, size), with: stamp.prefix(size))
                let record = KafkaProducerRecord(topic: topic, key: key, value: value)
                try producer.sendBlocking(record, id: UInt64(i), timeout: .seconds(60))
            }
        }
        let left = await producer.flush(timeout: .seconds(120))
        let elapsed = clock.now - started
        await producer.close(timeout: .seconds(10))
        let ok = box.delivered.load(ordering: .relaxed)
        let bad = box.failed.load(ordering: .relaxed) + left
        print(
            "produce: \(ok) records of \(size) bytes to \(topic) in \(CommandSupport.format(elapsed)) = \(Int(Double(ok) / elapsed.seconds)) msgs/s, \(bad) failed"
        )
        if bad > 0 { throw ExitCode(1) }
    }
}

final class CounterBox: Sendable {
    let delivered = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
}
