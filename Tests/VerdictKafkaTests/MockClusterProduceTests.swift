import Foundation
import Logging
import Synchronization
import Testing
import VerdictKafka

/// Fault injection on librdkafka's in-process mock cluster: no broker needed.
@Suite("Producer under broker faults (mock cluster)", .serialized)
struct MockClusterProduceTests {
    static let logger: Logger = {
        var logger = Logger(label: "verdict.tests.mock")
        logger.logLevel = .critical
        return logger
    }()

    final class Reports: Sendable {
        let byID = Mutex<[UInt64: KafkaDeliveryReport]>([:])
        let duplicates = Atomic<Int>(0)
        func record(_ report: KafkaDeliveryReport) {
            let duplicate = byID.withLock { map in
                defer { map[report.id] = report }
                return map[report.id] != nil
            }
            if duplicate { duplicates.add(1, ordering: .relaxed) }
        }
        var count: Int { byID.withLock { $0.count } }
        var all: [KafkaDeliveryReport] { byID.withLock { Array($0.values) } }
    }

    func producer(_ cluster: KafkaMockCluster, reports: Reports, messageTimeout: Duration = .seconds(30)) throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(
            client: KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers]),
            linger: .milliseconds(2),
            messageTimeout: messageTimeout
        )
        configuration.client.properties["retry.backoff.ms"] = "50"
        // Reconnect promptly when a broker comes back; the default backoff grows to 10 s, which on a
        // busy 2-core runner can push records queued for that broker past message.timeout.ms.
        configuration.client.properties["reconnect.backoff.max.ms"] = "500"
        return try KafkaProducer(configuration: configuration, logger: Self.logger, deliveryReports: reports.record)
    }

    func send(_ producer: KafkaProducer, topic: String, ids: Range<Int>) throws {
        for id in ids {
            let record = KafkaProducerRecord(topic: topic, key: Array("k\(id % 101)".utf8), value: Array("v\(id)".utf8))
            while true {
                do {
                    try producer.send(record, id: UInt64(id))
                    break
                } catch {
                    guard error.code == .queueFull else { throw error }
                    producer.waitForQueueSpace(timeout: .milliseconds(50))
                }
            }
        }
    }

    /// Reads the topic back and returns the values per partition, in offset order.
    func readBack(_ cluster: KafkaMockCluster, topic: String, expecting count: Int) async throws -> [String] {
        var configuration = KafkaConsumerConfiguration(
            client: KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers]),
            groupID: "readback-\(UUID().uuidString)",
            sessionTimeout: .seconds(6)
        )
        configuration.autoCommitInterval = nil
        let consumer = try KafkaConsumer(configuration: configuration, logger: Self.logger)
        let collected = Mutex<[String]>([])
        final class Handler: KafkaConsumerHandler {
            let sink: @Sendable ([KafkaMessage]) -> Void
            init(_ sink: @escaping @Sendable ([KafkaMessage]) -> Void) { self.sink = sink }
            func consumer(_ consumer: KafkaConsumer, didReceive messages: [KafkaMessage]) { sink(messages) }
        }
        let handler = Handler { messages in
            collected.withLock { $0.append(contentsOf: messages.map { String(decoding: $0.value ?? [], as: UTF8.self) }) }
        }
        try consumer.subscribe(topics: [topic])
        consumer.start(handler: handler)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while collected.withLock({ $0.count }) < count && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        // Give stray duplicates a moment to show up.
        try await Task.sleep(for: .milliseconds(500))
        await consumer.close(timeout: .seconds(5))
        return collected.withLock { $0 }
    }

    @Test("a broker going down and up mid-run: every record is delivered exactly once or reported failed")
    func brokerDownAndUp() async throws {
        let cluster = try KafkaMockCluster(brokers: 3, logger: Self.logger)
        let topic = "faults-down-up"
        try cluster.createTopic(topic, partitions: 6, replicationFactor: 3)
        let reports = Reports()
        let producer = try producer(cluster, reports: reports, messageTimeout: .seconds(90))
        let total = 20_000
        try send(producer, topic: topic, ids: 0..<(total / 2))
        cluster.setBrokerDown(1)
        try await Task.sleep(for: .milliseconds(300))
        try send(producer, topic: topic, ids: (total / 2)..<total)
        try await Task.sleep(for: .seconds(2))
        cluster.setBrokerUp(1)
        let left = await producer.flush(timeout: .seconds(100))
        #expect(left == 0)
        await producer.close(timeout: .seconds(5))

        // Accounting: one report per record, none silently lost, none reported twice.
        #expect(reports.count == total)
        #expect(reports.duplicates.load(ordering: .relaxed) == 0)
        let failed = reports.all.filter { !$0.isDelivered }
        let delivered = total - failed.count
        // The broker came back well within message.timeout.ms, so every record must have made it.
        #expect(failed.isEmpty, "failed: \(failed.prefix(3))")

        // What the cluster holds agrees: each delivered record once (idempotence: no duplicates).
        let values = try await readBack(cluster, topic: topic, expecting: delivered)
        #expect(values.count == delivered)
        #expect(Set(values).count == values.count)
    }

    @Test("a broker down past message.timeout.ms: records for its partitions are reported failed as indefinite, none lost silently")
    func brokerDownPastTimeout() async throws {
        let cluster = try KafkaMockCluster(brokers: 2, logger: Self.logger)
        let topic = "faults-timeout"
        try cluster.createTopic(topic, partitions: 2, replicationFactor: 1)
        cluster.setPartitionLeader(topic: topic, partition: 0, broker: 1)
        cluster.setPartitionLeader(topic: topic, partition: 1, broker: 2)
        let reports = Reports()
        let producer = try producer(cluster, reports: reports, messageTimeout: .seconds(2))
        // Warm up so the producer knows the leaders, then cut broker 1 off for longer than the timeout.
        try send(producer, topic: topic, ids: 0..<10)
        #expect(await producer.flush(timeout: .seconds(10)) == 0)
        cluster.setBrokerDown(1)
        try send(producer, topic: topic, ids: 10..<2_010)
        let left = await producer.flush(timeout: .seconds(15))
        #expect(left == 0)
        cluster.setBrokerUp(1)
        await producer.close(timeout: .seconds(5))

        #expect(reports.count == 2_010)
        let failed = reports.all.filter { !$0.isDelivered }
        let delivered = reports.all.filter(\.isDelivered)
        #expect(!failed.isEmpty)
        #expect(failed.allSatisfy { $0.partition == 0 })
        #expect(failed.allSatisfy { $0.error?.isIndefinite == true || $0.error?.code == .brokerUnreachable })
        #expect(delivered.contains { $0.partition == 1 && $0.id >= 10 })
    }

    @Test("retriable produce errors are retried until delivered, without duplicates")
    func retriableErrors() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: Self.logger)
        let topic = "faults-retriable"
        try cluster.createTopic(topic, partitions: 1, replicationFactor: 1)
        let reports = Reports()
        let producer = try producer(cluster, reports: reports)
        try send(producer, topic: topic, ids: 0..<10)
        #expect(await producer.flush(timeout: .seconds(10)) == 0)
        cluster.failNextRequests(.produce, with: [.notLeaderForPartition, .notEnoughReplicas, .requestTimedOut, .notEnoughReplicasAfterAppend])
        try send(producer, topic: topic, ids: 10..<5_000)
        #expect(await producer.flush(timeout: .seconds(30)) == 0)
        await producer.close(timeout: .seconds(5))
        #expect(reports.count == 5_000)
        #expect(reports.all.allSatisfy { $0.isDelivered })
        let values = try await readBack(cluster, topic: topic, expecting: 5_000)
        #expect(values.count == 5_000)
        #expect(Set(values).count == 5_000)
    }

    @Test("non-retriable produce errors are reported on the records they hit, never swallowed")
    func permanentErrors() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: Self.logger)
        let topic = "faults-permanent"
        try cluster.createTopic(topic, partitions: 1, replicationFactor: 1)
        let reports = Reports()
        let producer = try producer(cluster, reports: reports)
        try send(producer, topic: topic, ids: 0..<10)
        #expect(await producer.flush(timeout: .seconds(10)) == 0)
        cluster.failNextRequests(.produce, with: [.topicAuthorizationFailed])
        try send(producer, topic: topic, ids: 10..<20)
        #expect(await producer.flush(timeout: .seconds(10)) == 0)
        await producer.close(timeout: .seconds(5))
        #expect(reports.count == 20)
        let failed = reports.all.filter { !$0.isDelivered }
        #expect(!failed.isEmpty)
        #expect(failed.allSatisfy { $0.error?.code == .authorization })
    }

    @Test("reports arrive in batches, one per record, and a failed record comes back whole for a resend")
    func batchedReportsCarryFailedRecords() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: Self.logger)
        let topic = "faults-batched"
        try cluster.createTopic(topic, partitions: 1, replicationFactor: 1)
        let batches = Mutex<[[KafkaDeliveryReport]]>([])
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers])),
            logger: Self.logger, deliveryReportBatches: { reports in batches.withLock { $0.append(reports) } })
        func record(_ id: Int) -> KafkaProducerRecord {
            KafkaProducerRecord(
                topic: topic, key: Array("k\(id)".utf8), value: Array("v\(id)".utf8),
                headers: [KafkaHeader(name: "trace", string: "t\(id)"), KafkaHeader(name: "empty", value: nil)], timestamp: 1_700_000_000_000 + Int64(id))
        }
        for id in 0..<200 { try producer.send(record(id), id: UInt64(id)) }
        #expect(await producer.flush(timeout: .seconds(10)) == 0)
        cluster.failNextRequests(.produce, with: [.topicAuthorizationFailed])
        for id in 200..<210 { try producer.send(record(id), id: UInt64(id)) }
        #expect(await producer.flush(timeout: .seconds(10)) == 0)
        await producer.close(timeout: .seconds(5))
        let all = batches.withLock { $0 }
        #expect(all.allSatisfy { !$0.isEmpty })
        #expect(all.count < 210, "\(all.count) calls for 210 reports: they were not batched")
        let reports = all.flatMap { $0 }
        #expect(reports.map(\.id).sorted() == (0..<210).map(UInt64.init), "every record has exactly one report")
        #expect(reports.allSatisfy { ($0.error == nil) == ($0.record == nil) }, "only a failed report carries its record")
        let failed = reports.filter { !$0.isDelivered }
        #expect(!failed.isEmpty)
        for report in failed {
            var expected = record(Int(report.id))
            expected.partition = 0
            expected.timestamp = nil
            #expect(report.record == expected, "report \(report.id) came back as \(String(describing: report.record))")
        }
    }

    @Test("statistics arrive parsed, with the producer's queue depth and broker RTTs")
    func statistics() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: Self.logger)
        try cluster.createTopic("stats", partitions: 1)
        let seen = Mutex<[KafkaStatistics]>([])
        let configuration = KafkaProducerConfiguration(
            client: KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers], statisticsInterval: .milliseconds(100))
        )
        let producer = try KafkaProducer(
            configuration: configuration, logger: Self.logger,
            onStatistics: { stats in
                seen.withLock { $0.append(stats) }
            }, deliveryReports: { _ in })
        try send(producer, topic: "stats", ids: 0..<100)
        _ = await producer.flush(timeout: .seconds(5))
        try await Task.sleep(for: .milliseconds(500))
        await producer.close(timeout: .seconds(5))
        let all = seen.withLock { $0 }
        #expect(!all.isEmpty)
        #expect(all.allSatisfy { $0.clientType == "producer" })
        #expect(all.contains { $0.brokers.contains { $0.rttAverage != nil } })
    }
}
