/// An event's aggregate values (the state before it) with their names, as a decision carries them.
struct AggregateValues {
    var names: [String]
    var values: UnsafePointer<Double>
}

/// Writes decision records (contract v1, docs/contracts.md) and dead-letter envelopes.
enum DecisionWriter {
    // swiftlint:disable:next function_parameter_count
    static func write(
        event: TransactionEvent, record: UnsafeRawBufferPointer, outcome: PolicyOutcome, score: Double?,
        reasons: [FeatureReason], shadow: ShadowOpinion?, model: ScoringModel?, policyVersion: String,
        source: EventSource, decidedAt: Double, processingSeconds: Double, aggregates: AggregateValues? = nil
    ) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"schema_version\":1,")
        w.key("transaction_id")
        if let id = event.transactionID { w.escapedString(id.raw(in: record)) } else { w.raw("null") }
        w.comma(); w.key("card_id")
        if let card = event.cardID { w.escapedString(card.raw(in: record)) } else { w.raw("null") }
        w.comma(); w.key("decision"); w.string(outcome.decision.rawValue)
        w.comma(); w.key("risk_score")
        if let score { w.number(score, decimals: 6) } else { w.raw("null") }
        w.comma(); w.key("risk_level"); w.string(outcome.riskLevel.rawValue)
        w.comma(); w.key("reasons"); w.byte(UInt8(ascii: "["))
        for (i, reason) in reasons.enumerated() {
            if i > 0 { w.comma() }
            w.raw("{\"code\":"); w.string(reason.code)
            w.raw(",\"feature\":"); w.string(reason.feature)
            w.raw(",\"value\":")
            if let value = reason.value { w.number(value, decimals: 6) } else { w.raw("null") }
            w.raw(",\"contribution\":"); w.number(reason.contribution, decimals: 6)
            w.raw(",\"description\":"); w.string(reason.description)
            w.byte(UInt8(ascii: "}"))
        }
        w.byte(UInt8(ascii: "]"))
        w.comma(); w.key("rule_hits"); w.byte(UInt8(ascii: "["))
        for (i, hit) in outcome.ruleHits.enumerated() {
            if i > 0 { w.comma() }
            w.raw("{\"code\":"); w.string(hit.code)
            w.raw(",\"action\":"); w.string(hit.action)
            w.raw(",\"description\":"); w.string(hit.description)
            w.byte(UInt8(ascii: "}"))
        }
        w.byte(UInt8(ascii: "]"))
        w.comma(); w.key("model")
        if let model {
            w.raw("{\"name\":"); w.string(model.name)
            w.raw(",\"version\":"); w.string(model.version)
            w.raw(",\"sha256\":"); w.string(model.sha256)
            w.byte(UInt8(ascii: "}"))
        } else {
            w.raw("null")
        }
        w.comma(); w.key("policy_version"); w.string(policyVersion)
        w.comma(); w.key("event_time")
        if let time = event.eventTimeText { w.escapedString(time.raw(in: record)) } else { w.raw("null") }
        w.comma(); w.key("decided_at")
        w.byte(UInt8(ascii: "\"")); RFC3339.format(decidedAt, into: &w.bytes); w.byte(UInt8(ascii: "\""))
        w.comma(); w.key("processing_ms"); w.number(processingSeconds * 1000, decimals: 3)
        w.comma(); w.key("source")
        w.raw("{\"topic\":"); w.string(source.topic)
        w.raw(",\"partition\":"); w.integer(source.partition)
        w.raw(",\"offset\":"); w.integer(Int(source.offset))
        w.byte(UInt8(ascii: "}"))
        w.comma(); w.key("degraded"); w.bool(outcome.degraded)
        if let aggregates {
            w.comma(); w.key("aggregates"); w.byte(UInt8(ascii: "{"))
            for (i, name) in aggregates.names.enumerated() {
                if i > 0 { w.comma() }
                w.string(name); w.byte(UInt8(ascii: ":"))
                w.exactNumber(aggregates.values[i])
            }
            w.byte(UInt8(ascii: "}"))
        }
        if let shadow {
            w.comma(); w.key("shadow")
            w.raw("{\"model\":"); w.string(shadow.model)
            w.raw(",\"version\":"); w.string(shadow.version)
            w.raw(",\"risk_score\":"); w.number(shadow.score, decimals: 6)
            w.raw(",\"decision\":"); w.string(shadow.decision.rawValue)
            w.byte(UInt8(ascii: "}"))
        }
        w.byte(UInt8(ascii: "}"))
        return w.bytes
    }
}

