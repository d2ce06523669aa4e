/// Structural limits on records, all configurable (`validation.*` in the scoring configuration).
public struct EventLimits: Sendable, Hashable {
    /// Largest record accepted. Default 64 KiB.
    public var maxRecordBytes: Int = 65_536
    /// Deepest nesting of objects and arrays (the event itself is depth 1). Default 8.
    public var maxDepth: Int = 8
    /// Longest string in any member, in bytes (contract fields have their own, smaller limits). Default 4096.
    public var maxStringBytes: Int = 4_096
    /// Most issues reported per event (the rest are summarised). Default 32.
    public var maxIssues: Int = 32

    public init() {}
}

/// Decodes a record into a ``TransactionEvent`` in one pass over its bytes, checking JSON syntax
/// (RFC 8259, strictly: no NaN/Infinity, no trailing commas), UTF-8, nesting depth, duplicate
/// members, member types and string lengths. Every problem is collected; decoding stops only when
/// the JSON itself is broken.
struct EventDecoder {
    /// The record as typed bytes: subscripting a typed pointer inlines to a plain load, where the
    /// raw buffer's subscript showed up as a call per byte in profiles.
    private let bytes: ByteView
    private let limits: EventLimits
    private var i = 0
    private(set) var issues: [ValidationIssue] = []

    /// Per-field string limits of the contract.
    static func maxLength(_ field: EventField) -> Int? {
        switch field {
        case .transactionID, .cardID, .merchantID: 64
        case .eventTime: 64
        case .channel: 32
        case .cardNumber: 64
        default: nil
        }
    }

    /// Decodes `record`. Returns nil (with issues) when the record is not a JSON object that can be
    /// read; otherwise the event and any type or structure issues found.
    static func decode(_ record: UnsafeRawBufferPointer, limits: EventLimits) -> (TransactionEvent?, [ValidationIssue]) {
        var event = TransactionEvent()
        var issues: [ValidationIssue] = []
        let usable = decode(record, limits: limits, into: &event, issues: &issues)
        return (usable ? event : nil, issues)
    }

    /// Decodes into `event` in place (the struct is large; copying it costs more than parsing a
    /// member). Returns false when the record is not an object that could be read.
    static func decode(_ record: UnsafeRawBufferPointer, limits: EventLimits, into event: inout TransactionEvent, issues: inout [ValidationIssue]) -> Bool {
        if record.isEmpty {
            issues.append(ValidationIssue(.emptyRecord, "the record is empty"))
            return false
        }
        if record.count > limits.maxRecordBytes {
            issues.append(ValidationIssue(.tooLarge, "the record is \(record.count) bytes; the limit is \(limits.maxRecordBytes)"))
            return false
        }
        var decoder = EventDecoder(bytes: record, limits: limits)
        let usable = decoder.decodeObject(into: &event)
        issues.append(contentsOf: decoder.issues)
        return usable
    }

    private init(bytes: UnsafeRawBufferPointer, limits: EventLimits) {
        self.bytes = ByteView(bytes)
        self.limits = limits
    }

    private mutating func report(_ code: ReasonCode, _ field: String, _ message: String) {
        guard issues.count < limits.maxIssues else { return }
        issues.append(ValidationIssue(code, field: field, message))
    }

    private mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    /// A syntax error: the position and what was expected.
    private struct SyntaxError: Error {
        var code: ReasonCode
        var message: String
    }

    private mutating func decodeObject(into event: inout TransactionEvent) -> Bool {
        do throws(SyntaxError) {
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else {
                // Another JSON value is NOT_AN_OBJECT; anything else (a byte order mark, text) is not JSON.
                let starts = Array("[\"-0123456789tfn".utf8)
                if i < bytes.count, starts.contains(bytes[i]) {
                    report(.notAnObject, "", "the record is JSON but not an object")
                } else {
                    report(.invalidJSON, "", i < bytes.count ? "the record does not start with '{' (byte \(i))" : "the record is blank")
                }
                return false
            }
            try members(into: &event)
            skipWhitespace()
            guard i == bytes.count else { throw SyntaxError(code: .invalidJSON, message: "unexpected data after the object at byte \(i)") }
            return true
        } catch {
            report(error.code, "", error.message)
            return false
        }
    }

