import Foundation

/// `features.yaml`: how each model feature is computed from an event. One implementation serves
/// training (`verdict features`) and serving, so the model sees in production exactly what it
/// saw in training.
///
/// ```yaml
/// version: 1
/// features:
///   - name: amount_usd
///     field: amount_usd
///     reason: {code: AMOUNT, description: "Amount is unusual for this card"}
///   - name: hour_of_day
///     derive: hour_of_day
///   - name: mcc_risk_group
///     lookup: {field: merchant_category, table: {"7995": 3, "6051": 3}, default: 0}
/// ```
public struct FeatureConfiguration: Sendable, Hashable, Codable {
    public var version: Int
    public var features: [FeatureDefinition]
    /// Per-key stream aggregates (docs/features.md, "Stream aggregates"); absent = none.
    public var aggregates: [AggregateDefinition]?
    /// Bounds of the aggregates' state; absent = the defaults.
    public var state: AggregateStateLimits?

    public init(version: Int = 1, features: [FeatureDefinition], aggregates: [AggregateDefinition]? = nil, state: AggregateStateLimits? = nil) {
        self.version = version
        self.features = features
        self.aggregates = aggregates
        self.state = state
    }

    /// The aggregates compiled, refused with what to change when inconsistent.
    public func aggregatePlan() throws(ScoringError) -> AggregatePlan {
        try AggregatePlan(aggregates ?? [], limits: state ?? AggregateStateLimits(), featureNames: names)
    }

    /// The feature names in configuration order (the order `verdict features` writes columns in).
    public var names: [String] { features.map(\.name) }
}

extension FeatureConfiguration {
    /// A SHA-256 over the definitions of `names` (model order): each feature's field, derivation or
    /// lookup table, and each aggregate's function, key, field, window, resolution and capacity.
    /// Reason texts and everything the model does not use are left out, so adding an aggregate for
    /// a new model does not invalidate an older model whose features mean what they meant. Training
    /// records it in the card (`feature_definitions_sha256`, via `verdict model fingerprint`), and
    /// `verdict model verify` compares it.
    public func definitionsFingerprint(of names: [String]) -> String {
        struct Entry: Encodable {
            var name: String
            var feature: FeatureDefinition?
            var aggregate: AggregateDefinition?
        }
        let byName = Dictionary(features.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let aggregateByName = Dictionary((aggregates ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let entries = names.map { name in
            var feature = byName[name]
            feature?.reason = nil
            var aggregate = feature == nil ? aggregateByName[name] : nil
            aggregate?.reason = nil
            return Entry(name: name, feature: feature, aggregate: aggregate)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain structs of strings, numbers and tables cannot fail.
        let bytes = (try? encoder.encode(entries)) ?? Data()
        return SHA256Hex.of(Array(bytes))
    }
}

/// One feature: a field, a derivation or a lookup. Missing inputs give NaN, so the model's own
/// missing-value handling applies.
public struct FeatureDefinition: Sendable, Hashable, Codable {
    public var name: String
    /// A numeric event field (booleans become 0/1): amount, amount_usd (sent or converted),
    /// card_age_days, transactions_last_24h, avg_transaction_amount, country_risk_score,
    /// is_new_recipient, latitude, longitude, merchant_category (the MCC as a number).
    public var field: String?
    /// A derivation: hour_of_day, day_of_week (Monday = 0, UTC), is_weekend, is_night (00:00-05:00
    /// UTC), is_foreign (merchant_country != card_country), amount_to_avg_ratio, log_amount
    /// (ln(1 + amount_usd)).
    public var derive: String?
    /// A table from a string field's value to a number.
    public var lookup: Lookup?
    /// The reason code shown when this feature pushes a score up.
    public var reason: ReasonText?

    public struct Lookup: Sendable, Hashable, Codable {
        /// merchant_category, channel, currency, merchant_country or card_country.
        public var field: String
        public var table: [String: Double]
        /// For values not in the table; absent = missing (NaN).
        public var `default`: Double?

        public init(field: String, table: [String: Double], default: Double? = nil) {
            self.field = field
            self.table = table
            self.default = `default`
        }
    }

    public init(name: String, field: String? = nil, derive: String? = nil, lookup: Lookup? = nil, reason: ReasonText? = nil) {
        self.name = name
        self.field = field
        self.derive = derive
        self.lookup = lookup
        self.reason = reason
    }
}

/// A reason code and the sentence an analyst reads.
public struct ReasonText: Sendable, Hashable, Codable {
    public var code: String
    public var description: String

    public init(code: String, description: String) {
        self.code = code
        self.description = description
    }
}
