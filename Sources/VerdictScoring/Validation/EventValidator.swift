/// Decoding plus the contract's business rules: the one place that says whether a record is a
/// valid transaction event. The stream and `verdict score` both call it.
public struct EventValidator: Sendable {
    public let configuration: ValidationConfiguration
    private let limits: EventLimits
    /// Currency code (3 ASCII letters packed) -> USD rate (nil: accepted without a rate).
    private let rates: [UInt32: Double?]

    public init(configuration: ValidationConfiguration) {
        self.configuration = configuration
        self.limits = configuration.limits
        var rates: [UInt32: Double?] = [:]
        for (code, rate) in configuration.currencies {
            let bytes = Array(code.utf8)
            guard bytes.count == 3 else { continue }
            rates[Self.pack3(bytes[0], bytes[1], bytes[2])] = rate
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
        let (decoded, structural) = EventDecoder.decode(record, limits: limits)
        guard var event = decoded else { return .invalid(structural, unknownFields: 0) }
        var issues = structural
        check(&event, record, now: now, issues: &issues)
        if issues.isEmpty { return .valid(event) }
        return .invalid(issues, unknownFields: event.unknownFields)
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
            let text = Self.unescaped(id, record)
            if text.isEmpty || text.count > 64 || !text.allSatisfy(Self.isIDCharacter) {
                add(.invalidFormat, .transactionID, "must be 1-64 characters of A-Z a-z 0-9 _ . : -")
            }
        }
        if let time = event.eventTimeText {
            let parsed: Double? = time.escaped ? nil : RFC3339.parse(time.raw(in: record))
            if let parsed {
                event.eventTime = parsed
                if parsed > now + configuration.maxClockSkew.seconds {
                    add(.futureTimestamp, .eventTime, "is more than \(configuration.maxClockSkew) in the future")
                } else if configuration.maxEventAge.seconds > 0 && parsed < now - configuration.maxEventAge.seconds {
                    add(.staleTimestamp, .eventTime, "is older than \(configuration.maxEventAge)")
                }
            } else {
                add(.badTimestamp, .eventTime, "is not an RFC 3339 date-time (e.g. 2026-11-23T19:33:43Z)")
            }
        }
        if let card = event.cardID {
            let text = Self.unescaped(card, record)
            if text.isEmpty || text.count > 64 || text.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
                add(.invalidFormat, .cardID, "must be a token of 1-64 printable characters without spaces")
            } else if PANMasking.looksLikePAN(text) {
                add(.panNotAllowed, .cardID, "looks like a card number; send a token, never the PAN")
            }
        }
        var rate: Double??
        if let currency = event.currency {
            let text = Self.unescaped(currency, record)
            if text.count != 3 || !text.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) {
                add(.invalidFormat, .currency, "must be an ISO 4217 code of three upper-case letters")
            } else {
                rate = rates[Self.pack3(text[0], text[1], text[2])]
                if rate == nil { add(.unknownCurrency, .currency, "is not an accepted currency") }
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
            let text = Self.unescaped(mcc, record)
            if text.count == 4 && text.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
                event.merchantCategoryCode = text.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            } else {
                add(.invalidFormat, .merchantCategory, "must be a 4-digit merchant category code (ISO 18245)")
            }
        }
        for (field, range) in [(EventField.merchantCountry, event.merchantCountry), (.cardCountry, event.cardCountry)] {
            guard let range else { continue }
            let text = Self.unescaped(range, record)
            if text.count != 2 || !text.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) {
                add(.invalidFormat, field, "must be an ISO 3166-1 alpha-2 code of two upper-case letters")
            } else if !ISOCountries.all.contains(UInt16(text[0]) << 8 | UInt16(text[1])) {
                add(.unknownCountry, field, "is not an ISO 3166-1 country code")
            }
        }
        if let channel = event.channelText {
            let text = String(decoding: Self.unescaped(channel, record), as: UTF8.self)
            if let value = Channel(rawValue: text) {
                event.channel = value
            } else {
                add(.unknownChannel, .channel, "must be one of \(Channel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        if let merchant = event.merchantID, merchant.count == 0 {
            add(.invalidFormat, .merchantID, "must not be empty")
        }
        if let days = event.cardAgeDays, days < 0 { add(.outOfRange, .cardAgeDays, "must be >= 0") }
        if let count = event.transactionsLast24h, count < 0 { add(.outOfRange, .transactionsLast24h, "must be >= 0") }
        if let average = event.averageTransactionAmount, average < 0 { add(.outOfRange, .averageTransactionAmount, "must be >= 0") }
        if let risk = event.countryRiskScore, !(0...1).contains(risk) { add(.outOfRange, .countryRiskScore, "must be between 0 and 1") }
        if let latitude = event.latitude, !(-90...90).contains(latitude) { add(.outOfRange, .latitude, "must be between -90 and 90") }
        if let longitude = event.longitude, !(-180...180).contains(longitude) { add(.outOfRange, .longitude, "must be between -180 and 180") }
    }

    /// The bytes of a string value with escapes decoded: the record's own bytes when there are no
    /// escapes (no copy), a decoded copy otherwise.
    static func unescaped(_ range: TextRange, _ record: UnsafeRawBufferPointer) -> Text {
        range.escaped ? Text(copy: Array(range.string(in: record).utf8)) : Text(view: range.raw(in: record))
    }

    /// A string value's bytes, borrowed from the record or (rarely) decoded into a copy.
    struct Text: RandomAccessCollection {
        private let view: UnsafeRawBufferPointer?
        private let copy: [UInt8]
        init(view: UnsafeRawBufferPointer) { self.view = view; self.copy = [] }
        init(copy: [UInt8]) { self.view = nil; self.copy = copy }
        var startIndex: Int { 0 }
        var endIndex: Int { view?.count ?? copy.count }
        subscript(position: Int) -> UInt8 { view?[position] ?? copy[position] }
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
