import Testing
@testable import VerdictPipeline
import VerdictKafka

/// The relay's state machine against a fake consumer and producer, through seeded random
/// interleavings of batches, deliveries, retriable failures, full queues, revokes, reassignments,
/// records that arrive after their partition was revoked, backward seeks and crashes.
///
/// Invariants: no offset is stored past a record whose output was never acknowledged; in-flight
/// records stay bounded; and once faults stop, every record of every partition ends acknowledged
/// and every stored offset reaches the end of its log.
@Suite("Relay state machine (simulator)")
struct RelaySimulatorTests {
    static let partitions = (0..<3).map { KafkaTopicPartition(topic: "in", partition: $0) }
    static let policy = RelayState.Policy(maxInFlight: 40, resumeBelow: 20, backoffBase: 0.1, backoffMax: 5, unhealthyAfter: 60)

    /// A topic of three partitions whose offsets have gaps (compaction, transaction markers).
    struct Log {
        var offsets: [KafkaTopicPartition: [Int64]] = [:]

        init(_ rng: inout SplitMix64) {
            for partition in RelaySimulatorTests.partitions {
                var offset: Int64 = 0
                var list: [Int64] = []
                for _ in 0..<Int.random(in: 20...80, using: &rng) {
                    list.append(offset)
                    offset += rng.next() % 7 == 0 ? 2 : 1
                }
                offsets[partition] = list
            }
        }

        /// The first log offset at or after `offset`.
        func index(of offset: Int64, in partition: KafkaTopicPartition) -> Int {
            offsets[partition]!.firstIndex { $0 >= offset } ?? offsets[partition]!.count
        }

        func end(_ partition: KafkaTopicPartition) -> Int64 { (offsets[partition]!.last ?? -1) + 1 }
    }

    struct World {
        var rng: SplitMix64
        var log: Log
        var state: RelayState
        var now = 0.0
        /// The consumer: what is assigned, where each partition fetches next, what is paused.
        var assigned: Set<KafkaTopicPartition> = []
        var position: [KafkaTopicPartition: Int64] = [:]
        var paused = false
        /// Committed (stored) offsets survive crashes.
        var stored: [KafkaTopicPartition: Int64] = [:]
        /// Outputs at the "broker": sent and not yet answered.
        var inFlight: [(id: UInt64, partition: KafkaTopicPartition, offset: Int64, record: KafkaProducerRecord)] = []
        /// Every record whose output the broker acknowledged, in any incarnation.
        var acknowledged: Set<String> = []
        /// Records of revoked partitions that librdkafka had fetched and still hands out.
        var stale: [KafkaMessage] = []
        var faults = true
        var maxPending = 0
        var sawStale = 0
        var rewinds = 0
        var restarts = 0
        var trace: [String] = []
        let seed: UInt64
        let trackerCapacity: Int

        init(seed: UInt64) {
            self.seed = seed
            rng = SplitMix64(seed: seed)
            log = Log(&rng)
            // Rings of 1-4 outputs grow and spill old outputs to the overflow all the time; 1024 is
            // the relay's own size.
            trackerCapacity = [1, 2, 4, 1024][Int(seed % 4)]
            state = RelayState(policy: RelaySimulatorTests.policy, seed: seed, trackerCapacity: trackerCapacity)
            assign(RelaySimulatorTests.partitions)
        }

        static func key(_ partition: KafkaTopicPartition, _ offset: Int64) -> String { "\(partition.partition)@\(offset)" }

        mutating func assign(_ list: [KafkaTopicPartition]) {
            // librdkafka's fetch versions: an assignment discards what was fetched under the old one,
            // so stale records only reach the handler while their partition is unassigned.
            stale.removeAll { list.contains($0.topicPartition) }
            trace.append("assign \(list) at \(list.map { stored[$0] ?? 0 })")
            state.assigned(list)
            for partition in list {
                assigned.insert(partition)
                position[partition] = stored[partition] ?? 0
            }
        }

        mutating func revoke(_ list: [KafkaTopicPartition]) {
            // What was fetched and not yet handed out may still arrive after the revoke.
            for partition in list {
                let next = log.index(of: position[partition] ?? 0, in: partition)
                for offset in log.offsets[partition]!.dropFirst(next).prefix(Int.random(in: 0...3, using: &rng)) {
                    stale.append(message(partition, offset))
                }
            }
            storeOffsets()
            trace.append("revoke \(list) stale \(stale.count)")
            state.revoked(list)
            assigned.subtract(list)
        }