    private mutating func members(into event: inout TransactionEvent) throws(SyntaxError) {
        var seen: UInt32 = 0
        // Unknown members are checked for duplicates in hash sets (a pairwise check made a 64 KiB
        // record of 6,500 distinct keys cost 18 ms). The first one needs no set; more are rare.
        var firstUnknown: Range<Int>?
        var unknownKeys = UnknownKeys()
        i += 1
        skipWhitespace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw syntax("expected a member name") }
                let key = try string()
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw syntax("expected ':' after a member name") }
                i += 1
                skipWhitespace()
                let raw = bytes.slice(key.range)
                if !key.escaped, let field = EventField.lookup(raw) {
                    let bit: UInt32 = 1 << UInt32(field.rawValue)
                    if seen & bit != 0 {
                        report(.duplicateKey, field.path, "the member appears more than once")
                        try skipValue(depth: 1)
                    } else {
                        seen |= bit
                        try value(of: field, into: &event)
                    }
                } else {
                    let name = key.escaped ? JSONEscapes.unescape(raw) : ""
                    if key.escaped, let field = EventField.allCases.first(where: { $0.name == name }) {
                        // An escaped spelling of a contract field: treat it as that field.
                        let bit: UInt32 = 1 << UInt32(field.rawValue)
                        if seen & bit != 0 { report(.duplicateKey, field.path, "the member appears more than once") }
                        seen |= bit
                        try value(of: field, into: &event)
                    } else {
                        let seenBefore: Bool
                        if !key.escaped, firstUnknown == nil, unknownKeys.isEmpty {
                            firstUnknown = key.range
                            seenBefore = false
                        } else {
                            if let first = firstUnknown {
                                _ = unknownKeys.insert(raw: bytes.slice(first))
                                firstUnknown = nil
                            }
                            seenBefore = key.escaped ? !unknownKeys.insert(name: name) : !unknownKeys.insert(raw: raw)
                        }
                        if seenBefore {
                            let shown = key.escaped ? name : String(decoding: raw, as: UTF8.self)
                            report(.duplicateKey, "/" + String(shown.prefix(64)), "the member appears more than once")
                        }
                        event.unknownFields += 1
                        try skipValue(depth: 1)
                    }
                }
                skipWhitespace()
                guard i < bytes.count else { throw syntax("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                throw syntax("expected ',' or '}'")
            }
        }
        for field in EventField.allCases where field.isRequired && seen & (1 << UInt32(field.rawValue)) == 0 {
            report(.missingField, field.path, "required member '\(field.name)' is missing")
        }
    }

    private func syntax(_ message: String) -> SyntaxError {
        SyntaxError(code: .invalidJSON, message: i >= bytes.count ? "the JSON ends early (\(message))" : "\(message) at byte \(i)")
    }

    // MARK: Values

    private mutating func value(of field: EventField, into event: inout TransactionEvent) throws(SyntaxError) {
        // A record may end right after a member's colon (`{"amount":`).
        guard i < bytes.count else { throw syntax("expected a value") }
        let c = bytes[i]
        if c == UInt8(ascii: "n") {
            try literal("null")
            if field.isRequired { report(.wrongType, field.path, "must not be null") }
            return
        }
        switch field.kind {
        case .string:
            guard c == UInt8(ascii: "\"") else {
                guard Self.valueStarts.contains(c) || c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) else {
                    throw syntax("invalid value")
                }
                return try wrongType(field, "a string")
            }
            let s = try string()
            let range = TextRange(start: Int32(s.range.lowerBound), count: Int32(s.range.count), escaped: s.escaped)
            if let limit = Self.maxLength(field), s.range.count > limit && (!s.escaped || JSONEscapes.unescape(bytes.slice(s.range)).utf8.count > limit) {
                report(.stringTooLong, field.path, "is \(s.range.count) bytes; at most \(limit) allowed")
                return
            }
            switch field {
            case .transactionID: event.transactionID = range
            case .eventTime: event.eventTimeText = range
            case .cardID: event.cardID = range
            case .currency: event.currency = range
            case .merchantID: event.merchantID = range
            case .merchantCategory: event.merchantCategory = range
            case .merchantCountry: event.merchantCountry = range
            case .cardCountry: event.cardCountry = range
            case .channel: event.channelText = range
            case .cardNumber: event.cardNumber = range
            default: break
            }
        case .number, .integer:
            guard c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) else {
                // NaN, Infinity and other bare words are not JSON at all, not a wrong type.
                guard Self.valueStarts.contains(c) else { throw syntax("invalid value (NaN and Infinity are not JSON)") }
                return try wrongType(field, field.kind == .integer ? "an integer" : "a number")
            }
            guard let (end, number) = FastNumber.parse(bytes.base, count: bytes.count, from: i) else { throw syntax("invalid number") }
            i = end
            guard number.isFinite else {
                report(.notFinite, field.path, "the number does not fit a double")
                return
            }
            if field.kind == .integer {
                guard number == number.rounded(), abs(number) < 9.0e15 else {
                    report(.wrongType, field.path, "must be an integer")
                    return
                }
                let integer = Int(number)
                switch field {
                case .schemaVersion: event.schemaVersion = integer
                case .cardAgeDays: event.cardAgeDays = integer
                case .transactionsLast24h: event.transactionsLast24h = integer
                default: break
                }
            } else {
                switch field {
                case .amount: event.amount = number
                case .amountUSD: event.amountUSD = number
                case .averageTransactionAmount: event.averageTransactionAmount = number
                case .countryRiskScore: event.countryRiskScore = number
                case .latitude: event.latitude = number
                case .longitude: event.longitude = number
                default: break
                }
            }
        case .boolean:
            if c == UInt8(ascii: "t") {
                try literal("true"); event.isNewRecipient = true
            } else if c == UInt8(ascii: "f") {
                try literal("false"); event.isNewRecipient = false
            } else if Self.valueStarts.contains(c) || c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) {
                try wrongType(field, "true or false")
            } else {
                throw syntax("invalid value")
            }
        }
    }

    /// First bytes of JSON values other than numbers.
    static let valueStarts: [UInt8] = [UInt8(ascii: "\""), UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n")]

    private mutating func wrongType(_ field: EventField, _ expected: String) throws(SyntaxError) {
        let found: String
        switch bytes[i] {
        case UInt8(ascii: "\""): found = "a string"
        case UInt8(ascii: "{"): found = "an object"
        case UInt8(ascii: "["): found = "an array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): found = "a boolean"
        default: found = "a number"
        }
        report(.wrongType, field.path, "must be \(expected), found \(found)")
        try skipValue(depth: 1)
    }

    private mutating func literal(_ text: StaticString) throws(SyntaxError) {
        let count = text.utf8CodeUnitCount
        guard i + count <= bytes.count else { throw syntax("truncated literal") }
        let matches = text.withUTF8Buffer { expected in (0..<count).allSatisfy { bytes[i + $0] == expected[$0] } }
        guard matches else { throw syntax("invalid literal (NaN and Infinity are not JSON)") }
        i += count
    }

    /// Skips any JSON value, checking syntax, UTF-8 and depth.
    private mutating func skipValue(depth: Int) throws(SyntaxError) {
        guard i < bytes.count else { throw syntax("expected a value") }
        switch bytes[i] {
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = bytes[i] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObject = close == UInt8(ascii: "}")
            guard depth + 1 <= limits.maxDepth else {
                throw SyntaxError(code: .tooDeep, message: "nesting deeper than \(limits.maxDepth) levels at byte \(i)")
            }
            i += 1
            skipWhitespace()
            if i < bytes.count && bytes[i] == close { i += 1; return }
            while true {
                skipWhitespace()
                if isObject {
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw syntax("expected a member name") }
                    _ = try string()
                    skipWhitespace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw syntax("expected ':'") }
                    i += 1
                    skipWhitespace()
                }
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard i < bytes.count else { throw syntax("unterminated container") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == close { i += 1; return }
                throw syntax("expected ',' or a closing bracket")
            }
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default:
            guard let (end, _) = FastNumber.parse(bytes.base, count: bytes.count, from: i) else { throw syntax("invalid value") }
            i = end
        }
    }

    /// Reads a string starting at the opening quote; returns the range between the quotes.
    private mutating func string() throws(SyntaxError) -> (range: Range<Int>, escaped: Bool) {
        i += 1
        let start = i
        var escaped = false
        while i < bytes.count {
            // Eight bytes at a time while none is a quote, a backslash, a control or a non-ASCII
            // byte; then straight to the first such byte (stepping byte by byte to it cost a
            // mispredicted branch per byte).
            while i + 8 <= bytes.count {
                let word = UInt64(littleEndian: UnsafeRawPointer(bytes.base + i).loadUnaligned(as: UInt64.self))
                let special = Self.specialBytes(word)
                if special != 0 {
                    i += special.trailingZeroBitCount >> 3
                    break
                }
                i += 8
            }
            guard i < bytes.count else { break }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let range = start..<i
                i += 1
                if range.count > limits.maxStringBytes {
                    throw SyntaxError(code: .stringTooLong, message: "a string of \(range.count) bytes exceeds the limit of \(limits.maxStringBytes)")
                }
                return (range, escaped)
            }
            if b == UInt8(ascii: "\\") {
                escaped = true
                guard i + 1 < bytes.count else { break }
                switch bytes[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard i + 6 <= bytes.count, JSONEscapes.hex4(bytes.raw, i + 2) != nil else { throw syntax("invalid \\u escape") }
                    i += 6
                default:
                    throw syntax("invalid escape")
                }
                continue
            }
            if b < 0x20 { throw syntax("control character in a string") }
            if b < 0x80 { i += 1; continue }
            // Multi-byte UTF-8: validate the sequence (no overlongs, surrogates or > U+10FFFF).
            guard let length = Self.utf8Sequence(bytes.raw, i) else {
                throw SyntaxError(code: .invalidUTF8, message: "invalid UTF-8 at byte \(i)")
            }
            i += length
        }
        throw syntax("unterminated string")
    }

    /// A mask with the high bit set in bytes of `word` that are '"', '\\', below 0x20 or at/above
    /// 0x80 (SWAR, Mycroft's trick). Bytes above the first such byte may be flagged falsely (a
    /// borrow carries upward), never bytes below it, so the lowest set bit marks the first one.
    @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZero(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
        let quote = hasZero(word ^ (ones &* 0x22))
        let backslash = hasZero(word ^ (ones &* 0x5C))
        let control = (word &- ones &* 0x20) & ~word & highs  // bytes < 0x20 (exact when no byte >= 0x80)
        return quote | backslash | control | (word & highs)
    }

    /// The length of the valid UTF-8 sequence starting at `at`, or nil.
    static func utf8Sequence(_ s: UnsafeRawBufferPointer, _ at: Int) -> Int? {
        let b0 = s[at]
        func cont(_ k: Int) -> UInt8? { at + k < s.count && s[at + k] & 0xC0 == 0x80 ? s[at + k] : nil }
        switch b0 {
        case 0xC2...0xDF:
            return cont(1) != nil ? 2 : nil
        case 0xE0...0xEF:
            guard let b1 = cont(1), cont(2) != nil else { return nil }
            if b0 == 0xE0 && b1 < 0xA0 { return nil }  // overlong
            if b0 == 0xED && b1 >= 0xA0 { return nil }  // surrogate
            return 3
        case 0xF0...0xF4:
            guard let b1 = cont(1), cont(2) != nil, cont(3) != nil else { return nil }
            if b0 == 0xF0 && b1 < 0x90 { return nil }  // overlong
            if b0 == 0xF4 && b1 >= 0x90 { return nil }  // > U+10FFFF
            return 4
        default:
            return nil
        }
    }
}

