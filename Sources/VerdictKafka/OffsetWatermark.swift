/// The commit position of one partition when work completes out of order.
///
/// Records are ``track(_:)``ed in the order they were consumed and ``complete(_:)``d in any order. The
/// ``committableOffset`` only ever advances over the contiguous completed prefix: a record that is
/// still in flight (or failed) holds back every later offset, so a crash re-delivers it instead of
/// skipping it. Offsets need not be contiguous (compaction and transaction markers leave gaps); only
/// their order matters.
public struct OffsetWatermark: Sendable {
    // Tracked offsets in consumption order, from `head` on; `done[i]` says whether offsets[i] completed.
    private var offsets: [Int64] = []
    private var done: [Bool] = []
    private var head = 0

    /// The offset to commit: one past the last record of the completed prefix; nil until something completed.
    public private(set) var committableOffset: Int64?

    public init() {}

    /// Records tracked and not yet part of the completed prefix.
    public var inFlight: Int { offsets.count - head }

    /// The highest offset tracked so far.
    public var lastTracked: Int64? { offsets.last }

    /// Registers a consumed record. Offsets must increase.
    ///
    /// - Returns: false (and ignores it) when `offset` is not above the last tracked offset, as after a
    ///   rewind re-delivers records: call ``truncate(from:)`` first when the consumer goes back.
    @discardableResult
    public mutating func track(_ offset: Int64) -> Bool {
        if let last = offsets.last, offset <= last { return false }
        if let committableOffset, offset < committableOffset { return false }
        offsets.append(offset)
        done.append(false)
        return true
    }

    /// Marks a record done.
    ///
    /// - Returns: The new ``committableOffset`` if it advanced, else nil. Completing an offset that is
    ///   not in flight (never tracked, or already committed past) does nothing.
    @discardableResult
    public mutating func complete(_ offset: Int64) -> Int64? {
        guard let index = indexOf(offset), !done[index] else { return nil }
        done[index] = true
        guard index == head else { return nil }
        while head < offsets.count && done[head] {
            committableOffset = offsets[head] + 1
            head += 1
        }
        compactIfNeeded()
        return committableOffset
    }

    /// Whether `offset` is tracked and not yet completed.
    public func isPending(_ offset: Int64) -> Bool {
        guard let index = indexOf(offset) else { return false }
        return !done[index]
    }

    /// Offsets tracked and not completed, oldest first.
    public var pendingOffsets: [Int64] {
        (head..<offsets.count).compactMap { done[$0] ? nil : offsets[$0] }
    }

    /// The consumer went back to `offset` (a seek, a log truncation, an offset reset): records at
    /// and after it are forgotten (they will be delivered again and tracked anew); records before it
    /// stay tracked, so one still in flight keeps holding back the committable offset.
    ///
    /// - Returns: The forgotten offsets that had not completed.
    @discardableResult
    public mutating func truncate(from offset: Int64) -> [Int64] {
        let cut = offsets.firstIndex { $0 >= offset } ?? offsets.count
        let forgotten = (cut..<offsets.count).compactMap { done[$0] ? nil : offsets[$0] }
        offsets.removeSubrange(cut...)
        done.removeSubrange(cut...)
        // A rewind into the completed prefix: those entries are done; keep only what is before `offset`.
        head = min(head, cut)
        // Everything before `offset` completed if the committable offset had passed it.
        if let committable = committableOffset, committable > offset { committableOffset = offset }
        return forgotten
    }

    private func indexOf(_ offset: Int64) -> Int? {
        // Acknowledgements mostly come in order: the oldest record in flight is the usual answer.
        if head < offsets.count && offsets[head] == offset { return head }
        var low = head
        var high = offsets.count
        while low < high {
            let mid = (low + high) / 2
            if offsets[mid] < offset { low = mid + 1 } else { high = mid }
        }
        return low < offsets.count && offsets[low] == offset ? low : nil
    }

    private mutating func compactIfNeeded() {
        // Drop the completed prefix once it is most of the storage: amortised O(1) per record.
        guard head >= 1024 && head * 2 >= offsets.count else { return }
        offsets.removeFirst(head)
        done.removeFirst(head)
        head = 0
    }
}
