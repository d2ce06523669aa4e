/// Appends JSON to a byte buffer without intermediate Strings: decisions are written once per
/// event, so formatting must not allocate per field.
struct JSONWriter {
    var bytes: [UInt8]

    init(capacity: Int = 768) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func byte(_ b: UInt8) { bytes.append(b) }

    /// `"key":`
    mutating func key(_ name: StaticString) {
        bytes.append(UInt8(ascii: "\""))
        raw(name)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// A JSON string from already-escaped JSON string contents (as found between quotes in a record).
    mutating func escapedString(_ contents: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: contents)
        bytes.append(UInt8(ascii: "\""))
    }

    /// A JSON string, escaping as needed.
    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { string(utf8: $0) }
    }

    /// A JSON string of UTF-8 bytes: runs that need no escape are copied whole.
    mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var start = 0
        for i in 0..<utf8.count {
            let b = utf8[i]
            guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
            start = i + 1
            switch b {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            default:
                raw("\\u00")
                bytes.append(Self.hex[Int(b >> 4)])
                bytes.append(Self.hex[Int(b & 0xF)])
            }
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<utf8.count]))
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    mutating func integer(_ value: Int) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            unsigned(UInt(-value))
        } else {
            unsigned(UInt(value))
        }
    }

    mutating func unsigned(_ value: UInt) {
        if value >= 10 { unsigned(value / 10) }
        bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    /// A number with at most `decimals` digits after the point, trailing zeros removed; NaN and
    /// infinities (never valid JSON) become null.
    mutating func number(_ value: Double, decimals: Int = 6) {
        guard value.isFinite else { raw("null"); return }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9.0e18 else {
            // Too large for fixed point: fall back to the standard representation.
            bytes.append(contentsOf: Array(String(value).utf8))
            return
        }
        let units = UInt(scaled)
        if value < 0 && units != 0 { bytes.append(UInt8(ascii: "-")) }
        let divisor = UInt(scale)
        unsigned(units / divisor)
        var fraction = units % divisor
        var digits = decimals
        while digits > 0 && fraction % 10 == 0 && fraction != 0 { fraction /= 10; digits -= 1 }
        if fraction == 0 { return }
        bytes.append(UInt8(ascii: "."))
        // Zero-padded to `digits` places.
        var power: UInt = 1
        for _ in 1..<max(digits, 1) { power *= 10 }
        while power > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / power % 10))
            power /= 10
        }
    }

    /// A number that reads back as the same Double (the shortest such digits; integers without a
    /// fraction); NaN and infinities become null. For values a replay compares bit for bit.
    mutating func exactNumber(_ value: Double) {
        guard value.isFinite else { raw("null"); return }
        if value == value.rounded(), abs(value) < 1e15 {
            integer(Int(value))
        } else {
            bytes.append(contentsOf: value.description.utf8)
        }
    }

    mutating func bool(_ value: Bool) {
        if value { raw("true") } else { raw("false") }
    }

    mutating func comma() { bytes.append(UInt8(ascii: ",")) }
}
