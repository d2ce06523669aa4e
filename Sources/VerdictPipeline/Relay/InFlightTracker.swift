import VerdictKafka

/// Everything in flight between consuming a record and the broker acknowledging its output:
/// per-partition watermarks, each output's partition, offset and attempts, and the offsets ready to
/// store. The outputs themselves are not kept: a failed one comes back in its delivery report, and
/// ``RelayState`` keeps it until its retry.
///
/// Not thread-safe by itself; ``Relay`` guards it with one lock, taken once per consumed batch on
/// the poll thread and once per batch of delivery reports on the producer's thread.
///
/// Its bookkeeping is per record on both threads, so it avoids hashing there: a partition gets a
/// small slot number when first tracked (one dictionary lookup per run of records of one partition,
/// not per record), and pending outputs live in a ring indexed by their delivery id, which is handed
/// out in sequence and mostly acknowledged in order.
struct InFlightTracker {
    /// Plain values only: the ring costs no reference counting on either thread.
    struct Pending {
        var slot: Int
        var offset: Int64
        var attempts: Int
        /// The output's own timestamp, which a failed delivery report does not give back.
        var timestamp: Int64?
    }

    /// A partition's bookkeeping. Slots are never reused: a consumer sees few partitions in its life,
    /// and a pending output names its partition by slot.
    private struct PartitionSlot {
        let partition: KafkaTopicPartition
        var watermark = OffsetWatermark()
        /// The offset to store next, when it advanced since the last ``takeOffsetsToStore()``.
        var toStore: Int64?
    }

    private var slots: [PartitionSlot] = []
    private var slotIndex: [KafkaTopicPartition: Int] = [:]
    /// Slots whose `toStore` is set, in the order they advanced.
    private var slotsToStore: [Int] = []

    /// Pending outputs of ids `firstID ..< nextID`, at `ring[(head + id - firstID) & (ring.count - 1)]`;
    /// nil where acknowledged or abandoned. The ring's size is a power of two.
    private var ring: [Pending?]
    private var head = 0
    private var firstID: UInt64 = 1
    private var nextID: UInt64 = 1
    /// Outputs older than the ring's window: a record held for long (a held partition) while others
    /// keep flowing would otherwise stretch the window, and the ring, without bound.
    private var overflow: [UInt64: Pending] = [:]
    private var pendingCount = 0

