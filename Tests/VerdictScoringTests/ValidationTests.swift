import Foundation
import Testing
@testable import VerdictScoring

@Suite("Event validation")
struct ValidationTests {
    @Test("a minimal valid event decodes, with amount_usd converted from USD")
    func minimal() throws {
        guard case .valid(let event) = ScoringFixtures.validate(ScoringFixtures.baseEvent) else {
            Issue.record("rejected"); return
        }
        #expect(event.schemaVersion == 1)
        #expect(event.amount == 12.5)
        #expect(event.resolvedAmountUSD == 12.5)
        #expect(event.eventTime == Timestamps.parse("2026-11-23T12:00:00Z"))
    }

    @Test("amount_usd is converted with the configured rate when absent, taken as sent when present")
    func conversion() {
        let eur = ScoringFixtures.event {
            $0["currency"] = "EUR"; $0["amount"] = 100
        }
        guard case .valid(let converted) = ScoringFixtures.validate(eur) else { Issue.record("rejected"); return }
        #expect(abs(converted.resolvedAmountUSD! - 108) < 1e-9)
        let sent = ScoringFixtures.event {
            $0["currency"] = "EUR"; $0["amount"] = 100; $0["amount_usd"] = 110.5
        }
        guard case .valid(let explicit) = ScoringFixtures.validate(sent) else { Issue.record("rejected"); return }
        #expect(explicit.resolvedAmountUSD == 110.5)
    }

    @Test("a currency accepted without a rate needs amount_usd")
    func noRate() {
        var configuration = ValidationConfiguration()
        configuration.currencies["XAU"] = .some(nil)
        let event = ScoringFixtures.event { $0["currency"] = "XAU" }
        #expect(ScoringFixtures.codes(ScoringFixtures.validate(event, configuration: configuration)) == ["NO_EXCHANGE_RATE"])
        let withUSD = ScoringFixtures.event {
            $0["currency"] = "XAU"; $0["amount_usd"] = 2000
        }
        #expect(ScoringFixtures.codes(ScoringFixtures.validate(withUSD, configuration: configuration)).isEmpty)
    }

    @Test("null optional members count as absent; unknown members are ignored and counted")
    func nullsAndUnknowns() {
        let text = String(ScoringFixtures.baseEvent.dropLast()) + #","merchant_id":null,"channel":null,"device":{"os":"ios","ids":[1,2]},"note":"x"}"#
        guard case .valid(let event) = ScoringFixtures.validate(text) else { Issue.record("rejected"); return }
        #expect(event.merchantID == nil)
        #expect(event.channel == nil)
        #expect(event.unknownFields == 2)
    }

    @Test("every problem is listed, each with its member")
    func allProblems() {
        let text = ScoringFixtures.event {
            $0["amount"] = -1; $0["currency"] = "ZZZ"; $0["latitude"] = 100; $0["channel"] = "fax"; $0.removeValue(forKey: "card_id")
        }
        guard case .invalid(let issues, _) = ScoringFixtures.validate(text) else { Issue.record("accepted"); return }
        let byField = Dictionary(grouping: issues, by: \.field).mapValues { Set($0.map(\.code)) }
        #expect(byField["/amount"] == [.outOfRange])
        #expect(byField["/currency"] == [.unknownCurrency])
        #expect(byField["/latitude"] == [.outOfRange])
        #expect(byField["/channel"] == [.unknownChannel])
        #expect(byField["/card_id"] == [.missingField])
    }

    @Test("limits are configurable", arguments: [(100, true), (10_000, false)])
    func recordLimit(limit: Int, rejected: Bool) {
        var configuration = ValidationConfiguration()
        configuration.maxRecordBytes = limit
        let codes = ScoringFixtures.codes(ScoringFixtures.validate(ScoringFixtures.baseEvent, configuration: configuration))
        #expect(codes == (rejected ? ["TOO_LARGE"] : []))
    }

