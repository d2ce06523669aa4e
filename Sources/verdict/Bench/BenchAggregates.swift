import ArgumentParser
import Foundation
import Logging
import VerdictForest
import VerdictKafka
import VerdictPipeline
import VerdictScoring
import VerdictSynthetic

/// The stream aggregates' state update and lookup per event, with a given number of cards: the
/// number held against 150 ns (100k cards) and 400 ns (1M cards).
struct BenchAggregates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aggregates",
        abstract: "Time the stream aggregates' update + lookup per event (one thread) for N cards."
    )

    @Option(help: "Distinct cards (at most 100 000 000).") var cards: Int = 100_000
    @Option(help: "Events to apply (cards are drawn uniformly).") var events: Int = 2_000_000
    @Option(
        name: .customLong("catch-up-events"),
        help: "Generated events folded the way a partition's rebuild folds them (validate + aggregates, no scoring); 0 skips it.")
    var catchUpEvents: Int = 500_000
    @Option(help: "Threads validating during the catch-up (default: cores); the fold itself is one thread.") var threads: Int?
    @Option(help: "Service configuration (validation and rules for the catch-up).") var config: String = "config/verdict.yaml"
    @Option(help: "Brokers: also write the snapshot to --state-topic and restore it from there.") var brokers: String?
    @Option(name: .customLong("state-topic"), help: "An existing topic for the snapshot (with --brokers).") var stateTopic: String?
    @Flag(help: "Print one JSON object.") var json = false

    /// The set of issue #13: count 1h/5m, sum 24h/1h, distinct merchants 24h/1h (16), seconds since last.
    static let definitions = [
        AggregateDefinition(name: "card_txn_count_1h", function: .count, key: "card_id", window: .init(.seconds(3600)), resolution: .init(.seconds(300))),
        AggregateDefinition(
            name: "card_amount_sum_24h", function: .sum, key: "card_id", field: "amount_usd", window: .init(.seconds(86_400)),
            resolution: .init(.seconds(3600))),
        AggregateDefinition(
            name: "card_distinct_merchants_24h", function: .distinct, key: "card_id", field: "merchant_id", window: .init(.seconds(86_400)),
            resolution: .init(.seconds(3600)), capacity: 16),
        AggregateDefinition(name: "card_seconds_since_last", function: .secondsSinceLast, key: "card_id"),
    ]

    func run() async throws {
        guard (1...100_000_000).contains(cards), events > 0 else { throw ValidationError("--cards must be 1 to 100000000 and --events positive") }
        let plan = try AggregatePlan(Self.definitions, limits: AggregateStateLimits(maxKeys: max(cards, 1)))
        var validation = ValidationConfiguration()
        validation.maxEventAge = ConfigDuration(.zero)
        validation.maxClockSkew = ConfigDuration(.seconds(100 * 365 * 86_400))
        let validator = EventValidator(configuration: validation)
        // One event, kept hot as the stream's current record is: each step writes the drawn card's
        // number into the card_id digits of the record in place, so the key changes while the
        // decoded ranges stay valid. The state is what is measured, not the bench's own memory.
        let start = 1_795_046_400.0
        let digits = 8
        let text =
            #"{"schema_version":1,"transaction_id":"t1","event_time":"\#(Timestamps.rfc3339(start))","card_id":"card_\#(String(repeating: "0", count: digits))","amount":12.5,"currency":"USD","merchant_id":"m_00"}"#
        var record = Array(text.utf8)
        var event = TransactionEvent()
        guard record.withUnsafeBytes({ validator.validate($0, now: start, into: &event) }).isEmpty, let cardRange = event.cardID,
            let merchantRange = event.merchantID
        else { throw ValidationError("bench event invalid") }
        let cardEnd = Int(cardRange.start + cardRange.count)
        let merchantEnd = Int(merchantRange.start + merchantRange.count)
        func stamp(_ card: Int, _ merchant: Int, into bytes: UnsafeMutableRawBufferPointer) {
            var n = card
            for i in 0..<digits {
                bytes[cardEnd - 1 - i] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
            }
            bytes[merchantEnd - 1] = UInt8(ascii: "0") + UInt8(merchant % 10)
            bytes[merchantEnd - 2] = UInt8(ascii: "0") + UInt8(merchant / 10 % 10)
        }
        var generator = SystemRandomNumberGenerator()
        var state = AggregateState(plan: plan)
        var values = [Double](repeating: 0, count: plan.names.count)
        let clock = ContinuousClock()
        var checksum = 0.0
        var applied = 0
        // Every card seen once before timing, so the timed part is the steady state.
        let warm = clock.now
        values.withUnsafeMutableBufferPointer { out in
            record.withUnsafeMutableBytes { bytes in
                for card in 0..<cards {
                    stamp(card, card % 97, into: bytes)
                    event.eventTime = start + Double(card) * 0.001
                    state.apply(event, record: UnsafeRawBufferPointer(bytes), into: out)
                }
            }
        }
        let warmed = clock.now - warm
        // Cards drawn uniformly, drawn before timing.
        let draws = (0..<(1 << 20)).map { _ in Int.random(in: 0..<cards, using: &generator) }
        let total = events
        // The stream's order of work: a group of events' records read ahead together, then each
        // event applied (AggregateStore.apply). `readAhead: false` is the peer: the same events
        // applied one by one, each waiting for its own cache misses.
        let group = AggregateState.readAheadGroup
        var batch = [[UInt8]](repeating: record, count: group)
        func timed(readAhead: Bool) -> Double {
            let began = clock.now
            var done = 0
            values.withUnsafeMutableBufferPointer { out in
                while done < total {
                    let n = Swift.min(group, total - done)
                    for j in 0..<n {
                        batch[j].withUnsafeMutableBytes { stamp(draws[(applied + j) & ((1 << 20) - 1)], (applied + j) % 97, into: $0) }
                    }
                    if readAhead {
                        for j in 0..<n { batch[j].withUnsafeBytes { state.expect(event, record: $0) } }
                        state.readAhead()
                    }
                    for j in 0..<n {
                        // 2 000 events per second of event time: buckets roll over as in a busy stream.
                        event.eventTime = start + Double(cards) * 0.001 + Double(applied) / 2_000
                        batch[j].withUnsafeBytes { state.apply(event, record: $0, into: out) }
                        checksum += out[0]
                        applied += 1
                    }
                    done += n
                }
            }
            return (clock.now - began).seconds / Double(total) * 1e9
        }
        let oneByOne = timed(readAhead: false)
        let perEvent = timed(readAhead: true)
        let recordBytes = plan.recordBytes["card_id"] ?? 0
        let catchUp = try catchUpRate(plan)
        let snapshot = try snapshotTimes(state)
        let topic = try await topicTimes(state)
        if json {
            let topicFields =
                topic.map {
                    [("topic_write_s", $0.write), ("topic_find_s", $0.find), ("topic_restore_s", $0.restore)]
                        .map { #","\#($0.0)":\#(String(format: "%.3f", $0.1))"# }.joined()
                } ?? ""
            print(
                #"{"benchmark":"aggregates","cards":\#(cards),"events":\#(total),"ns_per_event":\#(Int(perEvent)),"ns_per_event_one_by_one":\#(Int(oneByOne)),"record_bytes":\#(recordBytes),"keys":\#(state.keyCount),"first_pass_s":\#(String(format: "%.2f", warmed.seconds)),"catch_up_events_per_s":\#(Int(catchUp.rate)),"catch_up_threads":\#(catchUp.threads),"snapshot_bytes":\#(snapshot.bytes),"snapshot_write_s":\#(String(format: "%.3f", snapshot.write)),"snapshot_restore_s":\#(String(format: "%.3f", snapshot.restore))\#(topicFields)}"#
            )
        } else {
            print(
                "aggregates: \(total) events (each way) over \(state.keyCount) cards: \(Int(perEvent)) ns/event (update + lookup, one thread, records read ahead \(group) at a time; \(Int(oneByOne)) ns one by one); \(recordBytes) B of state per card; first pass \(String(format: "%.2f", warmed.seconds)) s (checksum \(Int(checksum) % 10))"
            )
            print(
                "snapshot: \(snapshot.bytes) bytes for \(state.keyCount) keys; encode + write \(String(format: "%.3f", snapshot.write)) s, read + restore \(String(format: "%.3f", snapshot.restore)) s (a local file in \(NSTemporaryDirectory()))"
            )
            if let topic, let stateTopic {
                print(
                    "state topic: encode + write to \(stateTopic) \(String(format: "%.3f", topic.write)) s (until every chunk is acknowledged), find + read + restore \(String(format: "%.3f", topic.restore)) s (of which finding and reading the chunks \(String(format: "%.3f", topic.find)) s)"
                )
            }
            if catchUpEvents > 0 {
                print("catch-up: \(catchUpEvents) generated events folded at \(Int(catchUp.rate)) events/s (validate on \(catchUp.threads) threads + fold)")
            }
        }
    }

    /// Seconds to snapshot the state into a local file (`pipeline.state_directory`) and to restore it.
    private func snapshotTimes(_ state: AggregateState) throws -> (bytes: Int, write: Double, restore: Double) {
        let directory = try StateSnapshotDirectory(path: NSTemporaryDirectory() + "verdict-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: directory.path) }
        let partition = KafkaTopicPartition(topic: "bench", partition: 0)
        let clock = ContinuousClock()
        let began = clock.now
        let bytes = state.snapshot()
        try directory.write(partition, through: 1, state: bytes)
        let written = clock.now
        guard let saved = try directory.read(partition) else { throw ValidationError("the snapshot file vanished") }
        let restored = try AggregateState(plan: state.plan, snapshot: saved.state)
        let done = clock.now
        guard restored.keyCount == state.keyCount else { throw ValidationError("the restored state holds \(restored.keyCount) keys, not \(state.keyCount)") }
        return (bytes.count, (written - began).seconds, (done - written).seconds)
    }

    /// Seconds to snapshot the state into the state topic (every chunk acknowledged) and to find
    /// it from the topic's end and restore it: what a new owner of the partition waits for.
    private func topicTimes(_ state: AggregateState) async throws -> (write: Double, find: Double, restore: Double)? {
        guard let brokers else { return nil }
        guard let stateTopic else { throw ValidationError("--brokers needs --state-topic: an existing topic to write the snapshot to") }
        var configuration = try VerdictConfiguration.load(path: config)
        configuration.kafka.bootstrapServers = brokers.split(separator: ",").map(String.init)
        configuration.kafka.consumer.groupID = "verdict-bench-\(UUID().uuidString.prefix(8))"
        let topic = try StateTopic(
            topic: stateTopic, producer: configuration.producerConfiguration(), consumer: configuration.consumerConfiguration(),
            timeout: .seconds(300), logger: CommandSupport.logger(level: .warning))
        // A partition number of its own, so that runs against one topic do not find each other's.
        let partition = KafkaTopicPartition(topic: "bench-\(UUID().uuidString.prefix(8))", partition: 0)
        let clock = ContinuousClock()
        let began = clock.now
        try topic.write(partition, through: 1, state: state.snapshot())
        let written = clock.now
        guard let saved = try topic.latest(partition, before: 2) else { throw ValidationError("the snapshot is not in \(stateTopic)") }
        let found = clock.now
        let restored = try AggregateState(plan: state.plan, snapshot: saved.state)
        let done = clock.now
        await topic.close()
        guard restored.keyCount == state.keyCount else { throw ValidationError("the restored state holds \(restored.keyCount) keys, not \(state.keyCount)") }
        return ((written - began).seconds, (found - written).seconds, (done - written).seconds)
    }

    /// Events per second `Scorer.warm` folds: what rebuilding a partition from its log costs once
    /// the records are read.
    private func catchUpRate(_ plan: AggregatePlan) throws -> (rate: Double, threads: Int) {
        guard catchUpEvents > 0 else { return (0, 0) }
        let setup = try ScoringSetup(configPath: config)
        var options = EventGenerator.Options()
        options.seed = 7
        options.cards = min(cards, 1_000_000)
        let now = Date().timeIntervalSince1970
        options.start = now - 86_400
        options.spacing = 86_000 / Double(catchUpEvents)
        var generator = EventGenerator(options: options)
        let inputs = (0..<catchUpEvents).map { i in
            ScoringInput(value: generator.next().value, source: EventSource(topic: "bench", partition: 0, offset: Int64(i)), receivedAt: now)
        }
        let pool = ForestWorkerPool(threads: threads)
        defer { pool.shutdown() }
        let scorer = try Scorer(
            validation: setup.scoring.validation, rules: setup.scoring.rules, model: nil, pool: pool, appliesEventAgeSLA: false)
        let state = AggregateStore(plan: plan)
        let clock = ContinuousClock()
        let began = clock.now
        for start in stride(from: 0, to: inputs.count, by: 2_000) {
            scorer.warm(Array(inputs[start..<min(start + 2_000, inputs.count)]), state: state)
        }
        return (Double(inputs.count) / (clock.now - began).seconds, pool.threadCount)
    }
}
