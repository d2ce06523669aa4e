#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

    /// Looks a member name up without allocating: a perfect-enough hash of length and two bytes
    /// picks one candidate, which a memcmp confirms.
    @inline(__always)
    static func lookup(_ key: UnsafeRawBufferPointer) -> EventField? {
        let n = key.count
        guard n >= 4, n <= 24 else { return nil }
        let slot = (n &* 31 &+ Int(key[0]) &* 7 &+ Int(key[n - 1])) & (table.count - 1)
        let candidate = table[slot]
        guard candidate >= 0 else { return nil }
        let name = names[Int(candidate)]
        guard name.count == n else { return nil }
        return name.withUnsafeBytes { memcmp($0.baseAddress!, key.baseAddress!, n) == 0 } ? EventField(rawValue: Int(candidate)) : nil
    }

    private static let names: [[UInt8]] = allCases.map { Array($0.name.utf8) }

    /// Slot -> field index (-1 empty); built so that no two fields share a slot.
    private static let table: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for field in allCases {
            let b = Array(field.name.utf8)
            let slot = (b.count &* 31 &+ Int(b[0]) &* 7 &+ Int(b[b.count - 1])) & 255
            precondition(table[slot] == -1, "event field hash collision: \(field.name)")
            table[slot] = Int8(field.rawValue)
        }
        return table
    }()

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
    public var code: Double {
        switch self {
        case .cardPresent: 0
        case .ecommerce: 1
        case .atm: 2
        case .p2p: 3
        case .cryptoOfframp: 4
        }
    }
}