        func message(_ partition: KafkaTopicPartition, _ offset: Int64) -> KafkaMessage {
            KafkaMessage(topic: partition.topic, partition: partition.partition, offset: offset, value: [])
        }

        mutating func poll() {
            var batch: [KafkaMessage] = []
            if !stale.isEmpty && Bool.random(using: &rng) {
                batch += stale
                sawStale += stale.count
                stale.removeAll()
            }
            if !paused {
                for partition in assigned.sorted() where !state.heldPartitions.contains(partition) {
                    let start = log.index(of: position[partition]!, in: partition)
                    let take = log.offsets[partition]!.dropFirst(start).prefix(Int.random(in: 0...6, using: &rng))
                    for offset in take { batch.append(message(partition, offset)) }
                    if let last = take.last { position[partition] = last + 1 }
                }
            }
            guard !batch.isEmpty else { return }
            let outputs = batch.map { KafkaProducerRecord(topic: "out", key: Array(World.key($0.topicPartition, $0.offset).utf8), value: []) }
            let accepted = state.accept(batch, outputs: outputs)
            trace.append("poll \(batch.map { World.key($0.topicPartition, $0.offset) }) sends \(accepted.sends.map(\.id)) rewound \(accepted.rewound)")
            for (message, _) in zip(batch, outputs) where !assigned.contains(message.topicPartition) {
                #expect(
                    !accepted.sends.contains { String(decoding: outputs[$0.index].key!, as: UTF8.self) == World.key(message.topicPartition, message.offset) },
                    "a record of an unassigned partition was tracked")
            }
            for (index, id) in accepted.sends { send(id, outputs[index]) }
            if state.inFlight >= RelaySimulatorTests.policy.maxInFlight { paused = true }
        }

        mutating func send(_ id: UInt64, _ record: KafkaProducerRecord) {
            if faults && rng.next() % 10 == 0 {
                _ = state.failed(id, kind: .queueFull, error: "queue full", now: now, record: record)
                return
            }
            let key = String(decoding: record.key!, as: UTF8.self).split(separator: "@")
            inFlight.append((id, KafkaTopicPartition(topic: "in", partition: Int(key[0])!), Int64(key[1])!, record))
        }

        mutating func answer() {
            guard !inFlight.isEmpty else { return }
            let (id, partition, offset, record) = inFlight.remove(at: Int.random(in: 0..<inFlight.count, using: &rng))
            if faults && rng.next() % 4 == 0 {
                trace.append("fail \(id) \(World.key(partition, offset))")
                // As librdkafka does, the failed delivery hands the record back.
                _ = state.failed(id, kind: .retriable, error: "broker down", now: now, record: record)
            } else {
                trace.append("ack \(id) \(World.key(partition, offset))")
                acknowledged.insert(World.key(partition, offset))
                state.delivered(id)
            }
        }

        mutating func tick() {
            now += Double(rng.next() % 1_000) / 1_000
            for (id, record) in state.dueRetries(now: now) { send(id, record) }
            if paused && state.inFlight < RelaySimulatorTests.policy.resumeBelow { paused = false }
        }

