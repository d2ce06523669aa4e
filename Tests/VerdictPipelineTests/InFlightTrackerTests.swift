import Testing
@testable import VerdictPipeline
import VerdictKafka

/// The relay's in-flight bookkeeping: outputs by delivery id in a ring that grows when most of it is
/// pending and spills old outputs when a few of them stretch it, with watermarks per partition slot.
@Suite("In-flight tracker")
struct InFlightTrackerTests {
    static let a = KafkaTopicPartition(topic: "in", partition: 0)
    static let b = KafkaTopicPartition(topic: "in", partition: 1)

    @Test("acknowledgements in any order store each partition's contiguous prefix, across growth of the ring")
    func anyOrder() {
        var tracker = InFlightTracker(capacity: 2)
        let (slotA, slotB) = (tracker.slot(for: Self.a), tracker.slot(for: Self.b))
        var ids: [(id: UInt64, slot: Int, offset: Int64)] = []
        for offset in Int64(0)..<300 {
            let slot = offset % 3 == 0 ? slotB : slotA
            ids.append((tracker.track(slot: slot, offset: offset)!, slot, offset))
        }
        #expect(tracker.inFlight == 300 && tracker.ringCapacity >= 300)
        var rng = SplitMix64(seed: 11)
        ids.shuffle(using: &rng)
        var done: [Int: Set<Int64>] = [:]
        var stored: [KafkaTopicPartition: Int64] = [:]
        for (id, slot, offset) in ids {
            #expect(tracker.entry(id)?.offset == offset)
            #expect(tracker.delivered(id) == slot)
            #expect(tracker.delivered(id) == nil, "a second report of one output changes nothing")
            done[slot, default: []].insert(offset)
            for item in tracker.takeOffsetsToStore() { stored[item.topicPartition] = item.offset }
            // The stored offset is one past the longest acknowledged prefix of the partition's offsets.
            for (partition, slotOf) in [(Self.a, slotA), (Self.b, slotB)] {
                let offsets = (Int64(0)..<300).filter { ($0 % 3 == 0) == (slotOf == slotB) }
                let prefix = offsets.prefix { done[slotOf, default: []].contains($0) }
                #expect(stored[partition] == prefix.last.map { $0 + 1 })
            }
        }
        #expect(tracker.inFlight == 0)
    }

    @Test("one output held for long while 20,000 others flow keeps the ring small, and is still found")
    func heldOutputSpills() {
        var tracker = InFlightTracker(capacity: 8)
        let (slotA, slotB) = (tracker.slot(for: Self.a), tracker.slot(for: Self.b))
        let held = tracker.track(slot: slotA, offset: 0)!
        for offset in Int64(0)..<20_000 {
            let id = tracker.track(slot: slotB, offset: offset)!
            if offset >= 4 { #expect(tracker.delivered(id - 4) == slotB) }
        }
        #expect(tracker.inFlight == 5)
        #expect(tracker.ringCapacity <= 16, "the ring grew to \(tracker.ringCapacity) for 5 outputs in flight")
        tracker.countAttempt(held)
        #expect(tracker.entry(held)?.attempts == 2)
        #expect(tracker.takeOffsetsToStore().contains(KafkaTopicPartitionOffset(topicPartition: Self.b, offset: 19_996)))
        #expect(tracker.delivered(held) == slotA)
        #expect(tracker.takeOffsetsToStore() == [KafkaTopicPartitionOffset(topicPartition: Self.a, offset: 1)])
        #expect(tracker.inFlight == 4)
    }

    @Test("a rewind and a removal abandon outputs in the ring and in the overflow alike")
    func rewindAndRemove() {
        var tracker = InFlightTracker(capacity: 4)
        let (slotA, slotB) = (tracker.slot(for: Self.a), tracker.slot(for: Self.b))
        let old = tracker.track(slot: slotA, offset: 0)!
        var idsB: [UInt64] = []
        for offset in Int64(0)..<64 {
            let id = tracker.track(slot: slotB, offset: offset)!
            if offset % 2 == 0 { tracker.delivered(id) } else { idsB.append(id) }
        }
        let laterA = (Int64(1)..<4).map { tracker.track(slot: slotA, offset: $0)! }
        // Records of A from offset 2 on come again: their outputs are abandoned, offset 0 and 1 stay.
        #expect(Set(tracker.rewind(slotA, to: 2)) == Set(laterA.dropFirst()))
        #expect(tracker.lastTracked(slotA) == 1 && tracker.entry(old) != nil && tracker.entry(laterA[0]) != nil)
        #expect(tracker.inFlight == 2 + idsB.count)
        #expect(tracker.inFlight([Self.a]) == 2)
        #expect(tracker.remove([Self.b]) == idsB.count)
        #expect(idsB.allSatisfy { tracker.entry($0) == nil } && tracker.inFlight == 2 && tracker.lastTracked(slotB) == nil)
        #expect(!tracker.takeOffsetsToStore().contains { $0.topicPartition == Self.b }, "a removed partition's offsets are forgotten")
        tracker.delivered(old)
        tracker.delivered(laterA[0])
        #expect(tracker.takeOffsetsToStore() == [KafkaTopicPartitionOffset(topicPartition: Self.a, offset: 2)] && tracker.inFlight == 0)
    }
}
