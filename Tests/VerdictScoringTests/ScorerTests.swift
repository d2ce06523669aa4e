import Foundation
import Testing
import VerdictForest
@testable import VerdictScoring
import VerdictSynthetic

@Suite("Scorer")
struct ScorerTests {
    static func scorer(model: ScoringModel? = nil, shadow: ScoringModel? = nil, noModel: Bool = false) throws -> Scorer {
        try Scorer(
            validation: ValidationConfiguration(), rules: try ScoringFixtures.rules(),
            model: noModel ? nil : (model ?? ScoringFixtures.statelessModel()), shadow: shadow, pool: nil)
    }

    /// Events from the generator, stamped in the hour before the fixed clock.
    static func events(seed: UInt64, count: Int, invalid: Double = 0, profile: EventGenerator.Profile = .realistic) -> [ScoringInput] {
        var options = EventGenerator.Options()
        options.seed = seed
        options.profile = profile
        options.start = ScoringFixtures.now - 300
        options.spacing = count > 0 ? 250 / Double(count) : 1
        options.invalidFraction = invalid
        options.fraudRate = 0.05
        var generator = EventGenerator(options: options)
        return (0..<count).map { i in
            ScoringInput(value: generator.next().value, source: EventSource(topic: "t", partition: 0, offset: Int64(i)), receivedAt: ScoringFixtures.now)
        }
    }

    static func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test("the wide traffic profile sends 8-15% of events to REVIEW or DECLINE with the default model, twice the realistic share or more")
    func profileDecisionMix() throws {
        let scorer = try Self.scorer()
        let count = 4_000
        func flaggedShare(_ profile: EventGenerator.Profile) -> Double {
            let flagged = scorer.score(Self.events(seed: 21, count: count, profile: profile), asOf: ScoringFixtures.now).filter { outcome in
                if case .decision(_, let summary) = outcome { return summary.decision != .approve }
                return false
            }.count
            return Double(flagged) / Double(count)
        }
        let wide = flaggedShare(.wide), realistic = flaggedShare(.realistic)
        #expect((0.08...0.15).contains(wide), "wide: \(wide) flagged")
        #expect(wide >= 2 * realistic, "wide \(wide), realistic \(realistic) (this suite's realistic traffic is 5% fraud)")
    }

