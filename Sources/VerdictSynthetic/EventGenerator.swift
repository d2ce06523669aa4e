import Foundation
import VerdictScoring

/// Synthetic card and crypto-ramp traffic in the v1 event contract, with the fraud patterns fraud
/// teams see, deterministic for a seed. Training (`make model`) and load generation
/// (`verdict generate`) use this one implementation, so the model is trained on the traffic the
/// demo sends.
///
/// Patterns (about 1.5% of events are fraud before label noise):
/// - card testing: bursts of tiny e-commerce amounts on one card, many in a day;
/// - account takeover: a high amount to a new recipient (p2p), often on an older card;
/// - foreign late-night spending: merchant abroad, 00:00-05:00 UTC, larger than usual;
/// - crypto off-ramp cash-out: new card, large crypto_offramp withdrawals;
/// - velocity spikes: many transactions in 24 hours at high-risk merchants.
/// Labels are flipped with small probabilities (label noise), as chargeback data is noisy.
public struct EventGenerator: Sendable {
    public struct Options: Sendable {
        public var seed: UInt64 = 42
        /// Distinct cards.
        public var cards: Int = 20_000
        /// Distinct merchants.
        public var merchants: Int = 2_000
        /// First event time (seconds since the epoch); events advance by `spacing` on average.
        public var start: Double = 1_790_000_000
        /// Mean seconds between events (file mode); 0 keeps event_time at `start` plus jitter.
        public var spacing: Double = 1
        /// Share of events that are fraud patterns.
        public var fraudRate: Double = 0.015
        /// Share of events made invalid (for dead-letter demos and tests).
        public var invalidFraction: Double = 0
        /// Share of fraud labelled legitimate, and of legitimate labelled fraud.
        public var missedFraudRate: Double = 0.05
        public var falseFraudRate: Double = 0.001
        /// What the traffic looks like.
        public var profile: Profile = .realistic

        public init() {}
    }

    /// The shape of the traffic.
    public enum Profile: String, Sendable, CaseIterable {
        /// The fraud patterns above in realistic proportions: 2-3% of events end REVIEW or DECLINE.
        case realistic
        /// Every feature drawn independently of the others over its range (amounts log-uniform
        /// from $4 to $380, card averages from $18 to $250, any channel, card age 0-2,000 days,
        /// 0-9 transactions in 24 hours; 80% of merchants in the card's country, the rest in any):
        /// 10-15% of events end REVIEW or DECLINE (14% with the default model over a whole day),
        /// so throughput is measured on traffic that needs many explanations. Not labelled (every
        /// event is `wide`, not fraud).
        case wide
        /// Per-card timelines in event-time order: each card spends at its own rate, mostly at a
        /// few regular merchants, and fraud comes as episodes on a card's timeline (card testing as
        /// a burst of tiny charges seconds apart, then purchases; a takeover's run of transfers to
        /// new recipients; a night of spending abroad; a new mule card emptied through an off-ramp;
        /// a velocity spike at high-risk merchants). The upstream `transactions_last_24h` is an
        /// hourly batch figure, blind to the current hour. What models with stream aggregates are
        /// trained on (`make model`, docs/features.md).
        case sequences
    }

    /// One generated event.
    public struct Event: Sendable {
        public var key: [UInt8]
        public var value: [UInt8]
        public var transactionID: String
        /// The training label (with noise applied).
        public var isFraud: Bool
        /// The pattern, for analysis: "legit", "card_testing", ...
        public var pattern: String
        public var valid: Bool
        public var eventTime: Double
    }

    struct Card {
        var id: String
        var country: String
        var ageDays: Int
        var averageUSD: Double
        var dailyRate: Double
        var currency: String
        var homeLatitude: Double
        var homeLongitude: Double
    }

    struct Merchant {
        var id: String
        var category: String
        var country: String
        var latitude: Double
        var longitude: Double
    }

    /// Relative frequency of pattern starts: card testing, takeover, foreign night, crypto, velocity.
    static let patternWeights: [Double] = [2, 3, 2, 2, 2]
    /// Events a pattern start produces on average (a card-testing burst is 1 + 2...9 events), so
    /// `fraudRate` is the share of events, not of pattern starts.
    static let eventsPerFraudStart: Double = {
        let total = patternWeights.reduce(0, +)
        return (patternWeights[0] * 6.5 + (total - patternWeights[0])) / total
    }()

