/// A rule that fired for an event.
public struct RuleHit: Sendable, Hashable, Codable {
    public var code: String
    public var description: String
    /// What the rule did: flag (listed only), review or decline (escalated), approve (allowlist).
    public var action: String

    public init(code: String, description: String, action: String) {
        self.code = code
        self.description = description
        self.action = action
    }
}

/// The decision before reasons: verdict, risk level and the rules that fired.
public struct PolicyOutcome: Sendable, Hashable {
    public var decision: Verdict
    public var riskLevel: RiskLevel
    public var ruleHits: [RuleHit]
    /// Decided without the model (stale event or no model).
    public var degraded: Bool
}

/// Turns a score and an event into a decision: hard rules, then the score thresholds, then
/// indicator actions and escalations on top (they can only raise the decision).
public struct RuleEngine: Sendable {
    public let configuration: RuleConfiguration
    /// The score thresholds (the rules' own, else the model card's); nil only when there is no
    /// model, and every decision is then degraded.
    public let thresholds: RuleConfiguration.Thresholds?
    private let blockedCards: Set<String>
    private let blockedMerchants: Set<String>
    private let allowedCards: Set<String>
    private let allowedMerchants: Set<String>
    private let riskyCategories: Set<Int>
    /// Rule hits built once (their descriptions), so deciding allocates little.
    private let indicatorHits: [String: RuleHit]
    /// The indicators' numbers, resolved once: the rules' own, else the declared default of
    /// ``RuleConfiguration/Indicators`` (a programmatic `Indicator()` without a threshold).
    private let limits: Limits

    private struct Limits: Sendable {
        var highAmountAbove: Double
        var lateFrom: Int
        var lateTo: Int
        var newCardBelowDays: Double
        var velocityAbove: Double
        var newRecipientAmountAbove: Double
        var countryRiskAbove: Double

        init(_ i: RuleConfiguration.Indicators) {
            let d = RuleConfiguration.Indicators()
            // The defaults' numbers are all set; 0 is never reached.
            func pick(_ value: Double?, _ fallback: Double?) -> Double { value ?? fallback ?? 0 }
            highAmountAbove = pick(i.highAmount.threshold, d.highAmount.threshold)
            lateFrom = i.lateNight.fromHour ?? d.lateNight.fromHour ?? 0
            lateTo = i.lateNight.toHour ?? d.lateNight.toHour ?? 0
            newCardBelowDays = pick(i.newCard.threshold, d.newCard.threshold)
            velocityAbove = pick(i.velocity.threshold, d.velocity.threshold)
            newRecipientAmountAbove = pick(i.newRecipientHighAmount.threshold, d.newRecipientHighAmount.threshold)
            countryRiskAbove = pick(i.highRiskCountry.threshold, d.highRiskCountry.threshold)
        }
    }

    /// - Parameters:
    ///   - configuration: The rules.
    ///   - thresholds: The model card's thresholds, used when the rules set none.
    /// - Throws: ``ScoringError`` when thresholds are inconsistent.
    public init(configuration: RuleConfiguration, thresholds: RuleConfiguration.Thresholds?) throws(ScoringError) {
        let resolved = configuration.thresholds ?? thresholds
        if let resolved, !(resolved.reviewAt > 0 && resolved.reviewAt <= resolved.declineAt && resolved.declineAt <= 1) {
            throw ScoringError(.configuration, "thresholds must satisfy 0 < review_at (\(resolved.reviewAt)) <= decline_at (\(resolved.declineAt)) <= 1")
        }
        self.configuration = configuration
        self.thresholds = resolved
        blockedCards = Set(configuration.hardRules.blocklist.cardIDs)
        blockedMerchants = Set(configuration.hardRules.blocklist.merchantIDs)
        allowedCards = Set(configuration.hardRules.allowlist.cardIDs)
        allowedMerchants = Set(configuration.hardRules.allowlist.merchantIDs)
        riskyCategories = Set((configuration.indicators.highRiskMerchantCategory.codes ?? []).compactMap(Int.init))
        let i = configuration.indicators
        let limits = Limits(i)
        self.limits = limits
        let from = limits.lateFrom, to = limits.lateTo
        let descriptions: [(String, RuleConfiguration.Indicator, String)] = [
            ("HIGH_AMOUNT", i.highAmount, "Amount above \(Self.money(limits.highAmountAbove)) USD"),
            ("FOREIGN", i.foreign, "Merchant country differs from the card's country"),
            ("LATE_NIGHT", i.lateNight, "Between \(from):00 and \(to):00 UTC"),
            ("NEW_CARD", i.newCard, "Card younger than \(Int(limits.newCardBelowDays)) days"),
            ("VELOCITY", i.velocity, "More than \(Int(limits.velocityAbove)) transactions in 24 hours"),
            (
                "NEW_RECIPIENT_HIGH_AMOUNT", i.newRecipientHighAmount,
                "New recipient and amount above \(Self.money(limits.newRecipientAmountAbove)) USD"
            ),
            ("HIGH_RISK_COUNTRY", i.highRiskCountry, "Country risk score above \(limits.countryRiskAbove)"),
            ("HIGH_RISK_MCC", i.highRiskMerchantCategory, "High-risk merchant category"),
            ("CRYPTO_OFFRAMP", i.cryptoOfframp, "Crypto off-ramp cash-out"),
        ]
        indicatorHits = Dictionary(uniqueKeysWithValues: descriptions.map { ($0.0, RuleHit(code: $0.0, description: $0.2, action: $0.1.action.rawValue)) })
    }

