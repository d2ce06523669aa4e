/// Settings of a ``KafkaConsumer``.
///
/// The defaults are for at-least-once processing: offsets are stored explicitly, only after the work
/// for a message is done (`enable.auto.offset.store=false`), and committed periodically, on revoke
/// and on close.
public struct KafkaConsumerConfiguration: Sendable, Hashable {
    /// Partition assignment strategies (`partition.assignment.strategy`).
    public enum AssignmentStrategy: String, Sendable, Hashable {
        /// Incremental: a rebalance moves only the partitions that change owner. Default.
        case cooperativeSticky = "cooperative-sticky"
        case range = "range"
        case roundRobin = "roundrobin"
    }

    /// Where to start when the group has no committed offset (`auto.offset.reset`).
    public enum OffsetReset: String, Sendable, Hashable, CaseIterable {
        case earliest, latest
        /// Fail the partition instead of guessing.
        case error
    }

    public var client: KafkaClientConfiguration
    /// `group.id`. Default `verdict`.
    public var groupID: String
    /// `group.instance.id` (static membership, KIP-345): a member that restarts with the same id
    /// within `session.timeout.ms` gets its partitions back without a rebalance. Default none.
    public var groupInstanceID: String?
    /// `partition.assignment.strategy`. Default cooperative-sticky.
    public var assignmentStrategy: AssignmentStrategy
    /// `auto.offset.reset`. Default earliest: a new group scores the backlog rather than skipping it.
    public var offsetReset: OffsetReset
    /// `session.timeout.ms`. Default 45 s (librdkafka's).
    public var sessionTimeout: Duration
    /// `max.poll.interval.ms`. Default 300 s.
    public var maxPollInterval: Duration
    /// `auto.commit.interval.ms` for the periodic commit of stored offsets; nil disables auto commit
    /// (offsets are then committed only by ``KafkaConsumer/commit(timeout:)``, on revoke and on close).
    /// Default ``defaultAutoCommitInterval``.
    public var autoCommitInterval: Duration?
    /// 1 s: a crash redelivers at most about a second of acknowledged work.
    public static let defaultAutoCommitInterval: Duration = .seconds(1)
    /// `isolation.level=read_committed` (skip aborted transactional records). Default true.
    public var readCommitted: Bool
    /// Most messages handed to the handler in one batch. Default 2000: large enough that the
    /// per-batch costs (a wake-up, a scoring fan-out across threads) vanish per event, small
    /// enough that one batch of 460-byte events stays under a megabyte.
    public var maxBatchSize: Int
    /// How long the poll thread waits for the first message of a batch. Default 100 ms.
    public var pollTimeout: Duration
    /// `fetch.queue.backoff.ms`: how long librdkafka waits before fetching again for partitions
    /// whose local queue passed its thresholds (`queued.min.messages`, `queued.max.messages.kbytes`).
    /// Default 20 ms. librdkafka's own default (1 s) idles a consumer that processes more slowly
    /// than it fetches. The consumer drains its queue in a fraction of the backoff and then waits
    /// out the rest, which held the relay to 140k msgs/s on the development broker; at 20 ms it
    /// moved 320k.
    public var fetchQueueBackoff: Duration

    public init(
        client: KafkaClientConfiguration = KafkaClientConfiguration(),
        groupID: String = "verdict",
        groupInstanceID: String? = nil,
        assignmentStrategy: AssignmentStrategy = .cooperativeSticky,
        offsetReset: OffsetReset = .earliest,
        sessionTimeout: Duration = .seconds(45),
        maxPollInterval: Duration = .seconds(300),
        autoCommitInterval: Duration? = KafkaConsumerConfiguration.defaultAutoCommitInterval,
        readCommitted: Bool = true,
        maxBatchSize: Int = 2000,
        pollTimeout: Duration = .milliseconds(100),
        fetchQueueBackoff: Duration = .milliseconds(20)
    ) {
        self.client = client
        self.groupID = groupID
        self.groupInstanceID = groupInstanceID
        self.assignmentStrategy = assignmentStrategy
        self.offsetReset = offsetReset
        self.sessionTimeout = sessionTimeout
        self.maxPollInterval = maxPollInterval
        self.autoCommitInterval = autoCommitInterval
        self.readCommitted = readCommitted
        self.maxBatchSize = maxBatchSize
        self.pollTimeout = pollTimeout
        self.fetchQueueBackoff = fetchQueueBackoff
    }

    /// The librdkafka properties, secrets resolved, pass-through applied last.
    ///
    /// - Throws: ``KafkaError`` (configuration) for an empty group id, a bad batch size or an
    ///   unreadable secret.
    public func librdkafkaProperties() throws(KafkaError) -> [String: String] {
        guard !groupID.isEmpty else { throw .configuration("the consumer group id is empty; set kafka.consumer.group_id") }
        guard maxBatchSize > 0 else { throw .configuration("max batch size must be positive (got \(maxBatchSize))") }
        var result = try client.baseProperties()
        result["group.id"] = groupID
        if let groupInstanceID {
            guard !groupInstanceID.isEmpty else {
                throw .configuration("the group instance id is empty; unset kafka.consumer.group_instance_id or name the instance")
            }
            result["group.instance.id"] = groupInstanceID
        }
        result["partition.assignment.strategy"] = assignmentStrategy.rawValue
        result["auto.offset.reset"] = offsetReset.rawValue
        result["session.timeout.ms"] = String(sessionTimeout.milliseconds)
        result["max.poll.interval.ms"] = String(maxPollInterval.milliseconds)
        result["enable.auto.offset.store"] = "false"
        if let autoCommitInterval {
            result["enable.auto.commit"] = "true"
            result["auto.commit.interval.ms"] = String(autoCommitInterval.milliseconds)
        } else {
            result["enable.auto.commit"] = "false"
        }
        result["isolation.level"] = readCommitted ? "read_committed" : "read_uncommitted"
        result["enable.partition.eof"] = "false"
        result["fetch.queue.backoff.ms"] = String(fetchQueueBackoff.milliseconds)
        result.merge(client.properties) { _, passThrough in passThrough }
        return result
    }
}
