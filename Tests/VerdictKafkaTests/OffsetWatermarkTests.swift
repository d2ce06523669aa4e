import Testing
import VerdictKafka

@Suite("OffsetWatermark")
struct OffsetWatermarkTests {
    @Test("nothing is committable until the first offset completes")
    func emptyUntilFirst() {
        var mark = OffsetWatermark()
        for offset in 10...14 { mark.track(Int64(offset)) }
        let r1 = mark.complete(12)
        #expect(r1 == nil)
        let r2 = mark.complete(11)
        #expect(r2 == nil)
        #expect(mark.committableOffset == nil)
        let r3 = mark.complete(10)
        #expect(r3 == 13)
        #expect(mark.committableOffset == 13)
        #expect(mark.inFlight == 2)
    }

    @Test("offsets with gaps (compaction, transaction markers) advance by order, not by +1")
    func gaps() {
        var mark = OffsetWatermark()
        for offset: Int64 in [3, 7, 8, 20] { mark.track(offset) }
        let afterSeven = mark.complete(7)
        #expect(afterSeven == nil)
        let afterThree = mark.complete(3)
        #expect(afterThree == 8)  // 3 and 7 done; 8 is next
        let afterTwenty = mark.complete(20)
        #expect(afterTwenty == nil)
        let afterEight = mark.complete(8)
        #expect(afterEight == 21)
        #expect(mark.inFlight == 0)
    }

    @Test("a failed (never completed) record holds back everything after it")
    func failureHoldsBack() {
        var mark = OffsetWatermark()
        for offset: Int64 in 0..<100 { mark.track(offset) }
        for offset: Int64 in 0..<100 where offset != 40 { mark.complete(offset) }
        #expect(mark.committableOffset == 40)
        #expect(mark.pendingOffsets == [40])
        let r7 = mark.complete(40)
        #expect(r7 == 100)
    }

    @Test("duplicate and out-of-order tracks are refused; unknown completes are ignored")
    func rejects() {
        var mark = OffsetWatermark()
        let r8 = mark.track(5)
        #expect(r8)
        let r9 = mark.track(5)
        #expect(!r9)
        let r10 = mark.track(4)
        #expect(!r10)
        let r11 = mark.complete(99)
        #expect(r11 == nil)
        let r12 = mark.complete(5)
        #expect(r12 == 6)
        let r13 = mark.complete(5)
        #expect(r13 == nil)
        let r14 = mark.track(3)
        #expect(!r14)
    }

    @Test("truncate forgets the records from a rewind on, keeps earlier ones holding the offset, and can go into the completed prefix")
    func truncate() {
        var mark = OffsetWatermark()
        for offset in 1...5 { mark.track(Int64(offset)) }
        mark.complete(1); mark.complete(2); mark.complete(4)
        #expect(mark.committableOffset == 3)
        let forgotten = mark.truncate(from: 3)
        #expect(forgotten == [3, 5])
        #expect(mark.inFlight == 0 && mark.committableOffset == 3)
        let retracked = mark.track(3)
        #expect(retracked)
        // Back into what already completed: the committable offset follows the consumer back.
        let pending = mark.truncate(from: 1)
        #expect(pending == [3])
        #expect(mark.committableOffset == 1)
        let one = mark.track(1), two = mark.track(2)
        #expect(one && two)
        mark.complete(1)
        #expect(mark.committableOffset == 2)
        // A rewind past a record still in flight keeps it holding the offset.
        var held = OffsetWatermark()
        for offset in 10...14 { held.track(Int64(offset)) }
        held.complete(11); held.complete(12)
        let dropped = held.truncate(from: 12)
        #expect(dropped == [13, 14])
        #expect(held.committableOffset == nil && held.isPending(10))
        held.complete(10)
        #expect(held.committableOffset == 12)
    }

    /// Property: for any completion order, the committable offset is always one past the longest
    /// completed prefix, so it never passes a record that is not done.
    @Test("random completion orders never store past a gap", arguments: 0..<200)
    func randomOrders(seed: Int) {
        var rng = SplitMix64(seed: UInt64(seed))
        let count = Int.random(in: 1...3000, using: &rng)
        var offsets: [Int64] = []
        var next: Int64 = Int64.random(in: 0...1000, using: &rng)
        for _ in 0..<count {
            offsets.append(next)
            next += Int64.random(in: 1...3, using: &rng)  // gaps as compaction leaves them
        }
        var mark = OffsetWatermark()
        for offset in offsets { mark.track(offset) }
        var order = offsets
        order.shuffle(using: &rng)
        // Some records never complete (delivery failed).
        let failed = Set(order.prefix(Int.random(in: 0...2, using: &rng)))
        var completed = Set<Int64>()
        var lastCommittable: Int64? = nil
        for offset in order where !failed.contains(offset) {
            mark.complete(offset)
            completed.insert(offset)
            let prefix = offsets.prefix { completed.contains($0) }
            let expected = prefix.last.map { $0 + 1 }
            #expect(mark.committableOffset == expected, "seed \(seed)")
            if let c = mark.committableOffset, let last = lastCommittable { #expect(c >= last, "went backwards, seed \(seed)") }
            lastCommittable = mark.committableOffset
            if let c = mark.committableOffset {
                // Never past a record that is not done.
                #expect(offsets.allSatisfy { $0 >= c || completed.contains($0) }, "seed \(seed)")
            }
        }
        #expect(mark.inFlight == offsets.count - offsets.prefix { completed.contains($0) }.count)
    }
}

/// A small deterministic generator so a failing seed can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
