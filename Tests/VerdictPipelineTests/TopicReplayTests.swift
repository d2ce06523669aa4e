import Foundation
import Logging
import Testing
import VerdictForest
import VerdictKafka
@testable import VerdictPipeline
import VerdictScoring

/// `verdict replay`'s engine on librdkafka's mock cluster: the stream's own processor publishes
/// decisions for a keyed, timestamped input log, and a replay of a time range of that log is
/// compared with them.
@Suite("Topic replay (mock cluster)", .serialized)
struct TopicReplayTests {
    static let logger = Logger(label: "replay-test")

    /// Runs blocking work (Kafka reads, the processor's batches) on a thread of its own, so it
    /// neither holds one of the few cooperative threads the other suites run on nor waits for one.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// The input log (two partitions, 300 records each, over the last five minutes) on a mock
    /// cluster, with the decisions and dead letters the stream's processor made of it published;
    /// `rewind` re-processes a partition's tail, as a restart does, so some records are published twice.
    struct Published: Sendable {
        let cluster: KafkaMockCluster
        let logs: [[KafkaMessage]]
        let models: ModelManager
        let scoring: ScoringConfiguration

        /// One published log for the suite's tests (building it takes seconds).
        static let shared = Task { try await make(rewind: 150) }

        static func make(rewind: Int) async throws -> Published {
            let cluster = try KafkaMockCluster(brokers: 1, logger: TopicReplayTests.logger)
            try cluster.createTopic("transactions", partitions: 2)
            try cluster.createTopic("decisions", partitions: 2)
            try cluster.createTopic("dlq", partitions: 1)
            let logs = AggregateRebuildTests.log(partitions: 2, perPartition: 300, ago: 400, spacing: 0.5)
            let models = try AggregateRebuildTests.models()
            let (_, scoring) = try AggregateRebuildTests.configuration()
            let history = AggregateRebuildTests.History(logs)
            let processor = ScoringProcessor(models: models, decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil, history: history.read)
            let stream = AggregateRebuildTests.interleave(logs, from: [0, 0]) + (rewind > 0 ? Array(logs[1].suffix(rewind)) : [])
            let outputs = try await TopicReplayTests.offPool {
                var outputs: [KafkaProducerRecord] = []
                for start in stride(from: 0, to: stream.count, by: 100) {
                    processor.process(Array(stream[start..<min(start + 100, stream.count)]), into: &outputs)
                }
                return outputs
            }
            let producer = try KafkaProducer(
                configuration: KafkaProducerConfiguration(
                    client: KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers]), linger: .milliseconds(2)),
                logger: TopicReplayTests.logger, deliveryReports: { _ in })
            let inputs = logs.joined().map {
                KafkaProducerRecord(topic: "transactions", partition: $0.partition, key: $0.key, value: $0.value, timestamp: $0.timestamp?.milliseconds)
            }
            try await TopicReplayTests.offPool {
                for (id, record) in (inputs + outputs).enumerated() { try producer.sendBlocking(record, id: UInt64(id), timeout: .seconds(10)) }
            }
            #expect(await producer.flush(timeout: .seconds(30)) == 0)
            await producer.close(timeout: .seconds(5))
            return Published(cluster: cluster, logs: logs, models: models, scoring: scoring)
        }

        /// The middle third of the log's time: the range replays below use.
        var range: (from: Double, to: Double) {
            let times = logs.joined().compactMap { $0.timestamp.map { Double($0.milliseconds) / 1000 } }.sorted()
            return (times[times.count / 3], times[2 * times.count / 3])
        }

        func replay(rules: RuleConfiguration? = nil, snapshots: StateTopic? = nil) async throws -> ReplayReport {
            try await TopicReplayTests.offPool { try replayBlocking(rules: rules, snapshots: snapshots) }
        }

        private func replayBlocking(rules: RuleConfiguration?, snapshots: StateTopic?) throws -> ReplayReport {
            let scorer = try Scorer(
                validation: scoring.validation, rules: rules ?? scoring.rules, model: models.scorer.model, pool: ForestWorkerPool(threads: 2),
                recordTimeIsClock: true)
            let reader = try KafkaPartitionReader(
                configuration: KafkaConsumerConfiguration(
                    client: KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers]), groupID: "replay-\(UUID().uuidString)"),
                logger: TopicReplayTests.logger)
            let replay = TopicReplay(
                configuration: .init(input: "transactions", decisions: "decisions", deadLetters: "dlq", from: range.from, to: range.to, timeout: .seconds(60)),
                reader: reader, scorer: scorer, state: AggregateStore(plan: try scoring.features.aggregatePlan()), snapshots: snapshots,
                logger: TopicReplayTests.logger)
            return try replay.run()
        }

        /// The records in the range: in each partition, from the first record stamped at or after
        /// `from` to the first stamped at or after `to`. The generator moves late-night fraud to the
        /// night, so some records inside the range are stamped before it.
        var inRange: Int {
            logs.map { log in
                let times = log.map { Double($0.timestamp!.milliseconds) / 1000 }
                let first = times.firstIndex { $0 >= range.from } ?? times.count
                let end = times.firstIndex { $0 >= range.to } ?? times.count
                return max(0, end - first)
            }.reduce(0, +)
        }
    }

    @Test("the stream's model and policy reproduce every published outcome, score and aggregate; re-deliveries are counted once and agree")
    func sameCandidateReproduces() async throws {
        let published = try await Published.shared.value
        let report = try await published.replay()
        #expect(report.records == published.inRange)
        #expect(report.partitions.map(\.replayed).reduce(0, +) == published.inRange)
        #expect(report.partitions.allSatisfy { $0.warmed > 50 && $0.firstOffset > 0 && $0.endOffset < 300 }, "\(report.partitions)")
        // The stream decided the events it saw more than the SLA (10 min) after their time without
        // the model; the replay, whose clock is the record's timestamp, decides them with it.
        // Those are the only changes.
        #expect(report.changes.allSatisfy { $0.published.degraded && !$0.replayed.degraded }, "\(report.changes.prefix(3))")
        #expect(report.changed == report.degradedInStream)
        #expect(report.reasonsChanged == 0)
        #expect(report.scoresChanged == 0)
        #expect(report.matrix[ReplayOutcome.noneLabel] == nil, "every replayed record has a published outcome")
        #expect(report.matrix.values.flatMap(\.values).reduce(0, +) == report.records)
        #expect((report.matrix["DEAD_LETTER"]?["DEAD_LETTER"] ?? 0) > 0, "invalid events are dead letters on both sides")
        #expect(report.aggregates.compared > 100 && report.aggregates.differing == 0, "\(report.aggregates)")
        #expect(report.duplicates > 0 && report.conflictingDuplicates == 0, "the rewind re-published some of the range, identically")
        if report.changed == 0 { #expect(report.reasons.allSatisfy { $0.published == $0.replayed }) }
        let markdown = report.markdown()
        #expect(markdown.contains("**\(report.changed)** of \(report.records) records changed outcome"))
        #expect(markdown.contains("the replay reproduced the stream's on all \(report.aggregates.compared) decisions compared"))
    }

    @Test(
        "warming from the state topic: each partition starts from its newest snapshot holding only records before the range, reads less of the log, and gives the same report"
    )
    func warmsFromSnapshot() async throws {
        let published = try await Published.shared.value
        let full = try await published.replay()
        let topic = "state-\(UUID().uuidString.prefix(8))"
        try published.cluster.createTopic(topic, partitions: 2)
        let client = KafkaClientConfiguration(bootstrapServers: [published.cluster.bootstrapServers])
        let snapshots = try StateTopic(
            topic: topic, producer: KafkaProducerConfiguration(client: client, linger: .milliseconds(2)),
            consumer: KafkaConsumerConfiguration(client: client, groupID: "state-\(UUID().uuidString)"), timeout: .seconds(30),
            logger: Self.logger)
        // The stream's processor, snapshotting each partition to the topic after every batch.
        let processor = ScoringProcessor(
            models: try AggregateRebuildTests.models(), decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil,
            history: AggregateRebuildTests.History(published.logs).read, stores: [snapshots], snapshotInterval: 0)
        let stream = AggregateRebuildTests.interleave(published.logs, from: [0, 0])
        try await Self.offPool {
            for start in stride(from: 0, to: stream.count, by: 40) {
                var outputs: [KafkaProducerRecord] = []
                processor.process(Array(stream[start..<min(start + 40, stream.count)]), into: &outputs)
            }
            processor.flushSnapshots()
        }
        let warm = try await published.replay(snapshots: snapshots)
        for (with, without) in zip(warm.partitions, full.partitions) {
            let through = try #require(with.snapshotThrough, "partition \(with.partition) warmed from the log's start")
            // Every record the snapshot holds comes before the range, and the warming read less.
            #expect(through < with.firstOffset)
            let log = published.logs[with.partition]
            #expect(log.filter { $0.offset <= through }.allSatisfy { Double($0.timestamp!.milliseconds) / 1000 < published.range.from })
            #expect(with.warmed < without.warmed && with.warmed == without.warmed - Int(through + 1), "\(with) \(without)")
            #expect(with.firstOffset == without.firstOffset && with.endOffset == without.endOffset && with.replayed == without.replayed)
        }
        #expect(warm.records == full.records && warm.matrix == full.matrix && warm.changed == full.changed)
        #expect(warm.aggregates.compared == full.aggregates.compared && warm.aggregates.differing == 0, "\(warm.aggregates)")
        #expect(warm.markdown().contains("snapshot after offset"))
        await snapshots.close()
    }

    @Test("a stricter policy escalates outcomes; the diff lists each change with its scores and reasons, in Markdown and JSON")
    func stricterPolicyDiffers() async throws {
        let published = try await Published.shared.value
        var rules = published.scoring.rules
        let card = try #require(published.models.scorer.model?.card?.thresholds)
        rules.thresholds = .init(reviewAt: card.reviewAt / 4, declineAt: card.declineAt)
        rules.policyVersion = "stricter"
        let report = try await published.replay(rules: rules)
        #expect(report.candidate.policyVersion == "stricter")
        #expect(report.changed > 0, "a quarter of the review threshold flags more")
        #expect(report.scoresChanged == 0, "the same model gives the same scores")
        for change in report.changes where !change.published.degraded {
            let before = try #require(Verdict(rawValue: change.published.outcome)), after = try #require(Verdict(rawValue: change.replayed.outcome))
            #expect(after > before, "\(change)")
            #expect(change.published.riskScore == change.replayed.riskScore)
        }
        #expect(report.changes.contains { !$0.published.degraded })
        let escalated = (report.matrix["APPROVE"]?["REVIEW"] ?? 0) + (report.matrix["APPROVE"]?["DECLINE"] ?? 0) + (report.matrix["REVIEW"]?["DECLINE"] ?? 0)
        #expect(report.changed <= escalated + report.degradedInStream)
        #expect(report.aggregates.differing == 0, "the policy does not touch the aggregates")
        let object = try #require(try JSONSerialization.jsonObject(with: report.json()) as? [String: Any])
        #expect(object["changed"] as? Int == report.changed)
        #expect((object["changes"] as? [[String: Any]])?.count == report.changed)
        let first = try #require(report.changes.first)
        let markdown = report.markdown(listed: 1)
        #expect(
            markdown.contains(
                "| \(first.transactionID ?? "–") | \(first.source.partition)/\(first.source.offset) | \(first.published.outcome) | \(first.replayed.outcome) "))
        if report.changed > 1 { #expect(markdown.contains("first 1 of \(report.changed)")) }
    }

    @Test("copies that disagree, records the stream published nothing for, and differing scores and aggregates are each counted")
    func comparisonCounts() {
        func source(_ offset: Int64) -> EventSource { EventSource(topic: "transactions", partition: 0, offset: offset) }
        let approve = ReplayOutcome(outcome: "APPROVE", riskScore: 0.1, reasons: [], ruleHits: [], degraded: false, aggregates: ["n": 1, "gap": nil])
        var review = approve
        review.outcome = "REVIEW"
        review.reasons = ["HIGH_AMOUNT"]
        var shifted = approve
        shifted.aggregates = ["n": 2, "gap": nil]
        shifted.riskScore = 0.25
        var comparison = ReplayComparison()
        comparison.add(source: source(0), transactionID: "a", published: [approve, approve], replayed: approve)
        comparison.add(source: source(1), transactionID: "b", published: [approve, review], replayed: review)
        comparison.add(source: source(2), transactionID: "c", published: [], replayed: approve)
        comparison.add(source: source(3), transactionID: "d", published: [approve], replayed: shifted)
        #expect(comparison.records == 4)
        #expect(comparison.duplicates == 2 && comparison.conflictingDuplicates == 1)
        #expect(comparison.matrix == ["APPROVE": ["APPROVE": 2, "REVIEW": 1], "NONE": ["APPROVE": 1]])
        #expect(comparison.changes.map(\.transactionID) == ["b", "c"], "the first published copy is the stream's outcome")
        #expect(comparison.scoresChanged == 1 && abs(comparison.largestScoreChange - 0.15) < 1e-15)
        #expect(comparison.aggregatesCompared == 3 && comparison.aggregatesDiffering == 1)
        #expect(comparison.aggregateExamples == ["0/3 n: published 1.0, replayed 2.0"])
        #expect(comparison.reasons == [ReplayComparison.ReasonCount(kind: "feature", code: "HIGH_AMOUNT", published: 0, replayed: 1)])
        let report = ReplayReport(
            input: "transactions", decisions: "decisions", deadLetters: "dlq", from: 0, to: 60,
            candidate: .init(model: nil, version: nil, sha256: nil, policyVersion: "p"),
            partitions: [], comparison: comparison)
        let markdown = report.markdown()
        #expect(markdown.contains("| APPROVE | 2 | **1** | 0 | 0 | 3 |") && markdown.contains("| NONE | **1** | 0 | 0 | 0 | 1 |"), "\(markdown)")
        #expect(markdown.contains("1 records' copies disagree"))
        #expect(markdown.contains("1 of 3 decisions differ"))
    }
}
