/// Where an event came from (written into its decision or dead letter).
public struct EventSource: Sendable, Hashable, Codable {
    public var topic: String
    public var partition: Int
    public var offset: Int64

    public init(topic: String, partition: Int, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// A topic's partition, for accounting per partition.
    public struct Partition: Sendable, Hashable {
        public var topic: String
        public var partition: Int

        public init(topic: String, partition: Int) {
            self.topic = topic
            self.partition = partition
        }
    }
}

/// One feature reason in a decision.
public struct FeatureReason: Sendable, Hashable, Codable {
    public var code: String
    public var feature: String
    /// The feature's value for this event (nil when missing).
    public var value: Double?
    /// Its TreeSHAP contribution to the margin (log-odds for binary models).
    public var contribution: Double
    public var description: String
}

/// The challenger's opinion, recorded beside (never instead of) the champion's decision.
public struct ShadowOpinion: Sendable, Hashable, Codable {
    public var model: String
    public var version: String
    public var score: Double
    public var decision: Verdict
}

/// A decision as data (the pipeline publishes its JSON; `verdict score` and tests read it back).
public struct DecisionSummary: Sendable, Hashable {
    public var transactionID: String
    public var decision: Verdict
    public var riskScore: Double?
    public var riskLevel: RiskLevel
    public var reasons: [FeatureReason]
    public var ruleHits: [RuleHit]
    public var degraded: Bool
    public var shadow: ShadowOpinion?
    public var modelVersion: String?
    /// Age of the event (decided_at - event_time) in seconds.
    public var eventAge: Double?
    /// Members the contract does not define (ignored).
    public var unknownFields: Int = 0
}
