/// Decoding plus the contract's business rules: the one place that says whether a record is a
/// valid transaction event. The stream and `verdict score` both call it.
public struct EventValidator: Sendable {
    public let configuration: ValidationConfiguration
    private let limits: EventLimits
    private let maxClockSkew: Double
    private let maxEventAge: Double
    /// USD rate by currency (index = (c0-'A')*676 + (c1-'A')*26 + (c2-'A')): NaN = not accepted,
    /// -1 = accepted without a rate. A table, because a hash lookup per event costs more than the rest
    /// of the currency check.
    private let rates: [Double]

    public init(configuration: ValidationConfiguration) {
        self.configuration = configuration
        self.limits = configuration.limits
        maxClockSkew = configuration.maxClockSkew.seconds
        maxEventAge = configuration.maxEventAge.seconds
        var rates = [Double](repeating: .nan, count: 26 * 26 * 26)
        for (code, rate) in configuration.currencies {
            let b = Array(code.utf8)
            guard let index = Self.currencyIndex(b[...]) else { continue }
            rates[index] = rate ?? -1
        }
        self.rates = rates
    }

    /// The outcome of validating one record.
    public enum Result: Sendable {
        case valid(TransactionEvent)
        case invalid([ValidationIssue], unknownFields: Int)
    }

    /// Validates `record`.
    ///
    /// - Parameters:
    ///   - record: The record's bytes.
    ///   - now: The reference time for timestamp checks, in seconds since the epoch (the wall clock
    ///     in the stream; the `--as-of` time in backtests).
    /// - Returns: The event, or every problem found (structure first, then business rules).
    public func validate(_ record: UnsafeRawBufferPointer, now: Double) -> Result {
        var event = TransactionEvent()
        let issues = validate(record, now: now, into: &event)
        if issues.isEmpty { return .valid(event) }
        return .invalid(issues, unknownFields: event.unknownFields)
    }

