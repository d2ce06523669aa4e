import Foundation
public import VerdictScoring

/// What one input record became on one side of a replay: the outcome the stream published, or
/// the candidate's.
public struct ReplayOutcome: Sendable, Hashable, Codable {
    /// `APPROVE`, `REVIEW`, `DECLINE`, `DEAD_LETTER`, or `NONE` (nothing published for it).
    public var outcome: String
    public var riskScore: Double?
    /// Feature reason codes, in the decision's order; for a dead letter, its reason codes.
    public var reasons: [String]
    /// Rule hit codes, in the decision's order.
    public var ruleHits: [String]
    public var degraded: Bool
    /// The stream aggregates the decision carried (nil values: missing); nil without aggregates.
    public var aggregates: [String: Double?]?

    /// The label for a record the stream published nothing for.
    public static let noneLabel = "NONE"
    /// The label for a dead letter.
    public static let deadLetterLabel = "DEAD_LETTER"
    /// Every label, in the order reports show them.
    public static let labels = Verdict.allCases.map(\.rawValue) + [deadLetterLabel, noneLabel]

    public static let none = ReplayOutcome(outcome: noneLabel, riskScore: nil, reasons: [], ruleHits: [], degraded: false, aggregates: nil)

    public init(outcome: String, riskScore: Double?, reasons: [String], ruleHits: [String], degraded: Bool, aggregates: [String: Double?]?) {
        self.outcome = outcome
        self.riskScore = riskScore
        self.reasons = reasons
        self.ruleHits = ruleHits
        self.degraded = degraded
        self.aggregates = aggregates
    }

    public init(_ decision: DecisionRecord) {
        self.init(
            outcome: decision.decision, riskScore: decision.riskScore, reasons: decision.reasons.map(\.code), ruleHits: decision.ruleHits.map(\.code),
            degraded: decision.degraded, aggregates: decision.aggregates)
    }

    public init(_ deadLetter: DeadLetterRecord) {
        self.init(
            outcome: Self.deadLetterLabel, riskScore: nil, reasons: deadLetter.reasons.map(\.code), ruleHits: [], degraded: false, aggregates: nil)
    }

    enum CodingKeys: String, CodingKey {
        case outcome, reasons, degraded, aggregates
        case riskScore = "risk_score"
        case ruleHits = "rule_hits"
    }
}

/// The diff of a replay against what the stream published for the same input records: the matrix
/// of published → replayed outcomes, the records whose outcome changed, how often each reason was
/// given on either side, and whether the replay reproduced the stream's aggregates.
///
/// Records are matched by their source (input topic, partition, offset), so duplicates the stream
/// published under at-least-once are counted once, and checked to agree with each other.
public struct ReplayComparison: Sendable {
    /// One record whose outcome changed.
    public struct Change: Sendable, Hashable, Codable {
        public var source: EventSource
        public var transactionID: String?
        public var published: ReplayOutcome
        public var replayed: ReplayOutcome

        enum CodingKeys: String, CodingKey {
            case source, published, replayed
            case transactionID = "transaction_id"
        }
    }

    /// How often a reason was given on each side.
    public struct ReasonCount: Sendable, Hashable, Codable {
        /// `feature` (a model reason), `rule` (a rule hit) or `dead_letter` (a validation reason).
        public var kind: String
        public var code: String
        public var published: Int
        public var replayed: Int
    }

    /// Scores closer than this are the same score (the stream's JSON keeps every bit, so equal
    /// models give a difference of exactly zero; this only absorbs printing).
    public static let scoreTolerance = 1e-12

