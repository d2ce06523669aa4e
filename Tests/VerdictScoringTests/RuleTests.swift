import Foundation
import Testing
@testable import VerdictScoring

@Suite("Rules and policy")
struct RuleTests {
    static let thresholds = RuleConfiguration.Thresholds(reviewAt: 0.3, declineAt: 0.8)

    func decide(_ text: String, score: Double?, rules: RuleConfiguration? = nil) throws -> PolicyOutcome {
        let configuration = try rules ?? ScoringFixtures.rules()
        let engine = try RuleEngine(configuration: configuration, thresholds: Self.thresholds)
        guard case .valid(let event) = ScoringFixtures.validate(text) else { throw CancellationError() }
        return Array(text.utf8).withUnsafeBytes { engine.decide(event, record: $0, score: score) }
    }

    @Test(
        "score thresholds: approve below review_at, review below decline_at, decline above",
        arguments: [
            (0.0, Verdict.approve, RiskLevel.low), (0.2999, .approve, .low), (0.3, .review, .medium), (0.7999, .review, .medium), (0.8, .decline, .high),
            (1.0, .decline, .high),
        ])
    func thresholds(score: Double, decision: Verdict, level: RiskLevel) throws {
        let outcome = try decide(ScoringFixtures.baseEvent, score: score)
        #expect(outcome.decision == decision)
        #expect(outcome.riskLevel == level)
        #expect(outcome.ruleHits.isEmpty)
    }

    @Test(
        "each indicator fires on its condition",
        arguments: [
            ("HIGH_AMOUNT", ["amount": 501]),
            ("FOREIGN", ["merchant_country": "FR", "card_country": "US"]),
            ("LATE_NIGHT", ["event_time": "2026-11-23T04:59:00Z"]),
            ("NEW_CARD", ["card_age_days": 29]),
            ("VELOCITY", ["transactions_last_24h": 11]),
            ("NEW_RECIPIENT_HIGH_AMOUNT", ["is_new_recipient": true, "amount": 201]),
            ("HIGH_RISK_COUNTRY", ["country_risk_score": 0.71]),
            ("HIGH_RISK_MCC", ["merchant_category": "7995"]),
        ] as [(String, [String: any Sendable])])
    func indicators(code: String, fields: [String: any Sendable]) throws {
        let text = ScoringFixtures.event { for (k, v) in fields { $0[k] = v } }
        let outcome = try decide(text, score: 0.01)
        #expect(outcome.ruleHits.map(\.code).contains(code))
        #expect(outcome.decision == .approve)  // flags do not change the decision by themselves
    }

    @Test("indicators stay quiet just below their thresholds")
    func quiet() throws {
        let text = ScoringFixtures.event {
            $0["amount"] = 199; $0["card_age_days"] = 30; $0["transactions_last_24h"] = 10; $0["country_risk_score"] = 0.7
            $0["merchant_country"] = "US"; $0["card_country"] = "US"; $0["event_time"] = "2026-11-23T05:00:00Z"; $0["is_new_recipient"] = true
        }
        #expect(try decide(text, score: 0.01).ruleHits.isEmpty)
    }

    @Test("three indicators escalate to REVIEW, five to DECLINE")
    func escalations() throws {
        let three = ScoringFixtures.event {
            $0["amount"] = 600; $0["card_age_days"] = 2; $0["transactions_last_24h"] = 20
        }
        let outcome3 = try decide(three, score: 0.01)
        #expect(outcome3.decision == .review)
        #expect(outcome3.riskLevel == .medium)
        #expect(outcome3.ruleHits.map(\.code).contains("ESCALATION_3_INDICATORS"))
        let five = ScoringFixtures.event {
            $0["amount"] = 600; $0["card_age_days"] = 2; $0["transactions_last_24h"] = 20; $0["country_risk_score"] = 0.9; $0["merchant_category"] = "6051"
        }
        #expect(try decide(five, score: 0.01).decision == .decline)
    }

    @Test("an indicator with action review escalates on its own")
    func indicatorAction() throws {
        var rules = try ScoringFixtures.rules()
        rules.indicators.highRiskMerchantCategory.action = .review
        let text = ScoringFixtures.event { $0["merchant_category"] = "4829" }
        #expect(try decide(text, score: 0.01, rules: rules).decision == .review)
    }

    @Test("hard rules: blocklist and the hard limit decline; the allowlist approves but loses to them")
    func hardRules() throws {
        var rules = try ScoringFixtures.rules()
        rules.hardRules.blocklist.cardIDs = ["card_bad"]
        rules.hardRules.allowlist.cardIDs = ["card_1", "card_bad"]
        rules.hardRules.declineAmountUSDAbove = 1000
        let allowed = try decide(ScoringFixtures.baseEvent, score: 0.99, rules: rules)
        #expect(allowed.decision == .approve)
        #expect(allowed.ruleHits.map(\.code).contains("ALLOWLIST_CARD"))
        let blocked = try decide(ScoringFixtures.event { $0["card_id"] = "card_bad" }, score: 0.0, rules: rules)
        #expect(blocked.decision == .decline)
        #expect(blocked.riskLevel == .high)
        #expect(blocked.ruleHits.map(\.code).contains("BLOCKLIST_CARD"))
        let limit = try decide(ScoringFixtures.event { $0["amount"] = 5000 }, score: 0.0, rules: rules)
        #expect(limit.decision == .decline)
        #expect(limit.ruleHits.map(\.code).contains("HARD_AMOUNT_LIMIT"))
    }

