import VerdictKafka

/// The at-least-once relay's decisions, without any effect: what to send, what to retry and when,
/// which offsets to store, which partitions to pause, and whether the relay is healthy.
///
/// ``Relay`` holds one behind a lock (lock, decide, act): each method is called under the lock and
/// returns what to do; the relay performs it (C calls, logging) after releasing the lock. Time is
/// passed in (seconds on a monotonic clock), so the simulator tests drive it with a fake clock and a
/// seeded generator through thousands of interleavings.
///
/// Invariants (checked by the simulator): no offset is stored past an output that was not
/// acknowledged; every consumed record of an assigned partition ends with exactly one acknowledged
/// output, or is delivered again by the consumer (after a revoke, a rewind or a restart).
struct RelayState {
    /// Bounds and budgets.
    struct Policy {
        var maxInFlight: Int
        var resumeBelow: Int
        /// First retry delay of a retriable delivery failure; doubles per attempt up to ``backoffMax``.
        var backoffBase: Double = 0.1
        var backoffMax: Double = 30
        /// A partition held by a non-retriable error for this long makes the relay unhealthy.
        var unhealthyAfter: Double = 60
    }

    /// How a delivery failure is handled.
    enum FailureKind: Equatable {
        /// Broker down, timeout, leader moving: retried with backoff for as long as it takes.
        case retriable
        /// Authorization, unknown topic, record too large: the partition is held, /healthz turns 503.
        case permanent
        /// The producer is unusable: the process must stop after committing what is safe.
        case fatal
        /// The local queue is full: sent again as soon as there is room, not counted as an attempt.
        case queueFull
    }

    /// Sorts librdkafka's errors into the kinds above.
    static func classify(_ error: KafkaError) -> FailureKind {
        if error.isFatal { return .fatal }
        if error.code == .queueFull { return .queueFull }
        if error.code == .authorization || error.code == .authentication || error.code == .unknownTopic
            || error.code == .messageTooLarge || error.code == .invalidArgument || error.code == .configuration
        {
            return .permanent
        }
        // Everything else is retried: outages, timeouts, purges, leader moves, and codes not known
        // here (retrying cannot lose anything; holding forever would wedge).
        return .retriable
    }

    /// Why a partition is not advancing.
    struct Hold: Equatable {
        var topic: String
        var error: String
        var since: Double
        var offset: Int64
    }

    /// A scheduled retry, with the output to send again (from the failed delivery report, or the
    /// send that failed).
    struct Retry {
        var due: Double
        var attempt: Int
        var record: KafkaProducerRecord
    }

    let policy: Policy
    private(set) var assignment: Set<KafkaTopicPartition> = []
    private(set) var tracker: InFlightTracker
    private(set) var retries: [UInt64: Retry] = [:]
    /// Partitions held by a non-retriable failure.
    private(set) var held: [KafkaTopicPartition: Hold] = [:]
    /// Partitions with outputs waiting for a retry, and the last error (for metrics and logs).
    private(set) var retrying: [KafkaTopicPartition: String] = [:]
    private(set) var counters = RelayCounters()
    private(set) var fatal: String?
    private var random: SplitMix64

    /// - Parameter trackerCapacity: The in-flight ring's first size (a power of two; it grows). The
    ///   simulator tests start it tiny so that every run grows and spills it.
    init(policy: Policy, seed: UInt64 = 0x5EED, trackerCapacity: Int = 1024) {
        self.policy = policy
        tracker = InFlightTracker(capacity: trackerCapacity)
        random = SplitMix64(seed: seed)
    }

    var inFlight: Int { tracker.inFlight }

    // MARK: Assignment

    /// Partitions were assigned: they start from nothing (whatever was tracked for them before a
    /// revoke is gone, so a returning partition cannot be held back, or skipped, by stale state).
    mutating func assigned(_ partitions: [KafkaTopicPartition]) {
        let set = Set(partitions)
        counters.abandoned += dropState(set)
        assignment.formUnion(set)
    }

    /// Partitions were revoked or lost (after any draining): their in-flight records are abandoned
    /// (the next owner reads them again from the committed offset). Returns how many.
    @discardableResult
    mutating func revoked(_ partitions: [KafkaTopicPartition]) -> Int {
        let set = Set(partitions)
        assignment.subtract(set)
        let abandoned = dropState(set)
        counters.abandoned += abandoned
        return abandoned
    }

    private mutating func dropState(_ partitions: Set<KafkaTopicPartition>) -> Int {
        let abandoned = tracker.remove(partitions)
        retries = retries.filter { id, _ in tracker.entry(id) != nil }
        for partition in partitions {
            held[partition] = nil
            retrying[partition] = nil
        }
        return abandoned
    }

    // MARK: Records

    struct Accepted {
        /// The outputs to send: each one's index in the batch and its delivery id.
        var sends: [(index: Int, id: UInt64)] = []
        var droppedUnassigned = 0
        var rewound: [KafkaTopicPartition] = []
        var refused = 0
    }

