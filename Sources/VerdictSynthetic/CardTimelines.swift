import Foundation

/// The `sequences` profile's state: every card has its own timeline of transactions, and fraud
/// arrives as episodes on a card's timeline (a card-testing burst, a takeover, a night abroad, a
/// mule's cash-out, a velocity spike) interleaved with the cardholder's own spending, all emitted in
/// event-time order. So what the stream computes per card (counts, sums, distinct merchants, gaps)
/// carries the patterns, as it does in real traffic.
struct CardTimelines: Sendable {
    /// The next event of every card and of every episode under way, earliest first.
    var schedule = TimelineSchedule()
    var episodes: [Int: Episode] = [:]
    var nextEpisode = 0
    /// Mean seconds between a card's own transactions: the cards' daily rates, scaled so that the
    /// whole stream averages the generator's `spacing`.
    let meanGap: [Double]
    /// Each card's event times of the last 25 hours, for the upstream processor's
    /// `transactions_last_24h`.
    var recent: [[Double]]
    /// Cards opened for cash-out episodes (mules), numbered after the generator's own cards.
    var mules: [EventGenerator.Card] = []
    /// Merchant indices by country, and the merchant groups the episodes use.
    let domestic: [String: [Int]]
    let risky: [Int]
    let crypto: [Int]
    let electronics: [Int]

    /// One fraud episode under way on a card.
    struct Episode: Sendable {
        var pattern: Pattern
        var card: Int
        /// Events still to come, cash-out purchases included.
        var left: Int
        /// Card testing: the purchases that follow a successful test (the last `cashOut` events).
        var cashOut: Int
        /// The foreign country of a night abroad.
        var country: String
        var device: String
    }

    enum Pattern: String, Sendable, CaseIterable {
        case cardTesting = "card_testing"
        case accountTakeover = "account_takeover"
        case foreignLateNight = "foreign_late_night"
        case cryptoCashout = "crypto_cashout"
        case velocitySpike = "velocity_spike"

        /// Relative frequency of episode starts, in `allCases` order.
        static let weights: [Double] = [2, 3, 2, 2, 2]

        /// Events an episode produces on average (see `EventGenerator.startEpisode`), so that
        /// `fraudRate` is the share of events, not of episodes.
        static let meanEvents: Double = {
            let events = [8.5 + 0.6 * 1.5, 3, 3.5, 4, 16.5]
            return zip(weights, events).map { $0 * $1 }.reduce(0, +) / weights.reduce(0, +)
        }()
    }

    init(cards: [EventGenerator.Card], merchants: [EventGenerator.Merchant], spacing: Double, fraudRate: Double) {
        // Legitimate events arrive at (1 - fraudRate) / spacing per second in all; each card takes
        // its share of that by its daily rate.
        let legitimatePerSecond = max(1e-9, 1 - fraudRate) / (spacing > 0 ? spacing : 1)
        let totalRate = cards.map(\.dailyRate).reduce(0, +)
        meanGap = cards.map { totalRate / ($0.dailyRate * legitimatePerSecond) }
        recent = Array(repeating: [], count: cards.count)
        var byCountry: [String: [Int]] = [:]
        for (index, merchant) in merchants.enumerated() { byCountry[merchant.country, default: []].append(index) }
        domestic = byCountry
        let indices = Array(merchants.indices)
        risky = indices.filter { ["7995", "4829", "6051", "5732"].contains(merchants[$0].category) }
        crypto = indices.filter { merchants[$0].category == "6051" }
        electronics = indices.filter { ["5732", "4511"].contains(merchants[$0].category) }
    }

    /// The upstream processor's `transactions_last_24h`: it is computed in an hourly batch, so it
    /// counts the card's transactions in the 24 hours before the current hour began, and a burst
    /// within the hour is not in it. Then records `time` in the card's history.
    mutating func upstreamCount(card: Int, time: Double) -> Int {
        let hour = (time / 3600).rounded(.down) * 3600
        var count = 0
        for previous in recent[card] where previous >= hour - 86_400 && previous < hour { count += 1 }
        // In place: a copy of the card's times would allocate on every event.
        recent[card].removeAll { $0 < time - 90_000 }
        recent[card].append(time)
        return count
    }
}

/// A binary min-heap of scheduled events by time, ties broken by scheduling order, so the
/// sequence is deterministic for a seed.
struct TimelineSchedule: Sendable {
    struct Entry: Sendable {
        var time: Double
        var order: UInt64
        var source: Source
    }

    enum Source: Sendable {
        /// A card's own next transaction.
        case card(Int)
        /// An episode's next event.
        case episode(Int)
    }