    @Test("the event age limit can be turned off for backtests")
    func ageCheck() {
        var configuration = ValidationConfiguration()
        let old = ScoringFixtures.event { $0["event_time"] = "2025-01-01T00:00:00Z" }
        #expect(ScoringFixtures.codes(ScoringFixtures.validate(old, configuration: configuration)) == ["STALE_TIMESTAMP"])
        configuration.maxEventAge = ConfigDuration(.zero)
        #expect(ScoringFixtures.codes(ScoringFixtures.validate(old, configuration: configuration)).isEmpty)
    }

    @Test("escaped strings are validated by their decoded value")
    func escapes() {
        let text =
            #"{"schema_version":1,"transaction_id":"tx\u005f1","event_time":"2026-11-23T12:00:00Z","card_id":"card\u00e9","amount":1,"currency":"\u0055SD"}"#
        guard case .valid(let event) = ScoringFixtures.validate(text) else { Issue.record("rejected"); return }
        Array(text.utf8).withUnsafeBytes { bytes in
            #expect(event.transactionID?.string(in: bytes) == "tx_1")
            #expect(event.cardID?.string(in: bytes) == "cardé")
        }
    }

    @Test("RFC 3339 offsets and fractions are honoured")
    func timestamps() {
        #expect(Timestamps.parse("2026-11-23T13:00:00+01:00") == Timestamps.parse("2026-11-23T12:00:00Z"))
        #expect(Timestamps.parse("2026-11-23T12:00:00.250Z")! - Timestamps.parse("2026-11-23T12:00:00Z")! == 0.25)
        #expect(Timestamps.parse("2024-02-29T00:00:00Z") != nil)
        #expect(Timestamps.parse("2023-02-29T00:00:00Z") == nil)
        #expect(Timestamps.rfc3339(Timestamps.parse("1999-12-31T23:59:59.999Z")!) == "1999-12-31T23:59:59.999Z")
    }

    @Test(
        "numbers parse exactly",
        arguments: [
            "12.5", "0.1", "1e3", "-0.0", "0", "-7", "123456789.987654321", "4.9e-324", "1.7976931348623157e308",
            "2.2250738585072014e-308", "9007199254740993", "12345678901234567890123", "0.000000000000000000000000001234",
            "1E+2", "1e-2", "99999999999999999999e-20", "3.14159265358979323846264338327950288",
        ])
    func numbers(_ text: String) {
        Array(text.utf8).withUnsafeBufferPointer { bytes in
            let parsed = FastNumber.parse(bytes.baseAddress!, count: bytes.count, from: 0)
            #expect(parsed?.end == bytes.count)
            #expect(parsed?.value.bitPattern == Double(text)!.bitPattern)
        }
    }

    @Test("strings that are not JSON numbers are refused", arguments: ["-", "1.", ".5", "1e", "1e+", "+1", "--1", "1.e3", "NaN", "Infinity", ""])
    func notNumbers(_ text: String) {
        Array(text.utf8).withUnsafeBufferPointer { bytes in
            let base = bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!
            #expect(FastNumber.parse(base, count: bytes.count, from: 0) == nil)
        }
    }

    @Test("a number ends where the grammar says: a leading 0 takes no more digits", arguments: ["01", "0x10", "00"])
    func numberEnds(_ text: String) {
        Array(text.utf8).withUnsafeBufferPointer { bytes in
            #expect(FastNumber.parse(bytes.baseAddress!, count: bytes.count, from: 0)?.end == 1)
        }
    }

    @Test("PAN detection: Luhn-valid 13-19 digit numbers, grouped or not")
    func pans() {
        func carries(_ text: String) -> Bool { Array(text.utf8).withUnsafeBytes { PANMasking.identifierCarriesPAN($0) } }
        #expect(carries("4111111111111111"))
        #expect(carries("4111-1111-1111-1111"))
        // No 13-19 digit window of it passes Luhn (4111111111111112 has one: every window counts).
        #expect(!carries("4111111111111113"))
        #expect(carries("4111111111111112"))
        #expect(!carries("123456789012"))
        var bytes = Array(#"{"x":"4111111111111111","y":"pan 5500 0055 5555 5559 end","z":44111111111111111}"#.utf8)
        #expect(PANMasking.maskAll(&bytes) == 3)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("411111******1111"))
        #expect(text.contains("5500 00** **** 5559"))
        #expect(!text.contains("4111111111111111"))
    }
}
