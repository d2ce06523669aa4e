import Foundation
import Testing
import VerdictScoring
import VerdictKafka
import VerdictPipeline

@Suite("Stream accounting (StreamTally)")
struct StreamTallyTests {
    static func input(_ offset: Int64, at ms: Int64) -> KafkaMessage {
        KafkaMessage(topic: "in", partition: 0, offset: offset, value: [], timestamp: KafkaTimestamp(milliseconds: ms, kind: .createTime))
    }

    static func decision(_ offset: Int64, id: String, decision: String = "APPROVE", at ms: Int64, version: String = "1.0.0") -> KafkaMessage {
        let json = """
            {"schema_version":1,"transaction_id":"\(id)","card_id":"c","decision":"\(decision)","risk_score":0.1,"risk_level":"LOW","reasons":[],"rule_hits":[],"model":{"name":"m","version":"\(version)","sha256":"x"},"policy_version":"p","event_time":"2026-11-23T00:00:00Z","decided_at":"2026-11-23T00:00:00Z","processing_ms":0.5,"source":{"topic":"in","partition":0,"offset":\(offset)},"degraded":false}
            """
        return KafkaMessage(topic: "out", partition: 0, offset: offset, value: Array(json.utf8), timestamp: KafkaTimestamp(milliseconds: ms, kind: .createTime))
    }

    static func deadLetter(_ offset: Int64, at ms: Int64) -> KafkaMessage {
        let json =
            #"{"schema_version":1,"reasons":[{"code":"INVALID_JSON","field":"","message":"bad"}],"source":{"topic":"in","partition":0,"offset":"# + "\(offset)"
            + #"},"received_at":"x","dead_lettered_at":"x","original_encoding":"utf8","original":"{"}"#
        return KafkaMessage(topic: "dlq", partition: 0, offset: offset, value: Array(json.utf8), timestamp: KafkaTimestamp(milliseconds: ms, kind: .createTime))
    }

    @Test("every input with one outcome is complete; latency is outcome time minus input time")
    func complete() {
        var tally = StreamTally()
        // Outcomes may be read before their inputs.
        tally.addDecision(Self.decision(0, id: "t0", at: 1_010))
        tally.addInput(Self.input(0, at: 1_000))
        tally.addInput(Self.input(1, at: 1_000))
        tally.addDeadLetter(Self.deadLetter(1, at: 1_030))
        #expect(tally.complete)
        #expect(tally.missing.isEmpty)
        #expect(tally.duplicates == 0)
        #expect(tally.decisionCount == 1 && tally.deadLetterCount == 1)
        #expect(tally.deadLettersByReason == ["INVALID_JSON": 1])
        #expect(tally.latencies.sorted() == [10, 30])
    }

    @Test("missing outcomes, duplicates, strays and unreadable records are each counted")
    func problems() {
        var tally = StreamTally()
        for offset in 0..<3 { tally.addInput(Self.input(Int64(offset), at: 0)) }
        tally.addDecision(Self.decision(0, id: "t0", at: 1))
        tally.addDecision(Self.decision(0, id: "t0", at: 2))
        tally.addDecision(Self.decision(9, id: "t9", at: 2))
        tally.addDecision(KafkaMessage(topic: "out", partition: 0, offset: 5, value: Array("not json".utf8)))
        #expect(!tally.complete)
        #expect(tally.missing.map(\.offset) == [1, 2])
        #expect(tally.duplicates == 1)
        #expect(tally.strays == 1)
        #expect(tally.unreadable == 1)
        #expect(tally.decisionsByTransaction["t0"] == 2)
    }

    @Test("percentiles by nearest rank")
    func percentiles() {
        let values = (1...100).map(Double.init)
        #expect(Percentiles.of(values, [0.5, 0.99, 1]) == [50, 99, 100])
        #expect(Percentiles.of([], [0.5]).first!.isNaN)
    }
}
