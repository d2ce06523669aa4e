/// A parsed JSON or UBJSON document, just enough of one to read model files.
///
/// Numbers keep both their double and their float32 value, each correctly rounded from the text,
/// because XGBoost's thresholds are float32 values and must be bit-exact. UBJSON's typed arrays stay
/// typed (XGBoost writes its node arrays that way).
indirect enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double, Float)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
    case floats([Float])
    case doubles([Double])
    case integers([Int64])

    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var double: Double? {
        switch self {
        case .number(let d, _): return d
        case .string(let s): return Double(s)
        default: return nil
        }
    }

    var float: Float? {
        switch self {
        case .number(_, let f): return f
        case .string(let s): return Float(s)
        default: return nil
        }
    }

    var int: Int? {
        switch self {
        case .number(let d, _): return d == d.rounded() && abs(d) < 9.0e15 ? Int(d) : nil
        case .string(let s): return Int(s)
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var isObject: Bool {
        if case .object = self { return true }
        return false
    }

    var count: Int? {
        switch self {
        case .array(let a): a.count
        case .floats(let a): a.count
        case .doubles(let a): a.count
        case .integers(let a): a.count
        default: nil
        }
    }

    /// The elements as float32 values (exact from the text), or nil if any is not a number.
    var floatArray: [Float]? {
        switch self {
        case .floats(let a): return a
        case .doubles(let a): return a.map { Float($0) }
        case .integers(let a): return a.map { Float($0) }
        case .array(let a):
            var result: [Float] = []
            result.reserveCapacity(a.count)
            for element in a {
                guard let f = element.float else { return nil }
                result.append(f)
            }
            return result
        default: return nil
        }
    }

    /// The elements as doubles, or nil if any is not a number.
    var doubleArray: [Double]? {
        switch self {
        case .floats(let a): return a.map { Double($0) }
        case .doubles(let a): return a
        case .integers(let a): return a.map { Double($0) }
        case .array(let a):
            var result: [Double] = []
            result.reserveCapacity(a.count)
            for element in a {
                guard let d = element.double else { return nil }
                result.append(d)
            }
            return result
        default: return nil
        }
    }

    /// The elements as integers, or nil if any is not an integral number.
    var intArray: [Int]? {
        switch self {
        case .integers(let a):
            return a.map { Int($0) }
        case .floats(let a):
            guard a.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e9 }) else { return nil }
            return a.map { Int($0) }
        case .doubles(let a):
            guard a.allSatisfy({ $0 == $0.rounded() && abs($0) < 9e15 }) else { return nil }
            return a.map { Int($0) }
        case .array(let a):
            var result: [Int] = []
            result.reserveCapacity(a.count)
            for element in a {
                guard let i = element.int else { return nil }
                result.append(i)
            }
            return result
        default: return nil
        }
    }
}
