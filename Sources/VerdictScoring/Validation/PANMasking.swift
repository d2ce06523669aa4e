/// Finding and masking primary account numbers (card numbers).
///
/// A PAN is 13 to 19 digits (optionally grouped by spaces or dashes) that pass the Luhn check.
/// Masking keeps the first six and last four digits (the PCI DSS display rule) and replaces the rest
/// with '*', in place, so byte offsets and lengths are unchanged.
public enum PANMasking {
    /// True when `digits` (ASCII digits only) pass the Luhn checksum.
    public static func luhnValid(_ digits: some Collection<UInt8>) -> Bool {
        var sum = 0
        for (index, d) in digits.reversed().enumerated() {
            var v = Int(d - UInt8(ascii: "0"))
            if index % 2 == 1 { v *= 2; if v > 9 { v -= 9 } }
            sum += v
        }
        return sum % 10 == 0
    }

    /// Whether a string (already unescaped) is a card number.
    public static func looksLikePAN(_ text: some Collection<UInt8>) -> Bool {
        // Cheap refusal first (no allocation): any byte other than a digit, space or dash.
        var count = 0
        for b in text {
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") { count += 1 }
            else if b != UInt8(ascii: " ") && b != UInt8(ascii: "-") { return false }
        }
        guard (13...19).contains(count) else { return false }
        let digits = text.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "-") }
        guard (13...19).contains(digits.count), digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return false }
        return luhnValid(digits)
    }

    /// Masks every PAN in `bytes`, wherever it appears (values, keys, nested strings, numbers).
    ///
    /// - Returns: The number of PANs masked.
    @discardableResult
    public static func maskAll(_ bytes: inout [UInt8]) -> Int {
        var masked = 0
        var i = 0
        while i < bytes.count {
            guard isDigit(bytes[i]) else { i += 1; continue }
            // A run of digits with single space/dash separators.
            var positions: [Int] = []
            var j = i
            while j < bytes.count {
                if isDigit(bytes[j]) {
                    positions.append(j)
                    j += 1
                } else if (bytes[j] == UInt8(ascii: " ") || bytes[j] == UInt8(ascii: "-")) && j + 1 < bytes.count && isDigit(bytes[j + 1]) && !positions.isEmpty {
                    j += 1
                } else {
                    break
                }
                if positions.count > 40 { break }
            }
            if maskWindow(&bytes, positions) { masked += 1 }
            i = max(j, i + 1)
        }
        return masked
    }

    /// Masks a PAN inside a run of digit positions: the whole run, or any 13-19 digit window of it
    /// that passes Luhn (PANs glued to other digits still get masked).
    private static func maskWindow(_ bytes: inout [UInt8], _ positions: [Int]) -> Bool {
        guard positions.count >= 13 else { return false }
        let digits = positions.map { bytes[$0] }
        if positions.count <= 19 && luhnValid(digits) {
            mask(&bytes, positions)
            return true
        }
        for length in stride(from: min(19, positions.count), through: 13, by: -1) {
            for start in 0...(positions.count - length) where luhnValid(digits[start..<(start + length)]) {
                mask(&bytes, Array(positions[start..<(start + length)]))
                return true
            }
        }
        return false
    }

    private static func mask(_ bytes: inout [UInt8], _ positions: [Int]) {
        for (index, position) in positions.enumerated() where index >= 6 && index < positions.count - 4 {
            bytes[position] = UInt8(ascii: "*")
        }
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// `text` with every PAN masked (for log lines and messages).
    public static func masked(_ text: String) -> String {
        var bytes = Array(text.utf8)
        guard maskAll(&bytes) > 0 else { return text }
        return String(decoding: bytes, as: UTF8.self)
    }
}
