import Foundation

/// The aggregates of a features.yaml compiled: their order, their key fields and each one's place
/// in a key's fixed-size record.
public struct AggregatePlan: Sendable {
    struct Compiled: Sendable {
        var definition: AggregateDefinition
        var group: Int
        /// Bucket width in seconds and bucket count (window / resolution); 0 for seconds_since_last.
        var resolution: Double
        var buckets: Int
        var number: AggregateNumberField?
        var text: AggregateTextField?
        var capacity: Int
        /// First word of this aggregate in its key's record.
        var offset: Int
    }

    /// What applying an aggregate needs, without the definition's strings: copied per event, it
    /// must cost no reference counting.
    struct Kernel: Sendable {
        var function: AggregateDefinition.Function
        var resolution: Double
        var buckets: Int
        var number: AggregateNumberField?
        var text: AggregateTextField?
        var capacity: Int
        var offset: Int
        /// The aggregate's position in the plan (its value slot).
        var column: Int
    }

    /// One key field and the aggregates keyed by it.
    struct Group: Sendable {
        var key: AggregateTextField
        /// Words per key: two of header (newest event time, previous event time), then the aggregates'.
        var stride: Int
        /// The longest window of the group, in seconds (0 when it has only seconds_since_last).
        var longestWindow: Double
    }

    let aggregates: [Compiled]
    let groups: [Group]
    /// Per key field, its aggregates' kernels.
    let kernels: [[Kernel]]
    public let limits: AggregateStateLimits

    /// The aggregate names, in configuration order: the columns of `verdict features` and the keys
    /// of a decision's `aggregates`.
    public var names: [String] { aggregates.map(\.definition.name) }
    public var isEmpty: Bool { aggregates.isEmpty }

    /// Bytes of state per key (the fixed record, without the key itself and the map entry) for each key field.
    public var recordBytes: [String: Int] {
        Dictionary(uniqueKeysWithValues: groups.map { ($0.key.rawValue, $0.stride * 8) })
    }

    /// Identifies the definitions and layout a snapshot was made with: a snapshot restores only into
    /// the same aggregates.
    public var fingerprint: UInt64 {
        var text = "verdict-aggregates-1"
        for aggregate in aggregates {
            let d = aggregate.definition
            text += "|\(d.name),\(d.function.rawValue),\(d.key),\(d.field ?? ""),\(aggregate.resolution),\(aggregate.buckets),\(aggregate.capacity)"
        }
        return Array(text.utf8).withUnsafeBytes(AggregateState.fnv1a)
    }

    /// Most buckets per window: bounds a key's record (and the work per event).
    public static let maxBuckets = 1_024
    /// A key idle for twice this (or twice its longest window, when longer) may be dropped at
    /// `state.max_keys`: one day, so seconds_since_last survives ordinary gaps.
    public static let minimumIdle: Double = 86_400
    public static let maxCapacity = 64

