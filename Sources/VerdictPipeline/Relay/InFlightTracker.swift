public import VerdictKafka

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

    /// Output `id` failed; returns its entry with the attempt counted, for a retry decision.
    mutating func failed(_ id: UInt64) -> (id: UInt64, entry: Pending)? {
        guard var entry = pending[id] else { return nil }
        entry.attempts += 1
        pending[id] = entry
        return (id, entry)
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

    /// Drops partitions (revoked after draining, or lost): their pending outputs are abandoned and
    /// their unstored offsets forgotten. Returns how many records were abandoned.
    mutating func remove(_ partitions: Set<KafkaTopicPartition>) -> Int {
        let before = pending.count
        pending = pending.filter { !partitions.contains($0.value.partition) }
        watermarks.remove(partitions)
        for partition in partitions { toStore[partition] = nil }
        return before - pending.count
    }

    /// Pending entries of partitions that are stuck (failed beyond retries), for reporting.
    func oldestPending(_ partition: KafkaTopicPartition) -> Int64? {
        watermarks[partition]?.pendingOffsets.first
    }
}
