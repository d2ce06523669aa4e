import Foundation
public import VerdictKafka

/// Snapshots of partitions' aggregate state in a local directory (`pipeline.state_directory`): a
/// restart cache. A snapshot holds a partition's state after some offset A. A rebuild up to offset
/// E may start from it only when A < E; it then reads the log from A + 1 instead of from the start.
///
/// A file is `VSNP`, a format version (2), A (8 bytes, little endian), the newest record time in
/// milliseconds (8 bytes, little endian; `Int64.min` when unknown), then the state's own bytes
/// (``AggregateState/snapshot()``: versioned, fingerprinted, checked before any allocation).
/// Version 1 files, without the time, are read too. A file is written to a temporary name and
/// renamed, so a crash leaves the old file or the new one.
public struct StateSnapshotDirectory: StateSnapshotStore {
    public let path: String
    /// The largest snapshot read: a file beyond it is refused before it is read.
    public static let maxFileBytes = 8 << 30
    static let magic: [UInt8] = Array("VSNP".utf8)
    static let version: UInt8 = 2

    /// - Throws: when the directory cannot be created.
    public init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public var description: String { "the state directory" }
    public var kind: StateStoreKind { .directory }

    /// The file of a partition: topic names are `[a-zA-Z0-9._-]`, safe in a file name.
    func file(_ partition: KafkaTopicPartition) -> String {
        (path as NSString).appendingPathComponent("\(partition.topic)-\(partition.partition).state")
    }

    /// Writes a partition's snapshot (atomically: a temporary file renamed over the old one).
    public func write(_ partition: KafkaTopicPartition, _ snapshot: StoredSnapshot) throws {
        var bytes = Self.magic
        bytes.append(Self.version)
        withUnsafeBytes(of: snapshot.through.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: (snapshot.newestRecordTime ?? .min).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: snapshot.state)
        let target = file(partition)
        let temporary = target + ".tmp"
        try Data(bytes).write(to: URL(fileURLWithPath: temporary))
        // rename(2) replaces the target atomically.
        guard rename(temporary, target) == 0 else {
            throw SnapshotError("cannot rename \(temporary) to \(target): \(String(cString: strerror(errno)))")
        }
    }

    /// The partition's snapshot when it ends before `end`. A snapshot at or past `end` holds
    /// events whose decisions are to be made again from the state before them (the commit lagged
    /// behind it): it cannot serve, and nil is returned.
    public func latest(_ partition: KafkaTopicPartition, before end: Int64, progress: () -> Void = {}) throws -> StoredSnapshot? {
        guard let saved = try read(partition), saved.through < end else { return nil }
        return saved
    }

    /// A partition's snapshot: nil when there is none.
    ///
    /// - Throws: ``SnapshotError`` naming the file when it is not a snapshot (the caller rebuilds
    ///   from the log instead).
    public func read(_ partition: KafkaTopicPartition) throws -> StoredSnapshot? {
        let target = file(partition)
        guard FileManager.default.fileExists(atPath: target) else { return nil }
        let size = (try? FileManager.default.attributesOfItem(atPath: target)[.size] as? Int) ?? 0
        guard size <= Self.maxFileBytes else { throw SnapshotError("\(target) is \(size) bytes, more than any snapshot; it is ignored") }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: target)))
        func int64(at start: Int) -> Int64 { bytes[start..<start + 8].reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) } }
        guard bytes.count >= 13, Array(bytes[0..<4]) == Self.magic, bytes[4] == 1 || (bytes[4] == 2 && bytes.count >= 21) else {
            throw SnapshotError("\(target) is not a version 1 or 2 state snapshot; it is ignored")
        }
        let through = int64(at: 5)
        guard through >= 0 else { throw SnapshotError("\(target) holds a negative offset; it is ignored") }
        guard bytes[4] == 2 else { return StoredSnapshot(through: through, state: Array(bytes[13...])) }
        let time = int64(at: 13)
        return StoredSnapshot(through: through, state: Array(bytes[21...]), newestRecordTime: time == .min ? nil : time)
    }
}

/// A snapshot file that cannot be used, and why.
public struct SnapshotError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
