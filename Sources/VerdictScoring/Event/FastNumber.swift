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

    /// The end of a JSON number starting at `start` (strict RFC 8259 grammar), or nil.
    static func scan(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        let n = bytes.count
        if i < n && bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < n else { return nil }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else if bytes[i] >= UInt8(ascii: "1") && bytes[i] <= UInt8(ascii: "9") {
            while i < n && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9") { i += 1 }
        } else {
            return nil
        }
        if i < n && bytes[i] == UInt8(ascii: ".") {
            i += 1
            let digits = i
            while i < n && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9") { i += 1 }
            guard i > digits else { return nil }
        }
        if i < n && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            if i < n && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            let digits = i
            while i < n && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9") { i += 1 }
            guard i > digits else { return nil }
        }
        return i
    }

    /// The value of the (already scanned, valid) number in `bytes[start..<end]`.
    static func value(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Double {
        var i = start
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        var dropped = false
        while i < end, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
            if digits < 19 {
                mantissa = mantissa * 10 + UInt64(bytes[i] - UInt8(ascii: "0"))
                if mantissa > 0 { digits += 1 }
            } else {
                exponent += 1
                dropped = dropped || bytes[i] != UInt8(ascii: "0")
            }
            i += 1
        }
        if i < end && bytes[i] == UInt8(ascii: ".") {
            i += 1
            while i < end, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                if digits < 19 {
                    mantissa = mantissa * 10 + UInt64(bytes[i] - UInt8(ascii: "0"))
                    if mantissa > 0 { digits += 1 }
                    exponent -= 1
                } else {
                    dropped = dropped || bytes[i] != UInt8(ascii: "0")
                }
                i += 1
            }
        }
        if i < end && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            var sign = 1
            if bytes[i] == UInt8(ascii: "+") { i += 1 } else if bytes[i] == UInt8(ascii: "-") { sign = -1; i += 1 }
            var e = 0
            while i < end {
                if e < 100_000 { e = e * 10 + Int(bytes[i] - UInt8(ascii: "0")) }
                i += 1
            }
            exponent += sign * e
        }
        if !dropped && mantissa < (1 << 53) && exponent >= -22 && exponent <= 22 {
            var value = Double(mantissa)
            if exponent < 0 { value /= powersOfTen[-exponent] } else { value *= powersOfTen[exponent] }
            return negative ? -value : value
        }
        if mantissa == 0 && !dropped { return negative ? -0.0 : 0.0 }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        return Double(text) ?? .nan
    }
}