    public let options: Options
    let cards: [Card]
    let merchants: [Merchant]
    var rng: SeededGenerator
    /// The `sequences` profile's timelines, made on its first event.
    var timelines: CardTimelines?
    private var sequence: UInt64 = 0
    private var clock: Double
    /// A card under a card-testing burst: (card index, remaining events).
    private var burst: (card: Int, left: Int)?

    static let countries: [(code: String, risk: Double, currency: String, latitude: Double, longitude: Double, weight: Double)] = [
        ("US", 0.10, "USD", 39.8, -98.6, 40), ("GB", 0.12, "GBP", 54.0, -2.0, 10), ("DE", 0.10, "EUR", 51.2, 10.4, 9),
        ("FR", 0.11, "EUR", 46.6, 2.2, 7), ("CA", 0.09, "CAD", 56.1, -106.3, 6), ("ES", 0.14, "EUR", 40.5, -3.7, 4),
        ("IT", 0.15, "EUR", 41.9, 12.6, 4), ("NL", 0.10, "EUR", 52.1, 5.3, 3), ("BR", 0.45, "BRL", -14.2, -51.9, 3),
        ("MX", 0.40, "MXN", 23.6, -102.6, 3), ("IN", 0.35, "INR", 20.6, 78.9, 3), ("NG", 0.85, "NGN", 9.1, 8.7, 1),
        ("RU", 0.80, "EUR", 61.5, 105.3, 1), ("KE", 0.55, "KES", -0.02, 37.9, 1), ("SG", 0.08, "SGD", 1.35, 103.8, 2),
        ("AE", 0.30, "AED", 23.4, 53.8, 1), ("TR", 0.50, "TRY", 38.9, 35.2, 1), ("ZA", 0.45, "ZAR", -30.6, 22.9, 1),
    ]

    static let categories: [(mcc: String, weight: Double)] = [
        ("5411", 20), ("5812", 14), ("5541", 10), ("5311", 8), ("5999", 8), ("5732", 5), ("4121", 5), ("7011", 4),
        ("4511", 3), ("5912", 5), ("5814", 8), ("7995", 1), ("6051", 1), ("4829", 1), ("6011", 3),
    ]

    public init(options: Options) {
        self.options = options
        var rng = SeededGenerator(seed: options.seed)
        let countryWeights = Self.countries.map(\.weight)
        cards = (0..<options.cards).map { i in
            let country = Self.countries[rng.weighted(countryWeights)]
            return Card(
                id: String(format: "card_%06d_%04x", i, Int(rng.next() & 0xFFFF)),
                country: country.code,
                ageDays: Int(rng.exponential(mean: 700)),
                averageUSD: (rng.logNormal(mu: 3.6, sigma: 0.8) * 100).rounded() / 100,
                dailyRate: max(0.3, rng.logNormal(mu: 0.6, sigma: 0.6)),
                currency: country.currency,
                homeLatitude: country.latitude + rng.normal() * 2,
                homeLongitude: country.longitude + rng.normal() * 2
            )
        }
        let categoryWeights = Self.categories.map(\.weight)
        merchants = (0..<options.merchants).map { i in
            let country = Self.countries[rng.weighted(countryWeights)]
            return Merchant(
                id: String(format: "m_%05d", i),
                category: Self.categories[rng.weighted(categoryWeights)].mcc,
                country: country.code,
                latitude: country.latitude + rng.normal() * 3,
                longitude: country.longitude + rng.normal() * 3
            )
        }
        self.rng = rng
        clock = options.start
    }

