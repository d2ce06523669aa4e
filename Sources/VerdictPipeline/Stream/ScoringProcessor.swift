import CoreMetrics
import Foundation
public import VerdictKafka
import VerdictScoring

/// The stream's RecordProcessor: scores a batch with the current model and turns each outcome into
/// the record to publish (a decision keyed like its input, or a dead letter), input headers carried.
public final class ScoringProcessor: RecordProcessor {
    private let models: ModelManager
    private let decisionsTopic: String
    private let deadLetterTopic: String
    private let metrics: PipelineMetrics?

    public init(models: ModelManager, decisionsTopic: String, deadLetterTopic: String, metrics: PipelineMetrics?) {
        self.models = models
        self.decisionsTopic = decisionsTopic
        self.deadLetterTopic = deadLetterTopic
        self.metrics = metrics
    }

    public func process(_ messages: [KafkaMessage], into outputs: inout [KafkaProducerRecord]) {
        let receivedAt = Date().timeIntervalSince1970
        let inputs = messages.map {
            ScoringInput(value: $0.value, source: EventSource(topic: $0.topic, partition: $0.partition, offset: $0.offset), receivedAt: receivedAt)
        }
        // The scorer is read once per batch: a reload swaps models between batches, never inside one.
        let outcomes = models.scorer.score(inputs)
        let elapsed = Date().timeIntervalSince1970 - receivedAt
        if let metrics {
            var byTopic: [String: Int] = [:]
            for message in messages { byTopic[message.topic, default: 0] += 1 }
            for (topic, count) in byTopic { metrics.consumed(topic: topic, count: count) }
            metrics.record(outcomes)
            metrics.batchSize.record(messages.count)
            for _ in 0..<messages.count { metrics.processingSeconds.record(elapsed) }
        }
        for (message, outcome) in zip(messages, outcomes) {
            // Keys and headers are copied from the input: a card number in them must not leave.
            let key = Self.masked(message.key)
            let inputHeaders = Self.masked(message.headers)
            switch outcome {
            case .decision(let bytes, _):
                outputs.append(KafkaProducerRecord(topic: decisionsTopic, key: key, value: bytes, headers: inputHeaders))
            case .deadLetter(let bytes, let issues):
                var headers = inputHeaders
                headers.append(KafkaHeader(name: "verdict-dlq-reason", string: issues.first?.code.rawValue ?? "UNKNOWN"))
                headers.append(KafkaHeader(name: "verdict-source-topic", string: message.topic))
                headers.append(KafkaHeader(name: "verdict-source-partition", string: String(message.partition)))
                headers.append(KafkaHeader(name: "verdict-source-offset", string: String(message.offset)))
                outputs.append(KafkaProducerRecord(topic: deadLetterTopic, key: key, value: bytes, headers: headers))
            }
        }
    }

    public func deadLetter(for message: KafkaMessage, reason: String) -> KafkaProducerRecord? {
        let input = ScoringInput(
            value: message.value, source: EventSource(topic: message.topic, partition: message.partition, offset: message.offset),
            receivedAt: Date().timeIntervalSince1970)
        let bytes = DeadLetterWriter.write(
            input, issues: [ValidationIssue(.publishFailed, reason)], now: Date().timeIntervalSince1970,
            configuration: models.deadLetterConfiguration)
        var headers = Self.masked(message.headers)
        headers.append(KafkaHeader(name: "verdict-dlq-reason", string: ReasonCode.publishFailed.rawValue))
        headers.append(KafkaHeader(name: "verdict-source-topic", string: message.topic))
        headers.append(KafkaHeader(name: "verdict-source-partition", string: String(message.partition)))
        headers.append(KafkaHeader(name: "verdict-source-offset", string: String(message.offset)))
        return KafkaProducerRecord(topic: deadLetterTopic, key: Self.masked(message.key), value: bytes, headers: headers)
    }

    /// `bytes` with every card number masked (no copy when there is none).
    static func masked(_ bytes: [UInt8]?) -> [UInt8]? {
        guard var bytes else { return nil }
        PANMasking.maskAll(&bytes)
        return bytes
    }

    /// Headers with card numbers masked in names and values, at most
    /// ``DeadLetterConfiguration/maxCopiedHeaderBytes`` of them; the count of any dropped is added
    /// as `verdict-headers-dropped`.
    static func masked(_ headers: [KafkaHeader]) -> [KafkaHeader] {
        guard !headers.isEmpty else { return headers }
        // The common case (small headers without long digit runs) copies nothing.
        var total = 0
        var digits = 0
        for header in headers {
            total += header.name.utf8.count + (header.value?.count ?? 0)
            for b in header.name.utf8 where b >= 0x30 && b <= 0x39 { digits += 1 }
            for b in header.value ?? [] where b >= 0x30 && b <= 0x39 { digits += 1 }
        }
        if total <= DeadLetterConfiguration.maxCopiedHeaderBytes && digits < 13 { return headers }
        var copied: [KafkaHeader] = []
        copied.reserveCapacity(headers.count)
        var budget = DeadLetterConfiguration.maxCopiedHeaderBytes
        var dropped = 0
        for header in headers {
            let size = header.name.utf8.count + (header.value?.count ?? 0)
            guard size <= budget else { dropped += 1; continue }
            budget -= size
            copied.append(KafkaHeader(name: PANMasking.masked(header.name), value: masked(header.value)))
        }
        if dropped > 0 { copied.append(KafkaHeader(name: "verdict-headers-dropped", string: String(dropped))) }
        return copied
    }
}
