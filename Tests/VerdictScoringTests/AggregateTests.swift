import Foundation
import Testing
@testable import VerdictScoring
import VerdictSynthetic

/// The stream aggregates against a brute-force reference written from the definition in
/// docs/features.md: for every event, scan the key's prior events.
@Suite("Stream aggregates")
struct AggregateTests {
    /// The aggregates of the issue's example, plus mean and max.
    static let definitions: [AggregateDefinition] = [
        AggregateDefinition(name: "count_1h", function: .count, key: "card_id", window: .init(.seconds(3600)), resolution: .init(.seconds(300))),
        AggregateDefinition(
            name: "sum_24h", function: .sum, key: "card_id", field: "card_age_days", window: .init(.seconds(86_400)), resolution: .init(.seconds(3600))),
        AggregateDefinition(
            name: "distinct_24h", function: .distinct, key: "card_id", field: "merchant_id", window: .init(.seconds(86_400)),
            resolution: .init(.seconds(3600)), capacity: 4),
        AggregateDefinition(name: "since_last", function: .secondsSinceLast, key: "card_id"),
        AggregateDefinition(
            name: "mean_2h", function: .mean, key: "card_id", field: "card_age_days", window: .init(.seconds(7200)), resolution: .init(.seconds(600))),
        AggregateDefinition(
            name: "max_1h", function: .max, key: "card_id", field: "card_age_days", window: .init(.seconds(3600)), resolution: .init(.seconds(60))),
        AggregateDefinition(
            name: "merchant_count_10m", function: .count, key: "merchant_id", window: .init(.seconds(600)), resolution: .init(.seconds(60))),
    ]

    struct Event {
        var card: String?
        var merchant: String?
        var time: Double
        var amount: Double?
    }

    /// Random per-card sequences: bursts, long gaps, late events, events without an amount or a merchant.
    static func sequence(seed: UInt64, count: Int, cards: Int) -> [Event] {
        var generator = SeededGenerator(seed: seed)
        var clock = 1_795_000_000.0
        var events: [Event] = []
        for _ in 0..<count {
            let jump = generator.next() % 100
            if jump < 60 {
                clock += Double(generator.next() % 120)  // a burst
            } else if jump < 85 {
                clock += Double(generator.next() % 7200)
            } else if jump < 93 {
                clock += Double(generator.next() % 200_000)  // beyond every window
            }
            // 7% of events are late: up to 3 hours before the clock.
            let late = jump >= 93 ? Double(generator.next() % 10_800) : 0
            let card: String? = "card_\(generator.next() % UInt64(cards))"  // card_id is required by the contract
            let merchant = generator.next() % 20 == 0 ? nil : "m_\(generator.next() % 9)"
            // Integers add exactly in any order, so the reference may sum as it likes.
            let amount = generator.next() % 10 == 0 ? nil : Double(generator.next() % 4_000)
            events.append(Event(card: card, merchant: merchant, time: clock - late, amount: amount))
        }
        return events
    }

    /// The definition, scanned: the window of e holds the key's prior events whose bucket of the
    /// clamped time lies in [b(e) - W/r + 1, b(e)]; clamped time = max(time, the key's previous clamped times).
    static func reference(_ events: [Event], _ definitions: [AggregateDefinition]) -> [[Double]] {
        // One key field per call: the clamp is the key's own.
        let key: (Event) -> String? = definitions.first?.key == "merchant_id" ? { $0.merchant } : { $0.card }
        var clampedTimes: [Double] = []
        var results: [[Double]] = []
        for (i, event) in events.enumerated() {
            guard let k = key(event) else {
                clampedTimes.append(.nan)
                results.append(definitions.map { _ in .nan })
                continue
            }
            let prior = (0..<i).filter { key(events[$0]) == k }
            let clamped = max(event.time, prior.map { clampedTimes[$0] }.max() ?? event.time)
            var row: [Double] = []
            for definition in definitions {
                if definition.function == .secondsSinceLast {
                    row.append(prior.last.map { max(0, event.time - events[$0].time) } ?? .nan)
                    continue
                }
                let r = definition.resolution!.seconds
                let n = Int64(definition.window!.seconds / r)
                let b = Int64(clamped / r)
                let window = prior.filter { Int64(clampedTimes[$0] / r) >= b - n + 1 && Int64(clampedTimes[$0] / r) <= b }
                let amounts = window.compactMap { events[$0].amount }
                switch definition.function {
                case .count: row.append(Double(window.count))
                case .sum: row.append(amounts.reduce(0, +))
                case .mean: row.append(amounts.isEmpty ? .nan : amounts.reduce(0, +) / Double(amounts.count))
                case .max: row.append(amounts.max() ?? .nan)
                case .distinct: row.append(Double(min(definition.capacity!, Set(window.compactMap { events[$0].merchant }).count)))
                case .secondsSinceLast: break
                }
            }
            clampedTimes.append(clamped)
            results.append(row)
        }
        return results
    }

