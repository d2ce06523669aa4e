import Foundation
import Testing
import VerdictKafka

/// The partition reader a stream's aggregate rebuild uses, on librdkafka's in-process mock cluster.
@Suite("Partition reader (mock cluster)", .serialized)
struct KafkaPartitionReaderTests {
    static func cluster(topic: String, records: Int) async throws -> KafkaMockCluster {
        let cluster = try KafkaMockCluster(brokers: 1, logger: MockClusterProduceTests.logger)
        try cluster.createTopic(topic, partitions: 2, replicationFactor: 1)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers]), linger: .milliseconds(2)),
            logger: MockClusterProduceTests.logger, deliveryReports: { _ in })
        for id in 0..<records {
            try producer.sendBlocking(KafkaProducerRecord(topic: topic, partition: 0, value: Array("v\(id)".utf8)), id: UInt64(id), timeout: .seconds(10))
        }
        #expect(await producer.flush(timeout: .seconds(30)) == 0)
        await producer.close(timeout: .seconds(5))
        return cluster
    }

    static func reader(_ cluster: KafkaMockCluster) throws -> KafkaPartitionReader {
        let configuration = KafkaConsumerConfiguration(
            client: KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers]), groupID: "reader-\(UUID().uuidString)")
        return try KafkaPartitionReader(configuration: configuration, logger: MockClusterProduceTests.logger)
    }

    @Test("reads a partition from its start up to, not including, an offset, in order and in batches")
    func readsBelowOffset() async throws {
        let cluster = try await Self.cluster(topic: "reader", records: 700)
        let reader = try Self.reader(cluster)
        let partition = KafkaTopicPartition(topic: "reader", partition: 0)
        var offsets: [Int64] = []
        var values: [String] = []
        let read = try reader.read(partition, before: 450, timeout: .seconds(30)) { batch in
            offsets += batch.map(\.offset)
            values += batch.map { String(decoding: $0.value ?? [], as: UTF8.self) }
        }
        #expect(read == 450)
        #expect(offsets == Array(0..<450))
        #expect(values.first == "v0" && values.last == "v449")
        // Nothing below offset 0; an end past the log stops at the end of the log.
        #expect(try reader.read(partition, before: 0, timeout: .seconds(5)) { _ in Issue.record("nothing to read") } == 0)
        #expect(try reader.read(partition, before: 10_000, timeout: .seconds(30)) { _ in } == 700)
        // An empty partition: the end of its log comes at once.
        #expect(try reader.read(KafkaTopicPartition(topic: "reader", partition: 1), before: 5, timeout: .seconds(30)) { _ in } == 0)
    }

    @Test("an unreachable broker is an error after the deadline, not a wedge")
    func unreachableTimesOut() async throws {
        let cluster = try await Self.cluster(topic: "reader-down", records: 10)
        let reader = try Self.reader(cluster)
        cluster.setBrokerDown(1)
        let clock = ContinuousClock()
        let started = clock.now
        #expect(throws: KafkaError.self) {
            try reader.read(KafkaTopicPartition(topic: "reader-down", partition: 0), before: 5, timeout: .seconds(2)) { _ in }
        }
        #expect(clock.now - started < .seconds(20))
    }
}