    /// The next event. `now` overrides the event time (stream mode uses the wall clock).
    public mutating func next(now: Double? = nil) -> Event {
        sequence += 1
        if options.spacing > 0 && options.profile != .sequences { clock += rng.exponential(mean: options.spacing) }
        var time = now ?? clock
        let id = String(format: "tx_%@_%010llu", String(options.seed, radix: 36), sequence)
        var fields = Fields()
        var pattern = "legit"
        var fraud = false

        if options.profile == .sequences {
            let event = nextInSequence(now: now)
            fields = event.fields
            pattern = event.pattern
            fraud = event.fraud
            time = event.time
        } else if options.profile == .wide {
            pattern = "wide"
            wide(&fields)
        } else if let current = burst, current.left > 0 {
            burst = (current.card, current.left - 1)
            pattern = "card_testing"
            fraud = true
            cardTesting(&fields, card: cards[current.card])
        } else if rng.uniform() < options.fraudRate / Self.eventsPerFraudStart {
            fraud = true
            switch rng.weighted(Self.patternWeights) {
            case 0:
                pattern = "card_testing"
                let card = rng.index(cards.count)
                burst = (card, rng.index(8) + 2)
                cardTesting(&fields, card: cards[card])
            case 1:
                pattern = "account_takeover"
                accountTakeover(&fields)
            case 2:
                pattern = "foreign_late_night"
                if now == nil { time = Self.moveToNight(time, &rng) }
                foreignLateNight(&fields)
            case 3:
                pattern = "crypto_cashout"
                cryptoCashout(&fields)
            default:
                pattern = "velocity_spike"
                velocitySpike(&fields)
            }
        } else {
            legit(&fields)
        }
        fields.eventTime = time
        // Label noise: chargebacks are missed, and disputes are sometimes friendly fraud.
        var label = fraud
        if fraud && rng.uniform() < options.missedFraudRate { label = false }
        if !fraud && rng.uniform() < options.falseFraudRate { label = true }
        var value = fields.json(transactionID: id)
        var valid = true
        if options.invalidFraction > 0 && rng.uniform() < options.invalidFraction {
            value = Self.corrupt(value, &rng)
            valid = false
        }
        return Event(key: Array(fields.cardID.utf8), value: value, transactionID: id, isFraud: label, pattern: pattern, valid: valid, eventTime: time)
    }

    // MARK: Patterns

    private mutating func legit(_ f: inout Fields) {
        let card = cards[rng.index(cards.count)]
        // Most spending is at home; some travel and online abroad.
        var merchant = merchants[rng.index(merchants.count)]
        if merchant.country != card.country && rng.uniform() < 0.75 {
            merchant = merchants.first { $0.country == card.country && $0.category == merchant.category } ?? merchant
        }
        f.set(card: card, merchant: merchant, rng: &rng)
        f.amount = max(0.5, (card.averageUSD * rng.logNormal(mu: 0, sigma: 0.6) * 100).rounded() / 100)
        f.channel = rng.weighted([55, 35, 4, 5, 1]).channelName
        f.transactionsLast24h = rng.poisson(card.dailyRate)
        f.isNewRecipient = f.channel == "p2p" ? rng.uniform() < 0.15 : (f.channel == "crypto_offramp" ? rng.uniform() < 0.3 : nil)
    }

    /// One event of the wide profile: each field independent of the others.
    private mutating func wide(_ f: inout Fields) {
        var card = cards[rng.index(cards.count)]
        card.ageDays = rng.index(2_000)
        card.averageUSD = (Self.logUniform(18, 250, &rng) * 100).rounded() / 100
        var merchant = merchants[rng.index(merchants.count)]
        if rng.uniform() < Self.wideDomesticShare {
            merchant = merchants.first { $0.country == card.country && $0.category == merchant.category } ?? merchant
        }
        f.set(card: card, merchant: merchant, rng: &rng)
        f.amount = (Self.logUniform(4, 380, &rng) * 100).rounded() / 100
        f.channel = rng.index(5).channelName
        f.transactionsLast24h = rng.index(10)
        f.isNewRecipient = f.channel == "p2p" || f.channel == "crypto_offramp" ? rng.uniform() < 0.5 : nil
    }

    /// Share of wide-profile events at a merchant in the card's country (otherwise any country).
    static let wideDomesticShare = 0.8

    private static func logUniform(_ low: Double, _ high: Double, _ rng: inout SeededGenerator) -> Double {
        exp(rng.uniform(log(low), log(high)))
    }

