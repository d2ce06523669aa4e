/// A UBJSON (Universal Binary JSON, big-endian) parser for XGBoost's default binary model format.
///
/// Supports the optimized container forms XGBoost writes (`[$d#L...` typed arrays). Every count is
/// checked against the bytes left before anything is allocated, so a corrupt length cannot make it
/// reserve gigabytes, and nothing traps on bad input.
struct UBJSONParser {
    typealias Failure = JSONParser.Failure

    private let bytes: [UInt8]
    private var position = 0
    private var depth = 0
    /// XGBoost models nest six levels deep; the bound keeps recursion far from any thread's stack size.
    private static let maxDepth = 128

    static func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
        var parser = UBJSONParser(bytes: bytes)
        let value = try parser.parseValue()
        guard parser.position == bytes.count else {
            throw Failure(offset: parser.position, reason: "unexpected data after the document")
        }
        return value
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private func fail(_ reason: String) -> Failure {
        Failure(offset: position, reason: position >= bytes.count ? "unexpected end of file (truncated?)" : reason)
    }

    private mutating func byte() throws(Failure) -> UInt8 {
        guard position < bytes.count else { throw fail("truncated") }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func bigEndian(_ count: Int) throws(Failure) -> UInt64 {
        guard position + count <= bytes.count else { throw fail("truncated number") }
        var value: UInt64 = 0
        for i in 0..<count { value = value << 8 | UInt64(bytes[position + i]) }
        position += count
        return value
    }

    /// The size in bytes of one element of a fixed-size type, or nil.
    private static func size(of type: UInt8) -> Int? {
        switch type {
        case UInt8(ascii: "i"), UInt8(ascii: "U"), UInt8(ascii: "C"): 1
        case UInt8(ascii: "I"): 2
        case UInt8(ascii: "l"), UInt8(ascii: "d"): 4
        case UInt8(ascii: "L"), UInt8(ascii: "D"): 8
        default: nil
        }
    }

    private mutating func integer(of type: UInt8) throws(Failure) -> Int64 {
        switch type {
        case UInt8(ascii: "i"): return Int64(Int8(bitPattern: try byte()))
        case UInt8(ascii: "U"): return Int64(try byte())
        case UInt8(ascii: "I"): return Int64(Int16(truncatingIfNeeded: try bigEndian(2)))
        case UInt8(ascii: "l"): return Int64(Int32(truncatingIfNeeded: try bigEndian(4)))
        case UInt8(ascii: "L"): return Int64(bitPattern: try bigEndian(8))
        default: throw fail("expected an integer type marker")
        }
    }

    private mutating func length() throws(Failure) -> Int {
        let value = try integer(of: try byte())
        guard value >= 0, value <= Int64(bytes.count - position) else { throw fail("length \(value) exceeds the file") }
        return Int(value)
    }

    private mutating func string(length: Int) throws(Failure) -> String {
        guard position + length <= bytes.count else { throw fail("truncated string") }
        defer { position += length }
        return String(decoding: bytes[position..<(position + length)], as: UTF8.self)
    }

    /// The next value, after any no-op markers. `N` is skipped in a loop: a file of a million `N`
    /// bytes must not recurse a million frames deep.
    private mutating func parseValue() throws(Failure) -> JSONValue {
        var type = try byte()
        while type == UInt8(ascii: "N") { type = try byte() }
        return try parseValue(type: type)
    }

    private mutating func parseValue(type: UInt8) throws(Failure) -> JSONValue {
        switch type {
        case UInt8(ascii: "Z"): return .null
        case UInt8(ascii: "N"): return try parseValue()  // no-op marker (parseValue skips runs in a loop)
        case UInt8(ascii: "T"): return .bool(true)
        case UInt8(ascii: "F"): return .bool(false)
        case UInt8(ascii: "i"), UInt8(ascii: "U"), UInt8(ascii: "I"), UInt8(ascii: "l"), UInt8(ascii: "L"):
            let value = try integer(of: type)
            return .number(Double(value), Float(value))
        case UInt8(ascii: "d"):
            let value = Float(bitPattern: UInt32(try bigEndian(4)))
            return .number(Double(value), value)
        case UInt8(ascii: "D"):
            let value = Double(bitPattern: try bigEndian(8))
            return .number(value, Float(value))
        case UInt8(ascii: "C"):
            return .string(String(Character(Unicode.Scalar(try byte()))))
        case UInt8(ascii: "S"):
            return .string(try string(length: try length()))
        case UInt8(ascii: "H"):
            let text = try string(length: try length())
            guard let double = Double(text), let float = Float(text) else { throw fail("invalid high-precision number") }
            return .number(double, float)
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "{"): return try parseObject()
        default:
            throw fail("unknown type marker 0x\(String(type, radix: 16))")
        }
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth) levels") }
    }

    /// Reads the optional `$type` and `#count` of an optimized container.
    private mutating func containerHeader() throws(Failure) -> (type: UInt8?, count: Int?) {
        var type: UInt8?
        var count: Int?
        if position < bytes.count && bytes[position] == UInt8(ascii: "$") {
            position += 1
            type = try byte()
            // Typed containers of no-op, null or boolean markers have elements of zero bytes: their
            // count would not be bounded by the file. XGBoost never writes them.
            if let type, [UInt8(ascii: "N"), UInt8(ascii: "Z"), UInt8(ascii: "T"), UInt8(ascii: "F")].contains(type) {
                throw fail("typed container of zero-byte elements (0x\(String(type, radix: 16)))")
            }
            guard position < bytes.count, bytes[position] == UInt8(ascii: "#") else { throw fail("'$' without '#'") }
        }
        if position < bytes.count && bytes[position] == UInt8(ascii: "#") {
            position += 1
            let value = try integer(of: try byte())
            let minimumSize = type.flatMap(Self.size(of:)) ?? 1
            guard value >= 0, value <= Int64((bytes.count - position) / max(1, minimumSize)) else {
                throw fail("container count \(value) exceeds the file")
            }
            count = Int(value)
        }
        return (type, count)
    }

    private mutating func parseArray() throws(Failure) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        let (type, count) = try containerHeader()
        if let type, let count {
            switch type {
            case UInt8(ascii: "d"):
                var values = [Float]()
                values.reserveCapacity(count)
                for _ in 0..<count { values.append(Float(bitPattern: UInt32(try bigEndian(4)))) }
                return .floats(values)
            case UInt8(ascii: "D"):
                var values = [Double]()
                values.reserveCapacity(count)
                for _ in 0..<count { values.append(Double(bitPattern: try bigEndian(8))) }
                return .doubles(values)
            case UInt8(ascii: "i"), UInt8(ascii: "U"), UInt8(ascii: "I"), UInt8(ascii: "l"), UInt8(ascii: "L"):
                var values = [Int64]()
                values.reserveCapacity(count)
                for _ in 0..<count { values.append(try integer(of: type)) }
                return .integers(values)
            default:
                var values = [JSONValue]()
                for _ in 0..<count { values.append(try parseValue(type: type)) }
                return .array(values)
            }
        }
        var values = [JSONValue]()
        if let count {
            for _ in 0..<count { values.append(try parseValue()) }
            return .array(values)
        }
        while true {
            let marker = try byte()
            if marker == UInt8(ascii: "]") { return .array(values) }
            if marker == UInt8(ascii: "N") { continue }  // no-op between elements
            values.append(try parseValue(type: marker))
        }
    }

    private mutating func parseObject() throws(Failure) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        let (type, count) = try containerHeader()
        var members: [(String, JSONValue)] = []
        if let count {
            for _ in 0..<count {
                let key = try string(length: try length())
                let value = if let type { try parseValue(type: type) } else { try parseValue() }
                members.append((key, value))
            }
            return .object(members)
        }
        while true {
            guard position < bytes.count else { throw fail("unterminated object") }
            if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            let key = try string(length: try length())
            members.append((key, try parseValue()))
        }
    }
}
