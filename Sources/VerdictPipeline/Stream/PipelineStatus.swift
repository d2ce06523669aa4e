import CoreMetrics
import Synchronization
import VerdictKafka

/// What the sidecar reports: liveness of the poll loop, group membership, fatal errors.
public final class PipelineStatus: Sendable {
    private let lastPoll = Atomic<Int64>(0)
    private let joined = Atomic<Bool>(false)
    private let assigned = Atomic<Int>(0)
    private let fatal = Mutex<String?>(nil)
    private let unhealthy = Mutex<[String]>([])
    private let started = ContinuousClock.now

    public init() {}

    private var nowNanoseconds: Int64 {
        let (s, atto) = started.duration(to: .now).components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }

    func polled() { lastPoll.store(nowNanoseconds, ordering: .relaxed) }
    func joinedGroup() { joined.store(true, ordering: .relaxed) }
    func assignment(_ count: Int) { assigned.store(count, ordering: .relaxed) }
    /// Follows the assignment through rebalances (cooperative: events add or take away partitions).
    func assignmentChanged(by delta: Int) {
        let now = assigned.add(delta, ordering: .relaxed).newValue
        if now < 0 { assigned.store(0, ordering: .relaxed) }
    }
    func failed(_ message: String) { fatal.withLock { $0 = $0 ?? message } }
    func relayHealth(_ reasons: [String]) { unhealthy.withLock { $0 = reasons } }

    /// Why the stream cannot make progress although its poll loop runs (held partitions); empty when it can.
    public var unhealthyReasons: [String] { unhealthy.withLock { $0 } }

    /// Seconds since the poll loop last went round (nil before the first poll).
    public var secondsSinceLastPoll: Double? {
        let last = lastPoll.load(ordering: .relaxed)
        guard last > 0 else { return nil }
        return Double(nowNanoseconds - last) / 1e9
    }

    public var hasJoinedGroup: Bool { joined.load(ordering: .relaxed) }
    public var assignedPartitions: Int { assigned.load(ordering: .relaxed) }
    public var fatalError: String? { fatal.withLock { $0 } }

    /// Alive: the poll loop went round in the last `staleAfter` seconds (or the process started
    /// less than that ago and is still starting it) and nothing fatal happened.
    public func isAlive(staleAfter: Double = 15) -> Bool {
        guard fatalError == nil, unhealthyReasons.isEmpty else { return false }
        guard let since = secondsSinceLastPoll else { return Double(nowNanoseconds) / 1e9 < staleAfter }
        return since < staleAfter
    }
}
