public import VerdictScoring
import Foundation
public import VerdictKafka

/// Accounts for a run of the stream from its topics: which input records have an outcome (a decision
/// or a dead letter), how many have more than one, outcomes by kind, and end-to-end latency from the
/// input record's timestamp to its outcome record's. Used by `verdict report`, `make demo` and the
/// integration tests, so "nothing lost" is checked the same way everywhere.
///
/// Records may be added in any order (topics are read concurrently).
public struct StreamTally: Sendable {
    public typealias Source = DecisionRecord.Source

    /// Input records seen, with their Kafka timestamps (milliseconds; nil when the broker gave none).
    public private(set) var inputs: [Source: Int64?] = [:]
    /// Outcome records per input record.
    public private(set) var outcomes: [Source: Int] = [:]
    public private(set) var decisionsByOutcome: [String: Int] = [:]
    public private(set) var deadLettersByReason: [String: Int] = [:]
    public private(set) var decisionsByModelVersion: [String: Int] = [:]
    public private(set) var decisionsByPolicyVersion: [String: Int] = [:]
    /// Per input partition, the offsets each policy version decided (lowest to highest): a reload
    /// swaps between batches, so on each partition one version's range ends before the next begins.
    public private(set) var policyOffsets: [EventSource.Partition: [String: ClosedRange<Int64>]] = [:]
    public private(set) var degraded = 0
    public private(set) var shadowAgreements = 0
    public private(set) var shadowOpinions = 0
    /// Output records that were neither a v1 decision nor a dead-letter envelope.
    public private(set) var unreadable = 0
    /// One decision per outcome kind (the first with reasons, when there is one), for showing.
    public private(set) var samples: [String: DecisionRecord] = [:]
    /// Decisions per transaction id (dead letters have no trustworthy id and are keyed by source).
    public private(set) var decisionsByTransaction: [String: Int] = [:]
    private var outputTimes: [(Source, Int64)] = []
    private var processingMilliseconds: [Double] = []

    public init() {}

    public mutating func addInput(_ message: KafkaMessage) {
        inputs[Source(topic: message.topic, partition: message.partition, offset: message.offset)] = message.timestamp?.milliseconds
    }

    /// Adds a record from the decisions topic.
    public mutating func addDecision(_ message: KafkaMessage) {
        guard let value = message.value, let decision = DecisionRecord.parse(value) else {
            unreadable += 1
            return
        }
        outcomes[decision.source, default: 0] += 1
        decisionsByOutcome[decision.decision, default: 0] += 1
        decisionsByModelVersion[decision.model?.version ?? "none", default: 0] += 1
        let policy = decision.policyVersion ?? "none"
        decisionsByPolicyVersion[policy, default: 0] += 1
        let offset = decision.source.offset
        let partition = EventSource.Partition(topic: decision.source.topic, partition: decision.source.partition)
        let range = policyOffsets[partition]?[policy]
        policyOffsets[partition, default: [:]][policy] = range.map { min($0.lowerBound, offset)...max($0.upperBound, offset) } ?? offset...offset
        if let id = decision.transactionID { decisionsByTransaction[id, default: 0] += 1 }
        if decision.degraded { degraded += 1 }
        if let shadow = decision.shadow {
            shadowOpinions += 1
            if shadow.decision == decision.decision { shadowAgreements += 1 }
        }
        if let time = message.timestamp?.milliseconds { outputTimes.append((decision.source, time)) }
        processingMilliseconds.append(decision.processingMilliseconds)
        if samples[decision.decision] == nil || (samples[decision.decision]!.reasons.isEmpty && !decision.reasons.isEmpty) {
            samples[decision.decision] = decision
        }
    }

    /// Adds a record from the dead-letter topic.
    public mutating func addDeadLetter(_ message: KafkaMessage) {
        guard let value = message.value, let envelope = DeadLetterRecord.parse(value) else {
            unreadable += 1
            return
        }
        outcomes[envelope.source, default: 0] += 1
        deadLetterCount += 1
        for reason in Set(envelope.reasons.map(\.code)) { deadLettersByReason[reason, default: 0] += 1 }
        if let time = message.timestamp?.milliseconds { outputTimes.append((envelope.source, time)) }
    }

    public var decisionCount: Int { decisionsByOutcome.values.reduce(0, +) }
    public private(set) var deadLetterCount = 0
    public var outcomeRecordCount: Int { outcomes.values.reduce(0, +) }
    /// Input records without any outcome.
    public var missing: [Source] {
        inputs.keys.filter { outcomes[$0] == nil }.sorted { ($0.topic, $0.partition, $0.offset) < ($1.topic, $1.partition, $1.offset) }
    }
    /// Outcome records beyond the first for the same input (at-least-once redelivery).
    public var duplicates: Int { outcomes.values.reduce(0) { $0 + max(0, $1 - 1) } }
    /// Outcomes whose input record was not seen (another run's, or a wrong topic).
    public var strays: Int { outcomes.keys.filter { inputs[$0] == nil }.count }
    /// Whether every input seen has at least one outcome.
    public var complete: Bool { !inputs.isEmpty && inputs.keys.allSatisfy { outcomes[$0] != nil } }

    /// End-to-end latency in milliseconds per outcome record: its Kafka timestamp minus its input's.
    public var latencies: [Double] {
        outputTimes.compactMap { source, time in
            guard let input = inputs[source], let input else { return nil }
            return Double(time - input)
        }
    }

    /// Outcome records per second between the first and the last outcome timestamp.
    public var outcomesPerSecond: Double? {
        guard let first = outputTimes.map(\.1).min(), let last = outputTimes.map(\.1).max(), last > first else { return nil }
        return Double(outputTimes.count) / (Double(last - first) / 1000)
    }

    public var processing: [Double] { processingMilliseconds }
}

/// Percentiles by nearest rank.
public enum Percentiles {
    public static func of(_ values: [Double], _ quantiles: [Double]) -> [Double] {
        guard !values.isEmpty else { return quantiles.map { _ in .nan } }
        let sorted = values.sorted()
        return quantiles.map { q in
            let rank = Int((q * Double(sorted.count)).rounded(.up))
            return sorted[min(max(rank - 1, 0), sorted.count - 1)]
        }
    }
}
