import Foundation
import Testing
@testable import VerdictScoring

/// Bounds on what one record can cost or produce: no read past its end, duplicate checks that stay
/// linear, masking that finds every card number, dead letters that always fit a producer's limit.
@Suite("Event bounds")
struct EventBoundsTests {
    /// Validates `bytes` from an allocation of exactly their size, so a read past the end touches
    /// memory that is not the record's (AddressSanitizer in `make fuzz` traps on it).
    func validateExact(_ bytes: [UInt8]) -> EventValidator.Result {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
        defer { buffer.deallocate() }
        for (i, b) in bytes.enumerated() { buffer[i] = b }
        let validator = EventValidator(configuration: ValidationConfiguration())
        return validator.validate(UnsafeRawBufferPointer(rebasing: buffer[0..<bytes.count]), now: ScoringFixtures.now)
    }

    @Test(
        "a record that ends right after a member's colon is INVALID_JSON",
        arguments: [
            #"{"amount":"#, #"{"amount": "#, #"{"card_id":"#, #"{"is_new_recipient":"#, #"{"unknown":"#, #"{"amount":1,"x":"#,
            #"{"amount":-"#, #"{"amount":1e"#, #"{"card_id":"abc"#, #"{"card_id":"\u00"#, #"{"a":[1,"#, #"{"a":{"b":"#,
        ])
    func endsAfterColon(_ text: String) {
        #expect(ScoringFixtures.codes(validateExact(Array(text.utf8))) == ["INVALID_JSON"])
    }

    @Test("every prefix of a valid event is refused or accepted without reading past it")
    func everyPrefix() {
        let event = Array(ScoringFixtures.baseEvent.utf8)
        for length in 0..<event.count {
            let codes = ScoringFixtures.codes(validateExact(Array(event.prefix(length))))
            #expect(!codes.isEmpty, "prefix \(length)")
        }
    }

    static func keys(_ names: [String]) -> String {
        let base = ScoringFixtures.baseEvent
        return String(base.dropLast()) + names.map { ",\"\($0)\":1" }.joined() + "}"
    }

    @Test("6,500 distinct unknown members are no duplicates; one repeated among them is exactly one")
    func manyUnknownKeys() {
        let names = (0..<6_500).map { "k\($0)" }
        let distinct = Self.keys(names)
        #expect(distinct.utf8.count < 65_536)
        guard case .valid(let event) = ScoringFixtures.validate(distinct) else {
            Issue.record("refused: \(ScoringFixtures.codes(ScoringFixtures.validate(distinct)))")
            return
        }
        #expect(event.unknownFields == 6_500)
        let repeated = Self.keys(names + ["k4321"])
        guard case .invalid(let issues, _) = ScoringFixtures.validate(repeated) else { Issue.record("accepted a duplicate"); return }
        #expect(issues.map(\.code) == [.duplicateKey])
        #expect(issues.first?.field == "/k4321")
    }

