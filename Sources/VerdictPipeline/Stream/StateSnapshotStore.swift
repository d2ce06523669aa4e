public import VerdictKafka

/// A partition's aggregate state after offset `through`, as ``AggregateState/snapshot()`` bytes.
public struct StoredSnapshot: Sendable, Equatable {
    public var through: Int64
    public var state: [UInt8]
    /// The newest Kafka timestamp (milliseconds) among the partition's records up to `through`,
    /// nil when unknown. A replay of a time range may start from the snapshot only when it is
    /// below the range: then every record the state holds comes before the range.
    public var newestRecordTime: Int64?

    public init(through: Int64, state: [UInt8], newestRecordTime: Int64? = nil) {
        self.through = through
        self.state = state
        self.newestRecordTime = newestRecordTime
    }
}

/// Where the stream keeps snapshots of its partitions' aggregate state: the state topic
/// (``StateTopic``, any instance can restore from it) and the local directory
/// (``StateSnapshotDirectory``, a restart cache of this pod).
///
/// Any snapshot is safe to restore whenever it was written, as long as it ends before the first
/// record to score: a partition's state at offset A is the fold of its log up to A, whoever
/// computed it. So stores never wait for decisions to be acknowledged.
public protocol StateSnapshotStore: Sendable {
    /// How log lines name the store ("the state topic verdict.state").
    var description: String { get }

    /// The store's label in metrics.
    var kind: StateStoreKind { get }

    /// Keeps a snapshot of the partition's state.
    func write(_ partition: KafkaTopicPartition, _ snapshot: StoredSnapshot) throws

    /// The newest snapshot of the partition that ends before offset `end` (nil when there is none).
    ///
    /// - Parameter progress: Called as the reading advances (a large snapshot takes seconds to
    ///   read, and /healthz must see that the poll thread is not stuck).
    /// - Throws: when the store cannot be read, or its snapshot is damaged (the caller rebuilds
    ///   from the log instead, and logs why).
    func latest(_ partition: KafkaTopicPartition, before end: Int64, progress: () -> Void) throws -> StoredSnapshot?
}

extension StateSnapshotStore {
    /// Keeps the partition's state after offset `through`, its records' times unknown.
    public func write(_ partition: KafkaTopicPartition, through: Int64, state: [UInt8]) throws {
        try write(partition, StoredSnapshot(through: through, state: state))
    }
}

/// The kinds of snapshot store, as metrics label them.
public enum StateStoreKind: String, Sendable, CaseIterable {
    case topic, directory
}
