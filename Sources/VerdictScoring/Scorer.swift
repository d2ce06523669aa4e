import Foundation
import Synchronization
public import VerdictForest

/// Sees the rows the champion scored (drift monitoring). Called on scoring threads; keep it cheap.
public protocol ScoringObserver: Sendable {
    func scored(row: ArraySlice<Double>, score: Double)
}

/// One record to score.
public struct ScoringInput: Sendable {
    /// The record's value; nil for a tombstone.
    public var value: [UInt8]?
    public var source: EventSource
    /// When Verdict received the record (seconds since the epoch).
    public var receivedAt: Double
    /// The record's key: with aggregates, it should be the event's aggregate key (mismatches are counted).
    public var key: [UInt8]?
    /// The record's timestamp in the log (seconds since the epoch), if known. With aggregates the
    /// timestamp checks measure against it instead of the clock, so whether an event is valid (and
    /// so touches state) depends on the log alone: a restart's rebuild and a replay agree with it.
    public var recordTime: Double?

    public init(value: [UInt8]?, source: EventSource, receivedAt: Double, key: [UInt8]? = nil, recordTime: Double? = nil) {
        self.value = value
        self.source = source
        self.receivedAt = receivedAt
        self.key = key
        self.recordTime = recordTime
    }
}

/// What became of a record.
public enum ScoringOutcome: Sendable {
    /// A decision (JSON bytes to publish) and its summary.
    case decision([UInt8], DecisionSummary)
    /// A dead letter (JSON envelope bytes, PAN masked) and the reasons.
    case deadLetter([UInt8], [ValidationIssue])

    public var isDecision: Bool {
        if case .decision = self { return true }
        return false
    }
}

/// The scoring code path shared by the stream and `verdict score`: validate, build features, score
/// (champion and optional shadow), apply rules and policy, explain, and write the decision or the
/// dead letter. A batch is split into chunks scored in parallel on the forest's worker pool.
public final class Scorer: Sendable {
    public let validator: EventValidator
    public let rules: RuleEngine
    public let model: ScoringModel?
    public let shadow: ScoringModel?
    private let shadowRules: RuleEngine?
    private let pool: ForestWorkerPool?
    private let reasonsFor: Set<Verdict>
    private let topK: Int
    /// Seconds after which an event is decided without the model; nil when the SLA is not applied.
    private let staleAfterSeconds: Double?
    private let observer: (any ScoringObserver)?
    private let deadLetters: DeadLetterConfiguration
    /// Whether each record's log timestamp stands in for the clock (replays).
    private let recordTimeIsClock: Bool

    /// Events per parallel task: small enough to spread a batch over the pool, large enough for the
    /// batch evaluator's interleaving.
    static let chunk = 64

    /// Creates a scorer.
    ///
    /// - Parameters:
    ///   - validation: Structural and business limits.
    ///   - rules: Indicators, hard rules, thresholds, reasons.
    ///   - model: The champion; nil makes every valid event a degraded decision.
    ///   - shadow: A challenger scored beside the champion, recorded in `shadow`.
    ///   - pool: Threads for scoring batches in parallel; nil scores on the caller's thread.
    /// - Throws: ``ScoringError`` when the rules and the model card give no thresholds.
    ///   - appliesEventAgeSLA: Decide events older than the rules' `degraded.event_age_sla` without the
    ///     model (the stream); false for backtests of historical events.
    ///   - deadLetters: How much of a refused record its envelope embeds.
    ///   - recordTimeIsClock: Measure the timestamp checks and the age SLA against each record's
    ///     log timestamp instead of the clock: a replay runs long after the stream decided, and the
    ///     record's timestamp is the nearest thing it has to the clock the stream read.
    public init(
        validation: ValidationConfiguration, rules: RuleConfiguration, model: ScoringModel?, shadow: ScoringModel? = nil,
        pool: ForestWorkerPool?, appliesEventAgeSLA: Bool = true, observer: (any ScoringObserver)? = nil,
        deadLetters: DeadLetterConfiguration = DeadLetterConfiguration(), recordTimeIsClock: Bool = false
    ) throws(ScoringError) {
        self.recordTimeIsClock = recordTimeIsClock
        self.observer = observer
        self.deadLetters = deadLetters
        validator = EventValidator(configuration: validation)
        let cardThresholds = model?.card?.thresholds.map { RuleConfiguration.Thresholds(reviewAt: $0.reviewAt, declineAt: $0.declineAt) }
        self.rules = try RuleEngine(configuration: rules, thresholds: cardThresholds)
        if model != nil && self.rules.thresholds == nil {
            throw ScoringError(.configuration, "no score thresholds: set thresholds.review_at/decline_at in the rules or ship them in the model card")
        }
        self.model = model
        self.shadow = shadow
        if let shadow {
            let shadowThresholds = shadow.card?.thresholds.map { RuleConfiguration.Thresholds(reviewAt: $0.reviewAt, declineAt: $0.declineAt) }
            shadowRules = try RuleEngine(configuration: rules, thresholds: shadowThresholds ?? cardThresholds)
        } else {
            shadowRules = nil
        }
        self.pool = pool
        reasonsFor = Set(rules.reasons.forDecisions)
        topK = rules.reasons.topK
        staleAfterSeconds = appliesEventAgeSLA ? rules.degraded.eventAgeSLA?.seconds : nil
    }

