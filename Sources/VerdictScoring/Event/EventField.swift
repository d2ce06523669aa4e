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

    /// Looks a member name up without allocating or touching memory other than the key: the
    /// length picks at most two candidates, whose names are compared as 4- or 8-byte words against
    /// constants (little-endian; overlapping loads cover odd lengths). A table-driven lookup spent
    /// more time chasing pointers than the rest of the member. `EventFieldTests` checks every
    /// constant against the name it stands for.
    @inline(__always)
    static func lookup(_ key: UnsafeRawBufferPointer) -> EventField? {
        let n = key.count
        guard n >= 6, n <= 22, let p = key.baseAddress else { return nil }
        @inline(__always) func w32(_ at: Int) -> UInt32 { UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        @inline(__always) func w64(_ at: Int) -> UInt64 { UInt64(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        switch n {
        case 6:
            if w32(0) == 0x756F_6D61 && w32(2) == 0x746E_756F { return .amount }  // amount
        case 7:
            if w32(0) == 0x6472_6163 && w32(3) == 0x6469_5F64 { return .cardID }  // card_id
            if w32(0) == 0x6E61_6863 && w32(3) == 0x6C65_6E6E { return .channel }  // channel
        case 8:
            if w64(0) == 0x7963_6E65_7272_7563 { return .currency }  // currency
            if w64(0) == 0x6564_7574_6974_616C { return .latitude }  // latitude
        case 9:
            if w64(0) == 0x6475_7469_676E_6F6C && w64(1) == 0x6564_7574_6967_6E6F { return .longitude }  // longitude
        case 10:
            if w64(0) == 0x6974_5F74_6E65_7665 && w64(2) == 0x656D_6974_5F74_6E65 { return .eventTime }  // event_time
            if w64(0) == 0x755F_746E_756F_6D61 && w64(2) == 0x6473_755F_746E_756F { return .amountUSD }  // amount_usd
        case 11:
            if w64(0) == 0x746E_6168_6372_656D && w64(3) == 0x6469_5F74_6E61_6863 { return .merchantID }  // merchant_id
            if w64(0) == 0x6D75_6E5F_6472_6163 && w64(3) == 0x7265_626D_756E_5F64 { return .cardNumber }  // card_number
        case 12:
            if w64(0) == 0x756F_635F_6472_6163 && w64(4) == 0x7972_746E_756F_635F { return .cardCountry }  // card_country
        case 13:
            if w64(0) == 0x6567_615F_6472_6163 && w64(5) == 0x7379_6164_5F65_6761 { return .cardAgeDays }  // card_age_days
        case 14:
            if w64(0) == 0x765F_616D_6568_6373 && w64(6) == 0x6E6F_6973_7265_765F { return .schemaVersion }  // schema_version
            if w64(0) == 0x7463_6173_6E61_7274 && w64(6) == 0x6469_5F6E_6F69_7463 { return .transactionID }  // transaction_id
        case 16:
            if w64(0) == 0x746E_6168_6372_656D && w64(8) == 0x7972_746E_756F_635F { return .merchantCountry }  // merchant_country
            if w64(0) == 0x725F_7765_6E5F_7369 && w64(8) == 0x746E_6569_7069_6365 { return .isNewRecipient }  // is_new_recipient
        case 17:
            // merchant_category
            if w64(0) == 0x746E_6168_6372_656D && w64(8) == 0x726F_6765_7461_635F && w64(9) == 0x7972_6F67_6574_6163 { return .merchantCategory }
        case 18:
            // country_risk_score
            if w64(0) == 0x5F79_7274_6E75_6F63 && w64(8) == 0x6F63_735F_6B73_6972 && w64(10) == 0x6572_6F63_735F_6B73 { return .countryRiskScore }
        case 21:
            // transactions_last_24h
            if w64(0) == 0x7463_6173_6E61_7274 && w64(8) == 0x7361_6C5F_736E_6F69 && w64(13) == 0x6834_325F_7473_616C { return .transactionsLast24h }
        case 22:
            // avg_transaction_amount
            if w64(0) == 0x6E61_7274_5F67_7661 && w64(8) == 0x5F6E_6F69_7463_6173 && w64(14) == 0x746E_756F_6D61_5F6E { return .averageTransactionAmount }
        default:
            break
        }
        return nil
    }

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
