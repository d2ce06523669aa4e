import Foundation
public import Logging
public import VerdictKafka
public import VerdictScoring

/// A backtest of a time range of the input topic: each partition read in offset order from its
/// first retained record (or from a state snapshot that holds only records before the range), the
/// records before the range applied to the aggregates' state without scoring (as the stream's
/// rebuild does), the records in the range scored with a candidate scorer, and the result compared
/// with what the stream published for the same records.
///
/// The range of a partition is a range of offsets, as Kafka's offsets-for-times gives it: from the
/// first record whose timestamp is at or after `from`, to the first record whose timestamp is at
/// or after `to`. Records in between are replayed whatever their own timestamps, so the state is
/// folded in the order the stream folded it.
public struct TopicReplay: Sendable {
    public struct Configuration: Sendable {
        public var input: String
        public var decisions: String
        public var deadLetters: String
        /// The range, seconds since the epoch: `from` included, `to` excluded.
        public var from: Double
        public var to: Double
        /// How long reading one partition of a topic may take.
        public var timeout: Duration

        public init(input: String, decisions: String, deadLetters: String, from: Double, to: Double, timeout: Duration) {
            self.input = input
            self.decisions = decisions
            self.deadLetters = deadLetters
            self.from = from
            self.to = to
            self.timeout = timeout
        }
    }

    public let configuration: Configuration
    private let reader: KafkaPartitionReader
    private let scorer: Scorer
    private let state: AggregateStore?
    private let snapshots: StateTopic?
    private let logger: Logger

    /// - Parameters:
    ///   - reader: Reads the topics outside any consumer group.
    ///   - scorer: The candidate; build it with `recordTimeIsClock` so the timestamp checks measure
    ///     against the log, as the stream did when it kept up.
    ///   - state: The candidate's aggregates (nil: none).
    ///   - snapshots: The stream's state topic: a partition whose newest usable snapshot holds only
    ///     records from before the range (its newest record time is below `from`) warms from it
    ///     instead of from the log's start. A snapshot of other aggregates than the candidate's is
    ///     not used.
    public init(
        configuration: Configuration, reader: KafkaPartitionReader, scorer: Scorer, state: AggregateStore?, snapshots: StateTopic? = nil,
        logger: Logger
    ) {
        self.configuration = configuration
        self.reader = reader
        self.scorer = scorer
        self.state = state
        self.snapshots = snapshots
        self.logger = logger
    }

