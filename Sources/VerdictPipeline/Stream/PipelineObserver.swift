import CoreMetrics
import VerdictKafka

/// Turns relay events into metrics and status.
final class PipelineObserver: RelayObserver {
    let metrics: PipelineMetrics?
    let status: PipelineStatus

    init(metrics: PipelineMetrics?, status: PipelineStatus) {
        self.metrics = metrics
        self.status = status
    }

    func relay(processed count: Int, seconds: Double) { status.polled() }
    func relay(delivered count: Int) {}
    func relay(deliveryFailed error: KafkaError, permanently: Bool) { metrics?.deliveryFailures[permanently]!.increment() }
    func relay(inFlight: Int, paused: Bool) {
        metrics?.inFlight.record(inFlight)
        metrics?.paused.record(paused ? 1 : 0)
    }
    func relay(rebalance event: KafkaRebalanceEvent) {
        metrics?.rebalances.increment()
        switch event {
        case .assigned(let partitions):
            status.joinedGroup()
            status.assignmentChanged(by: partitions.count)
        case .revoked(let partitions), .lost(let partitions):
            status.assignmentChanged(by: -partitions.count)
        }
        metrics?.assignedPartitions.record(status.assignedPartitions)
    }
    func relay(consumerError error: KafkaError) {
        metrics?.consumerErrors.increment()
        if error.isFatal { status.failed(error.description) }
    }
    func relay(statistics: KafkaStatistics) {
        metrics?.consumerLag(statistics)
        if statistics.groupState == "up" { status.joinedGroup() }
        if let size = statistics.assignmentSize {
            status.assignment(size)
            metrics?.assignedPartitions.record(size)
        }
    }
    func relayDidPoll() { status.polled() }
    func relay(held: [KafkaTopicPartition: String], retrying: Int, unhealthy: [String]) {
        metrics?.holds(held, retrying: retrying)
        status.relayHealth(unhealthy)
    }
    func relay(fatal error: String) { status.failed(error) }
    func relay(transactionEnded committed: Bool, records: Int) {
        metrics?.transactions[committed]!.increment()
        if !committed { metrics?.abortedRecords.increment(by: records) }
    }
}
