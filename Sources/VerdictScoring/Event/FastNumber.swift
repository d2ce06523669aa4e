/// JSON number parsing without allocating: exact (correctly rounded) for the numbers events carry.
///
/// The fast path takes up to 19 significant digits into an integer and scales by a power of ten
/// when both are exactly representable (Clinger's fast path: mantissa < 2^53, |exponent| <= 22),
/// which covers amounts, scores, coordinates and counts. Anything else falls back to the standard
/// library's correctly rounded parser.
enum FastNumber {
    private static let powersOfTen: [Double] = (0...22).map { p in
        var value = 1.0
        for _ in 0..<p { value *= 10 }
        return value
    }

    /// Scans and converts a JSON number starting at `start` in one pass: its end and its value, or
    /// nil when the bytes there are not a number under the strict grammar. (Scanning and then
    /// converting walked each number twice; numbers are a third of an event's bytes.)
    @inline(__always)
    static func parse(_ base: UnsafePointer<UInt8>, count n: Int, from start: Int) -> (end: Int, value: Double)? {
        @inline(__always) func digit(_ at: Int) -> UInt64? {
            let d = base[at] &- UInt8(ascii: "0")
            return d <= 9 ? UInt64(d) : nil
        }
        var i = start
        let negative = i < n && base[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < n else { return nil }
        var mantissa: UInt64 = 0
        var digits = 0  // significant digits taken into the mantissa (at most 19)
        var exponent = 0
        var dropped = false  // a non-zero digit did not fit
        if base[i] == UInt8(ascii: "0") {
            i += 1
        } else if digit(i) != nil {
            while i < n, let d = digit(i) {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ d
                    if mantissa > 0 { digits += 1 }
                } else {
                    exponent += 1
                    dropped = dropped || d != 0
                }
                i += 1
            }
        } else {
            return nil
        }
        if i < n && base[i] == UInt8(ascii: ".") {
            i += 1
            let first = i
            while i < n, let d = digit(i) {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ d
                    if mantissa > 0 { digits += 1 }
                    exponent -= 1
                } else {
                    dropped = dropped || d != 0
                }
                i += 1
            }
            guard i > first else { return nil }
        }
        if i < n && (base[i] == UInt8(ascii: "e") || base[i] == UInt8(ascii: "E")) {
            i += 1
            var sign = 1
            if i < n && base[i] == UInt8(ascii: "+") { i += 1 } else if i < n && base[i] == UInt8(ascii: "-") { sign = -1; i += 1 }
            let first = i
            var e = 0
            while i < n, let d = digit(i) {
                if e < 100_000 { e = e * 10 + Int(d) }
                i += 1
            }
            guard i > first else { return nil }
            exponent += sign * e
        }
        if !dropped && mantissa < (1 << 53) && exponent >= -22 && exponent <= 22 {
            var value = Double(mantissa)
            if exponent < 0 { value /= powersOfTen[-exponent] } else if exponent > 0 { value *= powersOfTen[exponent] }
            return (i, negative ? -value : value)
        }
        if mantissa == 0 && !dropped { return (i, negative ? -0.0 : 0.0) }
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: i - start), as: UTF8.self)
        return (i, Double(text) ?? .nan)
    }
}
