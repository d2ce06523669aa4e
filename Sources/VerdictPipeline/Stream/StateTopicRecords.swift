public import VerdictKafka
import VerdictScoring

/// How a snapshot of a partition's aggregate state is laid out in the state topic (`topics.state`).
///
/// A snapshot of a million keys is hundreds of megabytes, and a record is limited to about a
/// megabyte (librdkafka's and the brokers' `message.max.bytes`), so a snapshot is written as
/// chunks of ``chunkBytes``, one record each:
/// - key: the input partition and the chunk's index, `topic/partition/index`. So a compacted
///   topic (real Kafka, `cleanup.policy=compact`) keeps each index's newest chunk: the newest
///   snapshot survives whole, and the topic stays about one snapshot per partition;
/// - partition of the state topic: the input partition's number modulo the state topic's count;
/// - value: the chunk's bytes, a slice of ``AggregateState/snapshot()``;
/// - headers: `verdict-state-snapshot` (an id the chunks of one snapshot share),
///   `verdict-state-through` (the last offset of the input partition the state holds),
///   `verdict-state-chunk` (`index/count`), `verdict-state-bytes` (the whole snapshot's length) and
///   `verdict-state-sha256` (of the whole snapshot), and `verdict-state-newest-record-time` (the
///   newest record timestamp the state holds, in milliseconds) when it is known.
///
/// A reader keeps a snapshot only once every chunk arrived and the bytes match their length and
/// hash; chunks from a snapshot that was cut short (the writer crashed, its transaction aborted)
/// are ignored.
public enum StateTopicRecords {
    /// Bytes per chunk: below librdkafka's default `message.max.bytes` (1,000,000) with its headers.
    public static let chunkBytes = 512 * 1024
    /// The largest snapshot a reader assembles; a record claiming more is ignored before anything
    /// is allocated for it.
    public static let maxSnapshotBytes = StateSnapshotDirectory.maxFileBytes
    static let idHeader = "verdict-state-snapshot"
    static let throughHeader = "verdict-state-through"
    static let chunkHeader = "verdict-state-chunk"
    static let bytesHeader = "verdict-state-bytes"
    static let hashHeader = "verdict-state-sha256"
    static let timeHeader = "verdict-state-newest-record-time"

    /// The prefix of the record keys of an input partition's snapshots.
    public static func key(_ partition: KafkaTopicPartition) -> [UInt8] {
        Array("\(partition.topic)/\(partition.partition)".utf8)
    }

    /// The record key of a chunk: the partition's prefix, `/`, the chunk's index.
    static func key(_ partition: KafkaTopicPartition, chunk index: Int) -> [UInt8] {
        key(partition) + Array("/\(index)".utf8)
    }

    /// The records of one snapshot, in chunk order.
    public static func records(
        _ partition: KafkaTopicPartition, _ snapshot: StoredSnapshot, topic: String, statePartition: Int, id: UInt64
    ) -> [KafkaProducerRecord] {
        let state = snapshot.state
        let count = max(1, (state.count + chunkBytes - 1) / chunkBytes)
        var common = [
            KafkaHeader(name: idHeader, string: String(id, radix: 16)),
            KafkaHeader(name: throughHeader, string: String(snapshot.through)),
            KafkaHeader(name: bytesHeader, string: String(state.count)),
            KafkaHeader(name: hashHeader, string: SHA256Hex.of(state)),
        ]
        if let time = snapshot.newestRecordTime { common.append(KafkaHeader(name: timeHeader, string: String(time))) }
        return (0..<count).map { index in
            let start = index * chunkBytes
            let chunk = Array(state[start..<min(state.count, start + chunkBytes)])
            return KafkaProducerRecord(
                topic: topic, partition: statePartition, key: key(partition, chunk: index), value: chunk,
                headers: common + [KafkaHeader(name: chunkHeader, string: "\(index)/\(count)")])
        }
    }
}

/// Reassembles the snapshots of one input partition from state-topic records read in any order,
/// keeping the one with the highest offset below `end` (``best``).
///
/// Every header is checked before it is used and every length before anything is allocated: the
/// state topic is input like any other, and a damaged or hostile record must not trap the process.
struct StateTopicAssembler {
    private struct Pending {
        var through: Int64
        var count: Int
        var bytes: Int
        var hash: String
        var time: Int64?
        var chunks: [Int: [UInt8]] = [:]
        var received = 0
        /// Where its first chunk would be if its chunks are contiguous (one writer per partition):
        /// the lowest offset of a chunk minus its index.
        var firstChunkNear = Int64.max
    }

    let key: [UInt8]
    let end: Int64
    /// Only snapshots whose newest record time is known and below this are kept (a replay).
    let recordTimeBelow: Int64?
    private var pending: [String: Pending] = [:]
    /// Snapshots already complete or refused, so that a chunk read again does not reopen them.
    private var finished: Set<String> = []
    private(set) var best: StoredSnapshot?
    /// Why snapshots of this partition were refused (damaged chunks, a wrong hash).
    private(set) var refused: [String] = []