    /// A processed batch: each record with its output. Records of unassigned partitions are dropped
    /// before tracking; a backward offset restarts its partition's bookkeeping.
    ///
    /// A consumed batch is runs of one partition's records, so the partition is looked up once per
    /// run, not once per record.
    mutating func accept(_ messages: [KafkaMessage], outputs: [KafkaProducerRecord]) -> Accepted {
        precondition(messages.count == outputs.count, "one output per record")
        var result = Accepted()
        result.sends.reserveCapacity(messages.count)
        var start = 0
        while start < messages.count {
            var end = start + 1
            while end < messages.count && messages[end].partition == messages[start].partition && messages[end].topic == messages[start].topic {
                end += 1
            }
            defer { start = end }
            let partition = messages[start].topicPartition
            guard assignment.contains(partition) else {
                result.droppedUnassigned += end - start
                continue
            }
            let slot = tracker.slot(for: partition)
            for index in start..<end {
                let offset = messages[index].offset
                if let last = tracker.lastTracked(slot), offset <= last {
                    // Re-delivery from an earlier offset: what was in flight from there on is redone;
                    // what is in flight before it still holds the watermark.
                    let dropped = tracker.rewind(slot, to: offset)
                    if !retries.isEmpty {
                        for id in dropped { retries[id] = nil }
                    }
                    counters.abandoned += dropped.count
                    counters.rewinds += 1
                    result.rewound.append(partition)
                }
                counters.consumed += 1
                if let id = tracker.track(slot: slot, offset: offset, timestamp: outputs[index].timestamp) {
                    result.sends.append((index, id))
                } else {
                    result.refused += 1
                }
            }
        }
        counters.droppedUnassigned += result.droppedUnassigned
        counters.refused += result.refused
        return result
    }

    // MARK: Delivery reports

    mutating func delivered(_ id: UInt64) {
        guard let slot = tracker.delivered(id) else { return }
        counters.delivered += 1
        // Only during an outage is anything retrying; then the scan is over the few scheduled.
        guard !retries.isEmpty || !retrying.isEmpty else { return }
        retries[id] = nil
        let partition = tracker.partition(ofSlot: slot)
        if retrying[partition] != nil && !retries.keys.contains(where: { tracker.slot(of: $0) == slot }) {
            retrying[partition] = nil
        }
    }

    enum FailureAction: Equatable {
        /// Sent again at `due` (attempt `attempt`).
        case retry(due: Double, attempt: Int)
        /// Sent again at the next chance (queue full).
        case resendSoon
        /// The partition is held from now on.
        case hold(KafkaTopicPartition, Hold)
        /// The producer cannot continue.
        case fatal(String)
        /// Not in flight any more (revoked, or already delivered).
        case ignored
    }

    /// Output `id` failed with `error`; `record` is the output, to send again (its timestamp is
    /// restored here: a failed delivery report does not carry it).
    mutating func failed(_ id: UInt64, kind: FailureKind, error: String, now: Double, record: KafkaProducerRecord) -> FailureAction {
        guard let (partition, offset, attempts, timestamp) = tracker.entry(id) else { return .ignored }
        var record = record
        record.timestamp = timestamp
        switch kind {
        case .queueFull:
            retries[id] = Retry(due: now, attempt: attempts, record: record)
            return .resendSoon
        case .retriable:
            let attempt = attempts + 1
            tracker.countAttempt(id)
            let delay = min(policy.backoffMax, policy.backoffBase * Double(1 << min(attempt - 2, 30)))
            // Full jitter over the upper half: retries of many records spread instead of arriving together.
            let due = now + delay * (0.5 + 0.5 * random.nextUnit())
            retries[id] = Retry(due: due, attempt: attempt, record: record)
            retrying[partition] = error
            counters.retried += 1
            return .retry(due: due, attempt: attempt)
        case .permanent:
            counters.failedPermanently += 1
            retries[id] = nil
            if let existing = held[partition] { return .hold(partition, existing) }
            let hold = Hold(topic: record.topic, error: error, since: now, offset: offset)
            held[partition] = hold
            return .hold(partition, hold)
        case .fatal:
            counters.failedPermanently += 1
            fatal = fatal ?? error
            return .fatal(error)
        }
    }

    /// Outputs whose retry is due now, with their records; they leave the schedule.
    mutating func dueRetries(now: Double) -> [(id: UInt64, record: KafkaProducerRecord)] {
        guard !retries.isEmpty else { return [] }
        var due: [(id: UInt64, record: KafkaProducerRecord)] = []
        for (id, retry) in retries where retry.due <= now {
            due.append((id, retry.record))
        }
        for (id, _) in due { retries[id] = nil }
        due.removeAll { tracker.entry($0.id) == nil }
        due.sort { $0.id < $1.id }
        return due
    }

    // MARK: Offsets, backpressure, health

    mutating func takeOffsetsToStore() -> [KafkaTopicPartitionOffset] {
        tracker.takeOffsetsToStore().filter { assignment.contains($0.topicPartition) }
    }

    /// Partitions that must not fetch: held ones (a held partition would grow its bookkeeping
    /// without bound, since nothing behind the held record can be stored).
    var heldPartitions: [KafkaTopicPartition] { held.keys.sorted() }

    mutating func countPause() { counters.pauses += 1 }

    /// Healthy unless a partition has been held longer than ``Policy/unhealthyAfter`` or the producer
    /// failed fatally; the reasons name each held partition, its topic and the error.
    func health(now: Double) -> (healthy: Bool, reasons: [String]) {
        var reasons: [String] = []
        if let fatal { reasons.append("producer failed fatally: \(fatal)") }
        for (partition, hold) in held.sorted(by: { $0.key < $1.key }) where now - hold.since >= policy.unhealthyAfter {
            reasons.append(
                "partition \(partition) held at offset \(hold.offset) for \(Int(now - hold.since)) s: delivery to \(hold.topic) failed: \(hold.error)")
        }
        return (reasons.isEmpty, reasons)
    }
}

/// A small seeded generator (SplitMix64): retry jitter that a simulator can reproduce.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A double in [0, 1).
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