    /// Validates into `event` in place; returns the problems (empty when valid). The hot path of
    /// the stream: no copies of the event struct.
    public func validate(_ record: UnsafeRawBufferPointer, now: Double, into event: inout TransactionEvent) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        guard EventDecoder.decode(record, limits: limits, into: &event, issues: &issues) else { return issues }
        check(&event, record, now: now, issues: &issues)
        return issues
    }

    // swiftlint:disable:next function_body_length cyclomatic_complexity
    private func check(_ event: inout TransactionEvent, _ record: UnsafeRawBufferPointer, now: Double, issues: inout [ValidationIssue]) {
        func add(_ code: ReasonCode, _ field: EventField, _ message: String) {
            guard issues.count < limits.maxIssues else { return }
            issues.append(ValidationIssue(code, field: field.path, message))
        }
        if let version = event.schemaVersion, version != 1 {
            add(.unsupportedSchemaVersion, .schemaVersion, "schema_version \(version) is not supported; this build reads version 1")
        }
        if let id = event.transactionID {
            Self.withText(id, record) { text in
                if text.isEmpty || text.count > 64 || !text.allSatisfy(Self.isIDCharacter) {
                    add(.invalidFormat, .transactionID, "must be 1-64 characters of A-Z a-z 0-9 _ . : -")
                } else if PANMasking.identifierCarriesPAN(text) {
                    add(.panNotAllowed, .transactionID, Self.panInIdentifier)
                }
            }
        }
        if let time = event.eventTimeText {
            let parsed: Double? = time.escaped ? nil : RFC3339.parse(time.raw(in: record))
            if let parsed {
                event.eventTime = parsed
                if parsed > now + maxClockSkew {
                    add(.futureTimestamp, .eventTime, "is more than \(configuration.maxClockSkew) in the future")
                } else if maxEventAge > 0 && parsed < now - maxEventAge {
                    add(.staleTimestamp, .eventTime, "is older than \(configuration.maxEventAge)")
                }
            } else {
                add(.badTimestamp, .eventTime, "is not an RFC 3339 date-time (e.g. 2026-11-23T19:33:43Z)")
            }
        }
        if let card = event.cardID {
            Self.withText(card, record) { text in
                if text.isEmpty || text.count > 64 || text.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
                    add(.invalidFormat, .cardID, "must be a token of 1-64 printable characters without spaces")
                } else if PANMasking.identifierCarriesPAN(text) {
                    add(.panNotAllowed, .cardID, "contains a card number; send a token, never the PAN")
                }
            }
        }
        var rate: Double??  // nil: unknown; .some(nil): accepted without a rate
        if let currency = event.currency {
            Self.withText(currency, record) { text in
                if text.count != 3 || !text.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) {
                    add(.invalidFormat, .currency, "must be an ISO 4217 code of three upper-case letters")
                } else {
                    let entry = rates[Self.currencyIndex(text)!]
                    if entry.isNaN {
                        add(.unknownCurrency, .currency, "is not an accepted currency")
                    } else {
                        rate = .some(entry < 0 ? nil : entry)
                    }
                }
            }
        }
        if let amount = event.amount {
            // The maximum is in USD: converted with the currency's rate when there is one.
            let inUSD = (rate ?? nil).map { amount * $0 } ?? amount
            if !(amount > 0 && inUSD <= configuration.maxAmount) {
                add(.outOfRange, .amount, "must be > 0 and at most \(Self.format(configuration.maxAmount)) USD")
            }
        }
        if let usd = event.amountUSD {
            if usd > 0 && usd <= configuration.maxAmount {
                event.resolvedAmountUSD = usd
            } else {
                add(.outOfRange, .amountUSD, "must be > 0 and <= \(Self.format(configuration.maxAmount))")
            }
        } else if let amount = event.amount, let rate {
            if let rate {
                event.resolvedAmountUSD = amount * rate
            } else {
                add(.noExchangeRate, .amountUSD, "is required: no USD rate is configured for this currency")
            }
        }
        if let mcc = event.merchantCategory {
            Self.withText(mcc, record) { text in
                if text.count == 4 && text.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
                    event.merchantCategoryCode = text.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
                } else {
                    add(.invalidFormat, .merchantCategory, "must be a 4-digit merchant category code (ISO 18245)")
                }
            }
        }
        // Two calls, not a loop over an array literal: the array was allocated per event.
        func checkCountry(_ field: EventField, _ range: TextRange?) {
            guard let range else { return }
            Self.withText(range, record) { text in
                if text.count != 2 || !text.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) {
                    add(.invalidFormat, field, "must be an ISO 3166-1 alpha-2 code of two upper-case letters")
                } else if !ISOCountries.contains(text[0], text[1]) {
                    add(.unknownCountry, field, "is not an ISO 3166-1 country code")
                }
            }
        }
        checkCountry(.merchantCountry, event.merchantCountry)
        checkCountry(.cardCountry, event.cardCountry)
        if let channel = event.channelText {
            Self.withText(channel, record) { text in
                if let value = Self.channels.first(where: { $0.0.elementsEqual(text) })?.1 {
                    event.channel = value
                } else {
                    add(.unknownChannel, .channel, "must be one of \(Channel.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }
        }
        if let merchant = event.merchantID {
            if merchant.count == 0 {
                add(.invalidFormat, .merchantID, "must not be empty")
            } else if Self.withText(merchant, record, PANMasking.identifierCarriesPAN) {
                add(.panNotAllowed, .merchantID, Self.panInIdentifier)
            }
        }
        if let days = event.cardAgeDays, days < 0 { add(.outOfRange, .cardAgeDays, "must be >= 0") }
        if let count = event.transactionsLast24h, count < 0 { add(.outOfRange, .transactionsLast24h, "must be >= 0") }
        if let average = event.averageTransactionAmount, average < 0 { add(.outOfRange, .averageTransactionAmount, "must be >= 0") }
        if let risk = event.countryRiskScore, !(0...1).contains(risk) { add(.outOfRange, .countryRiskScore, "must be between 0 and 1") }
        if let latitude = event.latitude, !(-90...90).contains(latitude) { add(.outOfRange, .latitude, "must be between -90 and 90") }
        if let longitude = event.longitude, !(-180...180).contains(longitude) { add(.outOfRange, .longitude, "must be between -180 and 180") }
    }

    /// Runs `body` over the bytes of a string value with escapes decoded: the record's own bytes
    /// when there are no escapes (no copy, the common case), a decoded copy otherwise.
    @inline(__always)
    static func withText<R>(_ range: TextRange, _ record: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard range.escaped else { return body(range.raw(in: record)) }
        return Array(range.string(in: record).utf8).withUnsafeBytes(body)
    }

    /// Identifiers are copied into decisions, so one that carries a card number would publish it.
    static let panInIdentifier = "contains a card number (a Luhn-valid run of 13-19 digits, or one written in groups); use an identifier without one"

    private static let channels: [([UInt8], Channel)] = Channel.allCases.map { (Array($0.rawValue.utf8), $0) }

    /// The rate table index of three upper-case letters.
    static func currencyIndex(_ b: some Collection<UInt8>) -> Int? {
        guard b.count == 3 else { return nil }
        var index = 0
        for c in b {
            guard c >= 65 && c <= 90 else { return nil }
            index = index * 26 + Int(c - 65)
        }
        return index
    }

    static func isIDCharacter(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
            || b == UInt8(ascii: ":") || b == UInt8(ascii: "-")
    }

    static func pack3(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt32 { UInt32(a) << 16 | UInt32(b) << 8 | UInt32(c) }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
