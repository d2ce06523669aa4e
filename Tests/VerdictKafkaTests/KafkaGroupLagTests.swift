import Foundation
import Logging
import Synchronization
import Testing
import VerdictKafka

/// The lag reader behind `verdict lag-exporter`: committed offsets against watermarks, read without
/// joining the group.
@Suite("Consumer group lag (KafkaGroupLag)", .serialized)
struct KafkaGroupLagTests {
    @Test(
        "lag is the distance from the committed offset (or the first retained one) to the end, never negative",
        arguments: [
            (committed: Int64?.none, low: Int64(0), high: Int64(100), lag: Int64(100)),
            (nil, 40, 100, 60),  // nothing committed: every retained record waits
            (30, 0, 100, 70),
            (100, 0, 100, 0),
            (10, 40, 100, 60),  // committed below the retained start: the deleted ones do not count
            (120, 0, 100, 0),  // a watermark answer older than the commit
            (0, 0, 0, 0),
        ]
    )
    func lagArithmetic(committed: Int64?, low: Int64, high: Int64, lag: Int64) {
        let entry = KafkaPartitionLag(topicPartition: KafkaTopicPartition(topic: "t", partition: 0), committed: committed, low: low, high: high)
        #expect(entry.lag == lag)
    }

    @Test("on the mock cluster: all records before any commit, zero after a member commits them, the new ones after more arrive")
    func measuresAGroup() async throws {
        var logger = Logger(label: "verdict.tests.lag")
        logger.logLevel = .critical
        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("lagged", partitions: 3)
        let client = KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers])
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: logger, deliveryReports: { _ in })
        func produce(_ ids: Range<Int>) async throws {
            for id in ids {
                try producer.send(KafkaProducerRecord(topic: "lagged", key: Array("k\(id)".utf8), value: Array("v\(id)".utf8)), id: UInt64(id))
            }
            #expect(await producer.flush(timeout: .seconds(10)) == 0)
        }
        try await produce(0..<300)

        let reader = try KafkaGroupLag(configuration: client, groupID: "scorers", logger: logger)
        let before = try await reader.measure(topics: ["lagged"])
        #expect(before.map(\.topicPartition.partition) == [0, 1, 2])
        #expect(before.allSatisfy { $0.committed == nil })
        #expect(before.reduce(0) { $0 + $1.lag } == 300)

        // A member consumes everything and commits (on close), as verdict serve does.
        final class Storing: KafkaConsumerHandler {
            let seen = Atomic<Int>(0)
            func consumer(_ consumer: KafkaConsumer, didReceive messages: [KafkaMessage]) {
                var next: [KafkaTopicPartition: Int64] = [:]
                for message in messages { next[message.topicPartition] = message.offset + 1 }
                try? consumer.storeOffsets(next.map { KafkaTopicPartitionOffset(topicPartition: $0.key, offset: $0.value) })
                seen.add(messages.count, ordering: .relaxed)
            }
            func consumer(_ consumer: KafkaConsumer, statistics: KafkaStatistics) {}
            func consumerDidPoll(_ consumer: KafkaConsumer) {}
        }
        var configuration = KafkaConsumerConfiguration(client: client, groupID: "scorers", sessionTimeout: .seconds(6))
        configuration.autoCommitInterval = .milliseconds(200)
        let member = try KafkaConsumer(configuration: configuration, logger: logger)
        let handler = Storing()
        try member.subscribe(topics: ["lagged"])
        member.start(handler: handler)
        let deadline = ContinuousClock.now + .seconds(60)
        while handler.seen.load(ordering: .relaxed) < 300 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(await member.close(timeout: .seconds(10)))

        let caughtUp = try await reader.measure(topics: ["lagged"])
        #expect(caughtUp.reduce(0) { $0 + $1.lag } == 0)
        #expect(caughtUp.reduce(0) { $0 + ($1.committed ?? 0) } == 300)

        // With no member running, new records show up as lag: what the alert needs.
        try await produce(300..<350)
        let behind = try await reader.measure(topics: ["lagged"])
        #expect(behind.reduce(0) { $0 + $1.lag } == 50)
        await producer.close(timeout: .seconds(5))
    }

    @Test("a missing topic is refused by name")
    func missingTopic() async throws {
        var logger = Logger(label: "verdict.tests.lag")
        logger.logLevel = .critical
        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        let reader = try KafkaGroupLag(configuration: KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers]), groupID: "g", logger: logger)
        await #expect(throws: KafkaError.self) { try await reader.measure(topics: ["absent"], timeout: .seconds(5)) }
        do {
            _ = try await reader.measure(topics: ["absent"], timeout: .seconds(5))
        } catch {
            #expect(error.code == .unknownTopic)
            #expect(error.message.contains("'absent'"))
        }
    }
}
