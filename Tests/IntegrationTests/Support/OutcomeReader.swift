import Foundation
import Synchronization
import Testing
import VerdictKafka
import VerdictPipeline

/// Reads a fixture's input, decisions and dead-letter topics from the beginning (a fresh group each
/// time) into a ``StreamTally``: the same accounting `verdict report` does.
enum OutcomeReader {
    /// Reads until `expected` input events each have an outcome (or `timeout`), then `settle` longer
    /// so late duplicates are counted too.
    static func read(
        _ fixture: StreamFixture, expected: Int, timeout: Duration = .seconds(120), settle: Duration = .seconds(1),
        isolation: String? = nil
    ) async throws -> StreamTally {
        var configuration = TestBroker.consumerConfiguration(fixture.brokers, group: "reader-\(UUID().uuidString.prefix(8))")
        configuration.autoCommitInterval = nil
        if let isolation { configuration.client.properties["isolation.level"] = isolation }
        let consumer = try KafkaConsumer(configuration: configuration, logger: TestBroker.logger)
        let collector = TallyCollector(input: fixture.input, decisions: fixture.decisions, deadLetters: fixture.deadLetters)
        try consumer.subscribe(topics: [fixture.input, fixture.decisions, fixture.deadLetters])
        consumer.start(handler: collector)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let progress = collector.progress()
            if progress.inputs >= expected && progress.complete { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: settle)
        _ = await consumer.close(timeout: .seconds(10))
        return collector.tally.withLock { $0 }
    }

    /// Reads the fixture's decisions topic from the beginning until `expected` decisions are read
    /// (or `timeout`), decoded.
    static func decisions(
        _ fixture: StreamFixture, expected: Int, timeout: Duration = .seconds(60), isolation: String? = nil
    ) async throws -> [DecisionRecord] {
        try await records(fixture, topic: fixture.decisions, expected: expected, timeout: timeout, isolation: isolation).compactMap {
            $0.value.flatMap(DecisionRecord.parse)
        }
    }

    /// Reads `topic` from the beginning (a fresh group) until `expected` records are read (or `timeout`).
    static func records(
        _ fixture: StreamFixture, topic: String, expected: Int, timeout: Duration = .seconds(60), isolation: String? = nil
    ) async throws -> [KafkaMessage] {
        var configuration = TestBroker.consumerConfiguration(fixture.brokers, group: "records-\(UUID().uuidString.prefix(8))")
        configuration.autoCommitInterval = nil
        if let isolation { configuration.client.properties["isolation.level"] = isolation }
        let consumer = try KafkaConsumer(configuration: configuration, logger: TestBroker.logger)
        let collector = RecordCollector()
        try consumer.subscribe(topics: [topic])
        consumer.start(handler: collector)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, collector.records.withLock({ $0.count }) < expected {
            try await Task.sleep(for: .milliseconds(100))
        }
        _ = await consumer.close(timeout: .seconds(10))
        return collector.records.withLock { $0 }
    }
}

/// Keeps every record it receives.
final class RecordCollector: KafkaConsumerHandler {
    let records = Mutex<[KafkaMessage]>([])

    func consumer(_ consumer: KafkaConsumer, didReceive messages: [KafkaMessage]) {
        records.withLock { $0.append(contentsOf: messages) }
    }

    func consumer(_ consumer: KafkaConsumer, didFail error: KafkaError) {
        FileHandle.standardError.write(Data("reading records back: \(error)\n".utf8))
    }
}
