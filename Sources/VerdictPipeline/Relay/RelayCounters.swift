/// What a relay did since it started.
public struct RelayCounters: Sendable, Equatable {
    public var consumed = 0
    public var delivered = 0
    public var retried = 0
    /// Outputs refused for good; their partitions are held.
    public var failedPermanently = 0
    /// In-flight records dropped because their partition was revoked, lost or rewound (the consumer
    /// delivers them again).
    public var abandoned = 0
    /// Records of partitions not assigned when they arrived (fetched before a revoke).
    public var droppedUnassigned = 0
    /// Backward offsets seen (a seek, a log truncation, an offset reset).
    public var rewinds = 0
    /// Records the tracker refused (logged and counted, never skipped silently).
    public var refused = 0
    public var pauses = 0

    public init() {}
}