    /// Scores a batch; outcomes are in input order.
    ///
    /// - Parameters:
    ///   - inputs: The records.
    ///   - asOf: The reference time for timestamp validation (seconds since the epoch); nil uses
    ///     the wall clock. Backtests pass the time the events were produced.
    ///   - state: The aggregates' state, updated by the batch's valid events in order; each
    ///     decision carries the values it was decided with. Nil: aggregates read missing.
    public func score(_ inputs: [ScoringInput], asOf: Double? = nil, state: AggregateStore? = nil) -> [ScoringOutcome] {
        let count = inputs.count
        guard count > 0 else { return [] }
        let batch = Batch(count: count, width: state?.plan.names.count ?? 0)
        defer { batch.release() }
        let now = Date().timeIntervalSince1970
        parallel(count) { range in validate(inputs, range, asOf: asOf, now: now, state: state, writing: true, into: batch) }
        if let state {
            // Aggregates are a fold in log order, on one thread. Task 0 folds chunk after chunk
            // (tasks are claimed in order, so it starts first); each other task decides one chunk
            // once the fold has passed it, so deciding overlaps the fold instead of waiting for it.
            let chunks = (count + Self.chunk - 1) / Self.chunk
            let folded = Atomic<Int>(0)
            tasks(chunks + 1) { task in
                if task == 0 {
                    for c in 0..<chunks {
                        state.apply(inputs, Self.chunk(c, of: count), events: batch.events, valid: UnsafeBufferPointer(batch.validFlags), values: batch.values)
                        folded.store(c + 1, ordering: .releasing)
                    }
                } else {
                    let c = task - 1
                    while folded.load(ordering: .acquiring) <= c { sched_yield() }
                    decide(inputs, Self.chunk(c, of: count), now: now, asOf: asOf, state: state, batch: batch)
                }
            }
        } else {
            parallel(count) { range in decide(inputs, range, now: now, asOf: asOf, state: state, batch: batch) }
        }
        // Move the outcomes out: the buffer is deallocated, not deinitialized, so copying them
        // (map) would leave every decision's bytes retained forever.
        return (0..<count).map { (batch.results.baseAddress! + $0).move()! }
    }

    /// Applies a batch to the aggregates' state without scoring it: what a partition's rebuild
    /// runs over the events before the first one it scores. Validation is the same as scoring's,
    /// so the same events touch the state.
    public func warm(_ inputs: [ScoringInput], state: AggregateStore, asOf: Double? = nil) {
        let count = inputs.count
        guard count > 0 else { return }
        let batch = Batch(count: count, width: state.plan.names.count)
        defer {
            _ = batch.results.deinitialize()  // nothing was written: warming writes no outcome
            batch.release()
        }
        let now = Date().timeIntervalSince1970
        parallel(count) { range in validate(inputs, range, asOf: asOf, now: now, state: state, writing: false, into: batch) }
        state.apply(inputs, events: batch.events, valid: UnsafeBufferPointer(batch.validFlags), values: batch.values)
    }