    init(partition: KafkaTopicPartition, before end: Int64, recordTimeBelow: Int64? = nil) {
        key = StateTopicRecords.key(partition)
        self.end = end
        self.recordTimeBelow = recordTimeBelow
    }

    /// Whether an older part of the log may still complete a snapshot newer than ``best``: one whose
    /// later chunks were read but not its first. Chunks are written in order, so a snapshot whose
    /// first chunk was read and whose last was not was cut short, and never completes.
    var awaitsEarlierChunks: Bool { earliestAwaited != nil }

    /// The offset where the earliest chunk still awaited probably is: a reader going backwards
    /// jumps there instead of growing its window step by step.
    var earliestAwaited: Int64? {
        pending.values.filter { $0.chunks[0] == nil && $0.through > best?.through ?? -1 }.map(\.firstChunkNear).min()
    }

    /// The reasons collected since the last call.
    mutating func takeRefused() -> [String] {
        defer { refused = [] }
        return refused
    }

    mutating func add(_ message: KafkaMessage) {
        // Keys are `prefix/index`: other partitions' chunks (and anything else) are skipped.
        guard let recordKey = message.key, recordKey.count > key.count + 1, recordKey.starts(with: key), recordKey[key.count] == UInt8(ascii: "/")
        else { return }
        func header(_ name: String) -> String? { message.header(name).map { String(decoding: $0, as: UTF8.self) } }
        guard let id = header(StateTopicRecords.idHeader), !finished.contains(id) else { return }
        guard let through = header(StateTopicRecords.throughHeader).flatMap({ Int64($0) }), through >= 0 else {
            return refuse(id, "offset \(message.offset): no valid \(StateTopicRecords.throughHeader) header")
        }
        // A snapshot at or past the first record to score cannot serve: its chunks are not kept.
        guard through < end else { return }
        let timeText = header(StateTopicRecords.timeHeader)
        let time = timeText.flatMap { Int64($0) }
        guard timeText == nil || time != nil else { return refuse(id, "offset \(message.offset): a damaged \(StateTopicRecords.timeHeader) header") }
        if let recordTimeBelow { guard let time, time < recordTimeBelow else { return } }
        guard let bytes = header(StateTopicRecords.bytesHeader).flatMap({ Int($0) }), bytes >= 0, bytes <= StateTopicRecords.maxSnapshotBytes,
            let hash = header(StateTopicRecords.hashHeader), hash.utf8.count == 64,
            let position = header(StateTopicRecords.chunkHeader)?.split(separator: "/", omittingEmptySubsequences: false),
            position.count == 2, let index = Int(position[0]), let count = Int(position[1]),
            count >= 1, count <= bytes / 1024 + 1, index >= 0, index < count, let value = message.value,
            recordKey[(key.count + 1)...].elementsEqual(String(index).utf8)
        else {
            return refuse(id, "offset \(message.offset): damaged chunk headers")
        }
        var snapshot = pending[id] ?? Pending(through: through, count: count, bytes: bytes, hash: hash, time: time)
        guard snapshot.through == through, snapshot.count == count, snapshot.bytes == bytes, snapshot.hash == hash, snapshot.time == time else {
            return refuse(id, "offset \(message.offset): a chunk disagrees with the others of its snapshot")
        }
        guard snapshot.chunks[index] == nil else { return }
        guard value.count <= bytes - snapshot.received else {
            return refuse(id, "offset \(message.offset): the chunks hold more than the snapshot's \(bytes) bytes")
        }
        snapshot.chunks[index] = value
        snapshot.received += value.count
        let (near, overflow) = message.offset.subtractingReportingOverflow(Int64(index))
        if !overflow { snapshot.firstChunkNear = min(snapshot.firstChunkNear, near) }
        guard snapshot.chunks.count == count else {
            pending[id] = snapshot
            return
        }
        pending[id] = nil
        finished.insert(id)
        guard snapshot.received == bytes else { return refuse(id, "the chunks hold \(snapshot.received) of \(bytes) bytes") }
        var state: [UInt8] = []
        state.reserveCapacity(bytes)
        for i in 0..<count { state.append(contentsOf: snapshot.chunks[i]!) }
        guard SHA256Hex.of(state) == hash else { return refuse(id, "its bytes do not match their sha256") }
        if through > best?.through ?? -1 { best = StoredSnapshot(through: through, state: state, newestRecordTime: time) }
    }

    private mutating func refuse(_ id: String, _ reason: String) {
        pending[id] = nil
        finished.insert(id)
        refused.append("snapshot \(id): \(reason)")
    }
}