        mutating func storeOffsets() {
            for stored in state.takeOffsetsToStore() {
                let partition = stored.topicPartition
                #expect(assigned.contains(partition), "an offset was stored for unassigned \(partition)")
                for offset in log.offsets[partition]! where offset < stored.offset {
                    #expect(
                        acknowledged.contains(World.key(partition, offset)),
                        "seed \(seed): stored \(stored.offset) for \(partition) past unacknowledged offset \(offset)\n\(trace.suffix(40).joined(separator: "\n"))"
                    )
                }
                self.stored[partition] = stored.offset
                trace.append("store \(partition) \(stored.offset)")
            }
        }

        mutating func rewind() {
            guard let partition = assigned.randomElement(using: &rng), let at = position[partition], at > 0 else { return }
            position[partition] = Int64.random(in: 0..<at, using: &rng)
            trace.append("rewind \(partition) to \(position[partition]!)")
            rewinds += 1
        }

        /// A crash: everything in memory is gone; the broker may or may not have written what was in flight.
        mutating func restart() {
            trace.append("restart")
            for entry in inFlight where Bool.random(using: &rng) { acknowledged.insert(World.key(entry.partition, entry.offset)) }
            inFlight.removeAll()
            stale.removeAll()
            state = RelayState(policy: RelaySimulatorTests.policy, seed: rng.next(), trackerCapacity: trackerCapacity)
            assigned.removeAll()
            paused = false
            assign(RelaySimulatorTests.partitions)
            restarts += 1
        }

        mutating func step() {
            switch rng.next() % 100 {
            case 0..<30: poll()
            case 30..<60: answer()
            case 60..<75: tick()
            case 75..<85: storeOffsets()
            case 85..<89:
                if let partition = assigned.randomElement(using: &rng) { revoke([partition]) }
            case 89..<94:
                let free = RelaySimulatorTests.partitions.filter { !assigned.contains($0) }
                if let partition = free.randomElement(using: &rng) { assign([partition]) }
            case 94..<98: rewind()
            default: if rng.next() % 4 == 0 { restart() }
            }
            maxPending = max(maxPending, state.inFlight)
        }

        /// Faults stop; everything is assigned; the stream must finish by itself.
        mutating func heal() -> Bool {
            faults = false
            let free = RelaySimulatorTests.partitions.filter { !assigned.contains($0) }
            if !free.isEmpty { assign(free) }
            for _ in 0..<20_000 {
                poll()
                while !inFlight.isEmpty { answer() }
                now += 10
                tick()
                storeOffsets()
                let done = RelaySimulatorTests.partitions.allSatisfy { stored[$0] == log.end($0) || log.offsets[$0]!.isEmpty }
                if done && state.inFlight == 0 { return true }
            }
            return false
        }
    }

    @Test("3,000 seeded runs keep the invariants and finish with every record acknowledged")
    func seededRuns() {
        var stale = 0
        var rewinds = 0
        var restarts = 0
        var retried = 0
        for seed in 1...3_000 {
            var world = World(seed: UInt64(seed))
            for _ in 0..<300 { world.step() }
            #expect(world.maxPending <= RelaySimulatorTests.policy.maxInFlight + 3 * 6 + 12, "seed \(seed): \(world.maxPending) in flight")
            let finished = world.heal()
            #expect(finished, "seed \(seed): the stream did not finish after faults stopped (stored \(world.stored))")
            for partition in RelaySimulatorTests.partitions {
                for offset in world.log.offsets[partition]! {
                    #expect(world.acknowledged.contains(World.key(partition, offset)), "seed \(seed): \(partition)@\(offset) never acknowledged")
                }
            }
            if !finished { break }
            stale += world.sawStale
            rewinds += world.rewinds
            restarts += world.restarts
            retried += world.state.counters.retried
        }
        // The runs exercised what they claim to.
        #expect(stale > 1_000 && rewinds > 1_000 && restarts > 100 && retried > 0)
    }

    @Test("a stale record of a revoked partition is dropped and counted, and the partition starts clean when it returns")
    func staleAfterRevoke() {
        var state = RelayState(policy: Self.policy)
        let p0 = Self.partitions[0]
        state.assigned([p0])
        let m = { (offset: Int64) in KafkaMessage(topic: "in", partition: 0, offset: offset, value: []) }
        let out = KafkaProducerRecord(topic: "out", value: [])
        let first = state.accept([m(0), m(1)], outputs: [out, out])
        state.delivered(first.sends[0].id)
        state.revoked([p0])
        // Fetched before the revoke, handed out after it.
        let late = state.accept([m(2)], outputs: [out])
        #expect(late.sends.isEmpty && late.droppedUnassigned == 1)
        #expect(state.counters.droppedUnassigned == 1)
        // Reassigned: the group resumes from the committed offset 1; nothing stale holds it back.
        state.assigned([p0])
        let again = state.accept([m(1), m(2)], outputs: [out, out])
        #expect(again.sends.count == 2 && again.refused == 0 && again.rewound.isEmpty)
        for send in again.sends { state.delivered(send.id) }
        #expect(state.takeOffsetsToStore() == [KafkaTopicPartitionOffset(topicPartition: p0, offset: 3)])
    }

    @Test("a backward offset restarts the partition's bookkeeping instead of dropping the records")
    func backwardSeek() {
        var state = RelayState(policy: Self.policy)
        let p0 = Self.partitions[0]
        state.assigned([p0])
        let m = { (offset: Int64) in KafkaMessage(topic: "in", partition: 0, offset: offset, value: []) }
        let out = KafkaProducerRecord(topic: "out", value: [])
        let first = state.accept((0..<5).map(m), outputs: Array(repeating: out, count: 5))
        for send in first.sends.prefix(3) { state.delivered(send.id) }
        #expect(state.takeOffsetsToStore().first?.offset == 3)
        let rewound = state.accept([m(1), m(2)], outputs: [out, out])
        #expect(rewound.rewound == [p0] && rewound.sends.count == 2)
        #expect(state.counters.rewinds == 1)
        for send in rewound.sends { state.delivered(send.id) }
        // The old in-flight outputs' reports arrive and are ignored.
        state.delivered(first.sends[4].id)
        #expect(state.takeOffsetsToStore().first?.offset == 3)
    }

    @Test("retriable failures back off exponentially with jitter and never give up")
    func backoff() {
        var state = RelayState(policy: Self.policy, seed: 7)
        state.assigned([Self.partitions[0]])
        let out = KafkaProducerRecord(topic: "out", value: [7], timestamp: 1_700_000_000_000)
        var reported = out
        reported.timestamp = nil
        let accepted = state.accept([KafkaMessage(topic: "in", partition: 0, offset: 0, value: [])], outputs: [out])
        let id = accepted.sends[0].id
        var now = 0.0
        var delays: [Double] = []
        for _ in 0..<40 {
            guard case .retry(let due, _) = state.failed(id, kind: .retriable, error: "down", now: now, record: reported) else {
                Issue.record("gave up")
                return
            }
            delays.append(due - now)
            #expect(state.dueRetries(now: due - 0.001).isEmpty)
            let retried = state.dueRetries(now: due)
            #expect(
                retried.map(\.id) == [id] && retried.map(\.record) == [out], "the retry sends the failed output again, with its own timestamp")
            now = due
        }
        #expect(delays[0] >= 0.05 && delays[0] <= 0.1)
        #expect(delays[3] >= 0.4 && delays[3] <= 0.8)
        #expect(delays.suffix(10).allSatisfy { $0 >= 2.5 && $0 <= 5 }, "capped at backoffMax with jitter")
        #expect(state.health(now: now).healthy, "an outage is not the relay's fault: it stays healthy")
        state.delivered(id)
        #expect(state.takeOffsetsToStore().first?.offset == 1)
        #expect(state.retrying.isEmpty)
    }

    @Test("a non-retriable failure holds its partition, others advance, and health names it after unhealthy_after")
    func hold() {
        var state = RelayState(policy: Self.policy)
        state.assigned(Self.partitions)
        let out = KafkaProducerRecord(topic: "decisions", value: [])
        let batch = [
            KafkaMessage(topic: "in", partition: 0, offset: 0, value: []), KafkaMessage(topic: "in", partition: 1, offset: 0, value: []),
            KafkaMessage(topic: "in", partition: 0, offset: 1, value: []),
        ]
        let accepted = state.accept(batch, outputs: [out, out, out])
        let action = state.failed(accepted.sends[0].id, kind: .permanent, error: "Broker: Topic authorization failed", now: 10, record: out)
        guard case .hold(let partition, let hold) = action else { Issue.record("not held: \(action)"); return }
        #expect(partition == Self.partitions[0] && hold.offset == 0 && hold.topic == "decisions")
        state.delivered(accepted.sends[1].id)
        state.delivered(accepted.sends[2].id)
        #expect(state.takeOffsetsToStore() == [KafkaTopicPartitionOffset(topicPartition: Self.partitions[1], offset: 1)])
        #expect(state.heldPartitions == [Self.partitions[0]])
        #expect(state.health(now: 69).healthy)
        let (healthy, reasons) = state.health(now: 70)
        #expect(!healthy)
        #expect(reasons.count == 1)
        #expect(reasons.first?.contains("\(Self.partitions[0])") == true, "\(reasons)")
        #expect(reasons.first?.contains("decisions") == true && reasons.first?.contains("authorization") == true)
        // A revoke hands the partition (and its hold) to another member.
        state.revoked([Self.partitions[0]])
        #expect(state.health(now: 100).healthy && state.heldPartitions.isEmpty)
    }

    @Test(
        "errors are classified: outages retry, refusals hold, fatal stops",
        arguments: [
            (KafkaError.Code.messageTimedOut, RelayState.FailureKind.retriable), (.brokerUnreachable, .retriable), (.timedOut, .retriable),
            (.purged, .retriable), (.authorization, .permanent), (.unknownTopic, .permanent), (.messageTooLarge, .permanent),
            (.fatal, .fatal), (.queueFull, .queueFull),
        ])
    func classification(_ code: KafkaError.Code, _ kind: RelayState.FailureKind) {
        #expect(RelayState.classify(KafkaError(code: code, message: "x")) == kind)
    }
}
