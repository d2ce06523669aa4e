import Foundation
import Testing
import VerdictScoring

/// The committed corpus of malformed and hostile events: each is rejected with exactly its
/// expected reason codes, never a crash.
@Suite("Hostile event corpus")
struct HostileEventTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var expect: Set<String>
        var record: [UInt8]
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        let text = try! String(contentsOf: ScoringFixtures.fixtures.appendingPathComponent("hostile-events.jsonl"), encoding: .utf8)
        return text.split(separator: "\n").map { line in
            let object = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            var record: [UInt8]
            if let plain = object["record"] as? String {
                record = Array(plain.utf8)
            } else if let encoded = object["record_base64"] as? String {
                record = [UInt8](Data(base64Encoded: encoded)!)
            } else {
                let generate = object["generate"] as! [String: Any]
                let base = generate["base"] as! String
                let filler = String(repeating: "x", count: generate["bytes"] as! Int)
                record = Array((String(base.dropLast()) + ",\"\(generate["field"] as! String)\":\"\(filler)\"}").utf8)
            }
            return Case(name: object["name"] as! String, expect: Set(object["expect"] as! [String]), record: record)
        }
    }()

    @Test("the corpus has at least 40 cases")
    func size() {
        #expect(Self.cases.count >= 40)
    }

    @Test("each hostile event is rejected with its expected reason codes", arguments: cases)
    func rejected(_ c: Case) {
        let validator = EventValidator(configuration: ValidationConfiguration())
        let result = c.record.withUnsafeBytes { validator.validate($0, now: ScoringFixtures.now) }
        #expect(ScoringFixtures.codes(result) == c.expect)
    }

    @Test("dead letters of hostile events mask card numbers and keep the source", arguments: cases)
    func deadLetter(_ c: Case) throws {
        let validator = EventValidator(configuration: ValidationConfiguration())
        let result = c.record.withUnsafeBytes { validator.validate($0, now: ScoringFixtures.now) }
        guard case .invalid(let issues, _) = result else { return }
        let input = ScoringInput(value: c.record, source: EventSource(topic: "transactions", partition: 2, offset: 77), receivedAt: ScoringFixtures.now)
        let envelope = DeadLetterWriter.write(input, issues: issues, now: ScoringFixtures.now)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(envelope)) as? [String: Any])
        let source = try #require(object["source"] as? [String: Any])
        #expect(source["offset"] as? Int == 77)
        #expect((object["reasons"] as? [[String: Any]])?.count == issues.count)
        let text = String(decoding: envelope, as: UTF8.self)
        for pan in ["4111111111111111", "5500005555555559"] { #expect(!text.contains(pan)) }
    }
}