    /// Records in the replayed range.
    public private(set) var records = 0
    /// published outcome → replayed outcome → records.
    public private(set) var matrix: [String: [String: Int]] = [:]
    /// The records whose outcome changed, in partition and offset order.
    public private(set) var changes: [Change] = []
    /// Records that kept their outcome but not their reasons or rule hits.
    public private(set) var reasonsChanged = 0
    /// Records decided on both sides whose risk score differs, and the largest difference.
    public private(set) var scoresChanged = 0
    public private(set) var largestScoreChange = 0.0
    /// Published copies beyond the first (at-least-once re-deliveries), and records whose copies
    /// disagree with each other.
    public private(set) var duplicates = 0
    public private(set) var conflictingDuplicates = 0
    /// Decisions the stream made without the model (degraded), which a replay decides with it.
    public private(set) var degradedInStream = 0
    /// Decisions on both sides carrying aggregates of the same names, and how many of those differ.
    public private(set) var aggregatesCompared = 0
    public private(set) var aggregatesDiffering = 0
    /// A few differing aggregates, for the report ("partition/offset name: published vs replayed").
    public private(set) var aggregateExamples: [String] = []
    private var reasonCounts: [String: ReasonCount] = [:]

    public init() {}

    /// The reasons given on either side, most changed first.
    public var reasons: [ReasonCount] {
        reasonCounts.values.sorted {
            let a = abs($0.replayed - $0.published), b = abs($1.replayed - $1.published)
            return a != b ? a > b : ($0.kind, $0.code) < ($1.kind, $1.code)
        }
    }

    /// Records whose outcome changed.
    public var changed: Int { changes.count }

    /// Adds one input record: what the stream published for it (every copy, in log order; empty
    /// when nothing) and what the replay made of it.
    public mutating func add(source: EventSource, transactionID: String?, published copies: [ReplayOutcome], replayed: ReplayOutcome) {
        records += 1
        let published = copies.first ?? .none
        if copies.count > 1 {
            duplicates += copies.count - 1
            if copies.dropFirst().contains(where: { $0 != published }) { conflictingDuplicates += 1 }
        }
        matrix[published.outcome, default: [:]][replayed.outcome, default: 0] += 1
        count(published, \.published)
        count(replayed, \.replayed)
        if published.degraded { degradedInStream += 1 }
        if published.outcome != replayed.outcome {
            changes.append(Change(source: source, transactionID: transactionID, published: published, replayed: replayed))
        } else if published.reasons != replayed.reasons || published.ruleHits != replayed.ruleHits {
            reasonsChanged += 1
        }
        if let before = published.riskScore, let after = replayed.riskScore {
            let delta = abs(after - before)
            if delta > Self.scoreTolerance {
                scoresChanged += 1
                largestScoreChange = max(largestScoreChange, delta)
            }
        }
        compareAggregates(source, published.aggregates, replayed.aggregates)
    }

    private mutating func count(_ outcome: ReplayOutcome, _ side: WritableKeyPath<ReasonCount, Int>) {
        let kind = outcome.outcome == ReplayOutcome.deadLetterLabel ? "dead_letter" : "feature"
        for code in outcome.reasons {
            reasonCounts[kind + "/" + code, default: ReasonCount(kind: kind, code: code, published: 0, replayed: 0)][keyPath: side] += 1
        }
        for code in outcome.ruleHits {
            reasonCounts["rule/" + code, default: ReasonCount(kind: "rule", code: code, published: 0, replayed: 0)][keyPath: side] += 1
        }
    }

    /// Compares the aggregates both sides share by name; missing equals missing.
    private mutating func compareAggregates(_ source: EventSource, _ published: [String: Double?]?, _ replayed: [String: Double?]?) {
        guard let published, let replayed else { return }
        let shared = published.keys.filter { replayed[$0] != nil }.sorted()
        guard !shared.isEmpty else { return }
        aggregatesCompared += 1
        let differing = shared.filter { name in
            switch (published[name]!, replayed[name]!) {
            case (nil, nil): false
            case (let a?, let b?): a != b && !(a.isNaN && b.isNaN)
            default: true
            }
        }
        guard let name = differing.first else { return }
        aggregatesDiffering += 1
        if aggregateExamples.count < 5 {
            let show = { (value: Double??) in (value ?? nil).map { "\($0)" } ?? "null" }
            aggregateExamples.append("\(source.partition)/\(source.offset) \(name): published \(show(published[name])), replayed \(show(replayed[name]))")
        }
    }
}
