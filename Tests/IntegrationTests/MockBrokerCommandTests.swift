import Foundation
import Synchronization
import Testing
import VerdictKafka

/// `verdict bench mock-broker`, the fast broker the latency benchmark runs against: it must create
/// the topics it is asked for, carry records between separate clients over loopback, and stop
/// cleanly on SIGTERM.
@Suite("verdict bench mock-broker (command)", .serialized)
struct MockBrokerCommandTests {
    @Test("creates its topics, carries records to a consumer group, exits 0 on SIGTERM")
    func servesAndStops() async throws {
        let addressFile = FileManager.default.temporaryDirectory.appendingPathComponent("mock-\(UUID().uuidString.prefix(8)).addr")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = [
            "-k", "5", "120", try ServiceProcess.binary(), "bench", "mock-broker",
            "--topic", "events:3", "--topic", "other:1", "--address-file", addressFile.path,
        ]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        try await eventually(timeout: .seconds(20), "the address file") {
            ((try? String(contentsOf: addressFile, encoding: .utf8)) ?? "").hasSuffix("\n")
        }
        let brokers = try String(contentsOf: addressFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(brokers.hasPrefix("127.0.0.1:"))

        let deliveries = DeliveryCollector()
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: TestBroker.client(brokers)),
            logger: TestBroker.logger,
            deliveryReports: deliveries.record
        )
        try await producer.checkTopics(["events", "other"])
        let total = 1_000
        try sendAll(
            producer,
            (0..<total).lazy.map { i in
                (UInt64(i), KafkaProducerRecord(topic: "events", key: Array("card-\(i % 17)".utf8), value: Array("event-\(i)".utf8)))
            })
        #expect(await producer.flush(timeout: .seconds(30)) == 0)
        #expect(deliveries.failures.isEmpty)
        #expect(Set(deliveries.reports.withLock { $0.values.map(\.partition) }) == [0, 1, 2])
        await producer.close(timeout: .seconds(5))

        let handler = CollectingHandler()
        let consumer = try KafkaConsumer(configuration: TestBroker.consumerConfiguration(brokers, group: "mock-test"), logger: TestBroker.logger)
        try consumer.subscribe(topics: ["events"])
        consumer.start(handler: handler)
        try await eventually(timeout: .seconds(60), "all \(total) records") { handler.count >= total }
        #expect(await consumer.close(timeout: .seconds(10)))
        #expect(Set(handler.messages.map { String(decoding: $0.value ?? [], as: UTF8.self) }).count == total)

        let child = childPID(of: process)
        #expect(child > 0)
        kill(child, SIGTERM)
        try await eventually(timeout: .seconds(20), "the mock broker to exit") { !process.isRunning }
        #expect(process.terminationStatus == 0)
    }
}
