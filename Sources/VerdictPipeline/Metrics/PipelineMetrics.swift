public import CoreMetrics
import Synchronization
import VerdictKafka
import VerdictScoring

/// Every metric Verdict exports, created once when the service starts (never per event). Names
/// follow Prometheus conventions: `verdict_` prefix, base units, `_total` for counters, `_info`
/// for constant labels. No label carries an unbounded value (no card or transaction ids).
public final class PipelineMetrics: Sendable {
    public let factory: any MetricsFactory

    let consumedByTopic: Mutex<[String: Counter]>
    let decisions: [Verdict: Counter]
    let deadLetters: [ReasonCode: Counter]
    let processingSeconds: Recorder
    let eventAgeSeconds: Recorder
    let batchSize: Recorder
    let inFlight: Gauge
    let paused: Gauge
    let lag: Mutex<[KafkaTopicPartition: Gauge]>
    let rebalances: Counter
    let assignedPartitions: Gauge
    let modelInfo: Mutex<[String: Gauge]>
    let modelReloads: [String: Counter]
    let policyReloads: [String: Counter]
    let riskScore: Recorder
    let shadowAgreement: [Bool: Counter]
    let psi: Mutex<[String: Gauge]>
    let degraded: Counter
    let unknownFields: Counter
    let deliveryFailures: [Bool: Counter]
    let consumerErrors: Counter
    /// Exactly-once transactions by outcome, and the records aborted ones carried.
    let transactions: [Bool: Counter]
    let abortedRecords: Counter
    /// Partitions held by a non-retriable delivery error, and those waiting for delivery retries.
    let heldPartitions: Gauge
    let retryingPartitions: Gauge
    /// 1 per held partition (labels bounded by the partition count), 0 once it is released.
    let partitionHeld: Mutex<[KafkaTopicPartition: Gauge]>
    let buildInfo: Gauge
    /// Stream aggregates: keys and bytes held, evictions, records whose key is not their aggregate
    /// key, and partition rebuilds (the totals last exported, so counters advance by the change).
    let aggregateKeys: Gauge
    let aggregateBytes: Gauge
    let aggregateEvictions: [Bool: Counter]
    let aggregateKeyMismatches: Counter
    let aggregateRebuilds: [Bool: Counter]
    let aggregateRebuildRecords: Counter
    let aggregateExported: Mutex<AggregateStore.Totals>
    let aggregateSnapshots: [String: Counter]
    let aggregateRestores: [String: Counter]

