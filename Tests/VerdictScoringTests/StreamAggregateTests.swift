import Foundation
import Testing
import VerdictForest
@testable import VerdictScoring

/// The aggregates as the scorer serves them: in decisions, in model rows, and across a rebuild
/// (warming a state on the events before an offset, then scoring from it).
@Suite("Stream aggregates in the scorer")
struct StreamAggregateTests {
    static let plan = try! AggregatePlan(AggregateTests.definitions.filter { $0.key == "card_id" })

    /// The fixture sequence as scoring inputs of one partition; every `invalidEvery`-th one is
    /// broken so that it is dead-lettered.
    static func inputs(seed: UInt64, count: Int, cards: Int, invalidEvery: Int = 0) -> [ScoringInput] {
        AggregateTests.sequence(seed: seed, count: count, cards: cards).enumerated().map { i, event in
            var text = AggregateTests.json(event, id: i)
            if invalidEvery > 0 && i % invalidEvery == invalidEvery - 1 { text = text.replacingOccurrences(of: "\"USD\"", with: "\"XXX\"") }
            return ScoringInput(
                value: Array(text.utf8), source: EventSource(topic: "t", partition: 0, offset: Int64(i)), receivedAt: 0,
                key: event.card.map { Array($0.utf8) })
        }
    }

    static func scorer(model: ScoringModel? = nil) throws -> Scorer {
        try Scorer(
            validation: AggregateTests.validation, rules: try ScoringFixtures.rules(), model: model, pool: ForestWorkerPool(threads: 2),
            appliesEventAgeSLA: false)
    }

    /// Each decision's `aggregates`, by offset, as bit patterns (NaN for null).
    static func aggregates(_ outcomes: [ScoringOutcome], _ inputs: [ScoringInput]) throws -> [Int64: [UInt64]] {
        var result: [Int64: [UInt64]] = [:]
        for (input, outcome) in zip(inputs, outcomes) {
            guard case .decision(let bytes, _) = outcome else { continue }
            let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            let values = try #require(object["aggregates"] as? [String: Any], "a decision made with state carries aggregates")
            #expect(Set(values.keys) == Set(plan.names))
            result[input.source.offset] = plan.names.map { name in ((values[name] as? NSNumber)?.doubleValue ?? .nan).bitPattern }
        }
        return result
    }

    static func score(_ inputs: [ScoringInput], batch: Int, scorer: Scorer, state: AggregateStore) -> [ScoringOutcome] {
        stride(from: 0, to: inputs.count, by: batch).flatMap { scorer.score(Array(inputs[$0..<min($0 + batch, inputs.count)]), state: state) }
    }

    @Test("decisions carry the values of the state before them, equal to the reference fold, bit for bit; dead letters touch nothing")
    func decisionsCarryReference() throws {
        let inputs = Self.inputs(seed: 11, count: 1_500, cards: 40, invalidEvery: 17)
        let outcomes = Self.score(inputs, batch: 333, scorer: try Self.scorer(), state: AggregateStore(plan: Self.plan))
        let carried = try Self.aggregates(outcomes, inputs)
        // The reference sees only the valid events, in order.
        let events = AggregateTests.sequence(seed: 11, count: 1_500, cards: 40)
        let valid = events.indices.filter { $0 % 17 != 16 }
        let reference = AggregateTests.reference(valid.map { events[$0] }, AggregateTests.definitions.filter { $0.key == "card_id" })
        #expect(carried.count == valid.count)
        for (n, index) in valid.enumerated() {
            let expected = reference[n].map { $0.isNaN ? Double.nan.bitPattern : $0.bitPattern }
            #expect(carried[Int64(index)] == expected, "offset \(index)")
        }
    }