    /// A batch's working memory, shared by the phases (each chunk touches only its own indices).
    private struct Batch: @unchecked Sendable {
        var results: UnsafeMutableBufferPointer<ScoringOutcome?>
        var events: UnsafeMutableBufferPointer<TransactionEvent>
        /// Whether each input is a valid event, and whether the model decides it.
        var validFlags: UnsafeMutableBufferPointer<Bool>
        var degraded: UnsafeMutableBufferPointer<Bool>
        var values: UnsafeMutableBufferPointer<Double>
        let width: Int

        init(count: Int, width: Int) {
            self.width = width
            results = .allocate(capacity: count)
            results.initialize(repeating: nil)
            events = .allocate(capacity: count)
            events.initialize(repeating: TransactionEvent())
            validFlags = .allocate(capacity: count)
            validFlags.initialize(repeating: false)
            degraded = .allocate(capacity: count)
            degraded.initialize(repeating: false)
            values = .allocate(capacity: max(1, count * width))
            values.initialize(repeating: .nan)
        }

        func release() {
            results.deallocate()
            events.deinitialize()
            events.deallocate()
            validFlags.deallocate()
            degraded.deallocate()
            values.deallocate()
        }
    }

    /// Runs `body(0..<count)`, on the pool when there is more than one task; tasks are claimed in
    /// increasing order.
    private func tasks(_ count: Int, _ body: (Int) -> Void) {
        if let pool, count > 1 {
            pool.run(tasks: count, body)
        } else {
            for task in 0..<count { body(task) }
        }
    }

    /// Runs `body` over chunks of `0..<count`, on the pool when there is more than one.
    private func parallel(_ count: Int, _ body: (Range<Int>) -> Void) {
        tasks((count + Self.chunk - 1) / Self.chunk) { body(Self.chunk($0, of: count)) }
    }

    /// The inputs of chunk `index` of a batch of `count`.
    private static func chunk(_ index: Int, of count: Int) -> Range<Int> {
        (index * chunk)..<min(count, (index + 1) * chunk)
    }

    /// Validates a chunk straight into the batch's event slots (the event struct, about 400 bytes,
    /// is written once and then only borrowed), writing dead letters for what is refused.
    private func validate(
        _ inputs: [ScoringInput], _ range: Range<Int>, asOf: Double?, now: Double, state: AggregateStore?, writing: Bool, into batch: Batch
    ) {
        let reference = asOf ?? now
        for index in range {
            let input = inputs[index]
            guard let value = input.value else {
                if writing {
                    let issues = [ValidationIssue(.emptyRecord, "the record is a tombstone (null value)")]
                    batch.results[index] = .deadLetter(DeadLetterWriter.write(input, issues: issues, now: now, configuration: deadLetters), issues)
                }
                continue
            }
            // With state, validity must be a function of the log (see ScoringInput.recordTime).
            let clock = (recordTimeIsClock ? input.recordTime : nil) ?? reference
            let checkedAgainst = (state != nil ? input.recordTime : nil) ?? clock
            let issues = value.withUnsafeBytes { validator.validate($0, now: checkedAgainst, into: &batch.events[index]) }
            guard issues.isEmpty else {
                if writing {
                    batch.results[index] = .deadLetter(DeadLetterWriter.write(input, issues: issues, now: now, configuration: deadLetters), issues)
                }
                continue
            }
            let eventTime = batch.events[index].eventTime
            let stale = staleAfterSeconds.map { sla in eventTime.map { clock - $0 > sla } ?? false } ?? false
            batch.validFlags[index] = true
            batch.degraded[index] = model == nil || stale
        }
    }

