import Foundation
import Synchronization
import Testing
import VerdictKafka

@Suite("Consumer groups against the real broker", .serialized, .enabled(if: TestBroker.enabled))
struct ConsumerGroupTests {
    func produce(_ count: Int, to topic: String, brokers: String, startingAt start: Int = 0) async throws {
        let deliveries = DeliveryCollector()
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: TestBroker.client(brokers)),
            logger: TestBroker.logger,
            deliveryReports: deliveries.record
        )
        try sendAll(
            producer,
            (start..<(start + count)).lazy.map { i in
                (UInt64(i), KafkaProducerRecord(topic: topic, key: Array("k\(i % 64)".utf8), value: Array("m\(i)".utf8)))
            })
        #expect(await producer.flush(timeout: .seconds(30)) == 0)
        #expect(deliveries.failures.isEmpty)
        await producer.close(timeout: .seconds(5))
    }

    @Test("commit, close, restart: the group resumes at the committed offset")
    func resumesAtCommittedOffset() async throws {
        let brokers = try TestBroker.brokers()
        let topic = TestBroker.uniqueTopic("resume")
        try await TestBroker.createTopic(topic, partitions: 1, brokers: brokers)
        try await produce(1_000, to: topic, brokers: brokers)
        let group = "g-\(topic)"

        // First run: take 1000 records, store through offset 599 only (work on the rest "not finished").
        final class PartialHandler: KafkaConsumerHandler {
            let collected = CollectingHandler(storeOffsets: false)
            func consumer(_ consumer: KafkaConsumer, didReceive messages: [KafkaMessage]) {
                collected.consumer(consumer, didReceive: messages)
                let done = messages.filter { $0.offset < 600 }
                if let last = done.last {
                    try? consumer.storeOffsets([KafkaTopicPartitionOffset(topicPartition: last.topicPartition, offset: last.offset + 1)])
                }
            }
        }
        let first = PartialHandler()
        var configuration = TestBroker.consumerConfiguration(brokers, group: group)
        configuration.autoCommitInterval = nil  // only the explicit commit below and close may commit
        let consumer1 = try KafkaConsumer(configuration: configuration, logger: TestBroker.logger)
        try consumer1.subscribe(topics: [topic])
        consumer1.start(handler: first)
        try await eventually(timeout: .seconds(30), "first run reads 1000") { first.collected.count >= 1_000 }
        try await consumer1.commit()
        let committed = try await consumer1.committedOffsets([KafkaTopicPartition(topic: topic, partition: 0)])
        #expect(committed.first?.offset == 600)
        #expect(await consumer1.close(timeout: .seconds(10)))

        // Restart: the first record seen is offset 600, and nothing before it.
        let second = CollectingHandler()
        let consumer2 = try KafkaConsumer(configuration: configuration, logger: TestBroker.logger)
        try consumer2.subscribe(topics: [topic])
        consumer2.start(handler: second)
        try await eventually(timeout: .seconds(30), "second run reads the 400 uncommitted") { second.count >= 400 }
        try await Task.sleep(for: .milliseconds(300))
        #expect(await consumer2.close(timeout: .seconds(10)))
        let offsets = second.messages.map(\.offset)
        #expect(offsets.first == 600)
        #expect(offsets == Array(600..<1000))
    }

    @Test("two consumers split the partitions; one leaves mid-stream; nothing is lost")
    func twoConsumersOneLeaves() async throws {
        let brokers = try TestBroker.brokers()
        let topic = TestBroker.uniqueTopic("split")
        try await TestBroker.createTopic(topic, partitions: 4, brokers: brokers)
        let group = "g-\(topic)"
        let configuration = TestBroker.consumerConfiguration(brokers, group: group)
        let a = CollectingHandler()
        let b = CollectingHandler()
        let consumerA = try KafkaConsumer(configuration: configuration, logger: TestBroker.logger)
        let consumerB = try KafkaConsumer(configuration: configuration, logger: TestBroker.logger)
        try consumerA.subscribe(topics: [topic])
        try consumerB.subscribe(topics: [topic])
        consumerA.start(handler: a)
        consumerB.start(handler: b)
        try await eventually(timeout: .seconds(45), "both members own partitions") {
            !a.assignment.isEmpty && !b.assignment.isEmpty && a.assignment.count + b.assignment.count == 4
        }
        #expect(a.assignment.isDisjoint(with: b.assignment))

        try await produce(20_000, to: topic, brokers: brokers)
        try await eventually(timeout: .seconds(30), "some records consumed") { a.count + b.count >= 5_000 }
        // B leaves mid-stream: its revoke commits what it stored; A takes over its partitions.
        #expect(await consumerB.close(timeout: .seconds(10)))
        try await produce(20_000, to: topic, brokers: brokers, startingAt: 20_000)
        try await eventually(timeout: .seconds(60), "A owns all partitions") { a.assignment.count == 4 }
        let seen: () -> Set<String> = {
            Set((a.messages + b.messages).map { String(decoding: $0.value ?? [], as: UTF8.self) })
        }
        try await eventually(timeout: .seconds(60), "all 40000 records seen") { seen().count >= 40_000 }
        #expect(await consumerA.close(timeout: .seconds(10)))
        #expect(seen().count == 40_000)
        let events = b.state.withLock { $0.events }
        #expect(events.contains { if case .revoked = $0 { true } else { false } })
    }

    @Test("a tombstone and a 1 MB record pass through without a crash")
    func tombstoneAndLargeRecord() async throws {
        let brokers = try TestBroker.brokers()
        let topic = TestBroker.uniqueTopic("edge")
        try await TestBroker.createTopic(topic, partitions: 1, brokers: brokers)
        let deliveries = DeliveryCollector()
        var producerConfiguration = KafkaProducerConfiguration(client: TestBroker.client(brokers))
        producerConfiguration.client.properties["message.max.bytes"] = "2000000"
        let producer = try KafkaProducer(configuration: producerConfiguration, logger: TestBroker.logger, deliveryReports: deliveries.record)
        let big = [UInt8]((0..<1_048_576).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try producer.send(KafkaProducerRecord(topic: topic, key: Array("card-1".utf8), value: nil), id: 1)
        try producer.send(
            KafkaProducerRecord(
                topic: topic, key: Array("card-2".utf8), value: big,
                headers: [KafkaHeader(name: "traceparent", string: "00-abc-def-01"), KafkaHeader(name: "empty", value: nil)]), id: 2)
        try producer.send(KafkaProducerRecord(topic: topic, key: nil, value: []), id: 3)
        #expect(await producer.flush(timeout: .seconds(30)) == 0)
        #expect(deliveries.failures.isEmpty, "\(deliveries.failures)")
        await producer.close(timeout: .seconds(5))

        let handler = CollectingHandler()
        let consumer = try KafkaConsumer(configuration: TestBroker.consumerConfiguration(brokers, group: "g-\(topic)"), logger: TestBroker.logger)
        try consumer.subscribe(topics: [topic])
        consumer.start(handler: handler)
        try await eventually(timeout: .seconds(30), "three records") { handler.count >= 3 }
        await consumer.close(timeout: .seconds(10))
        let messages = handler.messages
        #expect(messages[0].value == nil)
        #expect(messages[0].key == Array("card-1".utf8))
        #expect(messages[1].value == big)
        #expect(messages[1].header("traceparent") == Array("00-abc-def-01".utf8))
        #expect(messages[1].headers.contains(KafkaHeader(name: "empty", value: nil)))
        #expect(messages[2].value == [])
        #expect(messages[2].key == nil)
        #expect(messages.allSatisfy { $0.timestamp != nil })
    }

    @Test("close returns within its deadline while the broker is paused (SIGSTOP)")
    func closeWithPausedBroker() async throws {
        let tansu = try await PrivateTansu.start()
        defer { tansu.stop() }
        let topic = "paused"
        try await TestBroker.createTopic(topic, partitions: 2, brokers: tansu.address)
        let handler = CollectingHandler()
        let consumer = try KafkaConsumer(configuration: TestBroker.consumerConfiguration(tansu.address, group: "g-paused"), logger: TestBroker.logger)
        try consumer.subscribe(topics: [topic])
        consumer.start(handler: handler)
        try await eventually(timeout: .seconds(30), "assignment") { handler.assignment.count == 2 }
        tansu.pause()
        let clock = ContinuousClock()
        let started = clock.now
        let clean = await consumer.close(timeout: .seconds(3))
        let took = clock.now - started
        tansu.resume()
        #expect(!clean)  // the broker could not answer, so the close was cut at the deadline
        #expect(took < .seconds(5), "close took \(took)")
    }

    @Test("an unreachable broker gives a clear error naming the address within seconds")
    func unreachableBroker() async throws {
        let port = try PrivateTansu.freePort()  // nothing listens there
        let admin = try KafkaAdmin(configuration: KafkaClientConfiguration(bootstrapServers: ["127.0.0.1:\(port)"]), logger: TestBroker.logger)
        let clock = ContinuousClock()
        let started = clock.now
        await #expect { try await admin.checkTopics(["transactions"], timeout: .seconds(2)) } throws: { error in
            guard let error = error as? KafkaError else { return false }
            return error.code == .brokerUnreachable && error.message.contains("127.0.0.1:\(port)")
        }
        #expect(clock.now - started < .seconds(5))
    }

    @Test("a missing topic gives a clear error naming the topic")
    func missingTopic() async throws {
        let brokers = try TestBroker.brokers()
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: TestBroker.client(brokers)), logger: TestBroker.logger, deliveryReports: { _ in })
        let missing = TestBroker.uniqueTopic("missing")
        await #expect { try await producer.checkTopics([missing]) } throws: { error in
            guard let error = error as? KafkaError else { return false }
            return error.code == .unknownTopic && error.message.contains(missing)
        }
        await producer.close(timeout: .seconds(5))
    }
}
