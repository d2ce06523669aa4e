/// Why an event was rejected. The raw values are stable: dashboards, alerts and downstream
/// consumers of the dead-letter topic match on them.
public enum ReasonCode: String, Sendable, Hashable, CaseIterable, Codable {
    // Structure
    case emptyRecord = "EMPTY_RECORD"
    case tooLarge = "TOO_LARGE"
    case invalidJSON = "INVALID_JSON"
    case invalidUTF8 = "INVALID_UTF8"
    case notAnObject = "NOT_AN_OBJECT"
    case tooDeep = "TOO_DEEP"
    case duplicateKey = "DUPLICATE_KEY"
    case missingField = "MISSING_FIELD"
    case wrongType = "WRONG_TYPE"
    case stringTooLong = "STRING_TOO_LONG"
    case notFinite = "NOT_FINITE"
    // Business rules
    case unsupportedSchemaVersion = "UNSUPPORTED_SCHEMA_VERSION"
    case invalidFormat = "INVALID_FORMAT"
    case outOfRange = "OUT_OF_RANGE"
    case unknownCurrency = "UNKNOWN_CURRENCY"
    case noExchangeRate = "NO_EXCHANGE_RATE"
    case unknownCountry = "UNKNOWN_COUNTRY"
    case unknownChannel = "UNKNOWN_CHANNEL"
    case badTimestamp = "BAD_TIMESTAMP"
    case futureTimestamp = "FUTURE_TIMESTAMP"
    case staleTimestamp = "STALE_TIMESTAMP"
    case panNotAllowed = "PAN_NOT_ALLOWED"
    /// Exactly-once: the record's output could not be published in a transaction, even alone.
    case publishFailed = "PUBLISH_FAILED"
}

/// One problem with an event: a stable code, the field it concerns (JSON Pointer style, empty for
/// the whole record), and a sentence for humans. Never contains a card number.
public struct ValidationIssue: Sendable, Hashable, Codable, CustomStringConvertible {
    public var code: ReasonCode
    public var field: String
    public var message: String

    public init(_ code: ReasonCode, field: String = "", _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? "\(code.rawValue): \(message)" : "\(code.rawValue) at \(field): \(message)" }
}
