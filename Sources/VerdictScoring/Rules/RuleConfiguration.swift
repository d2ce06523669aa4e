/// `rules.yaml`: risk indicators, hard rules, escalations, the score policy and reason codes,
/// versioned together by `policy_version` (every decision records it).
public struct RuleConfiguration: Sendable, Hashable, Codable {
    /// Recorded in every decision; change it whenever the rules change.
    public var policyVersion: String
    /// Score thresholds; absent = the model card's `thresholds`.
    public var thresholds: Thresholds?
    public var indicators: Indicators
    public var hardRules: HardRules
    /// Minimum decisions when several indicators fire together.
    public var escalations: [Escalation]
    public var reasons: ReasonPolicy
    public var degraded: DegradedPolicy

    public struct Thresholds: Sendable, Hashable, Codable {
        /// Scores at or above review; below approve. Key `review_at`.
        public var reviewAt: Double
        /// Scores at or above decline. Key `decline_at`.
        public var declineAt: Double

        public init(reviewAt: Double, declineAt: Double) {
            self.reviewAt = reviewAt
            self.declineAt = declineAt
        }

        enum CodingKeys: String, CodingKey {
            case reviewAt = "review_at"
            case declineAt = "decline_at"
        }
    }

    /// Each indicator fires on its condition; `action` may make it escalate on its own.
    public struct Indicators: Sendable, Hashable, Codable {
        public var highAmount: Indicator = Indicator(threshold: 500)
        public var foreign: Indicator = Indicator()
        public var lateNight: Indicator = Indicator(fromHour: 0, toHour: 5)
        public var newCard: Indicator = Indicator(threshold: 30)
        public var velocity: Indicator = Indicator(threshold: 10)
        public var newRecipientHighAmount: Indicator = Indicator(threshold: 200)
        public var highRiskCountry: Indicator = Indicator(threshold: 0.7)
        public var highRiskMerchantCategory: Indicator = Indicator(codes: ["7995", "6051", "4829"])
        public var cryptoOfframp: Indicator = Indicator(enabled: false)

        public init() {}

        enum CodingKeys: String, CodingKey {
            case highAmount = "high_amount"
            case foreign
            case lateNight = "late_night"
            case newCard = "new_card"
            case velocity
            case newRecipientHighAmount = "new_recipient_high_amount"
            case highRiskCountry = "high_risk_country"
            case highRiskMerchantCategory = "high_risk_mcc"
            case cryptoOfframp = "crypto_offramp"
        }

