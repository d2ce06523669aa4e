/// One per-key aggregate of `features.yaml` (`aggregates:`), computed from the stream in log order.
///
/// ```yaml
/// aggregates:
///   - {name: card_txn_count_1h, function: count, key: card_id, window: 1h, resolution: 5m}
///   - {name: card_amount_sum_24h, function: sum, field: amount_usd, key: card_id, window: 24h, resolution: 1h}
///   - {name: card_distinct_merchants_24h, function: distinct, field: merchant_id, key: card_id, window: 24h, resolution: 1h, capacity: 16}
///   - {name: card_seconds_since_last, function: seconds_since_last, key: card_id}
/// ```
///
/// The semantics (docs/features.md, "Stream aggregates") are exact, so pandas reproduces them.
public struct AggregateDefinition: Sendable, Hashable, Codable {
    public enum Function: String, Sendable, Hashable, Codable, CaseIterable {
        /// Prior events of the key in the window.
        case count
        /// Sum of `field` over them (an event without the field adds 0).
        case sum
        /// Mean of `field` over those that have it; missing when none does.
        case mean
        /// Largest `field` among those that have it; missing when none does.
        case max
        /// Distinct values of `field` among them, saturating at `capacity`.
        case distinct
        /// Seconds since the key's previous event (0 when that one was later); missing for its first.
        case secondsSinceLast = "seconds_since_last"
    }

    public var name: String
    public var function: Function
    /// The string field the state is keyed by: card_id, merchant_id, merchant_category,
    /// merchant_country, card_country, currency or channel.
    public var key: String
    /// For sum, mean, max: a numeric field (amount_usd, amount, card_age_days, ...); for distinct:
    /// a string field (merchant_id, merchant_category, merchant_country, ...).
    public var field: String?
    /// How far back the window reaches (a multiple of `resolution`); not for seconds_since_last.
    public var window: ConfigDuration?
    /// The bucket width: events are counted per bucket of this many seconds.
    public var resolution: ConfigDuration?
    /// distinct only: the most values remembered (1 to 64); the result saturates there.
    public var capacity: Int?
    /// The reason code a decision shows when this aggregate, used as a model feature, raised the score.
    public var reason: ReasonText?

    public init(
        name: String, function: Function, key: String, field: String? = nil, window: ConfigDuration? = nil, resolution: ConfigDuration? = nil,
        capacity: Int? = nil, reason: ReasonText? = nil
    ) {
        self.reason = reason
        self.name = name
        self.function = function
        self.key = key
        self.field = field
        self.window = window
        self.resolution = resolution
        self.capacity = capacity
    }
}

extension AggregateDefinition {
    /// Whether `other` computes the same values: the same function of the same field per the same
    /// key, over the same window, resolution and capacity. The reason text may differ.
    public func computesSameValues(as other: AggregateDefinition) -> Bool {
        name == other.name && function == other.function && key == other.key && field == other.field
            && window?.seconds == other.window?.seconds && resolution?.seconds == other.resolution?.seconds && capacity == other.capacity
    }

    /// The definition as features.yaml spells it, for messages.
    public var summary: String {
        var parts = ["function: \(function.rawValue)", "key: \(key)"]
        if let field { parts.append("field: \(field)") }
        if let window { parts.append("window: \(window)") }
        if let resolution { parts.append("resolution: \(resolution)") }
        if let capacity { parts.append("capacity: \(capacity)") }
        return "{" + parts.joined(separator: ", ") + "}"
    }
}

/// `state:` in features.yaml: how much per-key state a partition may hold.
public struct AggregateStateLimits: Sendable, Hashable, Codable {
    /// Keys held per input partition before idle keys are dropped. Default 1 000 000.
    public var maxKeys: Int = AggregateStateLimits.defaultMaxKeys
    public static let defaultMaxKeys = 1_000_000

    public init(maxKeys: Int = AggregateStateLimits.defaultMaxKeys) {
        self.maxKeys = maxKeys
    }

    enum CodingKeys: String, CodingKey {
        case maxKeys = "max_keys"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxKeys = try c.decodeIfPresent(Int.self, forKey: .maxKeys) ?? AggregateStateLimits.defaultMaxKeys
    }
}

/// A string field of an event, as aggregates read it.
enum AggregateTextField: String, Sendable, CaseIterable {
    case cardID = "card_id"
    case merchantID = "merchant_id"
    case merchantCategory = "merchant_category"
    case merchantCountry = "merchant_country"
    case cardCountry = "card_country"
    case currency
    case channel

    func range(_ event: TransactionEvent) -> TextRange? {
        switch self {
        case .cardID: event.cardID
        case .merchantID: event.merchantID
        case .merchantCategory: event.merchantCategory
        case .merchantCountry: event.merchantCountry
        case .cardCountry: event.cardCountry
        case .currency: event.currency
        case .channel: event.channelText
        }
    }
}

/// A numeric field of an event, as aggregates read it.
enum AggregateNumberField: String, Sendable, CaseIterable {
    case amountUSD = "amount_usd"
    case amount
    case cardAgeDays = "card_age_days"
    case countryRiskScore = "country_risk_score"

    func value(_ event: TransactionEvent) -> Double? {
        switch self {
        case .amountUSD: event.resolvedAmountUSD
        case .amount: event.amount
        case .cardAgeDays: event.cardAgeDays.map(Double.init)
        case .countryRiskScore: event.countryRiskScore
        }
    }
}