    @Test("a state warmed on the events before an offset scores the rest exactly as one uninterrupted run", arguments: [0, 1, 63, 64, 65, 500, 999])
    func warmThenScore(split: Int) throws {
        let inputs = Self.inputs(seed: 12, count: 1_000, cards: 25, invalidEvery: 23)
        let scorer = try Self.scorer()
        let whole = try Self.aggregates(Self.score(inputs, batch: 128, scorer: scorer, state: AggregateStore(plan: Self.plan)), inputs)
        let restarted = AggregateStore(plan: Self.plan)
        for start in stride(from: 0, to: split, by: 200) { scorer.warm(Array(inputs[start..<min(start + 200, split)]), state: restarted) }
        let rest = Array(inputs[split...])
        let resumed = try Self.aggregates(Self.score(rest, batch: 97, scorer: scorer, state: restarted), rest)
        #expect(!resumed.isEmpty || split == inputs.count)
        for (offset, values) in resumed { #expect(whole[offset] == values, "offset \(offset) after a rebuild at \(split)") }
        // Its position is the last input: the next offset continues it, a repeat of the last does not.
        let partition = EventSource.Partition(topic: "t", partition: 0)
        #expect(restarted.continues(partition, at: Int64(inputs.count)))
        #expect(!restarted.continues(partition, at: Int64(inputs.count - 1)))
    }

    @Test("partitions keep separate states; dropping one forgets it and keeps the others")
    func partitionsAreSeparate() throws {
        let scorer = try Self.scorer()
        let base = Self.inputs(seed: 13, count: 400, cards: 10)
        // The same events on two partitions, interleaved in one batch: each sees only its own.
        var mixed: [ScoringInput] = []
        for input in base {
            for partition in 0..<2 {
                var copy = input
                copy.source.partition = partition
                mixed.append(copy)
            }
        }
        let state = AggregateStore(plan: Self.plan)
        let outcomes = Self.score(mixed, batch: 150, scorer: scorer, state: state)
        let alone = try Self.aggregates(Self.score(base, batch: 150, scorer: scorer, state: AggregateStore(plan: Self.plan)), base)
        for partition in 0..<2 {
            let pairs = zip(mixed, outcomes).filter { $0.0.source.partition == partition }
            let values = try Self.aggregates(pairs.map(\.1), pairs.map(\.0))
            #expect(values == alone, "partition \(partition)")
        }
        #expect(state.totals.partitions == 2)
        state.drop([EventSource.Partition(topic: "t", partition: 0)])
        #expect(!state.continues(EventSource.Partition(topic: "t", partition: 0), at: 400))
        #expect(state.continues(EventSource.Partition(topic: "t", partition: 1), at: 400))
        #expect(state.totals.partitions == 1)
    }

    @Test("records keyed by something other than the aggregate key are counted")
    func keyMismatches() throws {
        var inputs = Self.inputs(seed: 14, count: 200, cards: 5)
        for i in stride(from: 0, to: inputs.count, by: 10) { inputs[i].key = Array("someone-else".utf8) }
        let state = AggregateStore(plan: Self.plan)
        _ = try Self.scorer().score(inputs, state: state)
        #expect(state.totals.keyMismatches == 20)
    }

    @Test("a model feature named like an aggregate reads the event's aggregate value")
    func aggregateAsFeature() throws {
        var configuration = try ScoringFixtures.features()
        configuration.aggregates = AggregateTests.definitions.filter { $0.key == "card_id" }
        configuration.aggregates![0].reason = ReasonText(code: "VELOCITY_1H", description: "Transactions of this card in the last hour")
        let plan = try FeaturePlan(configuration: configuration, order: ["amount_usd", "count_1h", "since_last"])
        #expect(plan.readsAggregates)
        #expect(plan.definitions[1].reason?.code == "VELOCITY_1H")
        let event = try #require(
            {
                if case .valid(let e) = ScoringFixtures.validate(ScoringFixtures.baseEvent) { return e }
                return nil
            }())
        let values = [7.0, 1, 2, 3, 4, 5]
        let row = Array(ScoringFixtures.baseEvent.utf8).withUnsafeBytes { plan.row(event, record: $0, aggregates: values) }
        #expect(row[1] == 7 && row[2] == 3.0, "count_1h is slot 0, since_last slot 3: \(row)")
        let missing = Array(ScoringFixtures.baseEvent.utf8).withUnsafeBytes { plan.row(event, record: $0) }
        #expect(missing[1].isNaN, "without state an aggregate feature reads missing")
        #expect { try FeaturePlan(configuration: configuration, order: ["count_2h"]) } throws: { error in
            (error as? ScoringError)?.message.contains("count_2h") == true
        }
    }

    @Test("decision numbers read back as the same double")
    func exactNumbers() {
        for value in [0.1, 1.0 / 3.0, 412.5, 1e-7, 123_456_789.123_456_78, 2.0e20, -0.0, Double.leastNonzeroMagnitude] {
            var writer = JSONWriter()
            writer.exactNumber(value)
            let text = String(decoding: writer.bytes, as: UTF8.self)
            #expect(Double(text)?.bitPattern == value.bitPattern || (value == 0 && Double(text) == 0), "\(value) -> \(text)")
        }
    }
}
