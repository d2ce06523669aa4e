import Foundation
public import VerdictScoring

/// A decision record read back from the decisions topic (contract v1, docs/contracts.md): the fields
/// reports and tests look at.
public struct DecisionRecord: Sendable, Decodable {
    public struct Reason: Sendable, Decodable {
        public var code: String
        public var feature: String
        public var value: Double?
        public var contribution: Double
    }

    public struct RuleHit: Sendable, Decodable {
        public var code: String
        public var action: String
    }

    public struct Model: Sendable, Decodable {
        public var name: String
        public var version: String
        public var sha256: String
    }

    /// The same type the scorer writes into decisions and dead letters.
    public typealias Source = EventSource

    public struct Shadow: Sendable, Decodable {
        public var model: String
        public var version: String
        public var riskScore: Double
        public var decision: String

        enum CodingKeys: String, CodingKey {
            case model, version, decision
            case riskScore = "risk_score"
        }
    }

    public var transactionID: String?
    public var cardID: String?
    public var decision: String
    public var riskScore: Double?
    public var riskLevel: String
    public var reasons: [Reason]
    public var ruleHits: [RuleHit]
    public var model: Model?
    public var decidedAt: String
    public var processingMilliseconds: Double
    public var source: Source
    public var degraded: Bool
    public var shadow: Shadow?
    /// The rules that decided it (`policy_version`).
    public var policyVersion: String?
    /// The stream aggregates it was decided with (null values: missing); nil without aggregates.
    public var aggregates: [String: Double?]?

    enum CodingKeys: String, CodingKey {
        case decision, reasons, model, source, degraded, shadow, aggregates
        case transactionID = "transaction_id"
        case cardID = "card_id"
        case riskScore = "risk_score"
        case riskLevel = "risk_level"
        case ruleHits = "rule_hits"
        case decidedAt = "decided_at"
        case policyVersion = "policy_version"
        case processingMilliseconds = "processing_ms"
    }

    /// Parses one record; nil when it is not a v1 decision.
    public static func parse(_ bytes: [UInt8]) -> DecisionRecord? {
        try? JSONDecoder().decode(DecisionRecord.self, from: Data(bytes))
    }
}

/// A dead-letter envelope read back from the dead-letter topic.
public struct DeadLetterRecord: Sendable, Decodable {
    public struct Reason: Sendable, Decodable {
        public var code: String
        public var field: String
        public var message: String
    }

    public var reasons: [Reason]
    public var source: DecisionRecord.Source
    public var original: String?
    public var originalEncoding: String

    enum CodingKeys: String, CodingKey {
        case reasons, source, original
        case originalEncoding = "original_encoding"
    }

    public static func parse(_ bytes: [UInt8]) -> DeadLetterRecord? {
        try? JSONDecoder().decode(DeadLetterRecord.self, from: Data(bytes))
    }
}