    /// - Parameter capacity: The ring's first size, a power of two; it grows as needed.
    init(capacity: Int = 1024) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "the ring's size is a power of two")
        ring = Array(repeating: nil, count: capacity)
    }

    /// Records consumed and not yet acknowledged (or abandoned).
    var inFlight: Int { pendingCount }

    /// The ring's size now (its memory is this many entries), for the tests of its bound.
    var ringCapacity: Int { ring.count }

    // MARK: Partitions

    /// The slot of `partition`, created on first use.
    mutating func slot(for partition: KafkaTopicPartition) -> Int {
        if let slot = slotIndex[partition] { return slot }
        slots.append(PartitionSlot(partition: partition))
        slotIndex[partition] = slots.count - 1
        return slots.count - 1
    }

    /// The partition of `slot`.
    func partition(ofSlot slot: Int) -> KafkaTopicPartition { slots[slot].partition }

    /// The highest offset tracked in `slot` since it was last reset.
    func lastTracked(_ slot: Int) -> Int64? { slots[slot].watermark.lastTracked }

    /// Records in flight for these partitions.
    func inFlight(_ partitions: Set<KafkaTopicPartition>) -> Int {
        partitions.reduce(0) { sum, partition in sum + (slotIndex[partition].map { slots[$0].watermark.inFlight } ?? 0) }
    }

    // MARK: Records

    /// Registers a consumed record of `slot`; returns the delivery id to send it
    /// with, or nil when the offset is a re-delivery of one already in flight.
    mutating func track(slot: Int, offset: Int64, timestamp: Int64? = nil) -> UInt64? {
        guard slots[slot].watermark.track(offset) else { return nil }
        if nextID - firstID == UInt64(ring.count) { makeRoom() }
        let id = nextID
        nextID &+= 1
        ring[ringIndex(id)] = Pending(slot: slot, offset: offset, attempts: 1, timestamp: timestamp)
        pendingCount += 1
        return id
    }

    /// The broker acknowledged output `id`. Returns the slot of its partition, or nil when it was
    /// not in flight (abandoned by a revoke or a rewind, or already acknowledged).
    @discardableResult
    mutating func delivered(_ id: UInt64) -> Int? {
        guard let entry = take(id) else { return nil }
        if let advanced = slots[entry.slot].watermark.complete(entry.offset) {
            if slots[entry.slot].toStore == nil { slotsToStore.append(entry.slot) }
            slots[entry.slot].toStore = advanced
        }
        return entry.slot
    }

    /// The partition, offset, attempts so far and timestamp of output `id`, if it is in flight.
    func entry(_ id: UInt64) -> (partition: KafkaTopicPartition, offset: Int64, attempts: Int, timestamp: Int64?)? {
        pending(id).map { (slots[$0.slot].partition, $0.offset, $0.attempts, $0.timestamp) }
    }

    /// The partition slot of output `id`, if it is in flight.
    func slot(of id: UInt64) -> Int? { pending(id)?.slot }

    /// One more send of output `id`.
    mutating func countAttempt(_ id: UInt64) {
        if id >= firstID && id < nextID {
            ring[ringIndex(id)]?.attempts += 1
        } else {
            overflow[id]?.attempts += 1
        }
    }

    /// The offsets to store now, cleared.
    mutating func takeOffsetsToStore() -> [KafkaTopicPartitionOffset] {
        guard !slotsToStore.isEmpty else { return [] }
        defer { slotsToStore.removeAll(keepingCapacity: true) }
        return slotsToStore.compactMap { slot in
            defer { slots[slot].toStore = nil }
            return slots[slot].toStore.map { KafkaTopicPartitionOffset(topicPartition: slots[slot].partition, offset: $0) }
        }
    }

    /// The consumer went back to `offset` in `slot`'s partition: outputs of records at or after it
    /// are abandoned (the records come again); earlier ones stay in flight and keep holding the
    /// watermark. Returns the abandoned ids.
    mutating func rewind(_ slot: Int, to offset: Int64) -> [UInt64] {
        slots[slot].watermark.truncate(from: offset)
        return drop { $0.slot == slot && $0.offset >= offset }
    }

    /// Drops partitions (revoked after draining, or lost): their pending outputs are abandoned and
    /// their unstored offsets forgotten. Returns how many records were abandoned.
    mutating func remove(_ partitions: Set<KafkaTopicPartition>) -> Int {
        let removed = Set(partitions.compactMap { slotIndex[$0] })
        guard !removed.isEmpty else { return 0 }
        let dropped = drop { removed.contains($0.slot) }
        for slot in removed {
            slots[slot].watermark = OffsetWatermark()
            slots[slot].toStore = nil
        }
        slotsToStore.removeAll { removed.contains($0) }
        return dropped.count
    }

    // MARK: The ring

    private func ringIndex(_ id: UInt64) -> Int {
        // `id - firstID` is below ring.count here, so the conversion cannot trap.
        (head &+ Int(id &- firstID)) & (ring.count - 1)
    }

    private func pending(_ id: UInt64) -> Pending? {
        if id >= firstID && id < nextID { return ring[ringIndex(id)] }
        return overflow.isEmpty ? nil : overflow[id]
    }

    private mutating func take(_ id: UInt64) -> Pending? {
        if id >= firstID && id < nextID {
            let index = ringIndex(id)
            guard let entry = ring[index] else { return nil }
            ring[index] = nil
            pendingCount -= 1
            if id == firstID { advanceFirst() }
            return entry
        }
        guard !overflow.isEmpty, let entry = overflow.removeValue(forKey: id) else { return nil }
        pendingCount -= 1
        return entry
    }

    /// Moves the window's start past acknowledged slots.
    private mutating func advanceFirst() {
        while firstID < nextID && ring[head] == nil {
            head = (head + 1) & (ring.count - 1)
            firstID += 1
        }
    }

    /// The ring is full: doubles it when most of it is pending, or else moves the oldest pending
    /// entries to `overflow` until half of it is free (the window was stretched by a few old ones).
    private mutating func makeRoom() {
        let span = Int(nextID - firstID)
        let inRing = pendingCount - overflow.count
        if inRing * 2 >= span {
            var grown = [Pending?](repeating: nil, count: ring.count * 2)
            for offset in 0..<span { grown[offset] = ring[(head + offset) & (ring.count - 1)] }
            ring = grown
            head = 0
            return
        }
        while Int(nextID - firstID) > ring.count / 2 {
            if let entry = ring[head] {
                overflow[firstID] = entry
                ring[head] = nil
            }
            head = (head + 1) & (ring.count - 1)
            firstID += 1
            advanceFirst()
        }
    }

    /// Abandons every pending output that matches; returns their ids.
    private mutating func drop(where matches: (Pending) -> Bool) -> [UInt64] {
        var dropped: [UInt64] = []
        var id = firstID
        while id < nextID {
            let index = ringIndex(id)
            if let entry = ring[index], matches(entry) {
                ring[index] = nil
                dropped.append(id)
            }
            id += 1
        }
        for (id, entry) in overflow where matches(entry) { dropped.append(id) }
        for id in dropped where overflow[id] != nil { overflow[id] = nil }
        pendingCount -= dropped.count
        advanceFirst()
        return dropped
    }
}