    @Test("without a score the decision is the degraded decision")
    func degraded() throws {
        let outcome = try decide(ScoringFixtures.baseEvent, score: nil)
        #expect(outcome.degraded)
        #expect(outcome.decision == .review)
        #expect(outcome.ruleHits.map(\.code) == ["DEGRADED"])
    }

    @Test("inconsistent thresholds are refused")
    func badThresholds() throws {
        var rules = try ScoringFixtures.rules()
        rules.thresholds = .init(reviewAt: 0.9, declineAt: 0.5)
        #expect(throws: ScoringError.self) { try RuleEngine(configuration: rules, thresholds: nil) }
    }

    @Test("the shipped rules.yaml loads with its documented values")
    func shipped() throws {
        let rules = try ScoringFixtures.rules()
        #expect(rules.policyVersion == "2026-11-23.1")
        #expect(rules.indicators.highAmount.threshold == 500)
        #expect(rules.escalations.map(\.minIndicators) == [3, 5])
        #expect(rules.reasons.topK == 3)
        #expect(rules.reasons.forDecisions == [.review, .decline])
        #expect(rules.degraded.eventAgeSLA?.seconds == 600)
    }
}

/// Partial rule sections keep the documented defaults of what they leave out.
@Suite("Rule defaults under partial sections")
struct RuleDefaultTests {
    static func rules(_ yaml: String) throws -> RuleConfiguration {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rules-\(UUID().uuidString).yaml").path
        try ("policy_version: test\n" + yaml).write(toFile: path, atomically: true, encoding: .utf8)
        return try ScoringConfiguration.loadYAML(RuleConfiguration.self, path: path)
    }

    @Test("a hard_rules section without decline_amount_usd_above keeps the 25,000 USD limit; null removes it")
    func hardLimit() throws {
        #expect(try Self.rules("hard_rules:\n  blocklist: {card_ids: [c1]}\n").hardRules.declineAmountUSDAbove == 25_000)
        #expect(try Self.rules("hard_rules:\n  decline_amount_usd_above: 900\n").hardRules.declineAmountUSDAbove == 900)
        #expect(try Self.rules("hard_rules:\n  decline_amount_usd_above: null\n").hardRules.declineAmountUSDAbove == nil)
        #expect(try Self.rules("").hardRules.declineAmountUSDAbove == 25_000)
    }

    @Test("an indicator entry that sets only its action keeps its default codes, threshold and hours")
    func partialIndicators() throws {
        let rules = try Self.rules(
            """
            indicators:
              high_risk_mcc: {action: review}
              high_amount: {action: decline}
              late_night: {enabled: true}
            """)
        #expect(rules.indicators.highRiskMerchantCategory.codes == ["7995", "6051", "4829"])
        #expect(rules.indicators.highRiskMerchantCategory.action == .review)
        #expect(rules.indicators.highAmount.threshold == 500)
        #expect(rules.indicators.highAmount.action == .decline)
        #expect(rules.indicators.lateNight.fromHour == 0 && rules.indicators.lateNight.toHour == 5)
        let engine = try RuleEngine(configuration: rules, thresholds: RuleConfiguration.Thresholds(reviewAt: 0.3, declineAt: 0.8))
        let text = ScoringFixtures.event { $0["merchant_category"] = "7995" }
        guard case .valid(let event) = ScoringFixtures.validate(text) else { Issue.record("invalid fixture"); return }
        let outcome = Array(text.utf8).withUnsafeBytes { engine.decide(event, record: $0, score: 0.01) }
        #expect(outcome.decision == .review, "a review action on the default codes must escalate 7995")
    }

    @Test("an indicator built without its number uses the declared default, in the decision and in its description")
    func indicatorDefaultsHaveOneSource() throws {
        var rules = RuleConfiguration(policyVersion: "t")
        rules.indicators.highAmount = RuleConfiguration.Indicator()
        rules.indicators.velocity = RuleConfiguration.Indicator(action: .review)
        let declared = RuleConfiguration.Indicators()
        let above = ScoringFixtures.event { $0["amount"] = (declared.highAmount.threshold ?? 0) + 1 }
        let below = ScoringFixtures.event { $0["amount"] = (declared.highAmount.threshold ?? 0) - 1 }
        func decide(_ text: String, score: Double, rules: RuleConfiguration) throws -> PolicyOutcome {
            try RuleTests().decide(text, score: score, rules: rules)
        }
        let hit = try #require(try decide(above, score: 0.01, rules: rules).ruleHits.first { $0.code == "HIGH_AMOUNT" })
        #expect(hit.description.contains("500"))
        #expect(try !decide(below, score: 0.01, rules: rules).ruleHits.contains { $0.code == "HIGH_AMOUNT" })
        let busy = ScoringFixtures.event { $0["transactions_last_24h"] = Int(declared.velocity.threshold ?? 0) + 1 }
        #expect(try decide(busy, score: 0.01, rules: rules).decision == .review)
        // The decoders fall back to the same declarations.
        let decoded = try Self.rules("reasons: {top_k: 5}\ndegraded: {event_age_sla: 30s}\n")
        #expect(decoded.reasons.forDecisions == RuleConfiguration.ReasonPolicy().forDecisions)
        #expect(decoded.degraded.decision == RuleConfiguration.DegradedPolicy().decision)
        #expect(decoded.escalations == RuleConfiguration.defaultEscalations)
    }
}
