import Foundation
import Logging
import Synchronization
import Testing
import VerdictForest
import VerdictKafka
import VerdictONNX
@testable import VerdictPipeline
import VerdictScoring
import VerdictSynthetic

/// The stream's aggregate state across restarts and rewinds: a processor that takes a partition
/// rebuilds its state from the partition's log before scoring it, so every decision, a re-read
/// duplicate included, carries the values an uninterrupted run gave it.
@Suite("Aggregate state rebuilt from the log")
struct AggregateRebuildTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A model manager over the repository's configuration with the aggregates added to features.yaml.
    static func models() throws -> ModelManager {
        let (configuration, scoring) = try configuration()
        return try ModelManager(
            configuration: configuration, scoring: scoring, pool: ForestWorkerPool(threads: 2), metrics: nil, logger: Logger(label: "test"),
            loader: { request throws(ForestError) in try ModelLoader.loadAnyFormat(request) })
    }

    /// The repository's configuration with the aggregates added to features.yaml.
    static func configuration() throws -> (VerdictConfiguration, ScoringConfiguration) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-rebuild-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let features = directory.appendingPathComponent("features.yaml")
        let base = try String(contentsOf: root.appendingPathComponent("config/features.yaml"), encoding: .utf8)
        let aggregates = try String(contentsOf: root.appendingPathComponent("Tests/Fixtures/aggregates.yaml"), encoding: .utf8)
        try (base + "\n" + aggregates).write(to: features, atomically: true, encoding: .utf8)
        var configuration = try VerdictConfiguration.load(path: root.appendingPathComponent("config/verdict.yaml").path, environment: [:])
        configuration.scoring.features = features.path
        let scoring = try ScoringConfiguration.load(
            features: features.path, rules: configuration.resolve(configuration.scoring.rules), validation: configuration.scoring.validation)
        return (configuration, scoring)
    }

    /// Generated traffic with per-card repeats, on `partitions` partitions keyed by card, each
    /// record stamped one second after its event (the log's time, which validation measures against).
    static func log(partitions: Int, perPartition: Int, ago: Double = 7200, spacing: Double = 3) -> [[KafkaMessage]] {
        var options = EventGenerator.Options()
        options.seed = 5
        options.cards = 60
        options.merchants = 30
        options.start = Date().timeIntervalSince1970 - ago
        options.spacing = spacing
        options.invalidFraction = 0.02
        var generator = EventGenerator(options: options)
        var logs = [[KafkaMessage]](repeating: [], count: partitions)
        while logs.contains(where: { $0.count < perPartition }) {
            let event = generator.next()
            let object = (try? JSONSerialization.jsonObject(with: Data(event.value))) as? [String: Any]
            let card = object?["card_id"] as? String ?? "none"
            let p = Int(card.utf8.reduce(UInt32(7)) { $0 &* 31 &+ UInt32($1) } % UInt32(partitions))
            guard logs[p].count < perPartition else { continue }
            let time = (object?["event_time"] as? String).flatMap(Timestamps.parse) ?? options.start
            logs[p].append(
                KafkaMessage(
                    topic: "transactions", partition: p, offset: Int64(logs[p].count), key: Array(card.utf8), value: event.value,
                    timestamp: KafkaTimestamp(milliseconds: Int64((time + 1) * 1000), kind: .createTime)))
        }
        return logs
    }

    /// Runs `messages` through the processor in batches of mixed partitions; returns each decision's
    /// `aggregates` by partition and offset.
    static func run(_ processor: ScoringProcessor, _ messages: [KafkaMessage], batch: Int) throws -> [String: [String: Double?]] {
        var result: [String: [String: Double?]] = [:]
        for start in stride(from: 0, to: messages.count, by: batch) {
            let slice = Array(messages[start..<min(start + batch, messages.count)])
            var outputs: [KafkaProducerRecord] = []
            processor.process(slice, into: &outputs)
            for (message, output) in zip(slice, outputs) where output.topic == "decisions" {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(output.value ?? [])) as? [String: Any])
                let values = try #require(object["aggregates"] as? [String: Any])
                result["\(message.partition)/\(message.offset)"] = values.mapValues { ($0 as? NSNumber)?.doubleValue }
            }
        }
        return result
    }

    /// Interleaves partitions the way a consumer's batches do.
    static func interleave(_ logs: [[KafkaMessage]], from starts: [Int]) -> [KafkaMessage] {
        var cursors = starts
        var out: [KafkaMessage] = []
        while cursors.indices.contains(where: { cursors[$0] < logs[$0].count }) {
            for p in logs.indices where cursors[p] < logs[p].count {
                let end = min(cursors[p] + 37, logs[p].count)
                out += logs[p][cursors[p]..<end]
                cursors[p] = end
            }
        }
        return out
    }

    final class History: Sendable {
        let logs: [[KafkaMessage]]
        let calls = Mutex<[String]>([])
        init(_ logs: [[KafkaMessage]]) { self.logs = logs }

        var read: PartitionHistory {
            { [self] partition, start, end, body in
                calls.withLock { $0.append(start.map { "\(partition.partition):\($0)<\(end)" } ?? "\(partition.partition)<\(end)") }
                let records = logs[partition.partition].filter { $0.offset >= (start ?? 0) && $0.offset < end }
                for start in stride(from: 0, to: records.count, by: 150) { body(Array(records[start..<min(start + 150, records.count)])) }
                return records.count
            }
        }
    }

    @Test("after a restart at any offsets, every re-read decision carries the values of the uninterrupted run", arguments: [[0, 0], [1, 250], [333, 599]])
    func restartMatches(starts: [Int]) throws {
        let logs = Self.log(partitions: 2, perPartition: 600)
        let history = History(logs)
        let first = ScoringProcessor(
            models: try Self.models(), decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil, history: history.read)
        let uninterrupted = try Self.run(first, Self.interleave(logs, from: [0, 0]), batch: 200)
        #expect(uninterrupted.count > 1_100, "most events are decided (\(uninterrupted.count))")
        #expect(uninterrupted.values.contains { ($0["card_txn_count_1h"] ?? 0) ?? 0 > 1 }, "cards repeat within the hour")

        let restartedHistory = History(logs)
        let restarted = ScoringProcessor(
            models: try Self.models(), decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil, history: restartedHistory.read)
        let resumed = try Self.run(restarted, Self.interleave(logs, from: starts), batch: 128)
        #expect(!resumed.isEmpty)
        for (record, values) in resumed { #expect(uninterrupted[record] == values, "\(record)") }
        // One rebuild per partition, each up to the first record it scored.
        #expect(Set(restartedHistory.calls.withLock { $0 }) == Set(starts.enumerated().map { "\($0.offset)<\($0.element)" }))
    }

    @Test("a rewind to records the state already holds rebuilds it, and a released partition is rebuilt when it comes back")
    func rewindAndRelease() throws {
        let logs = Self.log(partitions: 1, perPartition: 500)
        let history = History(logs)
        let status = PipelineStatus()
        let processor = ScoringProcessor(
            models: try Self.models(), decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil, history: history.read, status: status)
        let uninterrupted = try Self.run(processor, logs[0], batch: 100)
        #expect(history.calls.withLock { $0 } == ["0<0"])
        #expect(status.secondsSinceLastPoll == nil, "an empty rebuild reads nothing")
        let again = try Self.run(processor, Array(logs[0][120...]), batch: 90)
        // The rebuild blocks the poll loop; its progress keeps /healthz's liveness fresh.
        #expect(status.secondsSinceLastPoll.map { $0 < 5 } == true)
        for (record, values) in again { #expect(uninterrupted[record] == values, "\(record) after a rewind") }
        #expect(history.calls.withLock { $0 } == ["0<0", "0<120"])
        processor.released([KafkaTopicPartition(topic: "transactions", partition: 0)])
        let back = try Self.run(processor, Array(logs[0][400...]), batch: 50)
        for (record, values) in back { #expect(uninterrupted[record] == values, "\(record) after the partition came back") }
        #expect(history.calls.withLock { $0 } == ["0<0", "0<120", "0<400"])
    }

    @Test("a rebuild that holds the poll thread for half of max_poll_interval warns once, past it logs an error once, and still finishes exactly")
    func rebuildAgainstThePollInterval() throws {
        let logs = Self.log(partitions: 1, perPartition: 2_000)
        let uninterrupted = try Self.run(
            ScoringProcessor(models: try Self.models(), decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil, history: History(logs).read),
            logs[0], batch: 200)
        // The log is read in 13 batches of 150, 60 ms each: the rebuild holds the poll thread for
        // about 780 ms against a 500 ms interval, so it passes half of it, then all of it. (Only a
        // single batch slower than 250 ms could skip the warning; a loaded machine stays far below.)
        let history = History(logs)
        let slow: PartitionHistory = { partition, start, end, body in
            try history.read(partition, start, end) { batch in
                Thread.sleep(forTimeInterval: 0.06)
                body(batch)
            }
        }
        let capture = PANLeakPropertyTests.Capture()
        let logger = Logger(label: "test") { _ in PANLeakPropertyTests.CaptureHandler(capture: capture) }
        let status = PipelineStatus()
        let processor = ScoringProcessor(
            models: try Self.models(), decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil, history: slow,
            status: status, pollInterval: .milliseconds(500), logger: logger)
        let resumed = try Self.run(processor, Array(logs[0][1_900..<1_950]), batch: 50)
        for (record, values) in resumed { #expect(uninterrupted[record] == values, "\(record) after a slow rebuild") }
        #expect(history.calls.withLock { $0 } == ["0<1900"])
        // Its progress counted as polling only up to the interval: the last of it was at least
        // the 280 ms of batches after 500 ms ago, so /healthz would read the stall.
        #expect(status.secondsSinceLastPoll.map { $0 >= 0.2 } == true, "\(String(describing: status.secondsSinceLastPoll))")
        let held = capture.lines.withLock { $0 }.filter { $0.contains("max_poll_interval;") || $0.contains("past kafka.consumer.max_poll_interval") }
        #expect(held.count == 2, "\(held)")
        #expect(held.first?.hasPrefix("rebuilding aggregate state has held the poll thread for half of") == true, "\(held)")
        #expect(held.last?.hasPrefix("rebuilding aggregate state held the poll thread past") == true, "\(held)")
        #expect(held.last?.contains("raise kafka.consumer.max_poll_interval") == true)
        #expect(held.allSatisfy { $0.contains("\"\(LogKey.maxPollInterval)\": 0.5") && $0.contains(LogKey.partition) }, "\(held)")
        let before = capture.lines.withLock { $0 }.count
        // The next batch continues the state: no rebuild, nothing more logged.
        let next = try Self.run(processor, Array(logs[0][1_950...]), batch: 50)
        for (record, values) in next { #expect(uninterrupted[record] == values, "\(record)") }
        #expect(history.calls.withLock { $0 } == ["0<1900"])
        #expect(capture.lines.withLock { $0 }.count == before)
    }

    @Test("finish waits until the snapshots queued when the partitions were released are written, so a shutdown does not exit before them")
    func finishWaitsForReleaseSnapshots() async throws {
        let logs = Self.log(partitions: 1, perPartition: 600)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-snapshots-\(UUID().uuidString)")
        let snapshots = try StateSnapshotDirectory(path: directory.path)
        let partition = KafkaTopicPartition(topic: "transactions", partition: 0)
        let processor = ScoringProcessor(
            models: try Self.models(), decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil, history: History(logs).read,
            snapshots: snapshots, snapshotInterval: 3600)
        // The first batch writes a snapshot at once (offset 99); the interval keeps the rest for release.
        _ = try Self.run(processor, Array(logs[0][..<600]), batch: 100)
        processor.released([partition])
        #expect(await processor.finish(within: .seconds(30)))
        #expect(try snapshots.read(partition)?.through == 599)
    }

    @Test("a snapshot behind the records to score is restored and only the log after it read; one ahead of them, or damaged, is not used")
    func snapshots() throws {
        let logs = Self.log(partitions: 1, perPartition: 600)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-snapshots-\(UUID().uuidString)")
        let snapshots = try StateSnapshotDirectory(path: directory.path)
        let partition = KafkaTopicPartition(topic: "transactions", partition: 0)
        let uninterrupted = try Self.run(
            ScoringProcessor(models: try Self.models(), decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil, history: History(logs).read),
            logs[0], batch: 100)
        func processor(_ history: History) throws -> ScoringProcessor {
            ScoringProcessor(
                models: try Self.models(), decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil, history: history.read,
                snapshots: snapshots, snapshotInterval: 3600)
        }
        // A first run scores offsets 0..<250 and hands the partition back: its snapshot holds 0...249.
        let first = try processor(History(logs))
        _ = try Self.run(first, Array(logs[0][..<250]), batch: 100)
        first.released([partition])
        first.flushSnapshots()
        #expect(try snapshots.read(partition)?.through == 249)

        // The next owner scores from 400: it restores the snapshot and reads only 250..<400.
        let history = History(logs)
        let second = try processor(history)
        let resumed = try Self.run(second, Array(logs[0][400...]), batch: 64)
        second.flushSnapshots()
        #expect(history.calls.withLock { $0 } == ["0:250<400"])
        for (record, values) in resumed { #expect(uninterrupted[record] == values, "\(record) after a restore") }

        // A snapshot past the first record to score (the commit lagged): rebuilt from the log's start.
        let behind = History(logs)
        let third = try processor(behind)
        let rescored = try Self.run(third, Array(logs[0][100...]), batch: 64)
        third.flushSnapshots()
        #expect(behind.calls.withLock { $0 }.first == "0<100")
        for (record, values) in rescored { #expect(uninterrupted[record] == values, "\(record) after ignoring a newer snapshot") }

        // A damaged file is ignored: rebuilt from the log's start, same values.
        let file = directory.appendingPathComponent("transactions-0.state")
        var bytes = try [UInt8](Data(contentsOf: file))
        bytes[bytes.count / 2] ^= 0xFF
        bytes.removeLast(7)
        try Data(bytes).write(to: file)
        let damaged = History(logs)
        let again = try Self.run(try processor(damaged), Array(logs[0][500...]), batch: 64)
        #expect(damaged.calls.withLock { $0 }.first == "0<500")
        for (record, values) in again { #expect(uninterrupted[record] == values, "\(record) after a damaged snapshot") }
    }

    /// Snapshots kept in memory, as the state topic keeps them: every one written, the newest
    /// below the first record to score returned. It can be made to fail like an unreachable broker.
    final class MemoryStore: StateSnapshotStore {
        let saved = Mutex<[StoredSnapshot]>([])
        let failing = Mutex(false)
        var description: String { "memory" }
        var kind: StateStoreKind { .topic }

        func write(_ partition: KafkaTopicPartition, _ snapshot: StoredSnapshot) throws {
            saved.withLock { $0.append(snapshot) }
        }

        func latest(_ partition: KafkaTopicPartition, before end: Int64, progress: () -> Void) throws -> StoredSnapshot? {
            if failing.withLock({ $0 }) { throw SnapshotError("the broker is unreachable") }
            return saved.withLock { $0.filter { $0.through < end }.max { $0.through < $1.through } }
        }
    }

    @Test("the newest snapshot among the state topic and the local directory is restored; a store that cannot be read is passed over")
    func newestStoreWins() throws {
        let logs = Self.log(partitions: 1, perPartition: 700)
        let directory = try StateSnapshotDirectory(
            path: FileManager.default.temporaryDirectory.appendingPathComponent("verdict-snapshots-\(UUID().uuidString)").path)
        let topic = MemoryStore()
        let partition = KafkaTopicPartition(topic: "transactions", partition: 0)
        let uninterrupted = try Self.run(
            ScoringProcessor(models: try Self.models(), decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil, history: History(logs).read),
            logs[0], batch: 100)
        func processor(_ history: History, local: StateSnapshotDirectory?) throws -> ScoringProcessor {
            ScoringProcessor(
                models: try Self.models(), decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil, history: history.read,
                snapshots: local, stores: [topic], snapshotInterval: 3600)
        }
        func expectSame(_ decided: [String: [String: Double?]], _ when: String) {
            #expect(!decided.isEmpty)
            for (record, values) in decided { #expect(uninterrupted[record] == values, "\(record) \(when)") }
        }
        // This pod scores 0..<250 and hands the partition back: both stores hold 0...249.
        let first = try processor(History(logs), local: directory)
        expectSame(try Self.run(first, Array(logs[0][..<250]), batch: 100), "in the first run")
        first.released([partition])
        first.flushSnapshots()
        #expect(try directory.read(partition)?.through == 249)
        #expect(topic.saved.withLock { $0.map(\.through) }.contains(249))
        // Each snapshot carries the newest record time it holds, for replays of a time range.
        func newest(through: Int64) -> Int64? { logs[0].filter { $0.offset <= through }.compactMap(\.timestamp?.milliseconds).max() }
        #expect(try directory.read(partition)?.newestRecordTime == newest(through: 249))
        #expect(topic.saved.withLock { $0 }.allSatisfy { $0.newestRecordTime == newest(through: $0.through) })

        // Another pod, without this one's directory, restores from the topic and scores 300..<450.
        let elsewhere = History(logs)
        let second = try processor(elsewhere, local: nil)
        expectSame(try Self.run(second, Array(logs[0][300..<450]), batch: 64), "on another pod")
        second.released([partition])
        second.flushSnapshots()
        #expect(elsewhere.calls.withLock { $0 } == ["0:250<300"])
        // Restored from a snapshot, the time carries on: the one written on release holds 0...449.
        #expect(topic.saved.withLock { $0 }.allSatisfy { $0.newestRecordTime == newest(through: $0.through) })
        #expect(topic.saved.withLock { $0.map(\.through) }.contains(449))

        // Back on this pod: the topic's snapshot (449) is newer than the local one (249).
        let back = History(logs)
        let third = try processor(back, local: directory)
        expectSame(try Self.run(third, Array(logs[0][500..<600]), batch: 64), "after restoring the newer snapshot")
        third.flushSnapshots()
        #expect(back.calls.withLock { $0 }.first == "0:450<500")

        // The topic cannot be read: the local snapshot (written after the third run's first batch) serves.
        topic.failing.withLock { $0 = true }
        let unreachable = History(logs)
        let fourth = try processor(unreachable, local: directory)
        expectSame(try Self.run(fourth, Array(logs[0][650...]), batch: 64), "with the topic unreachable")
        #expect(unreachable.calls.withLock { $0 }.first.map { $0.hasPrefix("0:") && $0.hasSuffix("<650") } == true, "\(unreachable.calls.withLock { $0 })")
    }

    @Test(
        "exactly-once: a due snapshot's records are handed to the batch's transaction; an aborted one is retried with the next batch, a refused one an interval later"
    )
    func snapshotsInTransactions() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: StateTopicTests.logger)
        try cluster.createTopic("verdict.state", partitions: 1)
        let client = KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers])
        let topic = try StateTopic(
            topic: "verdict.state", producer: KafkaProducerConfiguration(client: client),
            consumer: KafkaConsumerConfiguration(client: client, groupID: "state-\(UUID().uuidString)"), timeout: .seconds(30),
            logger: StateTopicTests.logger)
        let logs = Self.log(partitions: 1, perPartition: 400)
        let processor = ScoringProcessor(
            models: try Self.models(), decisionsTopic: "decisions", deadLetterTopic: "dlq", metrics: nil, history: History(logs).read,
            stores: [topic], snapshotsInTransactions: true, snapshotInterval: 3600)
        func batch(_ range: Range<Int>) -> [KafkaProducerRecord] {
            var outputs: [KafkaProducerRecord] = []
            processor.process(Array(logs[0][range]), into: &outputs)
            #expect(outputs.count == range.count, "one output per input; the snapshot is not among them")
            return processor.transactionRecords()
        }
        // The first batch is due: its snapshot (the state after offset 99) is for its transaction.
        let first = batch(0..<100)
        #expect(!first.isEmpty && first.allSatisfy { $0.topic == "verdict.state" })
        #expect(first.first?.headers.first { $0.name == "verdict-state-through" }?.value == Array("99".utf8))
        processor.transactionEnded(committed: false, refused: false)
        // Aborted (a coordinator, a rewind): the next batch carries a snapshot again.
        #expect(!batch(100..<200).isEmpty)
        processor.transactionEnded(committed: false, refused: true)
        // Refused by the brokers: not again before the interval, or every batch would abort.
        #expect(batch(200..<300).isEmpty)
        processor.transactionEnded(committed: true, refused: false)
        processor.flushSnapshots()
        // Nothing was written beside the transactions.
        #expect(try topic.latest(KafkaTopicPartition(topic: "transactions", partition: 0), before: .max) == nil)
        await topic.close()
    }

    @Test("a policy reload that changes the aggregates is refused and the running state keeps serving")
    func reloadCannotChangeAggregates() throws {
        let models = try Self.models()
        let path = models.policyFiles[0]
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "window: 1h, resolution: 5m", with: "window: 2h, resolution: 5m").write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect { try models.reloadPolicy(reason: "test") } throws: { error in
            (error as? ScoringError)?.message.contains("restart the service") == true
        }
        // The reason texts are not part of the state: changing them reloads.
        try (text + "\n").replacingOccurrences(of: "The transaction amount", with: "The amount").write(toFile: path, atomically: true, encoding: .utf8)
        _ = try models.reloadPolicy(reason: "test")
    }
}