    /// Buckets for the histograms, in the metrics' base units.
    public static let histogramBuckets: [String: [Double]] = [
        "verdict_processing_seconds": [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
        "verdict_event_age_seconds": [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600],
        "verdict_batch_size": [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
        "verdict_risk_score": [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99],
    ]

    /// Creates the metrics.
    ///
    /// - Parameters:
    ///   - factory: The backend (the Prometheus factory in the service, a test factory in tests).
    ///   - inputTopics: Topics known up front (a regex subscription adds the rest as they appear).
    ///   - build: Version strings for `verdict_build_info`.
    public init(factory: any MetricsFactory, inputTopics: [String], build: [(String, String)]) {
        self.factory = factory
        consumedByTopic = Mutex(
            Dictionary(
                uniqueKeysWithValues: inputTopics.filter { !$0.hasPrefix("^") }.map {
                    ($0, Counter(label: "verdict_events_consumed_total", dimensions: [("topic", $0)], factory: factory))
                }))
        decisions = Dictionary(
            uniqueKeysWithValues: Verdict.allCases.map {
                ($0, Counter(label: "verdict_decisions_total", dimensions: [("decision", $0.rawValue)], factory: factory))
            })
        deadLetters = Dictionary(
            uniqueKeysWithValues: ReasonCode.allCases.map {
                ($0, Counter(label: "verdict_dead_letters_total", dimensions: [("reason", $0.rawValue)], factory: factory))
            })
        processingSeconds = Recorder(label: "verdict_processing_seconds", dimensions: [], aggregate: true, factory: factory)
        eventAgeSeconds = Recorder(label: "verdict_event_age_seconds", dimensions: [], aggregate: true, factory: factory)
        batchSize = Recorder(label: "verdict_batch_size", dimensions: [], aggregate: true, factory: factory)
        inFlight = Gauge(label: "verdict_in_flight_events", dimensions: [], factory: factory)
        paused = Gauge(label: "verdict_consumer_paused", dimensions: [], factory: factory)
        lag = Mutex([:])
        rebalances = Counter(label: "verdict_rebalances_total", dimensions: [], factory: factory)
        assignedPartitions = Gauge(label: "verdict_assigned_partitions", dimensions: [], factory: factory)
        modelInfo = Mutex([:])
        modelReloads = Dictionary(
            uniqueKeysWithValues: ["success", "refused"].map {
                ($0, Counter(label: "verdict_model_reloads_total", dimensions: [("result", $0)], factory: factory))
            })
        policyReloads = Dictionary(
            uniqueKeysWithValues: ["success", "refused"].map {
                ($0, Counter(label: "verdict_policy_reloads_total", dimensions: [("result", $0)], factory: factory))
            })
        riskScore = Recorder(label: "verdict_risk_score", dimensions: [], aggregate: true, factory: factory)
        shadowAgreement = Dictionary(
            uniqueKeysWithValues: [true, false].map {
                ($0, Counter(label: "verdict_shadow_decisions_total", dimensions: [("agreement", $0 ? "agree" : "disagree")], factory: factory))
            })
        psi = Mutex([:])
        degraded = Counter(label: "verdict_degraded_decisions_total", dimensions: [], factory: factory)
        unknownFields = Counter(label: "verdict_events_unknown_fields_total", dimensions: [], factory: factory)
        deliveryFailures = Dictionary(
            uniqueKeysWithValues: [true, false].map {
                ($0, Counter(label: "verdict_delivery_failures_total", dimensions: [("permanent", $0 ? "true" : "false")], factory: factory))
            })
        consumerErrors = Counter(label: "verdict_consumer_errors_total", dimensions: [], factory: factory)
        transactions = Dictionary(
            uniqueKeysWithValues: [true, false].map {
                ($0, Counter(label: "verdict_transactions_total", dimensions: [("result", $0 ? "committed" : "aborted")], factory: factory))
            })
        abortedRecords = Counter(label: "verdict_transaction_aborted_records_total", dimensions: [], factory: factory)
        heldPartitions = Gauge(label: "verdict_partitions_held", dimensions: [], factory: factory)
        retryingPartitions = Gauge(label: "verdict_partitions_retrying", dimensions: [], factory: factory)
        partitionHeld = Mutex([:])
        buildInfo = Gauge(label: "verdict_build_info", dimensions: build, factory: factory)
        buildInfo.record(1)
        aggregateKeys = Gauge(label: "verdict_aggregate_keys", dimensions: [], factory: factory)
        aggregateBytes = Gauge(label: "verdict_aggregate_state_bytes", dimensions: [], factory: factory)
        aggregateEvictions = Dictionary(
            uniqueKeysWithValues: [true, false].map {
                ($0, Counter(label: "verdict_aggregate_evictions_total", dimensions: [("kind", $0 ? "forced" : "idle")], factory: factory))
            })
        aggregateKeyMismatches = Counter(label: "verdict_aggregate_key_mismatches_total", dimensions: [], factory: factory)
        aggregateRebuilds = Dictionary(
            uniqueKeysWithValues: [true, false].map {
                ($0, Counter(label: "verdict_aggregate_rebuilds_total", dimensions: [("result", $0 ? "done" : "failed")], factory: factory))
            })
        aggregateRebuildRecords = Counter(label: "verdict_aggregate_rebuild_records_total", dimensions: [], factory: factory)
        aggregateExported = Mutex(AggregateStore.Totals())
        var snapshots: [String: Counter] = [:]
        for store in StateStoreKind.allCases {
            for written in [true, false] {
                snapshots["\(store.rawValue)/\(written)"] = Counter(
                    label: "verdict_aggregate_snapshots_total", dimensions: [("result", written ? "written" : "failed"), ("store", store.rawValue)],
                    factory: factory)
            }
        }
        aggregateSnapshots = snapshots
        aggregateRestores = Dictionary(
            uniqueKeysWithValues: (StateStoreKind.allCases.map(\.rawValue) + ["log"]).map {
                ($0, Counter(label: "verdict_aggregate_restores_total", dimensions: [("from", $0)], factory: factory))
            })
    }

    /// Counts a partition snapshot written to a store (or not).
    func aggregateSnapshot(written: Bool, store: StateStoreKind) {
        aggregateSnapshots["\(store.rawValue)/\(written)"]!.increment()
    }

    /// Counts where a rebuild started: a store's snapshot, or the start of the log (`nil`).
    func aggregateRestore(from store: StateStoreKind?) {
        aggregateRestores[store?.rawValue ?? "log"]!.increment()
    }

    /// Exports the aggregates' state after a batch.
    func aggregates(_ totals: AggregateStore.Totals) {
        aggregateKeys.record(totals.keys)
        aggregateBytes.record(totals.bytes)
        let last = aggregateExported.withLock { last in
            defer { last = totals }
            return last
        }
        if totals.idleEvictions > last.idleEvictions { aggregateEvictions[false]!.increment(by: totals.idleEvictions - last.idleEvictions) }
        if totals.forcedEvictions > last.forcedEvictions { aggregateEvictions[true]!.increment(by: totals.forcedEvictions - last.forcedEvictions) }
        if totals.keyMismatches > last.keyMismatches { aggregateKeyMismatches.increment(by: totals.keyMismatches - last.keyMismatches) }
    }

    /// Counts a partition's rebuild of its aggregate state.
    func aggregateRebuild(records: Int, done: Bool) {
        aggregateRebuilds[done]!.increment()
        if records > 0 { aggregateRebuildRecords.increment(by: records) }
    }

    func consumed(topic: String, count: Int) {
        let counter = consumedByTopic.withLock { counters in
            if let existing = counters[topic] { return existing }
            // Topics matched by a regex subscription appear at run time; still one counter each.
            let created = Counter(label: "verdict_events_consumed_total", dimensions: [("topic", topic)], factory: factory)
            counters[topic] = created
            return created
        }
        counter.increment(by: count)
    }

    /// Records what a batch of outcomes decided.
    func record(_ outcomes: [ScoringOutcome]) {
        var byDecision: [Verdict: Int] = [:]
        for outcome in outcomes {
            switch outcome {
            case .decision(_, let summary):
                byDecision[summary.decision, default: 0] += 1
                if summary.unknownFields > 0 { unknownFields.increment(by: summary.unknownFields) }
                if summary.degraded { degraded.increment() }
                if let score = summary.riskScore { riskScore.record(score) }
                if let age = summary.eventAge { eventAgeSeconds.record(max(0, age)) }
                if let shadow = summary.shadow { shadowAgreement[shadow.decision == summary.decision]!.increment() }
            case .deadLetter(_, let issues):
                for code in Set(issues.map(\.code)) { deadLetters[code]!.increment() }
            }
        }
        for (decision, count) in byDecision { decisions[decision]!.increment(by: count) }
    }

    /// Follows the relay's held and retrying partitions (called every poll; creates a gauge only
    /// the first time a partition is held).
    func holds(_ held: [KafkaTopicPartition: String], retrying: Int) {
        heldPartitions.record(held.count)
        retryingPartitions.record(retrying)
        let gauges: [(Gauge, Bool)] = partitionHeld.withLock { gauges in
            for partition in held.keys where gauges[partition] == nil {
                gauges[partition] = Gauge(
                    label: "verdict_partition_held", dimensions: [("topic", partition.topic), ("partition", String(partition.partition))], factory: factory)
            }
            return gauges.map { ($0.value, held[$0.key] != nil) }
        }
        for (gauge, isHeld) in gauges { gauge.record(isHeld ? 1 : 0) }
    }

    func consumerLag(_ statistics: KafkaStatistics) {
        for partition in statistics.partitions {
            guard let lag = partition.consumerLag else { continue }
            let key = KafkaTopicPartition(topic: partition.topic, partition: partition.partition)
            let gauge = self.lag.withLock { gauges in
                if let existing = gauges[key] { return existing }
                // One gauge per partition: bounded by the topics' partition counts.
                let created = Gauge(
                    label: "verdict_consumer_lag_records", dimensions: [("topic", key.topic), ("partition", String(key.partition))], factory: factory)
                gauges[key] = created
                return created
            }
            gauge.record(Double(lag))
        }
    }

    /// Sets `verdict_model_info{name,version,sha256} 1`, retiring the previous model's series.
    func model(name: String, version: String, sha256: String, role: String = "champion") {
        let gauge = Gauge(
            label: "verdict_model_info", dimensions: [("role", role), ("name", name), ("version", version), ("sha256", sha256)], factory: factory)
        let previous = modelInfo.withLock { current in
            defer { current[role] = gauge }
            return current[role]
        }
        previous?.record(0)
        gauge.record(1)
    }

    func modelReload(success: Bool) {
        modelReloads[success ? "success" : "refused"]!.increment()
    }

    func policyReload(success: Bool) {
        policyReloads[success ? "success" : "refused"]!.increment()
    }

    /// Sets `verdict_psi{variable}`.
    func psi(_ value: Double, variable: String) {
        let gauge = psi.withLock { gauges in
            if let existing = gauges[variable] { return existing }
            let created = Gauge(label: "verdict_psi", dimensions: [("variable", variable)], factory: factory)
            gauges[variable] = created
            return created
        }
        gauge.record(value)
    }
}
