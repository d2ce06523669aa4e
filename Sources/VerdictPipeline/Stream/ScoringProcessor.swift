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
            switch outcome {
            case .decision(let bytes, _):
                outputs.append(KafkaProducerRecord(topic: decisionsTopic, key: message.key, value: bytes, headers: message.headers))
            case .deadLetter(let bytes, let issues):
                var headers = message.headers
                headers.append(KafkaHeader(name: "verdict-dlq-reason", string: issues.first?.code.rawValue ?? "UNKNOWN"))
                headers.append(KafkaHeader(name: "verdict-source-topic", string: message.topic))
                headers.append(KafkaHeader(name: "verdict-source-partition", string: String(message.partition)))
                headers.append(KafkaHeader(name: "verdict-source-offset", string: String(message.offset)))
                outputs.append(KafkaProducerRecord(topic: deadLetterTopic, key: message.key, value: bytes, headers: headers))
            }
        }
    }
}