    private var heap: [Entry] = []
    private var order: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }

    mutating func push(_ time: Double, _ source: Source) {
        order &+= 1
        heap.append(Entry(time: time, order: order, source: source))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = heap.first else { return nil }
        let last = heap.removeLast()
        guard !heap.isEmpty else { return first }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var best = parent
            if left < heap.count && Self.before(heap[left], heap[best]) { best = left }
            if right < heap.count && Self.before(heap[right], heap[best]) { best = right }
            if best == parent { break }
            heap.swapAt(parent, best)
            parent = best
        }
        return first
    }

    private static func before(_ a: Entry, _ b: Entry) -> Bool { a.time < b.time || (a.time == b.time && a.order < b.order) }
}

extension EventGenerator {
    /// The next event of the `sequences` profile, in event-time order.
    mutating func nextInSequence(now: Double?) -> (fields: Fields, pattern: String, fraud: Bool, time: Double) {
        if timelines == nil {
            var state = CardTimelines(cards: cards, merchants: merchants, spacing: options.spacing, fraudRate: options.fraudRate)
            for card in cards.indices { state.schedule.push(options.start + rng.exponential(mean: state.meanGap[card]), .card(card)) }
            timelines = state
        }
        guard let entry = timelines!.schedule.pop() else { preconditionFailure("every card always has its next event scheduled") }
        let time = now ?? entry.time
        var fields = Fields()
        switch entry.source {
        case .card(let index):
            timelines!.schedule.push(entry.time + rng.exponential(mean: timelines!.meanGap[index]), .card(index))
            ownTransaction(&fields, card: index)
            fields.transactionsLast24h = timelines!.upstreamCount(card: index, time: time)
            let startRate = options.fraudRate / (max(1e-9, 1 - options.fraudRate) * CardTimelines.Pattern.meanEvents)
            if rng.uniform() < startRate { startEpisode(at: entry.time) }
            return (fields, "legit", false, time)
        case .episode(let id):
            guard var episode = timelines!.episodes[id] else { preconditionFailure("a scheduled episode is kept until its last event") }
            episodeEvent(&fields, episode: episode)
            fields.transactionsLast24h = timelines!.upstreamCount(card: episode.card, time: time)
            episode.left -= 1
            if episode.left > 0 {
                timelines!.episodes[id] = episode
                timelines!.schedule.push(entry.time + episodeGap(episode), .episode(id))
            } else {
                timelines!.episodes[id] = nil
            }
            return (fields, episode.pattern.rawValue, true, time)
        }
    }

    /// A card of the generator's own, or a mule opened by a cash-out episode.
    func timelineCard(_ index: Int) -> Card {
        index < cards.count ? cards[index] : timelines!.mules[index - cards.count]
    }

    /// A cardholder's own transaction: mostly at a few regular merchants at home, some elsewhere at
    /// home, a few abroad.
    private mutating func ownTransaction(_ f: inout Fields, card index: Int) {
        let card = cards[index]
        let home = timelines!.domestic[card.country] ?? []
        let draw = rng.uniform()
        var merchant = merchants[rng.index(merchants.count)]
        if draw < 0.75 && !home.isEmpty {
            // 3 to 10 regulars per card, fixed for the card: the same merchants come back.
            let regulars = 3 + Int(Self.mix(options.seed, UInt64(index), 0) % 8)
            let pick = Self.mix(options.seed, UInt64(index), UInt64(1 + rng.index(regulars)))
            merchant = merchants[home[Int(pick % UInt64(home.count))]]
        } else if draw < 0.95 && !home.isEmpty {
            merchant = merchants[home[rng.index(home.count)]]
        }
        f.set(card: card, merchant: merchant, rng: &rng)
        f.amount = max(0.5, (card.averageUSD * rng.logNormal(mu: 0, sigma: 0.6) * 100).rounded() / 100)
        f.channel = rng.weighted([55, 35, 4, 5, 1]).channelName
        f.isNewRecipient = f.channel == "p2p" ? rng.uniform() < 0.15 : (f.channel == "crypto_offramp" ? rng.uniform() < 0.3 : nil)
    }

