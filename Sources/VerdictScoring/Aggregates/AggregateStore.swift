import Synchronization

/// The aggregates' state of a stream: one ``AggregateState`` per input partition, with the offset
/// it holds events through.
///
/// A partition's state is the fold of its valid events in offset order, so it is whatever an
/// offline `verdict score` of the same events computes. The stream keeps that true across restarts
/// and rebalances by rebuilding a partition's state from its log before scoring it
/// (``Scorer/warm(_:state:)``); the scorer updates it in batch order, on one thread, between
/// validating a batch and deciding it.
public final class AggregateStore: Sendable {
    /// One partition's state and where it stands in the log.
    public struct Entry: Sendable {
        public var state: AggregateState
        /// The offset of the last event applied; nil when none was.
        public var through: Int64?
        /// Events whose record key is not their aggregate key (the input is not keyed by it).
        public var keyMismatches = 0
    }

    /// Totals over every partition held.
    public struct Totals: Sendable, Hashable {
        public var partitions = 0
        public var keys = 0
        public var bytes = 0
        public var idleEvictions = 0
        public var forcedEvictions = 0
        public var unkeyed = 0
        public var keyMismatches = 0

        public init() {}
    }

    public let plan: AggregatePlan
    private let entries: Mutex<[EventSource.Partition: Entry]>
    /// Counts of partitions that were dropped, so the totals do not go backwards on a rebalance.
    private let retired: Mutex<Totals>

    public init(plan: AggregatePlan) {
        self.plan = plan
        entries = Mutex([:])
        retired = Mutex(Totals())
    }

    /// Whether the record at `offset` continues `partition`'s state: the state is held and holds
    /// nothing at or after that offset. Otherwise the partition must be rebuilt before it.
    public func continues(_ partition: EventSource.Partition, at offset: Int64) -> Bool {
        entries.withLock { map in map[partition].map { entry in entry.through.map { offset > $0 } ?? true } ?? false }
    }

    /// Starts `partition` again from an empty state (before rebuilding it from its log).
    public func reset(_ partition: EventSource.Partition) {
        let old = entries.withLock { $0.updateValue(Entry(state: AggregateState(plan: plan)), forKey: partition) }
        if let old { retire(old) }
    }

    /// A copy of `partition`'s state with the offset it holds events through, to snapshot away from
    /// the stream (copy on write: the stream's next update of the partition copies its records once);
    /// nil when it holds none.
    public func copy(_ partition: EventSource.Partition) -> (through: Int64, state: AggregateState)? {
        entries.withLock { map in map[partition].flatMap { entry in entry.through.map { ($0, entry.state) } } }
    }

    /// Replaces `partition`'s state with a snapshot holding its events through `through`.
    ///
    /// - Throws: ``ScoringError`` when the snapshot is not one of these aggregates' or is damaged;
    ///   the partition's state is then left as it was.
    public func restore(_ partition: EventSource.Partition, through: Int64, snapshot: [UInt8]) throws(ScoringError) {
        let state = try AggregateState(plan: plan, snapshot: snapshot)
        let old = entries.withLock { $0.updateValue(Entry(state: state, through: through), forKey: partition) }
        if let old { retire(old) }
    }

    /// Forgets the partitions (revoked or lost): their next owner rebuilds them.
    public func drop(_ partitions: [EventSource.Partition]) {
        let dropped = entries.withLock { map in partitions.compactMap { map.removeValue(forKey: $0) } }
        for entry in dropped { retire(entry) }
    }

    /// What the store holds and has done, for metrics and `verdict serve`'s log.
    public var totals: Totals {
        var totals = retired.withLock { $0 }
        totals.partitions = 0
        totals.keys = 0
        totals.bytes = 0
        entries.withLock { map in
            for entry in map.values {
                totals.partitions += 1
                totals.keys += entry.state.keyCount
                totals.bytes += entry.state.approximateBytes
                add(entry, to: &totals)
            }
        }
        return totals
    }

    private func add(_ entry: Entry, to totals: inout Totals) {
        totals.idleEvictions += entry.state.counters.idleEvictions
        totals.forcedEvictions += entry.state.counters.forcedEvictions
        totals.unkeyed += entry.state.counters.unkeyed
        totals.keyMismatches += entry.keyMismatches
    }

    private func retire(_ entry: Entry) {
        retired.withLock { add(entry, to: &$0) }
    }

    /// Applies the valid events of a batch in batch order, writing each one's values (the state
    /// before it) into `values` (``AggregatePlan/names``.count per input).
    ///
    /// - Parameters:
    ///   - inputs: The batch.
    ///   - events: The decoded events, one per input.
    ///   - valid: Which inputs are valid events: only they touch the state.
    ///   - values: One row of values per input.
    ///   - range: The inputs to apply (the whole batch by default); ranges must be applied in order.
    func apply(
        _ inputs: [ScoringInput], _ range: Range<Int>? = nil, events: UnsafeMutableBufferPointer<TransactionEvent>, valid: UnsafeBufferPointer<Bool>,
        values: UnsafeMutableBufferPointer<Double>
    ) {
        let width = plan.names.count
        guard width > 0 else { return }
        let keyField = plan.groups.first?.key
        let range = range ?? inputs.indices
        entries.withLock { map in
            var index = range.lowerBound
            while index < range.upperBound {
                // A run of one partition's records: one dictionary access for all of them.
                let partition = EventSource.Partition(topic: inputs[index].source.topic, partition: inputs[index].source.partition)
                var end = index + 1
                while end < range.upperBound && inputs[end].source.partition == partition.partition && inputs[end].source.topic == partition.topic { end += 1 }
                // Taken out of the map for the run: one hash of the partition per run, not per event.
                var entry = map.removeValue(forKey: partition) ?? Entry(state: AggregateState(plan: plan))
                var group = index
                while group < end {
                    // A group's records are read into cache together, then updated one by one.
                    let groupEnd = Swift.min(end, group + AggregateState.readAheadGroup)
                    for i in group..<groupEnd where valid[i] {
                        inputs[i].value?.withUnsafeBytes { entry.state.expect(events[i], record: $0) }
                    }
                    entry.state.readAhead()
                    for i in group..<groupEnd where valid[i] {
                        guard let value = inputs[i].value else { continue }
                        let row = UnsafeMutableBufferPointer(rebasing: values[(i * width)..<((i + 1) * width)])
                        value.withUnsafeBytes { bytes in
                            entry.state.apply(events[i], record: bytes, into: row)
                            if let keyField, let key = inputs[i].key, let range = keyField.range(events[i]),
                                !range.raw(in: bytes).elementsEqual(key)
                            {
                                entry.keyMismatches += 1
                            }
                        }
                    }
                    group = groupEnd
                }
                // Dead letters advance the position too: it is where the log stands, not the state.
                entry.through = inputs[end - 1].source.offset
                map[partition] = entry
                index = end
            }
        }
    }
}