    private mutating func cardTesting(_ f: inout Fields, card: Card) {
        let merchant = merchants[rng.index(merchants.count)]
        f.set(card: card, merchant: merchant, rng: &rng)
        f.amount = (rng.uniform(1, 5) * 100).rounded() / 100
        f.channel = "ecommerce"
        f.transactionsLast24h = 8 + rng.poisson(10)
    }

    private mutating func accountTakeover(_ f: inout Fields) {
        let card = cards[rng.index(cards.count)]
        let merchant = merchants[rng.index(merchants.count)]
        f.set(card: card, merchant: merchant, rng: &rng)
        f.amount = (max(400, card.averageUSD * rng.uniform(8, 40)) * 100).rounded() / 100
        f.channel = "p2p"
        f.isNewRecipient = true
        f.transactionsLast24h = rng.poisson(card.dailyRate) + rng.index(3)
    }

    private mutating func foreignLateNight(_ f: inout Fields) {
        let card = cards[rng.index(cards.count)]
        var merchant = merchants[rng.index(merchants.count)]
        for _ in 0..<20 where merchant.country == card.country { merchant = merchants[rng.index(merchants.count)] }
        f.set(card: card, merchant: merchant, rng: &rng)
        f.amount = (card.averageUSD * rng.uniform(3, 15) * 100).rounded() / 100
        f.channel = rng.uniform() < 0.6 ? "card_present" : "atm"
        f.transactionsLast24h = rng.poisson(card.dailyRate + 2)
    }

    private mutating func cryptoCashout(_ f: inout Fields) {
        var card = cards[rng.index(cards.count)]
        card.ageDays = rng.index(20)
        let merchant = merchants.first { $0.category == "6051" } ?? merchants[rng.index(merchants.count)]
        f.set(card: card, merchant: merchant, rng: &rng)
        f.amount = (rng.uniform(800, 9000) * 100).rounded() / 100
        f.channel = "crypto_offramp"
        f.isNewRecipient = rng.uniform() < 0.8
        f.transactionsLast24h = rng.poisson(3)
    }

    private mutating func velocitySpike(_ f: inout Fields) {
        let card = cards[rng.index(cards.count)]
        let risky = merchants.filter { ["7995", "4829", "6051", "5732"].contains($0.category) }
        let merchant = risky.isEmpty ? merchants[rng.index(merchants.count)] : risky[rng.index(risky.count)]
        f.set(card: card, merchant: merchant, rng: &rng)
        f.amount = (card.averageUSD * rng.uniform(1, 4) * 100).rounded() / 100
        f.channel = rng.uniform() < 0.7 ? "ecommerce" : "card_present"
        f.transactionsLast24h = 15 + rng.poisson(15)
    }

    /// Moves a time to between 00:00 and 05:00 UTC of the same day.
    private static func moveToNight(_ time: Double, _ rng: inout SeededGenerator) -> Double {
        let day = (time / 86_400).rounded(.down) * 86_400
        return day + rng.uniform(0, 5 * 3600)
    }

    /// Breaks an event the way real producers do.
    private static func corrupt(_ value: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var text = String(decoding: value, as: UTF8.self)
        switch rng.index(8) {
        case 0: return Array(text.utf8.prefix(value.count / 2))  // truncated
        case 1: text = text.replacingOccurrences(of: "\"amount\":", with: "\"amount\":-")
        case 2: text = text.replacingOccurrences(of: "\"currency\":\"", with: "\"currency\":\"X")
        case 3:
            if let range = text.range(of: #""card_id":"[^"]*","#, options: .regularExpression) { text.removeSubrange(range) }
        case 4: text = text.replacingOccurrences(of: "\"schema_version\":1", with: "\"schema_version\":\"1\"")
        case 5: text = text.replacingOccurrences(of: "Z\"", with: "\"")
        case 6:
            if let range = text.range(of: #""card_id":"[^"]*""#, options: .regularExpression) {
                text.replaceSubrange(range, with: "\"card_id\":\"4111111111111111\"")
            }
        default: text = text.replacingOccurrences(of: "\"channel\":\"", with: "\"channel\":\"fax_")
        }
        return Array(text.utf8)
    }
}

/// An event's values before serialisation.
struct Fields {
    var cardID = ""
    var cardCountry = ""
    var currency = "USD"
    var amount = 0.0
    var merchantID = ""
    var merchantCategory = ""
    var merchantCountry = ""
    var channel = "card_present"
    var cardAgeDays = 0
    var transactionsLast24h = 0
    var averageUSD = 0.0
    var countryRisk = 0.0
    var isNewRecipient: Bool?
    var latitude = 0.0
    var longitude = 0.0
    var eventTime = 0.0
    var deviceID = ""

