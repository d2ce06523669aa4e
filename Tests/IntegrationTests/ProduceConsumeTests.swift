import Foundation
import Testing
import VerdictKafka

@Suite("Produce and consume against the real broker", .serialized, .enabled(if: TestBroker.enabled))
struct ProduceConsumeTests {
    @Test("100k messages produced are all consumed by a group, every offset seen once")
    func hundredThousandMessages() async throws {
        let brokers = try TestBroker.brokers()
        let topic = TestBroker.uniqueTopic("pc")
        try await TestBroker.createTopic(topic, partitions: 4, brokers: brokers)
        let total = 100_000
        let deliveries = DeliveryCollector()
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: TestBroker.client(brokers)),
            logger: TestBroker.logger,
            deliveryReports: deliveries.record
        )
        try sendAll(
            producer,
            (0..<total).lazy.map { i in
                (UInt64(i), KafkaProducerRecord(topic: topic, key: Array("card-\(i % 977)".utf8), value: Array("event-\(i)".utf8)))
            })
        #expect(await producer.flush(timeout: .seconds(60)) == 0)
        #expect(deliveries.count == total)
        #expect(deliveries.failures.isEmpty)
        await producer.close(timeout: .seconds(5))

        let handler = CollectingHandler()
        let consumer = try KafkaConsumer(configuration: TestBroker.consumerConfiguration(brokers, group: "g-\(topic)"), logger: TestBroker.logger)
        try consumer.subscribe(topics: [topic])
        consumer.start(handler: handler)
        try await eventually(timeout: .seconds(90), "all \(total) messages") { handler.count >= total }
        #expect(await consumer.close(timeout: .seconds(10)))

        let messages = handler.messages
        #expect(messages.count == total)
        // Every (partition, offset) exactly once, offsets contiguous per partition from 0.
        var byPartition: [Int: [Int64]] = [:]
        for message in messages { byPartition[message.partition, default: []].append(message.offset) }
        for (partition, offsets) in byPartition {
            #expect(offsets == Array(0..<Int64(offsets.count)), "partition \(partition) offsets are not 0..<n in order")
        }
        let values = Set(messages.map { String(decoding: $0.value ?? [], as: UTF8.self) })
        #expect(values.count == total)
    }
}
