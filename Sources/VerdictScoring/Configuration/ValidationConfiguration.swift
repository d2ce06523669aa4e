/// Business-rule limits of event validation (`scoring.validation` in the configuration).
public struct ValidationConfiguration: Sendable, Hashable, Codable {
    /// Largest record accepted, in bytes. Key `max_record_bytes`, default 65536.
    public var maxRecordBytes: Int = 65_536
    /// Deepest nesting of objects and arrays. Key `max_depth`, default 8.
    public var maxDepth: Int = 8
    /// Longest string anywhere in a record, in bytes. Key `max_string_bytes`, default 4096.
    public var maxStringBytes: Int = 4_096
    /// Largest amount in USD (`amount` converted with its currency's rate, and `amount_usd`). Key
    /// `max_amount`, default 1 000 000.
    public var maxAmount: Double = 1_000_000
    /// Events older than this are rejected (STALE_TIMESTAMP); 0 disables the check. Key
    /// `max_event_age`, default 7d.
    public var maxEventAge: ConfigDuration = ConfigDuration(.seconds(7 * 86_400))
    /// Events further in the future than this are rejected (FUTURE_TIMESTAMP). Key
    /// `max_clock_skew`, default 5m.
    public var maxClockSkew: ConfigDuration = ConfigDuration(.seconds(300))
    /// Accepted currencies and their USD rate (1 unit = rate USD); a null rate accepts the
    /// currency only when the event carries amount_usd. Key `currencies`.
    public var currencies: [String: Double?] = ValidationConfiguration.defaultCurrencies

    public init() {}

    public static let defaultCurrencies: [String: Double?] = [
        "USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CHF": 1.13, "JPY": 0.0067, "CAD": 0.73, "AUD": 0.66, "SEK": 0.095,
        "NOK": 0.093, "DKK": 0.145, "PLN": 0.25, "BRL": 0.18, "MXN": 0.055, "INR": 0.012, "SGD": 0.74, "HKD": 0.128,
        "NGN": 0.00064, "KES": 0.0077, "ZAR": 0.055, "TRY": 0.029, "AED": 0.27,
    ]

    enum CodingKeys: String, CodingKey {
        case maxRecordBytes = "max_record_bytes"
        case maxDepth = "max_depth"
        case maxStringBytes = "max_string_bytes"
        case maxAmount = "max_amount"
        case maxEventAge = "max_event_age"
        case maxClockSkew = "max_clock_skew"
        case currencies
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ValidationConfiguration()
        maxRecordBytes = try c.decodeIfPresent(Int.self, forKey: .maxRecordBytes) ?? defaults.maxRecordBytes
        maxDepth = try c.decodeIfPresent(Int.self, forKey: .maxDepth) ?? defaults.maxDepth
        maxStringBytes = try c.decodeIfPresent(Int.self, forKey: .maxStringBytes) ?? defaults.maxStringBytes
        maxAmount = try c.decodeIfPresent(Double.self, forKey: .maxAmount) ?? defaults.maxAmount
        maxEventAge = try c.decodeIfPresent(ConfigDuration.self, forKey: .maxEventAge) ?? defaults.maxEventAge
        maxClockSkew = try c.decodeIfPresent(ConfigDuration.self, forKey: .maxClockSkew) ?? defaults.maxClockSkew
        currencies = try c.decodeIfPresent([String: Double?].self, forKey: .currencies) ?? defaults.currencies
    }

    var limits: EventLimits {
        var limits = EventLimits()
        limits.maxRecordBytes = maxRecordBytes
        limits.maxDepth = maxDepth
        limits.maxStringBytes = maxStringBytes
        return limits
    }
}