        /// Keys an indicator's entry leaves out keep that indicator's default: `high_risk_mcc: {action:
        /// review}` escalates the default merchant codes, it does not empty them.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Indicators()
            func indicator(_ key: CodingKeys, _ fallback: Indicator) throws -> Indicator {
                try c.decodeIfPresent(Indicator.Override.self, forKey: key)?.applied(to: fallback) ?? fallback
            }
            highAmount = try indicator(.highAmount, d.highAmount)
            foreign = try indicator(.foreign, d.foreign)
            lateNight = try indicator(.lateNight, d.lateNight)
            newCard = try indicator(.newCard, d.newCard)
            velocity = try indicator(.velocity, d.velocity)
            newRecipientHighAmount = try indicator(.newRecipientHighAmount, d.newRecipientHighAmount)
            highRiskCountry = try indicator(.highRiskCountry, d.highRiskCountry)
            highRiskMerchantCategory = try indicator(.highRiskMerchantCategory, d.highRiskMerchantCategory)
            cryptoOfframp = try indicator(.cryptoOfframp, d.cryptoOfframp)
        }
    }

    public struct Indicator: Sendable, Hashable, Codable {
        public var enabled: Bool
        /// The indicator's number: an amount in USD, a day count, a score (see docs/rules.md).
        public var threshold: Double?
        /// Hours for late_night: fires when from_hour <= hour < to_hour (UTC).
        public var fromHour: Int?
        public var toHour: Int?
        /// MCCs for high_risk_mcc.
        public var codes: [String]?
        /// What firing does: flag (default; listed only), review (at least REVIEW), decline.
        public var action: RuleAction

        public init(
            enabled: Bool = true, threshold: Double? = nil, fromHour: Int? = nil, toHour: Int? = nil,
            codes: [String]? = nil, action: RuleAction = .flag
        ) {
            self.enabled = enabled
            self.threshold = threshold
            self.fromHour = fromHour
            self.toHour = toHour
            self.codes = codes
            self.action = action
        }

        enum CodingKeys: String, CodingKey {
            case enabled, threshold, codes, action
            case fromHour = "from_hour"
            case toHour = "to_hour"
        }

        /// What a rules file says about one indicator: only the keys it sets.
        struct Override: Decodable {
            var enabled: Bool?
            var threshold: Double?
            var fromHour: Int?
            var toHour: Int?
            var codes: [String]?
            var action: RuleAction?

            enum CodingKeys: String, CodingKey {
                case enabled, threshold, codes, action
                case fromHour = "from_hour"
                case toHour = "to_hour"
            }

            func applied(to fallback: Indicator) -> Indicator {
                Indicator(
                    enabled: enabled ?? fallback.enabled, threshold: threshold ?? fallback.threshold,
                    fromHour: fromHour ?? fallback.fromHour, toHour: toHour ?? fallback.toHour,
                    codes: codes ?? fallback.codes, action: action ?? fallback.action)
            }
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let defaults = Indicator()
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? defaults.enabled
            threshold = try c.decodeIfPresent(Double.self, forKey: .threshold)
            fromHour = try c.decodeIfPresent(Int.self, forKey: .fromHour)
            toHour = try c.decodeIfPresent(Int.self, forKey: .toHour)
            codes = try c.decodeIfPresent([String].self, forKey: .codes)
            action = try c.decodeIfPresent(RuleAction.self, forKey: .action) ?? defaults.action
        }
    }

    public enum RuleAction: String, Sendable, Hashable, Codable, CaseIterable {
        case flag, review, decline

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let value = RuleAction(rawValue: text.lowercased()) else {
                let allowed = RuleAction.allCases.map(\.rawValue).joined(separator: ", ")
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not one of \(allowed)"))
            }
            self = value
        }
    }

    public struct HardRules: Sendable, Hashable, Codable {
        /// Amounts above this (USD) are declined whatever the score. Key `decline_amount_usd_above`.
        public var declineAmountUSDAbove: Double?
        public var blocklist: IDList
        /// Approved whatever the score (a blocklist entry or the hard limit still wins).
        public var allowlist: IDList

        /// The hard limit when the rules name none: 25,000 USD.
        public static let defaultDeclineAmountUSDAbove = 25_000.0

        public init(declineAmountUSDAbove: Double? = HardRules.defaultDeclineAmountUSDAbove, blocklist: IDList = IDList(), allowlist: IDList = IDList()) {
            self.declineAmountUSDAbove = declineAmountUSDAbove
            self.blocklist = blocklist
            self.allowlist = allowlist
        }

        enum CodingKeys: String, CodingKey {
            case declineAmountUSDAbove = "decline_amount_usd_above"
            case blocklist, allowlist
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            // Left out: the default limit (a hard_rules section for a blocklist must not lift it).
            // An explicit null removes the limit.
            declineAmountUSDAbove =
                c.contains(.declineAmountUSDAbove)
                ? try c.decodeIfPresent(Double.self, forKey: .declineAmountUSDAbove)
                : HardRules.defaultDeclineAmountUSDAbove
            blocklist = try c.decodeIfPresent(IDList.self, forKey: .blocklist) ?? IDList()
            allowlist = try c.decodeIfPresent(IDList.self, forKey: .allowlist) ?? IDList()
        }
    }

    public struct IDList: Sendable, Hashable, Codable {
        public var cardIDs: [String]
        public var merchantIDs: [String]

        public init(cardIDs: [String] = [], merchantIDs: [String] = []) {
            self.cardIDs = cardIDs
            self.merchantIDs = merchantIDs
        }

        enum CodingKeys: String, CodingKey {
            case cardIDs = "card_ids"
            case merchantIDs = "merchant_ids"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            cardIDs = try c.decodeIfPresent([String].self, forKey: .cardIDs) ?? []
            merchantIDs = try c.decodeIfPresent([String].self, forKey: .merchantIDs) ?? []
        }
    }

    public struct Escalation: Sendable, Hashable, Codable {
        /// Fires when at least this many indicators fired. Key `min_indicators`.
        public var minIndicators: Int
        public var decision: Verdict

        public init(minIndicators: Int, decision: Verdict) {
            self.minIndicators = minIndicators
            self.decision = decision
        }

        enum CodingKeys: String, CodingKey {
            case minIndicators = "min_indicators"
            case decision
        }
    }

    public struct ReasonPolicy: Sendable, Hashable, Codable {
        /// Features listed per decision. Key `top_k`, default 3.
        public var topK: Int
        /// Decisions that get feature reasons (TreeSHAP costs time). Key `for`, default REVIEW and DECLINE.
        public var forDecisions: [Verdict]

        public init(topK: Int = 3, forDecisions: [Verdict] = [.review, .decline]) {
            self.topK = topK
            self.forDecisions = forDecisions
        }

        enum CodingKeys: String, CodingKey {
            case topK = "top_k"
            case forDecisions = "for"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let defaults = ReasonPolicy()
            topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? defaults.topK
            forDecisions = try c.decodeIfPresent([Verdict].self, forKey: .forDecisions) ?? defaults.forDecisions
        }
    }

    /// What to decide when the service cannot score properly.
    public struct DegradedPolicy: Sendable, Hashable, Codable {
        /// Events older than this when they reach the scorer are decided without the model. Key
        /// `event_age_sla`; absent = no SLA.
        public var eventAgeSLA: ConfigDuration?
        /// The decision for degraded events. Key `decision`, default REVIEW.
        public var decision: Verdict

        public init(eventAgeSLA: ConfigDuration? = nil, decision: Verdict = .review) {
            self.eventAgeSLA = eventAgeSLA
            self.decision = decision
        }

        enum CodingKeys: String, CodingKey {
            case eventAgeSLA = "event_age_sla"
            case decision
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            eventAgeSLA = try c.decodeIfPresent(ConfigDuration.self, forKey: .eventAgeSLA)
            decision = try c.decodeIfPresent(Verdict.self, forKey: .decision) ?? DegradedPolicy().decision
        }
    }

    public init(
        policyVersion: String, thresholds: Thresholds? = nil, indicators: Indicators = Indicators(), hardRules: HardRules = HardRules(),
        escalations: [Escalation] = RuleConfiguration.defaultEscalations, reasons: ReasonPolicy = ReasonPolicy(),
        degraded: DegradedPolicy = DegradedPolicy()
    ) {
        self.policyVersion = policyVersion
        self.thresholds = thresholds
        self.indicators = indicators
        self.hardRules = hardRules
        self.escalations = escalations
        self.reasons = reasons
        self.degraded = degraded
    }

    /// Without an `escalations` list: three indicators together mean at least REVIEW.
    public static let defaultEscalations = [Escalation(minIndicators: 3, decision: .review)]

    enum CodingKeys: String, CodingKey {
        case policyVersion = "policy_version"
        case thresholds, indicators, escalations, reasons, degraded
        case hardRules = "hard_rules"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        policyVersion = try c.decode(String.self, forKey: .policyVersion)
        thresholds = try c.decodeIfPresent(Thresholds.self, forKey: .thresholds)
        indicators = try c.decodeIfPresent(Indicators.self, forKey: .indicators) ?? Indicators()
        hardRules = try c.decodeIfPresent(HardRules.self, forKey: .hardRules) ?? HardRules()
        escalations = try c.decodeIfPresent([Escalation].self, forKey: .escalations) ?? RuleConfiguration.defaultEscalations
        reasons = try c.decodeIfPresent(ReasonPolicy.self, forKey: .reasons) ?? ReasonPolicy()
        degraded = try c.decodeIfPresent(DegradedPolicy.self, forKey: .degraded) ?? DegradedPolicy()
    }
}