    @Test(
        "unknown members spelt with and without escapes are the same member",
        arguments: [
            (#"x"#, #"\u0078"#), (#"\u0078"#, #"x"#), (#"\u0078"#, #"\u0078"#), (#"ab"#, #"a\u0062"#),
        ])
    func escapedDuplicates(_ first: String, _ second: String) {
        let text = Self.keys(["other", first, "more", second])
        #expect(ScoringFixtures.codes(ScoringFixtures.validate(text)) == ["DUPLICATE_KEY"])
    }

    // MARK: Masking

    @Test(
        "the masker finds card numbers however they are written",
        arguments: [
            "4111111111111111", "4111 1111 1111 1111", "4111  1111  1111  1111", "4111-1111-1111-1111", "4111.1111.1111.1111",
            #"4111\u00311111\u003111111111"#, #"411111\u0020\u00201111111111"#, "99994111111111111111", "4111111111111111378282246310005",
            "12345678901234567890123 4111111111111111 0", "5555555555554444-4111111111111111",
        ])
    func masker(_ text: String) {
        var bytes = Array("x=\(text);".utf8)
        #expect(PANMasking.maskAll(&bytes) >= 1)
        #expect(Self.luhnWindow(bytes) == nil, "\(String(decoding: bytes, as: UTF8.self))")
        #expect(bytes.count == text.utf8.count + 3, "masking keeps lengths")
    }

    /// A Luhn-valid 13-19 digit window left after dropping separators and decoding escapes.
    static func luhnWindow(_ bytes: [UInt8]) -> String? {
        var text = String(decoding: bytes, as: UTF8.self)
        text = text.replacing(/\\u00([0-9a-fA-F]{2})/) { String(UnicodeScalar(UInt8($0.1, radix: 16)!)) }
        let runs = text.split { !($0.isASCII && ($0.isNumber || $0 == " " || $0 == "-" || $0 == ".")) }
        for run in runs {
            let digits = Array(run.utf8.filter { $0 >= 48 && $0 <= 57 })
            for start in digits.indices {
                for length in 13...19 where start + length <= digits.count && PANMasking.luhnValid(digits[start..<(start + length)]) {
                    return String(decoding: digits[start..<(start + length)], as: UTF8.self)
                }
            }
        }
        return nil
    }

    @Test("masking keeps the first six and last four digits of a lone card number")
    func displayRule() {
        #expect(PANMasking.masked("pan 5500 0055 5555 5559 end") == "pan 5500 00** **** 5559 end")
        #expect(PANMasking.masked(#"a\u0034111111111111111"#) == #"a\u003411111******1111"#)
        #expect(PANMasking.masked("order 12345") == "order 12345")
    }

    @Test("random runs of up to 60 digits have no Luhn-valid window after masking")
    func randomRuns() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let length = Int.random(in: 13...60, using: &rng)
            var bytes = (0..<length).map { _ in UInt8(ascii: "0") + UInt8.random(in: 0...9, using: &rng) }
            PANMasking.maskAll(&bytes)
            #expect(Self.luhnWindow(bytes) == nil, "\(String(decoding: bytes, as: UTF8.self))")
        }
    }

    // MARK: Dead letters

    @Test("a 1 MB record makes a bounded dead letter with its length and sha256, masked across the cut")
    func boundedDeadLetter() throws {
        let limit = DeadLetterConfiguration.defaultMaxOriginalBytes
        // Quotes and control bytes escape to up to six bytes each: the worst case for the envelope.
        var record = Array("{\"note\":\"".utf8)
        record += [UInt8](repeating: UInt8(ascii: "a"), count: limit - record.count - 6)
        record += Array("4111111111111111".utf8)  // straddles the cut
        record += [UInt8](repeating: 0x01, count: 1_000_000)
        let input = ScoringInput(value: record, source: EventSource(topic: "t", partition: 1, offset: 9), receivedAt: ScoringFixtures.now)
        let issues = [ValidationIssue(.tooLarge, "the record is \(record.count) bytes")]
        let envelope = DeadLetterWriter.write(input, issues: issues, now: ScoringFixtures.now)
        #expect(envelope.count < limit * 6 + 4_096)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(envelope)) as? [String: Any])
        #expect(object["original_bytes"] as? Int == record.count)
        #expect(object["original_truncated"] as? Bool == true)
        #expect(object["original_sha256"] as? String == SHA256Hex.of(record))
        let original = try #require(object["original"] as? String)
        #expect(original.utf8.count == limit)
        #expect(original.hasSuffix("411111"), "the masked card number's visible prefix is what survives the cut")
        #expect(!String(decoding: envelope, as: UTF8.self).contains("4111111111"))
    }

    @Test("the cut never splits a UTF-8 sequence; a zero limit embeds nothing")
    func cutAtBoundary() throws {
        let record = Array(String(repeating: "é", count: 100).utf8)
        let input = ScoringInput(value: record, source: EventSource(topic: "t", partition: 0, offset: 0), receivedAt: 0)
        let envelope = DeadLetterWriter.write(input, issues: [], now: 0, configuration: DeadLetterConfiguration(maxOriginalBytes: 11))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(envelope)) as? [String: Any])
        #expect(object["original_encoding"] as? String == "utf8")
        #expect(object["original"] as? String == String(repeating: "é", count: 5))
        let none = DeadLetterWriter.write(input, issues: [], now: 0, configuration: DeadLetterConfiguration(maxOriginalBytes: 0))
        let empty = try #require(try JSONSerialization.jsonObject(with: Data(none)) as? [String: Any])
        #expect(empty["original"] as? String == "")
        #expect(empty["original_bytes"] as? Int == 200)
    }

    @Test("a reason's field (an unknown member's name) is masked in the dead letter")
    func maskedField() {
        let text = String(ScoringFixtures.baseEvent.dropLast()) + ",\"4111111111111111\":1,\"4111111111111111\":2}"
        let record = Array(text.utf8)
        let validator = EventValidator(configuration: ValidationConfiguration())
        guard case .invalid(let issues, _) = record.withUnsafeBytes({ validator.validate($0, now: ScoringFixtures.now) }) else {
            Issue.record("accepted")
            return
        }
        let input = ScoringInput(value: record, source: EventSource(topic: "t", partition: 0, offset: 0), receivedAt: 0)
        let envelope = String(decoding: DeadLetterWriter.write(input, issues: issues, now: 0), as: UTF8.self)
        #expect(envelope.contains("\"field\":\"/411111******1111\""))
        #expect(!envelope.contains("4111111111111111"))
    }
}