    /// Scores, decides, explains and writes the decisions of a chunk's valid events.
    private func decide(_ inputs: [ScoringInput], _ range: Range<Int>, now: Double, asOf: Double?, state: AggregateStore?, batch: Batch) {
        let width = batch.width
        let names = state?.plan.names ?? []
        // Features and scores for the events the model decides.
        let scored = range.filter { batch.validFlags[$0] && !batch.degraded[$0] }
        let scores = model.map { scoreRows(scored, inputs, $0, batch: batch) } ?? []
        if let observer { for entry in scores { observer.scored(row: entry.row, score: entry.score) } }
        let shadowScores = shadow.map { scoreRows(scored, inputs, $0, batch: batch) } ?? []
        // Policy, reasons, decision records.
        var next = 0
        for index in range where batch.validFlags[index] {
            let input = inputs[index]
            let value = input.value!
            var position: Int?
            if !batch.degraded[index] { position = next; next += 1 }
            let score = position.map { scores[$0].score }
            let event = batch.events.baseAddress! + index
            let record = value.withUnsafeBytes { bytes -> ([UInt8], DecisionSummary) in
                let outcome = rules.decide(event.pointee, record: bytes, score: score)
                var reasons: [FeatureReason] = []
                if let model, let position, reasonsFor.contains(outcome.decision), model.forest.explainable {
                    reasons = explain(model, row: scores[position].row)
                }
                var shadowOpinion: ShadowOpinion?
                if let shadow, let shadowRules, let position {
                    let shadowScore = shadowScores[position].score
                    let shadowOutcome = shadowRules.decide(event.pointee, record: bytes, score: shadowScore)
                    shadowOpinion = ShadowOpinion(model: shadow.name, version: shadow.version, score: shadowScore, decision: shadowOutcome.decision)
                }
                let decidedAt = Date().timeIntervalSince1970
                let summary = DecisionSummary(
                    transactionID: event.pointee.transactionID.map { $0.string(in: bytes) } ?? "",
                    decision: outcome.decision, riskScore: score, riskLevel: outcome.riskLevel, reasons: reasons,
                    ruleHits: outcome.ruleHits, degraded: outcome.degraded, shadow: shadowOpinion,
                    modelVersion: model?.version, eventAge: event.pointee.eventTime.map { decidedAt - $0 },
                    unknownFields: event.pointee.unknownFields
                )
                let aggregates = state.map { _ in AggregateValues(names: names, values: UnsafePointer(batch.values.baseAddress! + index * width)) }
                let json = DecisionWriter.write(
                    event: event.pointee, record: bytes, outcome: outcome, score: score, reasons: reasons, shadow: shadowOpinion,
                    model: model, policyVersion: rules.configuration.policyVersion, source: input.source,
                    decidedAt: decidedAt, processingSeconds: max(0, decidedAt - input.receivedAt), aggregates: aggregates
                )
                return (json, summary)
            }
            batch.results[index] = .decision(record.0, record.1)
        }
    }

    /// Builds the rows of `items` (input indices) for `model` and scores them with the batch evaluator.
    private func scoreRows(_ items: [Int], _ inputs: [ScoringInput], _ model: ScoringModel, batch: Batch) -> [(score: Double, row: ArraySlice<Double>)] {
        guard !items.isEmpty else { return [] }
        let width = model.plan.featureNames.count
        var rows = [Double](repeating: .nan, count: items.count * width)
        rows.withUnsafeMutableBufferPointer { buffer in
            for (n, index) in items.enumerated() {
                let aggregates = batch.width > 0 ? UnsafePointer(batch.values.baseAddress! + index * batch.width) : nil
                inputs[index].value!.withUnsafeBytes { bytes in
                    model.plan.build(batch.events[index], record: bytes, aggregates: aggregates, into: buffer.baseAddress! + n * width)
                }
            }
        }
        var margins = [Double](repeating: 0, count: items.count)
        var outputs = [Double](repeating: 0, count: items.count)
        rows.withUnsafeBufferPointer { r in
            margins.withUnsafeMutableBufferPointer { m in
                outputs.withUnsafeMutableBufferPointer { o in model.forest.predictBatch(rows: r, margins: m, outputs: o) }
            }
        }
        return (0..<items.count).map { (outputs[$0], rows[($0 * width)..<(($0 + 1) * width)]) }
    }

    /// The top-k features by positive TreeSHAP contribution.
    private func explain(_ model: ScoringModel, row: ArraySlice<Double>) -> [FeatureReason] {
        guard topK > 0, let contributions = try? model.forest.contributions(Array(row)).first else { return [] }
        let plan = model.plan
        let ranked = (0..<plan.featureNames.count)
            .filter { contributions[$0] > 0 }
            .sorted { contributions[$0] > contributions[$1] }
            .prefix(topK)
        return ranked.map { index in
            let definition = plan.definitions[index]
            let value = row[row.startIndex + index]
            return FeatureReason(
                code: definition.reason?.code ?? definition.name.uppercased(),
                feature: definition.name,
                value: value.isNaN ? nil : value,
                contribution: contributions[index],
                description: definition.reason?.description ?? "\(definition.name) raised the risk score"
            )
        }
    }
}
