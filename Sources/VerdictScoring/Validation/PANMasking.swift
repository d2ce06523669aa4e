/// Finding and masking primary account numbers (card numbers).
///
/// A PAN is 13 to 19 digits that pass the Luhn check. Here a digit run may be broken by separators
/// (spaces, dashes and dots, repeated or not) and its digits and separators may be JSON `\u00XX`
/// escapes: `4111 1111  1111.1111`, `4111\u00311111...` and `4111\u0020...` are all the same card
/// number. Every 13-19 digit window of a run is checked, so PANs glued to other digits, adjacent
/// PANs and runs longer than 19 digits are all found.
///
/// Masking keeps the first six and last four digits of every Luhn-valid window (the PCI DSS display
/// rule) and replaces the digits between with `*` (an escaped digit becomes `\u002a`), in place, so
/// byte offsets and lengths are unchanged. After masking no 13-19 digit window that passes Luhn is
/// left: any such window would be one of the original's, and its middle digits were masked.
public enum PANMasking {
    /// True when `digits` (ASCII digits only) pass the Luhn checksum.
    public static func luhnValid(_ digits: some Collection<UInt8>) -> Bool {
        var sum = 0
        for (index, d) in digits.reversed().enumerated() {
            var v = Int(d &- UInt8(ascii: "0"))
            if index % 2 == 1 { v *= 2; if v > 9 { v -= 9 } }
            sum += v
        }
        return sum % 10 == 0
    }

    /// Whether an identifier (unescaped) carries a card number: a Luhn-valid 13-19 digit window of
    /// a run of consecutive digits, or a whole card number written in a card layout (groups of four
    /// with one separator, the last group 1-7 digits, or Amex/Diners 4-6-5/4-6-4) with no letter or
    /// digit on either side.
    ///
    /// Narrower than the masker's rule on purpose: separators inside identifiers are structure, and
    /// the separator-blind rule flags 0.72% of random UUIDs (measured over 200,000), whose dashes
    /// join hex groups into long digit runs. Identifiers go into decisions unmasked, so this rule
    /// decides what is dead-lettered; every output is still masked with the broader one.
    public static func identifierCarriesPAN(_ text: UnsafeRawBufferPointer) -> Bool {
        var digits = 0
        for b in text where isDigit(b) { digits += 1 }
        guard digits >= 13 else { return false }
        // Consecutive digits: every 13-19 window.
        var run = DigitRun()
        var i = 0
        func flush() -> Bool {
            defer { run.tokens.removeAll(keepingCapacity: true) }
            return run.tokens.count >= 13 && run.firstValidWindow() != nil
        }
        while i < text.count {
            if isDigit(text[i]) {
                run.tokens.append(DigitRun.Token(position: i, length: 1, digit: text[i]))
            } else if flush() {
                return true
            }
            i += 1
        }
        if flush() { return true }
        // Card layouts: digit groups joined by one repeated separator, bounded by non-alphanumerics.
        i = 0
        while i < text.count {
            guard isDigit(text[i]), i == 0 || !isAlphanumeric(text[i - 1]) else { i += 1; continue }
            var groups: [Int] = []
            var cardDigits: [UInt8] = []
            var separator: UInt8?
            var j = i
            while true {
                let start = j
                while j < text.count, isDigit(text[j]) { cardDigits.append(text[j]); j += 1 }
                groups.append(j - start)
                guard j + 1 < text.count, isSeparator(text[j]), separator == nil || separator == text[j], isDigit(text[j + 1]) else { break }
                separator = text[j]
                j += 1
            }
            let bounded = j == text.count || !isAlphanumeric(text[j])
            if bounded, groups.count >= 2, (13...19).contains(cardDigits.count), isCardLayout(groups), luhnValid(cardDigits) { return true }
            i = max(j, i + 1)
        }
        return false
    }

    /// 4-4-4-4 (and 4-4-4-1..7, 4-4-4-4-3) or 4-6-4 / 4-6-5.
    private static func isCardLayout(_ groups: [Int]) -> Bool {
        if groups == [4, 6, 5] || groups == [4, 6, 4] { return true }
        guard let last = groups.last, (1...7).contains(last) else { return false }
        return groups.dropLast().allSatisfy { $0 == 4 }
    }

    private static func isAlphanumeric(_ b: UInt8) -> Bool {
        isDigit(b) || (b | 0x20 >= UInt8(ascii: "a") && b | 0x20 <= UInt8(ascii: "z"))
    }

