import Foundation
import Testing
import VerdictScoring

/// `verdict features` writes a column per stream aggregate, computed in file order: what training
/// reads, so the model learns from the values the stream computes.
@Suite("verdict features (command)", .serialized, .enabled(if: TestBroker.enabled))
struct FeaturesCommandTests {
    @Test("aggregate columns follow the feature columns, in file order; a late event counts in its card's newest bucket; a rejected line changes nothing")
    func aggregateColumns() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-features-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let shipped = try String(contentsOf: TestBroker.projectRoot.appendingPathComponent("config/features.yaml"), encoding: .utf8)
        let features = directory.appendingPathComponent("features.yaml")
        try
            (shipped + """

                aggregates:
                  - {name: card_txn_count_1h, function: count, key: card_id, window: 1h, resolution: 5m}
                  - {name: card_amount_sum_24h, function: sum, field: amount_usd, key: card_id, window: 24h, resolution: 1h}
                  - {name: card_distinct_merchants_24h, function: distinct, field: merchant_id, key: card_id, window: 24h, resolution: 1h, capacity: 2}
                  - {name: card_seconds_since_last, function: seconds_since_last, key: card_id}
                """).write(to: features, atomically: true, encoding: .utf8)
        // A day boundary, so the offsets below are the bucket arithmetic.
        let day = 1_795_046_400.0
        func event(_ id: Int, card: String, at offset: Double, amount: Double, merchant: String) -> String {
            #"{"schema_version":1,"transaction_id":"tx_\#(id)","event_time":"\#(Timestamps.rfc3339(day + offset))","card_id":"\#(card)","amount":\#(amount),"currency":"USD","merchant_id":"\#(merchant)"}"#
        }
        let lines = [
            event(1, card: "A", at: 1000, amount: 10, merchant: "m1"),
            event(2, card: "A", at: 1100, amount: 20, merchant: "m2"),
            event(3, card: "B", at: 1200, amount: 5, merchant: "m1"),
            #"{"schema_version":1,"transaction_id":"tx_bad","card_id":"A","amount":"lots"}"#,
            event(4, card: "A", at: 5000, amount: 30, merchant: "m1"),
            event(5, card: "A", at: 4000, amount: 40, merchant: "m3"),  // late: counted at 5000
            event(6, card: "A", at: 5001, amount: 1, merchant: "m4"),
        ]
        let input = directory.appendingPathComponent("events.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("features.csv")
        let (status, printed) = try await runVerdict([
            "features", "--config", features.path, "--input", input.path, "--output", output.path, "--id-column",
        ])
        #expect(status == 0, "\(printed)")
        #expect(printed.contains("4 aggregates over 2 keys") && printed.contains("1 events rejected"), "\(printed)")
        let rows = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        let header = try #require(rows.first)
        #expect(Array(header.suffix(4)) == ["card_txn_count_1h", "card_amount_sum_24h", "card_distinct_merchants_24h", "card_seconds_since_last"])
        let byID = Dictionary(uniqueKeysWithValues: rows.dropFirst().map { ($0[0], Array($0.suffix(4))) })
        // count 1h (5 min buckets), sum 24h, distinct merchants (saturating at 2), seconds since the card's last event.
        #expect(byID["tx_1"] == ["0", "0", "0", ""])
        #expect(byID["tx_2"] == ["1", "10", "1", "100"])
        #expect(byID["tx_3"] == ["0", "0", "0", ""])
        #expect(byID["tx_4"] == ["0", "30", "2", "3900"], "tx_1 and tx_2 are out of the hour, inside the day")
        #expect(byID["tx_5"] == ["1", "60", "2", "0"], "late: in tx_4's bucket; since_last is never negative")
        #expect(byID["tx_6"] == ["2", "100", "2", "1001"], "three merchants saturate at the capacity")
        #expect(byID["tx_bad"] == nil)
    }
}