/// Writes dead-letter envelopes: the reasons, where the record came from, and a bounded prefix of
/// the original bytes with every card number masked (as a JSON string when they are UTF-8, base64
/// otherwise), with the original's length and sha256.
public enum DeadLetterWriter {
    /// The envelope for `input`.
    public static func write(
        _ input: ScoringInput, issues: [ValidationIssue], now: Double,
        configuration: DeadLetterConfiguration = DeadLetterConfiguration()
    ) -> [UInt8] {
        let limit = max(0, configuration.maxOriginalBytes)
        var w = JSONWriter(capacity: min(input.value?.count ?? 0, limit) + 768)
        w.raw("{\"schema_version\":1,\"reasons\":[")
        for (i, issue) in issues.enumerated() {
            if i > 0 { w.comma() }
            w.raw("{\"code\":"); w.string(issue.code.rawValue)
            // The field path can be an unknown member's name, which is the sender's text.
            w.raw(",\"field\":"); w.string(PANMasking.masked(issue.field))
            w.raw(",\"message\":"); w.string(PANMasking.masked(issue.message))
            w.byte(UInt8(ascii: "}"))
        }
        w.raw("],\"source\":{\"topic\":"); w.string(input.source.topic)
        w.raw(",\"partition\":"); w.integer(input.source.partition)
        w.raw(",\"offset\":"); w.integer(Int(input.source.offset))
        w.raw("},\"received_at\":\""); RFC3339.format(input.receivedAt, into: &w.bytes)
        w.raw("\",\"dead_lettered_at\":\""); RFC3339.format(now, into: &w.bytes)
        w.raw("\",")
        if let value = input.value {
            // Masked before the cut, with a margin past it, so a card number straddling the cut is
            // masked too (the longest one, escaped and separated, spans under 512 bytes); the rest of
            // a huge record is never scanned.
            var original = value.count > limit ? Array(value.prefix(limit + 512)) : value
            PANMasking.maskAll(&original)
            let truncated = original.count > limit
            if truncated { original = Array(original[..<utf8Boundary(original, atMost: limit)]) }
            if String(validatingUTF8: original) != nil {
                w.key("original_encoding"); w.string("utf8")
                w.comma(); w.key("original"); w.string(String(decoding: original, as: UTF8.self))
            } else {
                w.key("original_encoding"); w.string("base64")
                w.comma(); w.key("original"); w.string(Base64.encode(original))
            }
            w.comma(); w.key("original_bytes"); w.integer(value.count)
            w.comma(); w.key("original_truncated"); w.bool(truncated)
            w.comma(); w.key("original_sha256"); w.string(SHA256Hex.of(value))
        } else {
            w.key("original_encoding"); w.string("none")
            w.comma(); w.key("original"); w.raw("null")
            w.comma(); w.key("original_bytes"); w.integer(0)
            w.comma(); w.key("original_truncated"); w.bool(false)
        }
        w.byte(UInt8(ascii: "}"))
        return w.bytes
    }

    /// The largest length <= `limit` that does not cut a UTF-8 sequence (bytes that are not UTF-8
    /// at all are base64-encoded anyway).
    static func utf8Boundary(_ bytes: [UInt8], atMost limit: Int) -> Int {
        var end = min(limit, bytes.count)
        var backed = 0
        while end > 0, end < bytes.count, bytes[end] & 0xC0 == 0x80, backed < 3 {
            end -= 1
            backed += 1
        }
        return end
    }
}

extension String {
    /// A String from bytes that must be valid UTF-8 (no replacement characters); nil otherwise.
    init?(validatingUTF8 bytes: [UInt8]) {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = String(decoding: bytes, as: UTF8.self)
    }
}

/// Base64 (RFC 4648) for dead-lettering records that are not UTF-8.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18)], alphabet[Int(n >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