    /// Compiles `definitions`, refusing with what to change: names, fields, windows and capacities.
    ///
    /// - Parameter featureNames: The feature names; an aggregate may not take one.
    public init(_ definitions: [AggregateDefinition], limits: AggregateStateLimits = AggregateStateLimits(), featureNames: [String] = []) throws(ScoringError) {
        func refuse(_ message: String) -> ScoringError { ScoringError(.configuration, "aggregates: \(message) (docs/features.md)") }
        guard limits.maxKeys > 0 else { throw refuse("state.max_keys is \(limits.maxKeys); give the most keys a partition holds, at least 1") }
        var seen = Set(featureNames)
        var compiled: [Compiled] = []
        var groups: [Group] = []
        for definition in definitions {
            let name = definition.name
            guard !name.isEmpty, seen.insert(name).inserted else {
                throw refuse("the name '\(name)' is empty or already used by a feature or another aggregate; give each a unique name")
            }
            guard let key = AggregateTextField(rawValue: definition.key) else {
                throw refuse("\(name): key '\(definition.key)' is not one of \(AggregateTextField.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var entry = Compiled(definition: definition, group: 0, resolution: 0, buckets: 0, capacity: 0, offset: 0)
            switch definition.function {
            case .secondsSinceLast:
                guard definition.field == nil, definition.window == nil, definition.resolution == nil, definition.capacity == nil else {
                    throw refuse("\(name): seconds_since_last takes only name, function and key")
                }
            case .count, .sum, .mean, .max, .distinct:
                guard let window = definition.window?.seconds, let resolution = definition.resolution?.seconds else {
                    throw refuse("\(name): \(definition.function.rawValue) needs window and resolution (e.g. window: 1h, resolution: 5m)")
                }
                guard resolution >= 1, resolution == resolution.rounded(), window >= resolution else {
                    throw refuse(
                        "\(name): resolution \(ConfigDuration(.seconds(resolution))) must be whole seconds, at least 1s, and no longer than the window")
                }
                let buckets = window / resolution
                guard buckets == buckets.rounded(), buckets <= Double(Self.maxBuckets) else {
                    throw refuse(
                        "\(name): window \(ConfigDuration(.seconds(window))) must be a whole number of resolutions, at most \(Self.maxBuckets) of them")
                }
                entry.resolution = resolution
                entry.buckets = Int(buckets)
                switch definition.function {
                case .count:
                    guard definition.field == nil else { throw refuse("\(name): count counts events; remove field") }
                case .distinct:
                    guard let field = definition.field.flatMap(AggregateTextField.init(rawValue:)) else {
                        throw refuse("\(name): distinct needs a string field: \(AggregateTextField.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    guard let capacity = definition.capacity, (1...Self.maxCapacity).contains(capacity) else {
                        throw refuse("\(name): distinct needs capacity from 1 to \(Self.maxCapacity) (the result saturates there)")
                    }
                    entry.text = field
                    entry.capacity = capacity
                default:
                    guard let field = definition.field.flatMap(AggregateNumberField.init(rawValue:)) else {
                        throw refuse(
                            "\(name): \(definition.function.rawValue) needs a numeric field: \(AggregateNumberField.allCases.map(\.rawValue).joined(separator: ", "))"
                        )
                    }
                    entry.number = field
                }
                if definition.function != .distinct, definition.capacity != nil { throw refuse("\(name): capacity is for distinct only") }
            }
            let group: Int
            if let existing = groups.firstIndex(where: { $0.key == key }) {
                group = existing
            } else {
                groups.append(Group(key: key, stride: 2, longestWindow: 0))
                group = groups.count - 1
            }
            entry.group = group
            entry.offset = groups[group].stride
            groups[group].stride += Self.words(entry)
            groups[group].longestWindow = Swift.max(groups[group].longestWindow, entry.resolution * Double(entry.buckets))
            compiled.append(entry)
        }
        aggregates = compiled
        self.groups = groups
        kernels = groups.indices.map { g in
            compiled.enumerated().filter { $0.element.group == g }.map { column, c in
                Kernel(
                    function: c.definition.function, resolution: c.resolution, buckets: c.buckets, number: c.number, text: c.text, capacity: c.capacity,
                    offset: c.offset, column: column)
            }
        }
        self.limits = limits
    }

    /// Words an aggregate takes in a key's record: counts are 32-bit, two to a word.
    static func words(_ entry: Compiled) -> Int {
        words(function: entry.definition.function, buckets: entry.buckets, capacity: entry.capacity)
    }

    static func words(function: AggregateDefinition.Function, buckets n: Int, capacity: Int) -> Int {
        switch function {
        case .count: return (n + 1) / 2
        case .sum, .max: return n
        case .mean: return n + (n + 1) / 2
        case .distinct: return capacity
        case .secondsSinceLast: return 0
        }
    }
}

/// The per-key state of one input partition: a fixed-size record per key, updated in log order.
///
/// Not thread-safe: one partition's events are applied by one thread, in offset order.
public struct AggregateState: Sendable {
    public let plan: AggregatePlan
    /// Per key field: the records, found by key.
    private var records: [KeyedRecords]
    /// Newest (clamped) event time seen per key field: idleness is measured against it.
    private var highWater: [Double]
    public private(set) var counters = Counters()
    /// Per key field, the tags of the keys noted by ``expect(_:record:)`` since the last ``readAhead()``.
    private var expected: [[UInt32]]
    /// What ``readAhead()`` read, kept so that the compiler keeps the reads.
    private var readAheadSink: UInt64 = 0

    public struct Counters: Sendable, Hashable {
        /// Keys dropped because they were idle longer than twice the longest window.
        public var idleEvictions = 0
        /// Keys dropped at `state.max_keys` although not idle (their next values may differ).
        public var forcedEvictions = 0
        /// Events without the key field or an event time: they read missing and change nothing.
        public var unkeyed = 0
    }

    public init(plan: AggregatePlan) {
        self.plan = plan
        records = plan.groups.map { KeyedRecords(stride: $0.stride) }
        highWater = plan.groups.map { _ in -.infinity }
        expected = plan.groups.map { _ in [] }
    }

    /// Events worth noting with ``expect(_:record:)`` before one ``readAhead()``: enough misses in
    /// flight to fill the CPU's line-fill buffers (about 10-12 per core) for a few rounds, few
    /// enough that the records read stay in L1/L2 until their updates.
    public static let readAheadGroup = 16

    /// Notes the keys `event` will update, for ``readAhead()``.
    public mutating func expect(_ event: borrowing TransactionEvent, record: UnsafeRawBufferPointer) {
        for g in plan.groups.indices {
            // A key longer than a record's inline bytes (rare) is kept in a dictionary, not the table.
            guard let range = plan.groups[g].key.range(event), Int(range.count) <= KeyedRecords.inlineBytes else { continue }
            let key = Self.key(range, in: record)
            if key.bytes == nil { expected[g].append(key.tag) }
        }
    }

    /// The key of a key field's value: its unescaped bytes (an escaped one, rare, is unescaped first).
    private static func key(_ range: TextRange, in record: UnsafeRawBufferPointer) -> KeyedRecords.Key {
        range.escaped ? Array(range.string(in: record).utf8).withUnsafeBytes { KeyedRecords.Key($0) } : KeyedRecords.Key(range.raw(in: record))
    }

    /// Reads the records of the keys noted by ``expect(_:record:)`` into cache at once, so that the
    /// ``apply(_:record:into:)`` calls that follow do not each wait for their own cache misses
    /// (``KeyedRecords/readAhead(_:)``). Changes no value: `apply` gives the same results without it.
    public mutating func readAhead() {
        for g in expected.indices where !expected[g].isEmpty {
            readAheadSink &+= expected[g].withUnsafeBufferPointer { records[g].readAhead($0) }
            expected[g].removeAll(keepingCapacity: true)
        }
    }

    /// Keys held, over every key field.
    public var keyCount: Int { records.reduce(0) { $0 + $1.count } }

    /// Bytes the state holds: the records' capacity (each headed by its key) and the key tables.
    public var approximateBytes: Int { records.reduce(0) { $0 + $1.approximateBytes } }

    /// Writes the aggregates of `event` (the values before it) into `values` (one per aggregate, in
    /// plan order; NaN for missing), then adds the event to the state.
    public mutating func apply(_ event: TransactionEvent, record: UnsafeRawBufferPointer, into values: UnsafeMutableBufferPointer<Double>) {
        precondition(values.count >= plan.aggregates.count, "one value slot per aggregate")
        for g in plan.groups.indices {
            let group = plan.groups[g]
            guard let range = group.key.range(event), let time = event.eventTime, Self.plausible(time) else {
                counters.unkeyed += 1
                for kernel in plan.kernels[g] { values[kernel.column] = .nan }
                continue
            }
            let slot = self.slot(for: Self.key(range, in: record), group: g)
            let base = records[g].base(slot.index)
            let newest = slot.isNew ? nil : Double(bitPattern: records[g].words[base])
            let previous = slot.isNew ? nil : Double(bitPattern: records[g].words[base + 1])
            // Late events count in the key's newest bucket: time is clamped to the key's high-water mark.
            let clamped = newest.map { Swift.max(time, $0) } ?? time
            records[g].words.withUnsafeMutableBufferPointer { all in
                let state = UnsafeMutableBufferPointer(rebasing: all[base..<(base + group.stride)])
                for kernel in plan.kernels[g] {
                    values[kernel.column] = Self.step(
                        kernel, state, newest: newest, previous: previous, clamped: clamped, time: time, event: event, record: record)
                }
                state[0] = clamped.bitPattern
                state[1] = time.bitPattern
            }
            highWater[g] = Swift.max(highWater[g], clamped)
        }
    }

    /// Reads one aggregate's value for the event, then adds the event to its buckets.
    private static func step(
        _ aggregate: AggregatePlan.Kernel, _ state: UnsafeMutableBufferPointer<UInt64>, newest: Double?, previous: Double?, clamped: Double, time: Double,
        event: borrowing TransactionEvent, record: UnsafeRawBufferPointer
    ) -> Double {
        if aggregate.function == .secondsSinceLast {
            return previous.map { Swift.max(0, time - $0) } ?? .nan
        }
        let n = aggregate.buckets
        let bucket = Int64(clamped / aggregate.resolution)
        let newestBucket = newest.map { Int64($0 / aggregate.resolution) }
        let lowest = bucket - Int64(n) + 1
        let size = AggregatePlan.words(function: aggregate.function, buckets: n, capacity: aggregate.capacity)
        let region = UnsafeMutableBufferPointer(rebasing: state[aggregate.offset..<(aggregate.offset + size)])
        if aggregate.function == .distinct {
            return distinct(aggregate, region, newestBucket: newestBucket, bucket: bucket, event: event, record: record)
        }
        // Buckets the window still sees: lowest ... newest (none when the key is new or idle that long).
        // Then buckets newest+1 ... bucket become current and are cleared (all n after a long idle).
        // Both walk the ring from a start slot: one division per aggregate, not one per bucket.
        let visibleCount = newestBucket.map { $0 >= lowest ? Int($0 - lowest + 1) : 0 } ?? 0
        let clearFrom = newestBucket.map { Swift.max($0 + 1, lowest) } ?? lowest
        let clearCount = clearFrom <= bucket ? Int(bucket - clearFrom + 1) : 0
        let lowestSlot = Int(lowest % Int64(n) + (lowest % Int64(n) < 0 ? Int64(n) : 0))
        let clearSlot = Int(clearFrom % Int64(n) + (clearFrom % Int64(n) < 0 ? Int64(n) : 0))
        let current = Int(bucket % Int64(n))
        let x = aggregate.number?.value(event).flatMap { $0.isFinite ? $0 : nil }
        @inline(__always) func walk(from start: Int, count: Int, _ body: (Int) -> Void) {
            var i = start
            for _ in 0..<count {
                body(i)
                i += 1
                if i == n { i = 0 }
            }
        }
        switch aggregate.function {
        case .count:
            var value = 0.0
            walk(from: lowestSlot, count: visibleCount) { value += Double(count(region, $0)) }
            walk(from: clearSlot, count: clearCount) { setCount(region, $0, 0) }
            setCount(region, current, count(region, current) &+ 1)
            return value
        case .sum:
            var value = 0.0
            walk(from: lowestSlot, count: visibleCount) { value += Double(bitPattern: region[$0]) }
            walk(from: clearSlot, count: clearCount) { region[$0] = 0.0.bitPattern }
            if let x { region[current] = (Double(bitPattern: region[current]) + x).bitPattern }
            return value
        case .max:
            var value = -Double.infinity
            walk(from: lowestSlot, count: visibleCount) { value = Swift.max(value, Double(bitPattern: region[$0])) }
            walk(from: clearSlot, count: clearCount) { region[$0] = (-Double.infinity).bitPattern }
            if let x { region[current] = Swift.max(Double(bitPattern: region[current]), x).bitPattern }
            return value == -.infinity ? .nan : value
        case .mean:
            let counts = UnsafeMutableBufferPointer(rebasing: region[n...])
            var sum = 0.0, seen = 0.0
            walk(from: lowestSlot, count: visibleCount) {
                sum += Double(bitPattern: region[$0])
                seen += Double(count(counts, $0))
            }
            walk(from: clearSlot, count: clearCount) {
                region[$0] = 0.0.bitPattern
                setCount(counts, $0, 0)
            }
            if let x {
                region[current] = (Double(bitPattern: region[current]) + x).bitPattern
                setCount(counts, current, count(counts, current) &+ 1)
            }
            return seen > 0 ? sum / seen : .nan
        case .distinct, .secondsSinceLast:
            return .nan
        }
    }

    /// Entries are `hash48 << 16 | bucket & 0xffff`, 0 when empty. Kept entries are younger than
    /// the window relative to the key's newest bucket, so the 16 bits never wrap.
    private static func distinct(
        _ aggregate: AggregatePlan.Kernel, _ region: UnsafeMutableBufferPointer<UInt64>, newestBucket: Int64?, bucket: Int64,
        event: borrowing TransactionEvent, record: UnsafeRawBufferPointer
    ) -> Double {
        let n = Int64(aggregate.buckets)
        let lowest = bucket - n + 1
        func absolute(_ entry: UInt64) -> Int64 {
            guard let newestBucket else { return .min }
            let age = (newestBucket - Int64(entry & 0xffff)) & 0xffff
            return newestBucket - age
        }
        let range = aggregate.text?.range(event)
        var hash: UInt64 = 0
        if let range {
            let digest = range.escaped ? Array(range.string(in: record).utf8).withUnsafeBytes(fnv1a) : fnv1a(range.raw(in: record))
            hash = (digest >> 16) | (1 << 47)
        }
        // One pass: count what the window sees, forget what it no longer sees (so every kept entry
        // stays within 16 bits of the newest bucket), and find the value, a free entry or the oldest.
        var value = 0.0
        var match = -1, empty = -1, oldest = -1
        var oldestBucket = Int64.max
        for i in region.indices {
            let entry = region[i]
            if entry == 0 {
                if empty < 0 { empty = i }
                continue
            }
            let seen = absolute(entry)
            if seen < lowest {
                region[i] = 0
                if empty < 0 { empty = i }
                continue
            }
            value += 1
            if entry >> 16 == hash { match = i }
            if seen < oldestBucket {
                oldestBucket = seen
                oldest = i
            }
        }
        guard range != nil else { return value }
        let entry = hash << 16 | UInt64(UInt16(truncatingIfNeeded: bucket))
        // Full: replace the value seen longest ago (the proof of exactness in docs/features.md needs
        // only that the replaced one is among the oldest).
        region[match >= 0 ? match : empty >= 0 ? empty : oldest] = entry
        return value
    }

    private static func count(_ region: UnsafeMutableBufferPointer<UInt64>, _ i: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: region[i / 2] >> (i % 2 == 0 ? 0 : 32))
    }

    private static func setCount(_ region: UnsafeMutableBufferPointer<UInt64>, _ i: Int, _ value: UInt32) {
        let shift = UInt64(i % 2 == 0 ? 0 : 32)
        region[i / 2] = (region[i / 2] & ~(0xffff_ffff << shift)) | (UInt64(value) << shift)
    }

    /// Event times the bucket arithmetic takes without overflow: from the epoch to year 5138.
    static func plausible(_ time: Double) -> Bool { time.isFinite && time >= 0 && time < 1e11 }

    static func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The record of `key`, made (zeroed, the window buckets of max empty) when new; evicts at `max_keys`.
    private mutating func slot(for key: KeyedRecords.Key, group g: Int) -> (index: Int32, isNew: Bool) {
        if let existing = records[g].find(key) { return (existing, false) }
        if records[g].count >= plan.limits.maxKeys { evict(group: g) }
        let slot = records[g].insert(key)
        initialize(slot, group: g)
        return (slot, true)
    }

    /// A new record's buckets: zero, except max's, which start empty (-infinity).
    private mutating func initialize(_ slot: Int32, group g: Int) {
        let base = records[g].base(slot)
        for aggregate in plan.kernels[g] where aggregate.function == .max {
            for i in 0..<aggregate.buckets { records[g].words[base + aggregate.offset + i] = (-Double.infinity).bitPattern }
        }
    }

    /// Drops keys idle for more than twice the longest window behind the newest event: their window
    /// values can only matter again for an event later than that. When none is idle, drops the
    /// tenth of keys seen longest ago and counts them as forced.
    private mutating func evict(group g: Int) {
        let horizon = highWater[g] - 2 * Swift.max(plan.groups[g].longestWindow, AggregatePlan.minimumIdle)
        let held = records[g]
        func newest(_ slot: Int32) -> Double { Double(bitPattern: held.words[held.base(slot)]) }
        var idle: [Int32] = []
        held.forEach { slot in if newest(slot) < horizon { idle.append(slot) } }
        var dropped = idle
        if idle.isEmpty {
            var all: [Int32] = []
            all.reserveCapacity(held.count)
            held.forEach { all.append($0) }
            // Ties in age are broken by key, so which keys go does not depend on the table's layout.
            let byAge = all.sorted { a, b in
                let (x, y) = (newest(a), newest(b))
                return x != y ? x < y : held.key(a).lexicographicallyPrecedes(held.key(b))
            }
            dropped = Array(byAge.prefix(Swift.max(1, held.count / 10)))
            counters.forcedEvictions += dropped.count
        } else {
            counters.idleEvictions += idle.count
        }
        for slot in dropped { records[g].remove(slot) }
    }

    // MARK: Snapshots

    static let magic: [UInt8] = Array("VAGS".utf8)
    static let snapshotVersion: UInt32 = 1

    /// The state as bytes: a header (magic, version, the plan's fingerprint), then per key field its
    /// newest event time and each key with its record. Little-endian throughout.
    public func snapshot() -> [UInt8] {
        var out = Self.magic
        // One allocation: a key of up to 16 bytes, its length and its record, per key.
        out.reserveCapacity(64 + plan.groups.indices.reduce(0) { $0 + records[$1].count * (18 + plan.groups[$1].stride * 8) })
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        put(Self.snapshotVersion)
        put(plan.fingerprint)
        put(UInt32(plan.groups.count))
        for g in plan.groups.indices {
            let stride = plan.groups[g].stride
            put(highWater[g].bitPattern)
            let held = records[g]
            put(UInt32(held.count))
            for slot in held.sortedByKey() {
                put(UInt16(held.keyLength(slot)))
                held.appendKey(slot, to: &out)
                let base = held.base(slot)
                if Int(1).littleEndian == 1 {
                    held.words.withUnsafeBufferPointer { all in
                        out.append(contentsOf: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: all[base..<(base + stride)])))
                    }
                } else {
                    for w in 0..<stride { put(held.words[base + w]) }
                }
            }
        }
        return out
    }