    @Test("a fixed event set and the default model give the committed golden decisions")
    func golden() throws {
        let scorer = try Self.scorer()
        let outcomes = scorer.score(Self.events(seed: 99, count: 300, invalid: 0.05), asOf: ScoringFixtures.now)
        // decided_at and processing_ms depend on the wall clock; everything else is reproducible.
        let lines = try outcomes.map { outcome -> String in
            switch outcome {
            case .decision(let bytes, _):
                var object = try Self.json(bytes)
                object["decided_at"] = nil
                object["processing_ms"] = nil
                return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
            case .deadLetter(_, let issues):
                return "DEAD_LETTER " + issues.map { "\($0.code.rawValue)\($0.field)" }.joined(separator: " ")
            }
        }
        let path = ScoringFixtures.fixtures.appendingPathComponent("golden-decisions.jsonl")
        let text = lines.joined(separator: "\n") + "\n"
        if ProcessInfo.processInfo.environment["VERDICT_UPDATE_GOLDEN"] == "1" {
            try text.write(to: path, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOf: path, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(golden.count == lines.count)
        for (index, (expected, actual)) in zip(golden, lines).enumerated() where expected != actual {
            Issue.record("decision \(index) differs:\n  expected \(expected)\n  actual   \(actual)")
            break
        }
        // The set covers every outcome.
        let decisions = Set(outcomes.compactMap { if case .decision(_, let s) = $0 { s.decision } else { nil } })
        #expect(decisions == Set(Verdict.allCases))
        #expect(outcomes.contains { !$0.isDecision })
    }

    @Test("REVIEW and DECLINE carry top-k reasons with positive contributions; APPROVE none")
    func reasons() throws {
        let outcomes = try Self.scorer().score(Self.events(seed: 5, count: 400), asOf: ScoringFixtures.now)
        var checked = 0
        for case .decision(_, let summary) in outcomes {
            if summary.decision == .approve || summary.degraded {
                #expect(summary.reasons.isEmpty)
            } else {
                checked += 1
                #expect(!summary.reasons.isEmpty && summary.reasons.count <= 3)
                #expect(summary.reasons.allSatisfy { $0.contribution > 0 })
                #expect(zip(summary.reasons, summary.reasons.dropFirst()).allSatisfy { $0.contribution >= $1.contribution })
            }
        }
        #expect(checked > 0)
    }

    /// Property: random valid events (any optional member dropped) always decode and score.
    @Test("random valid events always decode and score", arguments: 0..<20)
    func randomValid(seed: Int) throws {
        var inputs = Self.events(seed: UInt64(1000 + seed), count: 200)
        var rng = SystemRandomNumberGenerator()
        let optional = [
            "amount_usd", "merchant_id", "merchant_category", "merchant_country", "card_country", "channel", "card_age_days",
            "transactions_last_24h", "avg_transaction_amount", "country_risk_score", "is_new_recipient", "latitude", "longitude", "device_id",
        ]
        for index in inputs.indices {
            var object = try Self.json(inputs[index].value!)
            for key in optional where Bool.random(using: &rng) { object[key] = nil }
            if object["currency"] as? String != "USD" && object["amount_usd"] == nil && Bool.random(using: &rng) { object["currency"] = "USD" }
            inputs[index].value = Array(try JSONSerialization.data(withJSONObject: object))
        }
        let outcomes = try Self.scorer().score(inputs, asOf: ScoringFixtures.now)
        for outcome in outcomes {
            guard case .decision(_, let summary) = outcome else {
                Issue.record("a valid event was dead-lettered: \(outcome)")
                continue
            }
            // Late-night fraud patterns are stamped hours earlier: past the SLA they are decided degraded.
            if summary.degraded { #expect(summary.riskScore == nil) } else { #expect((0...1).contains(summary.riskScore ?? -1)) }
        }
    }

    @Test("no decision or dead letter contains a card number, wherever the event carried it")
    func noPAN() throws {
        let pans = ["4111111111111111", "5500005555555559", "378282246310005"]
        let records = [
            String(ScoringFixtures.baseEvent.dropLast()) + #","card_number":"4111111111111111"}"#,
            String(ScoringFixtures.baseEvent.dropLast()) + #","note":"paid with 5500005555555559","meta":{"pan":378282246310005}}"#,
            #"{"schema_version":1,"transaction_id":"tx_2","event_time":"2026-11-23T12:00:00Z","card_id":"4111111111111111","amount":5,"currency":"USD"}"#,
            #"{"card_number":"5500005555555559","oops":"#,
            String(ScoringFixtures.baseEvent.dropLast()) + #","card_number":"378282246310005","amount":-1}"#,
        ]
        let inputs = records.enumerated().map {
            ScoringInput(value: Array($1.utf8), source: EventSource(topic: "t", partition: 0, offset: Int64($0)), receivedAt: ScoringFixtures.now)
        }
        let outcomes = try Self.scorer().score(inputs, asOf: ScoringFixtures.now)
        for outcome in outcomes {
            let bytes: [UInt8]
            var messages: [String] = []
            switch outcome {
            case .decision(let b, _): bytes = b
            case .deadLetter(let b, let issues): bytes = b; messages = issues.map(\.description)
            }
            let text = String(decoding: bytes, as: UTF8.self) + messages.joined()
            for pan in pans { #expect(!text.contains(pan), "\(text)") }
        }
        #expect(outcomes.filter(\.isDecision).count == 2)
    }

    @Test("without a model every valid event is decided DEGRADED, invalid ones still dead-lettered")
    func noModel() throws {
        let outcomes = try Self.scorer(noModel: true).score(Self.events(seed: 3, count: 50, invalid: 0.2), asOf: ScoringFixtures.now)
        for outcome in outcomes {
            if case .decision(let bytes, let summary) = outcome {
                #expect(summary.degraded)
                #expect(summary.decision == .review)
                #expect(try Self.json(bytes)["risk_score"] is NSNull)
            }
        }
        #expect(outcomes.contains { !$0.isDecision })
    }

    @Test("events older than the SLA are decided DEGRADED instead of waiting for the model")
    func staleEvents() throws {
        let scorer = try Self.scorer()
        let outcomes = scorer.score(Self.events(seed: 4, count: 20), asOf: ScoringFixtures.now + 3600)
        #expect(outcomes.allSatisfy { if case .decision(_, let s) = $0 { s.degraded } else { false } })
    }

    @Test("a shadow model is recorded beside the decision and never changes it")
    func shadow() throws {
        let champion = try ScoringFixtures.statelessModel()
        let inputs = Self.events(seed: 11, count: 200)
        let alone = try Self.scorer(model: champion).score(inputs, asOf: ScoringFixtures.now)
        let withShadow = try Self.scorer(model: champion, shadow: champion).score(inputs, asOf: ScoringFixtures.now)
        for (a, b) in zip(alone, withShadow) {
            guard case .decision(_, let x) = a, case .decision(let bytes, let y) = b, !y.degraded else { continue }
            #expect(x.decision == y.decision)
            #expect(y.shadow?.score == y.riskScore)
            #expect(try Self.json(bytes)["shadow"] != nil)
        }
    }

    @Test("a tombstone becomes a dead letter with EMPTY_RECORD")
    func tombstone() throws {
        let outcome = try Self.scorer().score([ScoringInput(value: nil, source: EventSource(topic: "t", partition: 1, offset: 9), receivedAt: 0)]).first!
        guard case .deadLetter(let bytes, let issues) = outcome else { Issue.record("not dead-lettered"); return }
        #expect(issues.map(\.code) == [.emptyRecord])
        #expect(try Self.json(bytes)["original_encoding"] as? String == "none")
    }

    @Test("the default model's card matches its file and its golden vectors reproduce")
    func defaultModel() throws {
        let model = try ScoringFixtures.statelessModel()
        #expect(model.card?.sha256 == model.sha256)
        #expect(model.plan.featureNames == model.card?.features)
        try model.verifyGoldenVectors()
    }
}
