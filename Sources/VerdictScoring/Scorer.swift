import Foundation
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

    public init(value: [UInt8]?, source: EventSource, receivedAt: Double) {
        self.value = value
        self.source = source
        self.receivedAt = receivedAt
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
    public init(
        validation: ValidationConfiguration, rules: RuleConfiguration, model: ScoringModel?, shadow: ScoringModel? = nil,
        pool: ForestWorkerPool?, appliesEventAgeSLA: Bool = true, observer: (any ScoringObserver)? = nil,
        deadLetters: DeadLetterConfiguration = DeadLetterConfiguration()
    ) throws(ScoringError) {
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
    public func score(_ inputs: [ScoringInput], asOf: Double? = nil) -> [ScoringOutcome] {
        let count = inputs.count
        guard count > 0 else { return [] }
        let chunks = (count + Self.chunk - 1) / Self.chunk
        let results = UnsafeMutableBufferPointer<ScoringOutcome?>.allocate(capacity: count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        let body: (Int) -> Void = { [self] task in
            let start = task * Self.chunk
            let end = min(count, start + Self.chunk)
            scoreChunk(inputs, start..<end, asOf: asOf, into: results)
        }
        if let pool, chunks > 1 {
            pool.run(tasks: chunks, body)
        } else {
            for task in 0..<chunks { body(task) }
        }
        // Move the outcomes out: the buffer is deallocated, not deinitialized, so copying them
        // (map) would leave every decision's bytes retained forever.
        return (0..<count).map { (results.baseAddress! + $0).move()! }
    }

    private func scoreChunk(_ inputs: [ScoringInput], _ range: Range<Int>, asOf: Double?, into results: UnsafeMutableBufferPointer<ScoringOutcome?>) {
        let now = Date().timeIntervalSince1970
        let reference = asOf ?? now
        // 1. Validate, straight into the chunk's event array: the event struct (about 400 bytes)
        // is written once and then only borrowed, never copied per step.
        var events: [TransactionEvent] = []
        var origin: [Int] = []
        var degraded: [Bool] = []
        events.reserveCapacity(range.count)
        origin.reserveCapacity(range.count)
        degraded.reserveCapacity(range.count)
        for index in range {
            let input = inputs[index]
            guard let value = input.value else {
                let issues = [ValidationIssue(.emptyRecord, "the record is a tombstone (null value)")]
                results[index] = .deadLetter(DeadLetterWriter.write(input, issues: issues, now: now, configuration: deadLetters), issues)
                continue
            }
            events.append(TransactionEvent())
            let issues = value.withUnsafeBytes { validator.validate($0, now: reference, into: &events[events.count - 1]) }
            guard issues.isEmpty else {
                events.removeLast()
                results[index] = .deadLetter(DeadLetterWriter.write(input, issues: issues, now: now, configuration: deadLetters), issues)
                continue
            }
            let eventTime = events[events.count - 1].eventTime
            let stale = staleAfterSeconds.map { sla in eventTime.map { reference - $0 > sla } ?? false } ?? false
            origin.append(index)
            degraded.append(model == nil || stale)
        }
        // 2. Features and scores for the events the model decides (positions into `events`).
        let scored = degraded.indices.filter { !degraded[$0] }
        let scores = model.map { scoreRows(scored, events, origin, inputs, $0) } ?? []
        if let observer { for entry in scores { observer.scored(row: entry.row, score: entry.score) } }
        let shadowScores = shadow.map { scoreRows(scored, events, origin, inputs, $0) } ?? []
        // 3. Policy, reasons, decision records.
        var next = 0
        for k in events.indices {
            let input = inputs[origin[k]]
            let value = input.value!
            var position: Int?
            if !degraded[k] { position = next; next += 1 }
            let score = position.map { scores[$0].score }
            let record = value.withUnsafeBytes { bytes -> ([UInt8], DecisionSummary) in
                let outcome = rules.decide(events[k], record: bytes, score: score)
                var reasons: [FeatureReason] = []
                if let model, let position, reasonsFor.contains(outcome.decision), model.forest.explainable {
                    reasons = explain(model, row: scores[position].row)
                }
                var shadowOpinion: ShadowOpinion?
                if let shadow, let shadowRules, let position {
                    let shadowScore = shadowScores[position].score
                    let shadowOutcome = shadowRules.decide(events[k], record: bytes, score: shadowScore)
                    shadowOpinion = ShadowOpinion(model: shadow.name, version: shadow.version, score: shadowScore, decision: shadowOutcome.decision)
                }
                let decidedAt = Date().timeIntervalSince1970
                let summary = DecisionSummary(
                    transactionID: events[k].transactionID.map { $0.string(in: bytes) } ?? "",
                    decision: outcome.decision, riskScore: score, riskLevel: outcome.riskLevel, reasons: reasons,
                    ruleHits: outcome.ruleHits, degraded: outcome.degraded, shadow: shadowOpinion,
                    modelVersion: model?.version, eventAge: events[k].eventTime.map { decidedAt - $0 },
                    unknownFields: events[k].unknownFields
                )
                let json = DecisionWriter.write(
                    event: events[k], record: bytes, outcome: outcome, score: score, reasons: reasons, shadow: shadowOpinion,
                    model: model, policyVersion: rules.configuration.policyVersion, source: input.source,
                    decidedAt: decidedAt, processingSeconds: max(0, decidedAt - input.receivedAt)
                )
                return (json, summary)
            }
            results[origin[k]] = .decision(record.0, record.1)
        }
    }

    /// Builds the rows of `items` (positions into `events`) for `model` and scores them with the batch evaluator.
    private func scoreRows(
        _ items: [Int], _ events: [TransactionEvent], _ origin: [Int], _ inputs: [ScoringInput], _ model: ScoringModel
    ) -> [(score: Double, row: ArraySlice<Double>)] {
        guard !items.isEmpty else { return [] }
        let width = model.plan.featureNames.count
        var rows = [Double](repeating: .nan, count: items.count * width)
        rows.withUnsafeMutableBufferPointer { buffer in
            for (n, k) in items.enumerated() {
                inputs[origin[k]].value!.withUnsafeBytes { bytes in
                    model.plan.build(events[k], record: bytes, into: buffer.baseAddress! + n * width)
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