    /// Decides for a valid event.
    ///
    /// - Parameters:
    ///   - event: The validated event.
    ///   - record: Its bytes (for the id lists).
    ///   - score: The model's score in [0, 1]; nil when scoring was skipped (degraded).
    public func decide(_ event: TransactionEvent, record: UnsafeRawBufferPointer, score: Double?) -> PolicyOutcome {
        var hits: [RuleHit] = []
        var floor = Verdict.approve
        let indicators = configuration.indicators
        var fired = 0
        func indicator(_ rule: RuleConfiguration.Indicator, _ code: String, _ condition: () -> Bool) {
            guard rule.enabled, condition() else { return }
            fired += 1
            hits.append(indicatorHits[code]!)
            switch rule.action {
            case .flag: break
            case .review: floor = max(floor, .review)
            case .decline: floor = max(floor, .decline)
            }
        }
        let amount = event.resolvedAmountUSD ?? 0
        let hour = event.eventTime.map { FeaturePlan.secondsOfDay($0) / 3600 }
        indicator(indicators.highAmount, "HIGH_AMOUNT") {
            amount > limits.highAmountAbove
        }
        indicator(indicators.foreign, "FOREIGN") {
            guard let m = TransactionEvent.packed(event.merchantCountry, record), let c = TransactionEvent.packed(event.cardCountry, record) else {
                return false
            }
            return m != c
        }
        let from = limits.lateFrom, to = limits.lateTo
        indicator(indicators.lateNight, "LATE_NIGHT") {
            hour.map { $0 >= from && $0 < to } ?? false
        }
        indicator(indicators.newCard, "NEW_CARD") {
            event.cardAgeDays.map { Double($0) < limits.newCardBelowDays } ?? false
        }
        indicator(indicators.velocity, "VELOCITY") {
            event.transactionsLast24h.map { Double($0) > limits.velocityAbove } ?? false
        }
        indicator(indicators.newRecipientHighAmount, "NEW_RECIPIENT_HIGH_AMOUNT") {
            event.isNewRecipient == true && amount > limits.newRecipientAmountAbove
        }
        indicator(indicators.highRiskCountry, "HIGH_RISK_COUNTRY") {
            (event.countryRiskScore ?? 0) > limits.countryRiskAbove
        }
        indicator(indicators.highRiskMerchantCategory, "HIGH_RISK_MCC") {
            event.merchantCategoryCode.map { riskyCategories.contains($0) } ?? false
        }
        indicator(indicators.cryptoOfframp, "CRYPTO_OFFRAMP") {
            event.channel == .cryptoOfframp
        }
        for escalation in configuration.escalations.sorted(by: { $0.minIndicators < $1.minIndicators }) where fired >= escalation.minIndicators {
            floor = max(floor, escalation.decision)
            hits.append(
                RuleHit(
                    code: "ESCALATION_\(escalation.minIndicators)_INDICATORS",
                    description: "\(fired) risk indicators fired (>= \(escalation.minIndicators))", action: escalation.decision.rawValue.lowercased()))
        }

        // Hard rules decide regardless of the score: blocklist and the hard limit decline, the
        // allowlist approves (unless one of those declines).
        var forced: Verdict?
        // Strings only when a list needs them: most deployments have no per-card lists.
        let card = blockedCards.isEmpty && allowedCards.isEmpty ? nil : event.cardID.map { $0.string(in: record) }
        let merchant = blockedMerchants.isEmpty && allowedMerchants.isEmpty ? nil : event.merchantID.map { $0.string(in: record) }
        if let card, blockedCards.contains(card) {
            hits.append(RuleHit(code: "BLOCKLIST_CARD", description: "Card is on the blocklist", action: "decline"))
            forced = .decline
        }
        if let merchant, blockedMerchants.contains(merchant) {
            hits.append(RuleHit(code: "BLOCKLIST_MERCHANT", description: "Merchant is on the blocklist", action: "decline"))
            forced = .decline
        }
        if let limit = configuration.hardRules.declineAmountUSDAbove, amount > limit {
            hits.append(RuleHit(code: "HARD_AMOUNT_LIMIT", description: "Amount above the hard limit of \(Self.money(limit)) USD", action: "decline"))
            forced = .decline
        }
        if forced == nil {
            if let card, allowedCards.contains(card) {
                hits.append(RuleHit(code: "ALLOWLIST_CARD", description: "Card is on the allowlist", action: "approve"))
                forced = .approve
            } else if let merchant, allowedMerchants.contains(merchant) {
                hits.append(RuleHit(code: "ALLOWLIST_MERCHANT", description: "Merchant is on the allowlist", action: "approve"))
                forced = .approve
            }
        }

        var decision: Verdict
        var level: RiskLevel
        var degraded = false
        if let score, let thresholds {
            decision = score >= thresholds.declineAt ? .decline : score >= thresholds.reviewAt ? .review : .approve
            level = score >= thresholds.declineAt ? .high : score >= thresholds.reviewAt ? .medium : .low
        } else {
            decision = configuration.degraded.decision
            level = .medium
            degraded = true
            hits.append(
                RuleHit(code: "DEGRADED", description: "Decided without the model (stale event or no model loaded)", action: decision.rawValue.lowercased()))
        }
        decision = max(decision, floor)
        if let forced { decision = forced }
        if decision == .review { level = max(level, .medium) }
        if decision == .decline { level = .high }
        return PolicyOutcome(decision: decision, riskLevel: level, ruleHits: hits, degraded: degraded)
    }

    private static func money(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
