import Foundation
import Logging
import Synchronization
import Testing
import VerdictKafka

/// The broker `make test` starts (scripts/broker), found through VERDICT_BROKERS or .run/broker.address.
///
/// Under `make test`, VERDICT_REQUIRE_INTEGRATION=1: a missing broker then fails the suites instead
/// of skipping them, so CI cannot pass with the integration tests silently off.
enum TestBroker {
    static let projectRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    static let address: String? = {
        if let env = ProcessInfo.processInfo.environment["VERDICT_BROKERS"], !env.isEmpty { return env }
        let file = projectRoot.appendingPathComponent(".run/broker.address")
        return (try? String(contentsOf: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    static let required = ProcessInfo.processInfo.environment["VERDICT_REQUIRE_INTEGRATION"] == "1"

    /// Whether the integration suites run: always when required (they then fail without a broker).
    static let enabled = required || address != nil

    static func brokers() throws -> String {
        guard let address else {
            Issue.record("no broker: run `scripts/broker start` or `make test` (VERDICT_BROKERS unset, .run/broker.address missing)")
            throw CancellationError()
        }
        return address
    }

    static let logger: Logger = {
        var logger = Logger(label: "verdict.tests")
        logger.logLevel = ProcessInfo.processInfo.environment["VERDICT_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .error
        return logger
    }()

    /// A topic name no other test uses.
    static func uniqueTopic(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    static func createTopic(_ name: String, partitions: Int, brokers: String) async throws {
        let admin = try KafkaAdmin(configuration: KafkaClientConfiguration(bootstrapServers: [brokers]), logger: logger)
        try await admin.createTopics([(name, partitions)])
    }

    static func client(_ brokers: String) -> KafkaClientConfiguration {
        KafkaClientConfiguration(bootstrapServers: [brokers], clientID: "verdict-tests")
    }

    static func consumerConfiguration(_ brokers: String, group: String) -> KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(
            client: client(brokers),
            groupID: group,
            offsetReset: .earliest,
            // Tansu waits about half the session timeout before the first assignment.
            sessionTimeout: .seconds(6),
            autoCommitInterval: .milliseconds(500)
        )
    }
}

/// The PID of the process a `timeout` wrapper runs (signals meant for the program go to it), or 0
/// when it did not appear within about two seconds.
func childPID(of wrapper: Process) -> pid_t {
    let pid = wrapper.processIdentifier
    for _ in 0..<200 {
        if let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8),
            let child = pid_t(text.split(separator: " ").first ?? "")
        {
            return child
        }
        usleep(10_000)
    }
    return 0
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(
    timeout: Duration,
    _ what: @autoclosure () -> String = "condition",
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !condition() {
        if clock.now >= deadline {
            Issue.record("timed out after \(timeout) waiting for \(what())", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// Collects what a consumer hands out.
final class CollectingHandler: KafkaConsumerHandler {
    struct State {
        var messages: [KafkaMessage] = []
        var events: [KafkaRebalanceEvent] = []
        var errors: [KafkaError] = []
        var statistics: [KafkaStatistics] = []
    }

    let state = Mutex(State())
    /// Store each message's offset as soon as it arrives (as an application that finished it would).
    let storeOffsets: Bool

    init(storeOffsets: Bool = true) {
        self.storeOffsets = storeOffsets
    }

    func consumer(_ consumer: KafkaConsumer, didReceive messages: [KafkaMessage]) {
        state.withLock { $0.messages.append(contentsOf: messages) }
        guard storeOffsets else { return }
        var next: [KafkaTopicPartition: Int64] = [:]
        for message in messages { next[message.topicPartition] = message.offset + 1 }
        try? consumer.storeOffsets(next.map { KafkaTopicPartitionOffset(topicPartition: $0.key, offset: $0.value) })
    }

    func consumer(_ consumer: KafkaConsumer, rebalance event: KafkaRebalanceEvent) {
        state.withLock { $0.events.append(event) }
    }

    func consumer(_ consumer: KafkaConsumer, didFail error: KafkaError) {
        state.withLock { $0.errors.append(error) }
    }

    func consumer(_ consumer: KafkaConsumer, statistics: KafkaStatistics) {
        state.withLock { $0.statistics.append(statistics) }
    }

    var count: Int { state.withLock { $0.messages.count } }
    var messages: [KafkaMessage] { state.withLock { $0.messages } }
    var assignment: Set<KafkaTopicPartition> {
        state.withLock { state in
            var result = Set<KafkaTopicPartition>()
            for event in state.events {
                switch event {
                case .assigned(let p): result.formUnion(p)
                case .revoked(let p), .lost(let p): result.subtract(p)
                }
            }
            return result
        }
    }
}

/// Collects delivery reports.
final class DeliveryCollector: Sendable {
    let reports = Mutex<[UInt64: KafkaDeliveryReport]>([:])

    func record(_ report: KafkaDeliveryReport) {
        reports.withLock { $0[report.id] = report }
    }

    var count: Int { reports.withLock { $0.count } }
    var failures: [KafkaDeliveryReport] { reports.withLock { $0.values.filter { !$0.isDelivered } } }
}

/// Sends every record, waiting for queue space when the producer pushes back.
func sendAll(_ producer: KafkaProducer, _ records: some Sequence<(UInt64, KafkaProducerRecord)>) throws {
    for (id, record) in records {
        while !(try trySend(producer, record, id: id)) {
            producer.waitForQueueSpace(timeout: .milliseconds(100))
        }
    }
}

/// Sends one record; false when the producer's queue is full.
func trySend(_ producer: KafkaProducer, _ record: KafkaProducerRecord, id: UInt64) throws -> Bool {
    do {
        try producer.send(record, id: id)
        return true
    } catch {
        if error.code == .queueFull { return false }
        throw error
    }
}

/// Runs `verdict` with `arguments` from the project root under a `timeout` deadline; returns its exit
/// status and what it printed (stdout and stderr together).
func runVerdict(_ arguments: [String], seconds: Int = 120) async throws -> (status: Int32, output: String) {
    try await runProgram(try ServiceProcess.binary(), arguments, seconds: seconds)
}

/// Runs `program` from the project root under a `timeout` deadline, off the cooperative pool;
/// returns its exit status and what it printed (stdout and stderr together).
func runProgram(_ program: String, _ arguments: [String], seconds: Int = 120) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
    process.arguments = ["-k", "5", String(seconds), program] + arguments
    process.currentDirectoryURL = TestBroker.projectRoot
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let reader = output.fileHandleForReading
    let data = await offThePool { reader.readDataToEndOfFile() }
    try await exit(of: process)
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Waits for `process` to exit by polling with `Task.sleep`: `waitUntilExit()` blocks a thread of
/// Swift's cooperative pool, which has one per core. On a 2-core runner two such waits stall every
/// other async test; a mock-cluster test stalled that way for two minutes could not bring its broker
/// back before its records timed out (a CI failure).
func exit(of process: Process) async throws {
    while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
}

/// Runs blocking work (reading a pipe to its end) on a thread of its own, off the cooperative pool.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: body()) }
    }
}
