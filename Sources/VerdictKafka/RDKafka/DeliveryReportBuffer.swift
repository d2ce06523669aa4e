import CRdKafka
import Synchronization

/// Collects the delivery reports librdkafka's callback hands over one at a time, so that they reach
/// the application in one call per served batch.
///
/// librdkafka serves a producer's reports in batches (one op per broker response), but calls the
/// delivery callback once per record. A caller that takes a lock per report (the relay does) then
/// takes it thousands of times per batch, against a poll thread that holds it for a whole consumed
/// batch: that contention, and a topic-name String made per report, cost more CPU per record than
/// librdkafka's own produce path. The callback appends here; whoever polled hands the batch on with
/// ``drain(to:)`` once its poll returned.
///
/// Reports can be collected on any thread that serves the producer's queue (its poll thread, a
/// flush, a transaction commit), so the buffer is locked; the lock is uncontended in the steady
/// state, where only the poll thread serves.
final class DeliveryReportBuffer: Sendable {
    private struct State {
        var reports: [KafkaDeliveryReport] = []
        /// The array handed on last time, kept for its capacity.
        var spare: [KafkaDeliveryReport] = []
        /// Topic names by `rd_kafka_topic_t` address, made once instead of once per report. The
        /// producer holds each topic handle until it closes, so an address names one topic here.
        var topicNames: [UInt: String] = [:]
    }

    private let state = Mutex(State())

    /// Adds the report of one record; called from librdkafka's delivery callback.
    func add(_ message: UnsafePointer<rd_kafka_message_t>) {
        state.withLock { state in
            let topic = Self.topicName(message.pointee.rkt, cache: &state.topicNames)
            state.reports.append(KafkaDeliveryReport(message, topic: topic))
        }
    }

    /// Hands every collected report to `deliver` in one call, outside the lock. Does nothing when
    /// there is none.
    func drain(to deliver: ([KafkaDeliveryReport]) -> Void) {
        var batch = state.withLock { state -> [KafkaDeliveryReport] in
            guard !state.reports.isEmpty else { return [] }
            var taken = state.spare
            swap(&taken, &state.reports)
            return taken
        }
        guard !batch.isEmpty else { return }
        deliver(batch)
        batch.removeAll(keepingCapacity: true)
        state.withLock { state in
            if batch.capacity > state.spare.capacity { state.spare = batch }
        }
    }

    private static func topicName(_ rkt: OpaquePointer?, cache: inout [UInt: String]) -> String {
        guard let rkt else { return "" }
        let address = UInt(bitPattern: rkt)
        if let name = cache[address] { return name }
        let name = String(cString: rd_kafka_topic_name(rkt))
        cache[address] = name
        return name
    }
}