    /// Replays the range and compares it with the published topics.
    ///
    /// - Parameter replayed: Called with each replayed outcome, in partition and offset order (to
    ///   write the candidate's decisions out).
    /// - Throws: ``KafkaError`` when a topic is missing or cannot be read in time.
    public func run(replayed: (ScoringOutcome) -> Void = { _ in }) throws -> ReplayReport {
        let c = configuration
        let counts = try reader.partitionCounts([c.input, c.decisions, c.deadLetters], timeout: .seconds(10))
        var ranges: [ReplayReport.PartitionRange] = []
        var outcomes: [EventSource: (transactionID: String?, outcome: ReplayOutcome)] = [:]
        for partition in 0..<(counts[c.input] ?? 0) {
            let range = try replay(partition: partition) { source, outcome in
                replayed(outcome)
                switch outcome {
                case .decision(let bytes, let summary):
                    // The decision's JSON, not its summary, carries the aggregates it was decided with.
                    let record = DecisionRecord.parse(bytes).map(ReplayOutcome.init) ?? ReplayOutcome.none
                    outcomes[source] = (summary.transactionID, record)
                case .deadLetter(let bytes, _):
                    outcomes[source] = (nil, DeadLetterRecord.parse(bytes).map(ReplayOutcome.init) ?? ReplayOutcome.none)
                }
            }
            ranges.append(range)
            logger.info(
                "partition replayed",
                metadata: [
                    LogKey.partition: "\(c.input)[\(partition)]", LogKey.from: "\(range.firstOffset)", LogKey.offset: "\(range.endOffset)",
                    LogKey.records: "\(range.replayed)",
                ])
        }
        let published = try readPublished(counts: counts, wanted: outcomes)
        var comparison = ReplayComparison()
        for source in outcomes.keys.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
            let entry = outcomes[source]!
            let copies = published[source] ?? []
            let transactionID = entry.transactionID ?? copies.lazy.compactMap(\.transactionID).first
            comparison.add(source: source, transactionID: transactionID, published: copies.map(\.outcome), replayed: entry.outcome)
        }
        let model = scorer.model
        return ReplayReport(
            input: c.input, decisions: c.decisions, deadLetters: c.deadLetters, from: c.from, to: c.to,
            candidate: .init(model: model?.name, version: model?.version, sha256: model?.sha256, policyVersion: scorer.rules.configuration.policyVersion),
            partitions: ranges, comparison: comparison)
    }

    /// Warms and replays one partition of the input.
    private func replay(partition: Int, _ each: (EventSource, ScoringOutcome) -> Void) throws(KafkaError) -> ReplayReport.PartitionRange {
        let c = configuration
        var first: Int64?
        var end: Int64?
        let input = KafkaTopicPartition(topic: c.input, partition: partition)
        let restored = restoreSnapshot(input)
        // The last offset seen: the snapshot's when the log holds nothing after it.
        var last: Int64 = restored ?? -1
        var warmed = 0
        var scored = 0
        try reader.scan(input, from: restored.map { $0 + 1 }, before: .max, timeout: c.timeout) { messages in
            var warm: [KafkaMessage] = []
            var score: [KafkaMessage] = []
            for message in messages {
                last = message.offset
                // A record without a timestamp takes its place by offset: it is in the range
                // once the range has begun.
                let time = message.timestamp.map { Double($0.milliseconds) / 1000 }
                if first == nil {
                    guard let time, time >= c.from else {
                        warm.append(message)
                        continue
                    }
                    first = message.offset
                }
                if let time, time >= c.to {
                    end = message.offset
                    break
                }
                score.append(message)
            }
            if let state, !warm.isEmpty {
                scorer.warm(ScoringProcessor.inputs(warm, receivedAt: 0), state: state)
            }
            warmed += warm.count
            if !score.isEmpty {
                let inputs = ScoringProcessor.inputs(score, receivedAt: Date().timeIntervalSince1970)
                for (input, outcome) in zip(inputs, scorer.score(inputs, state: state)) { each(input.source, outcome) }
                scored += score.count
            }
            return end == nil
        }
        let stop = end ?? (last + 1)
        return .init(partition: partition, firstOffset: first ?? stop, endOffset: stop, warmed: warmed, replayed: scored, snapshotThrough: restored)
    }

    /// Starts the partition's state from the newest snapshot whose records all come before the
    /// range, and returns its last offset; nil (the state empty) when there is none to use.
    private func restoreSnapshot(_ partition: KafkaTopicPartition) -> Int64? {
        guard let state, let snapshots else { return nil }
        let key = EventSource.Partition(topic: partition.topic, partition: partition.partition)
        // Below `from` in milliseconds: a record at or after it is in the range.
        let bound = Int64((configuration.from * 1000).rounded(.up))
        do {
            guard let snapshot = try snapshots.latest(partition, before: .max, recordTimeBelow: bound) else { return nil }
            try state.restore(key, through: snapshot.through, snapshot: snapshot.state)
            return snapshot.through
        } catch {
            state.reset(key)
            logger.warning(
                "the partition's state snapshot cannot be used; warming from the start of the log",
                metadata: [LogKey.partition: "\(partition)", LogKey.store: "\(snapshots.description)", LogKey.error: "\(error)"])
            return nil
        }
    }

    /// What the stream published for the replayed records: every copy of each, in log order.
    private func readPublished(
        counts: [String: Int], wanted: [EventSource: (transactionID: String?, outcome: ReplayOutcome)]
    ) throws(KafkaError) -> [EventSource: [(transactionID: String?, outcome: ReplayOutcome)]] {
        let c = configuration
        var published: [EventSource: [(transactionID: String?, outcome: ReplayOutcome)]] = [:]
        for topic in [c.decisions, c.deadLetters] {
            for partition in 0..<(counts[topic] ?? 0) {
                try reader.scan(KafkaTopicPartition(topic: topic, partition: partition), before: .max, timeout: c.timeout) { messages in
                    for message in messages {
                        guard let value = message.value else { continue }
                        if topic == c.decisions, let decision = DecisionRecord.parse(value), wanted[decision.source] != nil {
                            published[decision.source, default: []].append((decision.transactionID, ReplayOutcome(decision)))
                        } else if topic == c.deadLetters, let deadLetter = DeadLetterRecord.parse(value), wanted[deadLetter.source] != nil {
                            published[deadLetter.source, default: []].append((nil, ReplayOutcome(deadLetter)))
                        }
                    }
                    return true
                }
            }
        }
        return published
    }
}