    /// Restores a snapshot made by ``snapshot()`` for the same aggregates. Every count and length
    /// is checked against the bytes left before anything is allocated, so a truncated or hostile
    /// snapshot is refused, never trusted.
    public init(plan: AggregatePlan, snapshot bytes: [UInt8]) throws(ScoringError) {
        self.init(plan: plan)
        var at = 0
        func fail(_ why: String) -> ScoringError { ScoringError(.state, "aggregate snapshot: \(why); it is ignored and the state rebuilt from the input") }
        func take<T: FixedWidthInteger>(_: T.Type) throws(ScoringError) -> T {
            let size = MemoryLayout<T>.size
            guard bytes.count - at >= size else { throw fail("truncated at byte \(at)") }
            var value: T = 0
            for i in 0..<size { value |= T(truncatingIfNeeded: bytes[at + i]) << (8 * i) }
            at += size
            return value
        }
        guard bytes.count >= 4, Array(bytes[0..<4]) == Self.magic else { throw fail("not a snapshot (bad magic)") }
        at = 4
        guard try take(UInt32.self) == Self.snapshotVersion else { throw fail("unknown version") }
        guard try take(UInt64.self) == plan.fingerprint else { throw fail("made for other aggregate definitions") }
        guard try take(UInt32.self) == UInt32(plan.groups.count) else { throw fail("made for other key fields") }
        for g in plan.groups.indices {
            let stride = plan.groups[g].stride
            highWater[g] = Double(bitPattern: try take(UInt64.self))
            guard highWater[g] == -.infinity || Self.plausible(highWater[g]) else { throw fail("an impossible newest event time") }
            let keys = Int(try take(UInt32.self))
            guard keys <= plan.limits.maxKeys else { throw fail("\(keys) keys exceed state.max_keys \(plan.limits.maxKeys)") }
            // The smallest entry is a length and a record: refuse counts the bytes cannot hold.
            guard keys <= (bytes.count - at) / (2 + stride * 8) else { throw fail("\(keys) keys cannot fit in \(bytes.count - at) bytes") }
            // Sized up front, filled, then stored.
            var held = KeyedRecords(stride: stride)
            held.reserve(keys)
            var record = [UInt64](repeating: 0, count: stride)
            for _ in 0..<keys {
                let length = Int(try take(UInt16.self))
                guard bytes.count - at >= length else { throw fail("truncated in a key") }
                let start = at
                func shown() -> String { String(decoding: bytes[start..<(start + Swift.min(length, 32))], as: UTF8.self) }
                let key = bytes.withUnsafeBytes { KeyedRecords.Key(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
                at += length
                guard held.find(key) == nil else { throw fail("key \(shown()) appears twice") }
                // The record in one read: its size was checked against what is left.
                guard bytes.count - at >= stride * 8 else { throw fail("truncated in the record of key \(shown())") }
                let from = at
                bytes.withUnsafeBytes { raw in
                    for w in 0..<stride { record[w] = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: from + w * 8, as: UInt64.self)) }
                }
                at += stride * 8
                for w in 0..<2 where !Self.plausible(Double(bitPattern: record[w])) {
                    throw fail("the record of key \(shown()) holds an impossible event time")
                }
                held.insert(key, record: record)
            }
            records[g] = held
        }
        guard at == bytes.count else { throw fail("\(bytes.count - at) bytes after the end") }
    }
}