    /// Starts a fraud episode at `time` (a night abroad waits for the night).
    private mutating func startEpisode(at time: Double) {
        let pattern = CardTimelines.Pattern.allCases[rng.weighted(CardTimelines.Pattern.weights)]
        var card = rng.index(cards.count)
        var left = 0
        var cashOut = 0
        var country = ""
        var start = time + rng.uniform(5, 120)
        switch pattern {
        case .cardTesting:
            // A stolen number is tried with tiny amounts; when it works, it is spent.
            cashOut = rng.uniform() < 0.6 ? 1 + rng.index(2) : 0
            left = 3 + rng.index(12) + cashOut
        case .accountTakeover:
            // Takeovers go after established accounts.
            for _ in 0..<8 where cards[card].ageDays < 180 { card = rng.index(cards.count) }
            left = 2 + rng.index(3)
        case .foreignLateNight:
            let abroad = Self.countries.filter { $0.code != cards[card].country && timelines!.domestic[$0.code] != nil }
            country = abroad.isEmpty ? cards[card].country : abroad[rng.index(abroad.count)].code
            let day = (time / 86_400).rounded(.down) * 86_400
            start = time - day < 4.5 * 3600 ? start : day + 86_400 + rng.uniform(0, 4 * 3600)
            left = 2 + rng.index(4)
        case .cryptoCashout:
            // A mule's card, opened days ago, emptied through an off-ramp.
            let country = Self.countries[rng.weighted(Self.countries.map(\.weight))]
            let index = cards.count + timelines!.mules.count
            timelines!.mules.append(
                Card(
                    id: String(format: "card_%06d_%04x", index, Int(rng.next() & 0xFFFF)), country: country.code, ageDays: rng.index(20),
                    averageUSD: (rng.logNormal(mu: 3.6, sigma: 0.8) * 100).rounded() / 100, dailyRate: 1, currency: country.currency,
                    homeLatitude: country.latitude, homeLongitude: country.longitude))
            timelines!.recent.append([])
            card = index
            left = 2 + rng.index(5)
        case .velocitySpike:
            left = 8 + rng.index(18)
        }
        let id = timelines!.nextEpisode
        timelines!.nextEpisode += 1
        let device = String(format: "dev_%08x", UInt32(truncatingIfNeeded: rng.next()))
        timelines!.episodes[id] = CardTimelines.Episode(pattern: pattern, card: card, left: left, cashOut: cashOut, country: country, device: device)
        timelines!.schedule.push(start, .episode(id))
    }

    /// Seconds to an episode's next event.
    private mutating func episodeGap(_ episode: CardTimelines.Episode) -> Double {
        switch episode.pattern {
        case .cardTesting: episode.left == episode.cashOut ? rng.uniform(120, 1_200) : 2 + rng.exponential(mean: 40)
        case .accountTakeover: rng.uniform(120, 900)
        case .foreignLateNight: rng.uniform(300, 2_400)
        case .cryptoCashout: rng.uniform(300, 3_600)
        case .velocitySpike: 30 + rng.exponential(mean: 300)
        }
    }

    /// One event of an episode.
    private mutating func episodeEvent(_ f: inout Fields, episode: CardTimelines.Episode) {
        let card = timelineCard(episode.card)
        let merchants = self.merchants
        func pick(_ group: [Int], _ rng: inout SeededGenerator) -> Merchant {
            group.isEmpty ? merchants[rng.index(merchants.count)] : merchants[group[rng.index(group.count)]]
        }
        switch episode.pattern {
        case .cardTesting where episode.left <= episode.cashOut:
            f.set(card: card, merchant: pick(timelines!.electronics, &rng), rng: &rng)
            f.amount = (max(250, card.averageUSD * rng.uniform(5, 20)) * 100).rounded() / 100
            f.channel = "ecommerce"
        case .cardTesting:
            f.set(card: card, merchant: merchants[rng.index(merchants.count)], rng: &rng)
            f.amount = (rng.uniform(0.5, 5) * 100).rounded() / 100
            f.channel = "ecommerce"
        case .accountTakeover:
            f.set(card: card, merchant: merchants[rng.index(merchants.count)], rng: &rng)
            f.amount = (max(400, card.averageUSD * rng.uniform(8, 40)) * 100).rounded() / 100
            f.channel = "p2p"
            f.isNewRecipient = true
        case .foreignLateNight:
            f.set(card: card, merchant: pick(timelines!.domestic[episode.country] ?? [], &rng), rng: &rng)
            f.amount = (card.averageUSD * rng.uniform(3, 15) * 100).rounded() / 100
            f.channel = rng.uniform() < 0.6 ? "card_present" : "atm"
        case .cryptoCashout:
            f.set(card: card, merchant: pick(timelines!.crypto, &rng), rng: &rng)
            f.amount = (rng.uniform(800, 9_000) * 100).rounded() / 100
            f.channel = "crypto_offramp"
            f.isNewRecipient = rng.uniform() < 0.8
        case .velocitySpike:
            f.set(card: card, merchant: pick(timelines!.risky, &rng), rng: &rng)
            f.amount = (card.averageUSD * rng.uniform(1, 4) * 100).rounded() / 100
            f.channel = rng.uniform() < 0.7 ? "ecommerce" : "card_present"
        }
        // The fraudster's device, the same through the episode.
        f.deviceID = episode.device
    }

    /// A fixed hash of (seed, card, slot): a card's regular merchants without storing them.
    static func mix(_ seed: UInt64, _ a: UInt64, _ b: UInt64) -> UInt64 {
        var z = seed &+ a &* 0x9E37_79B9_7F4A_7C15 &+ b &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