    /// `2026-11-23T12:00:00Z` for whole seconds since the epoch.
    static func timestamp(_ seconds: Double) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date(timeIntervalSince1970: seconds))
    }

    static func json(_ event: Event, id: Int) -> String {
        var object: [String: Any] = [
            "schema_version": 1, "transaction_id": "tx_\(id)", "event_time": timestamp(event.time), "currency": "USD",
        ]
        object["card_id"] = event.card
        object["merchant_id"] = event.merchant
        object["amount"] = 10
        // The aggregated number: card_age_days, which an event may leave out.
        object["card_age_days"] = event.amount.map { Int($0) }
        return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    static let validation: ValidationConfiguration = {
        var v = ValidationConfiguration()
        v.maxEventAge = ConfigDuration(.zero)
        v.maxClockSkew = ConfigDuration(.seconds(100 * 365 * 86_400))
        return v
    }()

    /// Applies events in order to one state, as the stream does for one partition.
    static func apply(_ events: [Event], _ plan: AggregatePlan, state: inout AggregateState) throws -> [[Double]] {
        let validator = EventValidator(configuration: validation)
        var rows: [[Double]] = []
        for (i, event) in events.enumerated() {
            let text = Array(json(event, id: i).utf8)
            var row = [Double](repeating: 0, count: plan.names.count)
            try text.withUnsafeBytes { bytes in
                let result = validator.validate(bytes, now: 1_800_000_000)
                guard case .valid(let decoded) = result else {
                    Issue.record("fixture event \(i) invalid: \(result) \(json(event, id: i))")
                    throw CancellationError()
                }
                row.withUnsafeMutableBufferPointer { state.apply(decoded, record: bytes, into: $0) }
            }
            rows.append(row)
        }
        return rows
    }

    static func same(_ a: [[Double]], _ b: [[Double]]) -> Bool {
        a.count == b.count
            && zip(a, b).allSatisfy { x, y in x.count == y.count && zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) } }
    }

    @Test(
        "every function equals the brute-force reference, bit for bit, on random sequences with bursts, gaps and late events",
        arguments: [1, 2, 3, 4] as [UInt64])
    func matchesReference(seed: UInt64) throws {
        let events = Self.sequence(seed: seed, count: 1_500, cards: 12)
        let plan = try AggregatePlan(Self.definitions)
        var state = AggregateState(plan: plan)
        let actual = try Self.apply(events, plan, state: &state)
        // The reference's clamp must be per key field: run it once per key field.
        let byCard = Self.reference(events, Self.definitions.filter { $0.key == "card_id" })
        let byMerchant = Self.reference(events, Self.definitions.filter { $0.key == "merchant_id" })
        let cardColumns = Self.definitions.indices.filter { Self.definitions[$0].key == "card_id" }
        let merchantColumns = Self.definitions.indices.filter { Self.definitions[$0].key == "merchant_id" }
        for i in events.indices {
            let expectedCard = byCard[i], expectedMerchant = byMerchant[i]
            let gotCard = cardColumns.map { actual[i][$0] }, gotMerchant = merchantColumns.map { actual[i][$0] }
            #expect(Self.same([gotCard], [expectedCard]), "event \(i) \(events[i]): \(gotCard) vs \(expectedCard)")
            #expect(Self.same([gotMerchant], [expectedMerchant]), "event \(i) \(events[i]): \(gotMerchant) vs \(expectedMerchant)")
            if !Self.same([gotCard], [expectedCard]) { break }
        }
        #expect(state.counters.forcedEvictions == 0 && state.counters.idleEvictions == 0)
    }

    @Test("interleaving keys differently while keeping each key's order changes nothing")
    func keyOrderOnly() throws {
        let plan = try AggregatePlan(Self.definitions.filter { $0.key == "card_id" })
        let events = Self.sequence(seed: 9, count: 800, cards: 6)
        var first = AggregateState(plan: plan)
        let inOrder = try Self.apply(events, plan, state: &first)
        // Stable partition by card: each card's events stay in order, cards no longer interleave.
        let permutation = events.indices.sorted { (events[$0].card ?? "", $0) < (events[$1].card ?? "", $1) }
        var second = AggregateState(plan: plan)
        let regrouped = try Self.apply(permutation.map { events[$0] }, plan, state: &second)
        for (position, original) in permutation.enumerated() {
            #expect(Self.same([regrouped[position]], [inOrder[original]]), "event \(original)")
        }
    }

    @Test("eviction of keys idle for longer than twice the longest window never changes a value")
    func idleEvictionKeepsValues() throws {
        // Many one-off cards and a few regulars; the cap forces sweeps.
        var events: [Event] = []
        var clock = 1_795_000_000.0
        // Seven days: one-off cards go idle for longer than twice the 24 h window.
        for i in 0..<3_000 {
            clock += 200
            // Regulars every few minutes, cards that come back after 20 hours (inside the 24 h
            // window: dropping them would change their sums), and one-off cards.
            let card = i % 3 == 0 ? "regular_\(i % 4)" : i % 3 == 1 ? "returning_\((i / 3) % 120)" : "once_\(i)"
            events.append(Event(card: card, merchant: "m_\(i % 5)", time: clock, amount: Double(i % 17)))
        }
        let definitions = Self.definitions.filter { $0.key == "card_id" && $0.function != .secondsSinceLast }
        let unlimited = try AggregatePlan(definitions)
        let capped = try AggregatePlan(definitions, limits: AggregateStateLimits(maxKeys: 800))
        var a = AggregateState(plan: unlimited), b = AggregateState(plan: capped)
        let expected = try Self.apply(events, unlimited, state: &a)
        let actual = try Self.apply(events, capped, state: &b)
        #expect(Self.same(actual, expected))
        #expect(b.counters.idleEvictions > 0, "the cap was reached and idle keys were dropped")
        #expect(b.counters.forcedEvictions == 0)
        #expect(b.keyCount <= 800)
    }

    @Test("a snapshot restores the state exactly: the rest of the stream gives the same values as without the snapshot")
    func snapshotRoundTrip() throws {
        let plan = try AggregatePlan(Self.definitions)
        let events = Self.sequence(seed: 21, count: 1_200, cards: 20)
        var whole = AggregateState(plan: plan)
        let expected = try Self.apply(events, plan, state: &whole)
        for cut in [0, 1, 400, 1_199] {
            var before = AggregateState(plan: plan)
            _ = try Self.apply(Array(events[..<cut]), plan, state: &before)
            let bytes = before.snapshot()
            var restored = try AggregateState(plan: plan, snapshot: bytes)
            #expect(restored.snapshot() == bytes, "a snapshot of the restored state is the same bytes")
            let rest = try Self.apply(Array(events[cut...]), plan, state: &restored)
            #expect(Self.same(rest, Array(expected[cut...])), "cut at \(cut)")
        }
    }

    @Test("a truncated, corrupted or foreign snapshot is refused with the reason, never trusted")
    func hostileSnapshots() throws {
        let plan = try AggregatePlan(Self.definitions)
        var state = AggregateState(plan: plan)
        _ = try Self.apply(Self.sequence(seed: 5, count: 300, cards: 10), plan, state: &state)
        let bytes = state.snapshot()
        var cases: [([UInt8], String)] = [([], "bad magic"), (Array(bytes.prefix(bytes.count - 3)), "truncated"), (bytes + [0], "after the end")]
        var count = bytes
        count[28...31] = [0xff, 0xff, 0xff, 0x7f]  // the first key field's key count
        cases.append((count, "keys"))
        let other = try AggregatePlan(Array(Self.definitions.prefix(2)))
        cases.append((AggregateState(plan: other).snapshot(), "other aggregate definitions"))
        for (candidate, reason) in cases {
            #expect("\(reason)") {
                try AggregateState(plan: plan, snapshot: candidate)
            } throws: { error in "\(error)".contains(reason) }
        }
        // Every prefix and every single-byte change is refused, or restores a state the stream can
        // go on with; none traps.
        for length in Swift.stride(from: 0, to: bytes.count, by: 7) { _ = try? AggregateState(plan: plan, snapshot: Array(bytes.prefix(length))) }
        let more = Self.sequence(seed: 6, count: 40, cards: 10)
        for position in Swift.stride(from: 0, to: bytes.count, by: 29) {
            var flipped = bytes
            flipped[position] ^= 0xa5
            if var restored = try? AggregateState(plan: plan, snapshot: flipped) { _ = try Self.apply(more, plan, state: &restored) }
        }
    }

    @Test("reading records ahead in groups, as the stream does, changes no value, no eviction and no snapshot byte")
    func readAheadChangesNothing() throws {
        var events = Self.sequence(seed: 13, count: 1_500, cards: 40)
        // Keys the read-ahead passes over: longer than a record's inline bytes, and missing.
        for i in Swift.stride(from: 5, to: events.count, by: 37) { events[i].card = "long_card_token_\(i % 3)_" + String(repeating: "x", count: 40) }
        for i in Swift.stride(from: 11, to: events.count, by: 53) { events[i].merchant = nil }
        let validator = EventValidator(configuration: Self.validation)
        // Uncapped, and capped below the keys seen so that evictions happen between a group's read-ahead and its updates.
        for limits in [AggregateStateLimits(), AggregateStateLimits(maxKeys: 25)] {
            let plan = try AggregatePlan(Self.definitions, limits: limits)
            var plain = AggregateState(plan: plan)
            let expected = try Self.apply(events, plan, state: &plain)
            for group in [1, 3, AggregateState.readAheadGroup, 40] {
                var state = AggregateState(plan: plan)
                var rows: [[Double]] = []
                for start in Swift.stride(from: 0, to: events.count, by: group) {
                    let texts = events.indices[start..<Swift.min(events.count, start + group)].map { Array(Self.json(events[$0], id: $0).utf8) }
                    let decoded = texts.map { text in
                        text.withUnsafeBytes { bytes -> TransactionEvent? in
                            if case .valid(let event) = validator.validate(bytes, now: 1_800_000_000) { return event }
                            return nil
                        }
                    }
                    for (text, event) in zip(texts, decoded) {
                        guard let event else { continue }
                        text.withUnsafeBytes { state.expect(event, record: $0) }
                    }
                    state.readAhead()
                    for (text, event) in zip(texts, decoded) {
                        let event = try #require(event)
                        var row = [Double](repeating: 0, count: plan.names.count)
                        text.withUnsafeBytes { bytes in row.withUnsafeMutableBufferPointer { state.apply(event, record: bytes, into: $0) } }
                        rows.append(row)
                    }
                }
                #expect(Self.same(rows, expected), "groups of \(group), max_keys \(limits.maxKeys)")
                #expect(state.counters == plain.counters, "groups of \(group), max_keys \(limits.maxKeys)")
                #expect(state.snapshot() == plain.snapshot(), "groups of \(group), max_keys \(limits.maxKeys)")
            }
            if limits.maxKeys == 25 { #expect(plain.counters.idleEvictions + plain.counters.forcedEvictions > 0, "the cap was reached") }
        }
    }

    @Test("a full state with no idle key drops the oldest keys and counts them as forced")
    func forcedEviction() throws {
        let plan = try AggregatePlan(Array(Self.definitions.prefix(1)), limits: AggregateStateLimits(maxKeys: 10))
        var state = AggregateState(plan: plan)
        let events = (0..<50).map { Event(card: "c\($0)", merchant: nil, time: 1_795_000_000 + Double($0), amount: 1) }
        _ = try Self.apply(events, plan, state: &state)
        #expect(state.keyCount <= 10)
        #expect(state.counters.forcedEvictions > 0)
    }

    @Test("the issue's set takes at most 384 bytes of state per card")
    func recordSize() throws {
        let plan = try AggregatePlan([
            AggregateDefinition(name: "a", function: .count, key: "card_id", window: .init(.seconds(3600)), resolution: .init(.seconds(300))),
            AggregateDefinition(
                name: "b", function: .sum, key: "card_id", field: "card_age_days", window: .init(.seconds(86_400)), resolution: .init(.seconds(3600))),
            AggregateDefinition(
                name: "c", function: .distinct, key: "card_id", field: "merchant_id", window: .init(.seconds(86_400)), resolution: .init(.seconds(3600)),
                capacity: 16),
            AggregateDefinition(name: "d", function: .secondsSinceLast, key: "card_id"),
        ])
        #expect(plan.recordBytes == ["card_id": 384])
    }

    @Test(
        "inconsistent definitions are refused with what to change",
        arguments: [
            (AggregateDefinition(name: "x", function: .count, key: "card_id"), "needs window and resolution"),
            (AggregateDefinition(name: "x", function: .count, key: "pan", window: .init(.seconds(60)), resolution: .init(.seconds(60))), "key 'pan'"),
            (AggregateDefinition(name: "x", function: .sum, key: "card_id", window: .init(.seconds(120)), resolution: .init(.seconds(60))), "numeric field"),
            (
                AggregateDefinition(
                    name: "x", function: .sum, key: "card_id", field: "card_age_days", window: .init(.seconds(90)), resolution: .init(.seconds(60))),
                "whole number of resolutions"
            ),
            (
                AggregateDefinition(
                    name: "x", function: .distinct, key: "card_id", field: "merchant_id", window: .init(.seconds(60)), resolution: .init(.seconds(60))),
                "capacity from 1 to 64"
            ),
            (AggregateDefinition(name: "amount_usd", function: .secondsSinceLast, key: "card_id"), "already used"),
            (
                AggregateDefinition(name: "x", function: .count, key: "card_id", window: .init(.seconds(86_400 * 30)), resolution: .init(.seconds(60))),
                "at most 1024"
            ),
        ])
    func refused(definition: AggregateDefinition, message: String) throws {
        #expect {
            try AggregatePlan([definition], featureNames: ["amount_usd"])
        } throws: { error in "\(error)".contains(message) }
    }
}