    var includeUSD = true

    mutating func set(card: EventGenerator.Card, merchant: EventGenerator.Merchant, rng: inout SeededGenerator) {
        cardID = card.id
        cardCountry = card.country
        cardAgeDays = card.ageDays
        averageUSD = card.averageUSD
        merchantID = merchant.id
        merchantCategory = merchant.category
        merchantCountry = merchant.country
        countryRisk = EventGenerator.countries.first { $0.code == merchant.country }?.risk ?? 0.2
        currency = EventGenerator.countries.first { $0.code == merchant.country }?.currency ?? "USD"
        latitude = ((merchant.latitude + rng.normal() * 0.2) * 1e4).rounded() / 1e4
        longitude = ((merchant.longitude + rng.normal() * 0.2) * 1e4).rounded() / 1e4
        deviceID = String(format: "dev_%08x", UInt32(truncatingIfNeeded: rng.next()))
        includeUSD = currency == "USD" || rng.uniform() < 0.5
    }

    /// The event JSON. Amounts are in USD and converted to the merchant's currency with the default
    /// rates, so `amount_usd` is sent only for some events (the rest exercise the conversion).
    func json(transactionID: String) -> [UInt8] {
        var w = ""
        w.reserveCapacity(512)
        let rate = EventGenerator.usdRates[currency] ?? 1
        let local = (amount / rate * 100).rounded() / 100
        w += "{\"schema_version\":1,\"transaction_id\":\"\(transactionID)\",\"event_time\":\""
        w += Self.timestamp(eventTime)
        w += "\",\"card_id\":\"\(cardID)\",\"amount\":\(Self.number(max(0.01, local))),\"currency\":\"\(currency)\""
        if includeUSD { w += ",\"amount_usd\":\(Self.number(amount))" }
        w += ",\"merchant_id\":\"\(merchantID)\",\"merchant_category\":\"\(merchantCategory)\",\"merchant_country\":\"\(merchantCountry)\""
        w += ",\"card_country\":\"\(cardCountry)\",\"channel\":\"\(channel)\",\"card_age_days\":\(cardAgeDays)"
        w += ",\"transactions_last_24h\":\(transactionsLast24h),\"avg_transaction_amount\":\(Self.number(averageUSD))"
        w += ",\"country_risk_score\":\(Self.number(countryRisk))"
        if let isNewRecipient { w += ",\"is_new_recipient\":\(isNewRecipient)" }
        w += ",\"latitude\":\(Self.number(latitude)),\"longitude\":\(Self.number(longitude)),\"device_id\":\"\(deviceID)\"}"
        return Array(w.utf8)
    }

    static func number(_ value: Double) -> String {
        var text = String(format: "%.4f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    static func timestamp(_ seconds: Double) -> String {
        Timestamps.rfc3339(seconds)
    }
}

extension EventGenerator {
    // The same rates the default validation configuration uses, so converted amounts round-trip.
    static let usdRates: [String: Double] = [
        "USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CHF": 1.13, "JPY": 0.0067, "CAD": 0.73, "AUD": 0.66, "SEK": 0.095,
        "NOK": 0.093, "DKK": 0.145, "PLN": 0.25, "BRL": 0.18, "MXN": 0.055, "INR": 0.012, "SGD": 0.74, "HKD": 0.128,
        "NGN": 0.00064, "KES": 0.0077, "ZAR": 0.055, "TRY": 0.029, "AED": 0.27,
    ]
}

extension Int {
    var channelName: String { ["card_present", "ecommerce", "atm", "p2p", "crypto_offramp"][self] }
}
