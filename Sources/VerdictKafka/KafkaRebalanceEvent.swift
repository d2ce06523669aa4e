/// A change of a consumer's partition assignment, delivered synchronously inside librdkafka's
/// rebalance callback, before the change takes effect.
///
/// On ``revoked(_:)`` the handler still owns the partitions: it finishes or abandons their in-flight
/// work and stores the offsets it is sure of; the consumer then commits them and only then releases
/// the partitions. On ``lost(_:)`` another member may already own them, so nothing is committed.
public enum KafkaRebalanceEvent: Sendable, Hashable {
    /// Partitions added to this member's assignment.
    case assigned([KafkaTopicPartition])
    /// Partitions taken away in an orderly rebalance; stored offsets are committed after the handler returns.
    case revoked([KafkaTopicPartition])
    /// Partitions taken away without a handover (session timeout, fenced member): do not commit.
    case lost([KafkaTopicPartition])

    /// The partitions this event concerns.
    public var partitions: [KafkaTopicPartition] {
        switch self {
        case .assigned(let p), .revoked(let p), .lost(let p): p
        }
    }
}
