/// The fields of the transaction event contract, v1 (docs/contracts.md).
public enum EventField: Int, Sendable, Hashable, CaseIterable {
    case schemaVersion, transactionID, eventTime, cardID, amount, currency, amountUSD, merchantID
    case merchantCategory, merchantCountry, cardCountry, channel, cardAgeDays, transactionsLast24h
    case averageTransactionAmount, countryRiskScore, isNewRecipient, latitude, longitude, cardNumber

    /// The JSON member name.
    public var name: String {
        switch self {
        case .schemaVersion: "schema_version"
        case .transactionID: "transaction_id"
        case .eventTime: "event_time"
        case .cardID: "card_id"
        case .amount: "amount"
        case .currency: "currency"
        case .amountUSD: "amount_usd"
        case .merchantID: "merchant_id"
        case .merchantCategory: "merchant_category"
        case .merchantCountry: "merchant_country"
        case .cardCountry: "card_country"
        case .channel: "channel"
        case .cardAgeDays: "card_age_days"
        case .transactionsLast24h: "transactions_last_24h"
        case .averageTransactionAmount: "avg_transaction_amount"
        case .countryRiskScore: "country_risk_score"
        case .isNewRecipient: "is_new_recipient"
        case .latitude: "latitude"
        case .longitude: "longitude"
        case .cardNumber: "card_number"
        }
    }

    /// The JSON type the contract requires.
    public enum Kind: Sendable { case string, number, integer, boolean }

    public var kind: Kind {
        switch self {
        case .schemaVersion, .cardAgeDays, .transactionsLast24h: .integer
        case .amount, .amountUSD, .averageTransactionAmount, .countryRiskScore, .latitude, .longitude: .number
        case .isNewRecipient: .boolean
        default: .string
        }
    }

    public var isRequired: Bool {
        switch self {
        case .schemaVersion, .transactionID, .eventTime, .cardID, .amount, .currency: true
        default: false
        }
    }

    /// Looks a member name up without allocating.
    static func lookup(_ key: UnsafeRawBufferPointer) -> EventField? {
        // Dispatch on length first; most names have a unique length or two candidates.
        guard let table = byLength[key.count] else { return nil }
        for (bytes, field) in table where bytes.elementsEqual(key) { return field }
        return nil
    }

    private static let byLength: [Int: [([UInt8], EventField)]] = Dictionary(grouping: allCases.map { (Array($0.name.utf8), $0) }, by: { $0.0.count })

    /// The member name as JSON Pointer.
    public var path: String { "/" + name }
}

/// The payment channels the contract knows.
public enum Channel: String, Sendable, Hashable, CaseIterable, Codable {
    case cardPresent = "card_present"
    case ecommerce
    case atm
    case p2p
    case cryptoOfframp = "crypto_offramp"

    /// A stable numeric code for models (its position in this list).
    public var code: Double { Double(Self.allCases.firstIndex(of: self)!) }
}