/// Bytes behind a typed pointer, for the decoder's hot loops.
struct ByteView {
    let base: UnsafePointer<UInt8>
    let count: Int
    let raw: UnsafeRawBufferPointer

    init(_ raw: UnsafeRawBufferPointer) {
        self.raw = raw
        // An empty buffer may have no base address; any non-null pointer serves, it is never read.
        base = raw.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? UnsafePointer(bitPattern: 1)!
        count = raw.count
    }

    @inline(__always)
    subscript(_ i: Int) -> UInt8 { base[i] }

    func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }
}

/// The unknown member names of one record, for the duplicate check: names spelt without escapes are
/// compared in place (no copy), escaped ones by their unescaped text, and each kind is looked up in
/// the other's set, so `"a"` and `"\u0061"` are the same member.
private struct UnknownKeys {
    /// A name's bytes inside the record; valid while the record is decoded.
    struct Raw: Hashable {
        let bytes: UnsafeRawBufferPointer
        static func == (a: Raw, b: Raw) -> Bool { a.bytes.elementsEqual(b.bytes) }
        func hash(into hasher: inout Hasher) { hasher.combine(bytes: bytes) }
    }

    private var raw: Set<Raw> = []
    private var escaped: Set<String> = []

    var isEmpty: Bool { raw.isEmpty && escaped.isEmpty }

    /// Adds an unescaped name; false when it was there already.
    mutating func insert(raw name: UnsafeRawBufferPointer) -> Bool {
        if !escaped.isEmpty && escaped.contains(String(decoding: name, as: UTF8.self)) { return false }
        return raw.insert(Raw(bytes: name)).inserted
    }

    /// Adds an escaped name, unescaped; false when it was there already.
    mutating func insert(name: String) -> Bool {
        var name = name
        let inRaw = name.withUTF8 { raw.contains(Raw(bytes: UnsafeRawBufferPointer($0))) }
        return !inRaw && escaped.insert(name).inserted
    }
}
