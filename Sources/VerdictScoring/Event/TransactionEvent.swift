/// Where a string value sits in the record's bytes (between the quotes, still JSON-escaped).
public struct TextRange: Sendable, Hashable {
    public var start: Int32
    public var count: Int32
    /// The raw bytes contain backslash escapes.
    public var escaped: Bool

    /// The decoded string (allocates; for output and messages, not for the hot path).
    public func string(in record: UnsafeRawBufferPointer) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: record[Int(start)..<Int(start + count)])
        guard escaped else { return String(decoding: raw, as: UTF8.self) }
        return JSONEscapes.unescape(raw)
    }

    /// The raw (still escaped) bytes, which are valid JSON string contents.
    public func raw(in record: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: record[Int(start)..<Int(start + count)])
    }
}

/// A decoded transaction event (contract v1): values parsed, strings left in place in the record's
/// bytes as ``TextRange``s, so decoding allocates nothing. Read strings with the record at hand.
public struct TransactionEvent: Sendable {
    public var schemaVersion: Int?
    public var transactionID: TextRange?
    public var eventTimeText: TextRange?
    /// event_time as seconds since the Unix epoch, when it parsed.
    public var eventTime: Double?
    public var cardID: TextRange?
    public var amount: Double?
    public var currency: TextRange?
    /// amount_usd as sent (nil if absent).
    public var amountUSD: Double?
    /// amount_usd as used: sent, or converted from amount with the configured rate.
    public var resolvedAmountUSD: Double?
    public var merchantID: TextRange?
    public var merchantCategory: TextRange?
    /// The MCC as a number (0...9999) when it is four digits.
    public var merchantCategoryCode: Int?
    public var merchantCountry: TextRange?
    public var cardCountry: TextRange?
    public var channel: Channel?
    public var channelText: TextRange?
    public var cardAgeDays: Int?
    public var transactionsLast24h: Int?
    public var averageTransactionAmount: Double?
    public var countryRiskScore: Double?
    public var isNewRecipient: Bool?
    public var latitude: Double?
    public var longitude: Double?
    /// Where the card number (PAN) sits, so it can be masked; never copied anywhere.
    public var cardNumber: TextRange?
    /// Members the contract does not define (ignored, counted).
    public var unknownFields: Int = 0

    public init() {}

    /// Two-letter country codes packed in 16 bits, for comparisons without strings.
    static func packed(_ range: TextRange?, _ record: UnsafeRawBufferPointer) -> UInt16? {
        guard let range, range.count == 2, !range.escaped else { return nil }
        return UInt16(record[Int(range.start)]) << 8 | UInt16(record[Int(range.start) + 1])
    }
}

/// JSON string escapes.
enum JSONEscapes {
    /// Decodes backslash escapes (the input was validated by the decoder).
    static func unescape(_ raw: UnsafeRawBufferPointer) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            let b = raw[i]
            guard b == UInt8(ascii: "\\"), i + 1 < raw.count else { bytes.append(b); i += 1; continue }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "u"):
                guard i + 4 <= raw.count, var unit = hex4(raw, i) else { continue }
                i += 4
                if (0xD800..<0xDC00).contains(unit), i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u"),
                    let low = hex4(raw, i + 2), (0xDC00..<0xE000).contains(low)
                {
                    unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                if let scalar = Unicode.Scalar(unit) { bytes.append(contentsOf: Array(String(Character(scalar)).utf8)) }
            default: bytes.append(e)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hex4(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt32? {
        var value: UInt32 = 0
        for i in at..<(at + 4) {
            let c = raw[i]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: return nil
            }
            value = value << 4 | digit
        }
        return value
    }
}
