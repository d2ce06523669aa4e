import VerdictKafka

/// Everything in flight between consuming a record and the broker acknowledging its output:
/// per-partition watermarks, the outputs kept for retries, and the offsets ready to store.
///
/// Not thread-safe by itself; ``Relay`` guards it with one lock, taken once per batch on the poll
/// thread and once per delivery report on the producer's thread.
struct InFlightTracker {
    struct Pending {
        var partition: KafkaTopicPartition
        var offset: Int64
        var record: KafkaProducerRecord
        var attempts: Int
    }

    private(set) var watermarks = PartitionWatermarks()
    private var pending: [UInt64: Pending] = [:]
    /// Offsets advanced since they were last handed to the consumer's store.
    private var toStore: [KafkaTopicPartition: Int64] = [:]
    private var nextID: UInt64 = 1

    /// Records consumed and not yet acknowledged (or abandoned).
    var inFlight: Int { pending.count }

    /// Registers a consumed record and its output; returns the delivery id to send it with, or nil
    /// when the offset is a re-delivery of one already in flight.
    mutating func track(_ message: KafkaMessage, output: KafkaProducerRecord) -> UInt64? {
        let partition = message.topicPartition
        guard watermarks.track(partition, offset: message.offset) else { return nil }
        let id = nextID
        nextID &+= 1
        pending[id] = Pending(partition: partition, offset: message.offset, record: output, attempts: 1)
        return id
    }

    /// The broker acknowledged output `id`.
    mutating func delivered(_ id: UInt64) {
        guard let entry = pending.removeValue(forKey: id) else { return }
        if let advanced = watermarks.complete(entry.partition, offset: entry.offset) {
            toStore[advanced.topicPartition] = advanced.offset
        }
    }

    /// The partition, offset and attempts so far of output `id`, if it is in flight.
    func entry(_ id: UInt64) -> (partition: KafkaTopicPartition, offset: Int64, attempts: Int)? {
        pending[id].map { ($0.partition, $0.offset, $0.attempts) }
    }

    /// The partition of output `id`, if it is in flight.
    func partition(of id: UInt64) -> KafkaTopicPartition? { pending[id]?.partition }

    /// One more send of output `id`.
    mutating func countAttempt(_ id: UInt64) {
        pending[id]?.attempts += 1
    }

    /// The output kept for `id`, for a retry.
    func pendingRecord(_ id: UInt64) -> KafkaProducerRecord? {
        pending[id]?.record
    }

    /// The offsets to store now, cleared.
    mutating func takeOffsetsToStore() -> [KafkaTopicPartitionOffset] {
        guard !toStore.isEmpty else { return [] }
        defer { toStore.removeAll(keepingCapacity: true) }
        return toStore.map { KafkaTopicPartitionOffset(topicPartition: $0.key, offset: $0.value) }
    }

    /// Records in flight for these partitions.
    func inFlight(_ partitions: Set<KafkaTopicPartition>) -> Int {
        partitions.reduce(0) { $0 + watermarks.inFlight($1) }
    }

    /// The consumer went back to `offset` in `partition`: outputs of records at or after it are
    /// abandoned (the records come again); earlier ones stay in flight and keep holding the
    /// watermark. Returns how many were abandoned.
    mutating func rewind(_ partition: KafkaTopicPartition, to offset: Int64) -> [UInt64] {
        watermarks.truncate(partition, from: offset)
        let dropped = pending.filter { $0.value.partition == partition && $0.value.offset >= offset }.map(\.key)
        for id in dropped { pending[id] = nil }
        return dropped
    }

    /// Drops partitions (revoked after draining, or lost): their pending outputs are abandoned and
    /// their unstored offsets forgotten. Returns how many records were abandoned.
    mutating func remove(_ partitions: Set<KafkaTopicPartition>) -> Int {
        let before = pending.count
        pending = pending.filter { !partitions.contains($0.value.partition) }
        watermarks.remove(partitions)
        for partition in partitions { toStore[partition] = nil }
        return before - pending.count
    }

}
