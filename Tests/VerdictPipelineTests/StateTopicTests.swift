import Foundation
import Logging
import Testing
import VerdictKafka
@testable import VerdictPipeline

/// State snapshots in the state topic: chunked records, reassembled in any order, checked before
/// use; and, on librdkafka's mock cluster, written and found again from the end of the topic.
@Suite("State snapshots in the state topic")
struct StateTopicTests {
    static let partition = KafkaTopicPartition(topic: "transactions", partition: 0)

    static func bytes(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed }
    }

    /// State-topic records as a reader gets them, numbered from `offset`.
    static func messages(_ records: [KafkaProducerRecord], from offset: Int64 = 0) -> [KafkaMessage] {
        records.enumerated().map { index, record in
            KafkaMessage(
                topic: record.topic, partition: record.partition ?? 0, offset: offset + Int64(index), key: record.key, value: record.value,
                headers: record.headers)
        }
    }

    static func records(through: Int64, state: [UInt8], partition: KafkaTopicPartition = partition, id: UInt64) -> [KafkaProducerRecord] {
        StateTopicRecords.records(
            partition, StoredSnapshot(through: through, state: state), topic: "verdict.state", statePartition: 0, id: id)
    }

    @Test("a snapshot larger than a record is chunked and reassembled exactly, in any order of its chunks")
    func roundTrip() throws {
        let state = Self.bytes(3 * StateTopicRecords.chunkBytes + 1_234, seed: 7)
        let records = Self.records(through: 99, state: state, id: 1)
        #expect(records.count == 4)
        #expect(records.allSatisfy { ($0.value?.count ?? 0) <= StateTopicRecords.chunkBytes })
        var assembler = StateTopicAssembler(partition: Self.partition, before: 100)
        for message in Self.messages(records).reversed() { assembler.add(message) }
        #expect(assembler.best == StoredSnapshot(through: 99, state: state))
        #expect(assembler.takeRefused().isEmpty)
    }

    @Test("the newest complete snapshot below the first record to score wins; one at or past it, another partition's, or one cut short does not")
    func choosesNewestUsable() throws {
        var all: [KafkaProducerRecord] = []
        all += Self.records(through: 100, state: Self.bytes(900_000, seed: 1), id: 1)
        all += Self.records(through: 300, state: Self.bytes(900_000, seed: 2), id: 2)
        // Past the first record to score (400): never usable.
        all += Self.records(through: 400, state: Self.bytes(10, seed: 3), id: 3)
        // Another input partition in the same state partition.
        all += Self.records(through: 350, state: Self.bytes(10, seed: 4), partition: KafkaTopicPartition(topic: "transactions", partition: 4), id: 4)
        // A newer one whose writer died after its first chunk.
        all += Array(Self.records(through: 390, state: Self.bytes(900_000, seed: 5), id: 5).prefix(1))
        var assembler = StateTopicAssembler(partition: Self.partition, before: 400)
        for message in Self.messages(all) { assembler.add(message) }
        #expect(assembler.best?.through == 300)
        #expect(assembler.best?.state == Self.bytes(900_000, seed: 2))
        // The cut-short snapshot's first chunk was read: nothing older can complete it.
        #expect(!assembler.awaitsEarlierChunks)

        // Read from the end backwards, a window holding only a snapshot's last chunk waits for more.
        var tail = StateTopicAssembler(partition: Self.partition, before: 400)
        let newest = Self.records(through: 300, state: Self.bytes(900_000, seed: 2), id: 2)
        tail.add(Self.messages(newest, from: 1_000).last!)
        #expect(tail.best == nil)
        #expect(tail.awaitsEarlierChunks)
        // Its first chunk is probably where its chunk index points: the reader jumps there.
        #expect(tail.earliestAwaited == 1_000)
        for message in Self.messages(newest, from: 1_000).dropLast() { tail.add(message) }
        #expect(tail.best?.through == 300)
        #expect(tail.earliestAwaited == nil)
    }

    @Test("compaction keeps each chunk key's newest record: the newest snapshot survives whole and an older, longer one is passed over")
    func survivesCompaction() throws {
        let older = Self.records(through: 100, state: Self.bytes(3 * StateTopicRecords.chunkBytes, seed: 1), id: 1)
        let newer = Self.records(through: 200, state: Self.bytes(StateTopicRecords.chunkBytes + 10, seed: 2), id: 2)
        let other = Self.records(through: 150, state: Self.bytes(10, seed: 3), partition: KafkaTopicPartition(topic: "transactions", partition: 10), id: 3)
        #expect(older.count == 3 && newer.count == 2)
        // What a compacted log holds: the last record of each key, in log order.
        let log = Self.messages(older + other + newer)
        var last: [[UInt8]: KafkaMessage] = [:]
        for message in log { last[message.key!] = message }
        let compacted = last.values.sorted { $0.offset < $1.offset }
        #expect(compacted.count == 4, "chunks 0 and 1 of the newer, chunk 2 of the older, the other partition's")
        var assembler = StateTopicAssembler(partition: Self.partition, before: 1_000)
        for message in compacted.reversed() { assembler.add(message) }
        #expect(assembler.best == StoredSnapshot(through: 200, state: Self.bytes(StateTopicRecords.chunkBytes + 10, seed: 2)))
        // Partition 1's reader skips partition 10's chunks, whose keys share its prefix.
        var one = StateTopicAssembler(partition: KafkaTopicPartition(topic: "transactions", partition: 1), before: 1_000)
        for message in log { one.add(message) }
        #expect(one.best == nil && one.takeRefused().isEmpty)
        // A chunk whose key names another index than its header is refused.
        var swapped = newer
        swapped[0].key = newer[1].key
        var refused = StateTopicAssembler(partition: Self.partition, before: 1_000)
        for message in Self.messages(swapped) { refused.add(message) }
        #expect(refused.best == nil)
    }

    @Test("a replay keeps only snapshots whose newest record time is known and below the range")
    func recordTimeFilter() throws {
        var all: [KafkaProducerRecord] = []
        for (id, time) in [(1, Int64?(1_000)), (2, nil), (3, 5_000)] {
            all += StateTopicRecords.records(
                Self.partition, StoredSnapshot(through: Int64(id) * 100, state: Self.bytes(2_000, seed: UInt8(id)), newestRecordTime: time),
                topic: "verdict.state", statePartition: 0, id: UInt64(id))
        }
        var any = StateTopicAssembler(partition: Self.partition, before: .max)
        var below = StateTopicAssembler(partition: Self.partition, before: .max, recordTimeBelow: 4_000)
        for message in Self.messages(all) {
            any.add(message)
            below.add(message)
        }
        #expect(any.best?.through == 300)
        #expect(any.best?.newestRecordTime == 5_000)
        #expect(below.best == StoredSnapshot(through: 100, state: Self.bytes(2_000, seed: 1), newestRecordTime: 1_000))
    }

    @Test("a chunk with a flipped byte, a wrong length or hostile headers is refused with the reason, without trapping")
    func refusesDamage() throws {
        let state = Self.bytes(600_000, seed: 9)
        var records = Self.records(through: 10, state: state, id: 7)
        records[1].value![17] ^= 0x40
        var assembler = StateTopicAssembler(partition: Self.partition, before: 100)
        for message in Self.messages(records) { assembler.add(message) }
        #expect(assembler.best == nil)
        #expect(assembler.takeRefused().first?.contains("sha256") == true)

        var longer = Self.records(through: 10, state: state, id: 8)
        longer[0].value! += [1, 2, 3]
        assembler = StateTopicAssembler(partition: Self.partition, before: 100)
        for message in Self.messages(longer) { assembler.add(message) }
        #expect(assembler.best == nil)
        #expect(!assembler.takeRefused().isEmpty)

        // Every header replaced by hostile values, one at a time.
        let template = Self.records(through: 10, state: Self.bytes(100, seed: 1), id: 9)[0]
        let hostile = ["", "-1", "0/0", "5/2", "1/-3", "99999999999999999999", "1/1/1", "x", String(Int.max), "9223372036854775807/1"]
        for name in template.headers.map(\.name) {
            for value in hostile {
                var record = template
                record.headers = record.headers.map { $0.name == name ? KafkaHeader(name: name, string: value) : $0 }
                var one = StateTopicAssembler(partition: Self.partition, before: 100)
                for message in Self.messages([record]) { one.add(message) }
                // Any string is a valid snapshot id; every other header must be well formed.
                #expect(one.best == nil || name == "verdict-state-snapshot", "\(name)=\(value)")
            }
        }
        // A claimed size beyond any snapshot is refused before anything is allocated.
        var huge = template
        huge.headers = huge.headers.map { $0.name == "verdict-state-bytes" ? KafkaHeader(name: $0.name, string: String(Int.max)) : $0 }
        var one = StateTopicAssembler(partition: Self.partition, before: 100)
        for message in Self.messages([huge]) { one.add(message) }
        #expect(one.best == nil)
        #expect(one.takeRefused().first?.contains("damaged chunk headers") == true)
    }

    @Test("on the mock cluster: snapshots of several partitions are written and the newest usable one found, behind hundreds of newer records")
    func mockCluster() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: Self.logger)
        try cluster.createTopic("verdict.state", partitions: 2)
        let client = KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers])
        let topic = try StateTopic(
            topic: "verdict.state", producer: KafkaProducerConfiguration(client: client, linger: .milliseconds(2)),
            consumer: KafkaConsumerConfiguration(client: client, groupID: "state-\(UUID().uuidString)"), timeout: .seconds(30), logger: Self.logger)
        let p0 = Self.partition
        let p2 = KafkaTopicPartition(topic: "transactions", partition: 2)
        let p1 = KafkaTopicPartition(topic: "transactions", partition: 1)
        #expect(try topic.statePartition(for: p2) == 0)
        #expect(try topic.statePartition(for: p1) == 1)
        let big = Self.bytes(2 * StateTopicRecords.chunkBytes + 5, seed: 3)
        try topic.write(p0, through: 499, state: big)
        try topic.write(p1, through: 77, state: Self.bytes(50, seed: 4))
        // 300 snapshots of another partition after it, in the same state partition: the reader must
        // look further back than its first window.
        for through in 0..<300 { try topic.write(p2, through: Int64(through), state: Self.bytes(40, seed: UInt8(through % 200))) }
        try topic.write(p0, through: 900, state: Self.bytes(70, seed: 5))

        #expect(try topic.latest(p0, before: 1_000) == StoredSnapshot(through: 900, state: Self.bytes(70, seed: 5)))
        var batches = 0
        #expect(try topic.latest(p0, before: 900, progress: { batches += 1 }) == StoredSnapshot(through: 499, state: big))
        #expect(batches >= 1, "the reading reports its progress (to /healthz)")
        #expect(try topic.latest(p0, before: 499) == nil)
        #expect(try topic.latest(p1, before: 78)?.through == 77)
        #expect(try topic.latest(p2, before: 1_000)?.through == 299)
        #expect(try topic.latest(KafkaTopicPartition(topic: "transactions", partition: 3), before: 1_000) == nil)
        await topic.close()
    }

    @Test("a state topic that does not exist is reported as such")
    func missingTopic() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: Self.logger)
        let client = KafkaClientConfiguration(bootstrapServers: [cluster.bootstrapServers])
        let topic = try StateTopic(
            topic: "absent", producer: KafkaProducerConfiguration(client: client),
            consumer: KafkaConsumerConfiguration(client: client, groupID: "state-\(UUID().uuidString)"), timeout: .seconds(10), logger: Self.logger)
        #expect { try topic.write(Self.partition, through: 1, state: [1]) } throws: { error in
            (error as? KafkaError)?.code == .unknownTopic
        }
        await topic.close()
    }

    static let logger: Logger = {
        var logger = Logger(label: "verdict.tests.state-topic")
        logger.logLevel = .critical
        return logger
    }()
}