    /// Masks every PAN in `bytes`, wherever it appears (values, keys, nested strings, numbers).
    ///
    /// - Returns: The number of digit runs in which a PAN was masked.
    @discardableResult
    public static func maskAll(_ bytes: inout [UInt8]) -> Int {
        // Keys and headers are masked per record: most have fewer than 13 digits and need no scan.
        var digits = 0
        for b in bytes where isDigit(b) { digits += 1 }
        guard digits >= 13 else { return 0 }
        var marks: [DigitRun.Token] = []
        var runs = 0
        bytes.withUnsafeBytes { raw in
            forEachRun(raw) { run in
                var masked = [Bool](repeating: false, count: run.tokens.count)
                var any = false
                run.forEachValidWindow { start, length in
                    any = true
                    for k in (start + 6)..<(start + length - 4) { masked[k] = true }
                }
                if any { runs += 1 }
                for (k, token) in run.tokens.enumerated() where masked[k] { marks.append(token) }
            }
        }
        for token in marks {
            if token.length == 1 {
                bytes[token.position] = UInt8(ascii: "*")
            } else {
                // `\u003X` -> `\u002a`: still valid JSON, still six bytes.
                bytes[token.position + 4] = UInt8(ascii: "2")
                bytes[token.position + 5] = UInt8(ascii: "a")
            }
        }
        return runs
    }

    /// `text` with every PAN masked (for log lines and messages).
    public static func masked(_ text: String) -> String {
        // Fast path: text with fewer than 13 digits cannot hold a PAN (escapes spell digits with one).
        var digits = 0
        for b in text.utf8 where isDigit(b) { digits += 1 }
        guard digits >= 13 else { return text }
        var bytes = Array(text.utf8)
        guard maskAll(&bytes) > 0 else { return text }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Scanning

    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    static func isSeparator(_ b: UInt8) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") }

    /// The digit runs of `bytes` with at least 13 digits.
    static func forEachRun(_ bytes: UnsafeRawBufferPointer, _ body: (DigitRun) -> Void) {
        var run = DigitRun()
        var i = 0
        while i < bytes.count {
            let (kind, length) = classify(bytes, i)
            switch kind {
            case .digit(let d):
                run.tokens.append(DigitRun.Token(position: i, length: length, digit: d))
            case .separator:
                break
            case .other:
                if run.tokens.count >= 13 { body(run) }
                run.tokens.removeAll(keepingCapacity: true)
            }
            i += length
        }
        if run.tokens.count >= 13 { body(run) }
    }

    private enum Kind { case digit(UInt8), separator, other }

    /// What the bytes at `i` spell: a digit or separator, literal or `\u00XX`-escaped, or anything else.
    private static func classify(_ bytes: UnsafeRawBufferPointer, _ i: Int) -> (Kind, Int) {
        let b = bytes[i]
        if isDigit(b) { return (.digit(b), 1) }
        if isSeparator(b) { return (.separator, 1) }
        if b == UInt8(ascii: "\\"), i + 5 < bytes.count, bytes[i + 1] == UInt8(ascii: "u"),
            bytes[i + 2] == UInt8(ascii: "0"), bytes[i + 3] == UInt8(ascii: "0"),
            let high = hexValue(bytes[i + 4]), let low = hexValue(bytes[i + 5])
        {
            let scalar = high << 4 | low
            if isDigit(scalar) { return (.digit(scalar), 6) }
            if isSeparator(scalar) { return (.separator, 6) }
        }
        return (.other, 1)
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// One run of digits (separators dropped) and where each digit's bytes are.
struct DigitRun {
    struct Token {
        var position: Int
        /// 1 for a literal digit, 6 for a `\u003X` escape.
        var length: Int
        var digit: UInt8
    }

    var tokens: [Token] = []

    /// Calls `body(start, length)` for every Luhn-valid window of 13-19 digits, in linear time:
    /// the Luhn sum of a window is a difference of two prefix sums, one per parity of its last digit.
    func forEachValidWindow(_ body: (Int, Int) -> Void) {
        let n = tokens.count
        // evenDoubled[i]: sum over j < i of digit j, doubled (Luhn's way) when j is even.
        var evenDoubled = [Int](repeating: 0, count: n + 1)
        var oddDoubled = [Int](repeating: 0, count: n + 1)
        for (j, token) in tokens.enumerated() {
            let plain = Int(token.digit - UInt8(ascii: "0"))
            let doubled = plain * 2 > 9 ? plain * 2 - 9 : plain * 2
            evenDoubled[j + 1] = evenDoubled[j] + (j % 2 == 0 ? doubled : plain)
            oddDoubled[j + 1] = oddDoubled[j] + (j % 2 == 1 ? doubled : plain)
        }
        for start in 0..<n {
            for length in 13...19 {
                let end = start + length
                guard end <= n else { break }
                // The last digit is plain, the one before it doubled, and so on: digits of the
                // other parity than the last one are doubled.
                let sums = (end - 1) % 2 == 0 ? oddDoubled : evenDoubled
                if (sums[end] - sums[start]) % 10 == 0 { body(start, length) }
            }
        }
    }

    func firstValidWindow() -> (Int, Int)? {
        var first: (Int, Int)?
        forEachValidWindow { start, length in if first == nil { first = (start, length) } }
        return first
    }
}
