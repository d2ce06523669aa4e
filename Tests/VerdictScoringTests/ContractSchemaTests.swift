import Foundation
import Testing
import VerdictScoring

/// docs/contracts.md's JSON Schemas and the validator agree: events the validator accepts satisfy
/// the event schema, events the schema rejects the validator rejects too, and every decision
/// satisfies the decision schema.
@Suite("Contract schemas")
struct ContractSchemaTests {
    nonisolated(unsafe) static let schemas: [[String: Any]] = {
        let text = try! String(contentsOf: ScoringFixtures.root.appendingPathComponent("docs/contracts.md"), encoding: .utf8)
        return text.components(separatedBy: "```json\n").dropFirst().compactMap { block in
            let json = block.components(separatedBy: "\n```").first!
            let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            return object?["$schema"] != nil ? object : nil
        }
    }()

    static var eventSchema: [String: Any] { schemas.first { ($0["title"] as? String)?.hasPrefix("Transaction") == true }! }
    static var decisionSchema: [String: Any] { schemas.first { ($0["title"] as? String)?.hasPrefix("Decision") == true }! }

    @Test("the contract page holds both schemas")
    func present() {
        #expect(Self.schemas.count == 2)
    }

    @Test("hostile events the schema rejects are rejected by the validator")
    func hostile() {
        for c in HostileEventTests.cases {
            guard let object = try? JSONSerialization.jsonObject(with: Data(c.record), options: [.fragmentsAllowed]) else { continue }
            if !SchemaCheck.valid(object, Self.eventSchema) {
                #expect(!c.expect.isEmpty, "\(c.name): schema-invalid but the corpus expects no rejection")
            }
        }
    }

    @Test("generated events satisfy the schema and the validator alike; decisions satisfy theirs")
    func generated() throws {
        let inputs = ScorerTests.events(seed: 21, count: 300, invalid: 0.1)
        // With aggregate state, so the decisions carry `aggregates` too.
        let outcomes = try ScorerTests.scorer().score(inputs, asOf: ScoringFixtures.now, state: AggregateStore(plan: StreamAggregateTests.plan))
        for (input, outcome) in zip(inputs, outcomes) {
            let object = try? JSONSerialization.jsonObject(with: Data(input.value!))
            switch outcome {
            case .decision(let bytes, _):
                #expect(object.map { SchemaCheck.valid($0, Self.eventSchema) } == true, "accepted event violates the schema")
                #expect(SchemaCheck.valid(try JSONSerialization.jsonObject(with: Data(bytes)), Self.decisionSchema), "decision violates the schema")
            case .deadLetter:
                if let object, !SchemaCheck.valid(object, Self.eventSchema) { continue }
            // Schema-valid but rejected: only for rules the schema cannot state (currency list, time window).
            }
        }
    }
}

/// The subset of JSON Schema 2020-12 the contracts use.
enum SchemaCheck {
    static func valid(_ value: Any, _ schema: [String: Any]) -> Bool {
        if let type = schema["type"] {
            let types = (type as? [String]) ?? [type as! String]
            guard types.contains(where: { matches(value, $0) }) else { return false }
        }
        if let constant = schema["const"], !equal(value, constant) { return false }
        if let options = schema["enum"] as? [Any], !options.contains(where: { equal(value, $0) }) { return false }
        if let string = value as? String {
            let length = string.unicodeScalars.count
            if let min = schema["minLength"] as? Int, length < min { return false }
            if let max = schema["maxLength"] as? Int, length > max { return false }
            if let pattern = schema["pattern"] as? String, string.range(of: pattern, options: .regularExpression) == nil { return false }
            if schema["format"] as? String == "date-time", Timestamps.parse(string) == nil { return false }
        }
        if let number = value as? NSNumber, !isBool(value) {
            let x = number.doubleValue
            if let min = schema["minimum"] as? Double, x < min { return false }
            if let max = schema["maximum"] as? Double, x > max { return false }
            if let min = schema["exclusiveMinimum"] as? Double, x <= min { return false }
        }
        if let object = value as? [String: Any] {
            for key in (schema["required"] as? [String]) ?? [] where object[key] == nil { return false }
            let properties = (schema["properties"] as? [String: [String: Any]]) ?? [:]
            for (key, sub) in properties {
                if let member = object[key], !valid(member, sub) { return false }
            }
            if let extra = schema["additionalProperties"] as? [String: Any] {
                for (key, member) in object where properties[key] == nil && !valid(member, extra) { return false }
            }
        }
        if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            return array.allSatisfy { valid($0, items) }
        }
        return true
    }

    static func matches(_ value: Any, _ type: String) -> Bool {
        let isBool = isBool(value)
        switch type {
        case "null": return value is NSNull
        case "boolean": return isBool
        case "string": return value is String
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "number": return value is NSNumber && !isBool
        case "integer": return (value as? NSNumber).map { !isBool && $0.doubleValue == $0.doubleValue.rounded() } ?? false
        default: return false
        }
    }

    /// JSONSerialization gives booleans as NSNumber; their Objective-C type is "c".
    static func isBool(_ value: Any) -> Bool {
        (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
    }

    static func equal(_ a: Any, _ b: Any) -> Bool {
        if a is NSNull || b is NSNull { return a is NSNull && b is NSNull }
        if let x = a as? String, let y = b as? String { return x == y }
        if let x = a as? NSNumber, let y = b as? NSNumber { return x == y }
        return false
    }
}
