import Foundation
import Testing
import VerdictSynthetic

/// `verdict generate --profile sequences`: per-card timelines in event-time order, with fraud as
/// episodes on a card, which is what the stream aggregates and model 2.0.0 learn from.
@Suite("Generator: the sequences profile")
struct SequenceProfileTests {
    static func events(seed: UInt64, count: Int, cards: Int = 2_000) -> [EventGenerator.Event] {
        var options = EventGenerator.Options()
        options.seed = seed
        options.cards = cards
        options.merchants = 500
        options.profile = .sequences
        options.start = 1_790_000_000
        options.spacing = 3
        var generator = EventGenerator(options: options)
        return (0..<count).map { _ in generator.next() }
    }

    static func card(_ event: EventGenerator.Event) -> String { String(decoding: event.key, as: UTF8.self) }

    @Test("events come in event-time order, and the same seed gives the same bytes")
    func orderedAndDeterministic() {
        let first = Self.events(seed: 5, count: 20_000)
        #expect(zip(first, first.dropFirst()).allSatisfy { $0.eventTime <= $1.eventTime })
        #expect(first.map(\.value) == Self.events(seed: 5, count: 20_000).map(\.value))
        #expect(first.map(\.value) != Self.events(seed: 6, count: 20_000).map(\.value))
        // Each event's JSON carries its time, and keys are the card ids.
        let json = try? JSONSerialization.jsonObject(with: Data(first[0].value)) as? [String: Any]
        #expect(json?["card_id"] as? String == Self.card(first[0]))
    }

    @Test("fraud is about 1.5% of events, and every pattern occurs")
    func fraudShare() {
        let events = Self.events(seed: 7, count: 60_000)
        let fraud = events.filter { $0.pattern != "legit" }
        let share = Double(fraud.count) / Double(events.count)
        #expect((0.010...0.022).contains(share), "fraud share \(share)")
        #expect(
            Set(fraud.map(\.pattern)) == ["card_testing", "account_takeover", "foreign_late_night", "crypto_cashout", "velocity_spike"])
    }

    @Test("transactions_last_24h is the upstream's hourly batch: the card's events in the 24 hours before the current hour, exactly")
    func upstreamVelocityIsHourly() throws {
        let events = Self.events(seed: 9, count: 30_000, cards: 500)
        var history: [String: [Double]] = [:]
        var sawBurstInsideHour = false
        for event in events {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(event.value)) as? [String: Any])
            let hour = (event.eventTime / 3600).rounded(.down) * 3600
            let times = history[Self.card(event), default: []]
            let expected = times.filter { $0 >= hour - 86_400 && $0 < hour }.count
            #expect(json["transactions_last_24h"] as? Int == expected)
            if event.pattern == "card_testing" && times.filter({ $0 >= hour }).count >= 2 { sawBurstInsideHour = true }
            history[Self.card(event), default: []].append(event.eventTime)
        }
        // The point of the profile: a burst within the hour is invisible to the upstream figure.
        #expect(sawBurstInsideHour)
    }

    @Test("card testing is a burst on one card: the card's events in the hour before are many, where a cardholder's are few")
    func cardTestingIsABurst() {
        let events = Self.events(seed: 11, count: 60_000)
        var history: [String: [Double]] = [:]
        var testing: [Int] = []
        var legit: [Int] = []
        for event in events {
            let card = Self.card(event)
            let lastHour = history[card, default: []].filter { $0 >= event.eventTime - 3600 }.count
            if event.pattern == "card_testing" { testing.append(lastHour) } else if event.pattern == "legit" { legit.append(lastHour) }
            history[card, default: []].append(event.eventTime)
        }
        let mean = { (values: [Int]) in Double(values.reduce(0, +)) / Double(max(1, values.count)) }
        #expect(testing.count > 100)
        // 2,000 cards at one event every 3 s: a cardholder pays every 1.7 hours on average.
        #expect(mean(testing) >= 3, "card testing: \(mean(testing)) events in the hour before")
        #expect(mean(testing) >= 4 * mean(legit), "card testing \(mean(testing)), cardholders \(mean(legit)) events in the hour before")
    }

    @Test("cash-outs use new mule cards that no cardholder event shares")
    func cashOutsUseMules() throws {
        let events = Self.events(seed: 13, count: 60_000)
        let cashOut = events.filter { $0.pattern == "crypto_cashout" }
        #expect(cashOut.count > 20)
        let cashOutCards = Set(cashOut.map(Self.card))
        #expect(events.filter { $0.pattern == "legit" && cashOutCards.contains(Self.card($0)) }.isEmpty)
        for event in cashOut {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(event.value)) as? [String: Any])
            #expect((json["card_age_days"] as? Int ?? 99) < 20)
            #expect(json["channel"] as? String == "crypto_offramp")
        }
    }
}
