import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VerdictKafka

/// A `verdict serve` process of the test's own, run from the built binary so tests can signal and
/// kill it like an orchestrator would. It runs under `timeout` (it cannot outlive a crashed test run)
/// and is stopped by its own PID.
final class ServiceProcess: @unchecked Sendable {
    /// The binary: VERDICT_BINARY (scripts/test-run sets the release build `make test` just made),
    /// else the debug or release build in .build.
    static func binary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["VERDICT_BINARY"], !path.isEmpty { return path }
        for candidate in [".build/debug/verdict", ".build/release/verdict"] {
            let path = TestBroker.projectRoot.appendingPathComponent(candidate).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        Issue.record("no verdict binary: run `swift build` (or `make build`) before the service tests, or set VERDICT_BINARY")
        throw CancellationError()
    }

    let directory: URL
    let logFile: URL
    private let wrapper: Process
    /// The verdict process itself (the timeout wrapper's child), which SIGKILL targets.
    let pid: pid_t
    private(set) var port = 0

    /// Starts `verdict serve --config config` and waits until its sidecar is listening.
    static func start(config: URL, directory: URL, name: String, environment: [String: String] = [:], lifetime: Int = 300) async throws -> ServiceProcess {
        let service = try ServiceProcess(config: config, directory: directory, name: name, environment: environment, lifetime: lifetime)
        try await service.waitForSidecar()
        return service
    }

    private let portFile: URL

    private init(config: URL, directory: URL, name: String, environment: [String: String], lifetime: Int) throws {
        self.directory = directory
        logFile = directory.appendingPathComponent("\(name).log")
        portFile = directory.appendingPathComponent("\(name).port")
        try? FileManager.default.removeItem(at: portFile)
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        wrapper = Process()
        wrapper.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        wrapper.arguments = [
            "-k", "5", "\(lifetime)", try Self.binary(), "serve", "--config", config.path,
            "--sidecar-port", "0", "--port-file", portFile.path,
        ]
        var env = ProcessInfo.processInfo.environment
        env["VERDICT_ADMIN_TOKEN"] = ServiceProcess.adminToken
        for (key, value) in environment { env[key] = value }
        wrapper.environment = env
        let log = try FileHandle(forWritingTo: logFile)
        wrapper.standardOutput = log
        wrapper.standardError = log
        try wrapper.run()
        let child = childPID(of: wrapper)
        pid = child
        guard child > 0 else {
            wrapper.terminate()
            Issue.record("verdict serve did not start")
            throw CancellationError()
        }
    }

    /// Polls the port file with `Task.sleep`, never `usleep`: a test blocking one of the cooperative
    /// pool's threads (two on a 2-core runner) for seconds stalls every other async test with it.
    private func waitForSidecar() async throws {
        for _ in 0..<300 {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let bound = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                port = bound
                break
            }
            if !wrapper.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard port > 0 else {
            Issue.record("verdict serve did not open its sidecar; log:\n\(self.log(tail: 20))")
            stop()
            throw CancellationError()
        }
    }

    static let adminToken = "test-admin-token-0123456789abcdef"

    deinit { stop() }

    /// Kills whatever is left (tests end with an explicit signal; this is the safety net).
    func stop() {
        if wrapper.isRunning {
            kill(pid, SIGKILL)
            wrapper.terminate()
        }
        wrapper.waitUntilExit()
    }

    func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the process to exit; its exit status (timeout passes the child's through), or nil
    /// when it is still running at the deadline.
    func waitForExit(timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while wrapper.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(50))
        }
        return wrapper.terminationStatus
    }

    /// Waits until /readyz says ready and, when asked, partitions are assigned.
    func waitUntilReady(assigned: Bool = true, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let (status, body) = try? await get("/readyz"), status == 200,
                !assigned || !body.contains("\"assigned_partitions\":\"0\"")
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("verdict serve was not ready within \(timeout); log:\n\(log(tail: 20))")
        throw CancellationError()
    }

    func get(_ path: String) async throws -> (Int, String) {
        try await request("GET", path, token: nil)
    }

    func post(_ path: String, token: String? = ServiceProcess.adminToken) async throws -> (Int, String) {
        try await request("POST", path, token: token)
    }

    private func request(_ method: String, _ path: String, token: String?) async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = 10
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// The value of a metric series from /metrics (`name{labels}` exactly as exposed), or nil.
    func metric(_ series: String) async throws -> Double? {
        let (_, body) = try await get("/metrics")
        for line in body.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// Peak resident memory (VmHWM) in bytes.
    func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Int($0) }.first
            return kb.map { $0 * 1024 }
        }
        return nil
    }

    func log(tail lines: Int) -> String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    func logContains(_ text: String) -> Bool {
        ((try? String(contentsOf: logFile, encoding: .utf8)) ?? "").contains(text)
    }
}

/// One run of the stream for a test: its own topics, consumer group, model directory and config.
struct StreamFixture {
    let brokers: String
    let directory: URL
    let input: String
    let decisions: String
    let deadLetters: String
    /// The state topic (`topics.state`), created with the input's partition count when the
    /// features have aggregates.
    let state: String
    let group: String
    let models: URL
    let config: URL

    /// Creates topics and a config; `pipeline` and `kafka` add YAML under those sections.
    static func make(
        _ name: String, brokers: String, partitions: Int = 4, pipeline: [String] = [], producerProperties: [String: String] = [:],
        guarantee: String = "at_least_once", mock: KafkaMockCluster? = nil, rules: URL? = nil, features: URL? = nil,
        createStateTopic: Bool = true
    ) async throws -> StreamFixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let input = TestBroker.uniqueTopic("\(name)-in"), decisions = TestBroker.uniqueTopic("\(name)-decisions"),
            deadLetters = TestBroker.uniqueTopic("\(name)-dlq")
        let state = TestBroker.uniqueTopic("\(name)-state")
        let withState = features != nil && createStateTopic
        if let mock {
            if withState { try mock.createTopic(state, partitions: partitions) }
            try mock.createTopic(input, partitions: partitions)
            try mock.createTopic(decisions, partitions: partitions)
            try mock.createTopic(deadLetters, partitions: 1)
        } else {
            try await TestBroker.createTopic(input, partitions: partitions, brokers: brokers)
            try await TestBroker.createTopic(decisions, partitions: partitions, brokers: brokers)
            try await TestBroker.createTopic(deadLetters, partitions: 1, brokers: brokers)
            if withState { try await TestBroker.createTopic(state, partitions: partitions, brokers: brokers) }
        }
        // The committed default model, copied so a test can add versions and switch between them.
        let models = directory.appendingPathComponent("models/verdict-fraud")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: TestBroker.projectRoot.appendingPathComponent("models/verdict-fraud/1.0.0"), to: models.appendingPathComponent("1.0.0"))
        try "1.0.0\n".write(to: models.appendingPathComponent("ACTIVE"), atomically: true, encoding: .utf8)
        let root = TestBroker.projectRoot.path
        let properties = producerProperties.map { "      \"\($0.key)\": \"\($0.value)\"" }.joined(separator: "\n")
        let yaml = """
            kafka:
              bootstrap_servers: [\(brokers)]
              consumer:
                group_id: \(name)-\(UUID().uuidString.prefix(8))
                session_timeout: 6s
              producer:
                linger: 2ms
                properties:
            \(properties.isEmpty ? "      {}" : properties)
            topics:
              input: [\(input)]
              decisions: \(decisions)
              dead_letters: \(deadLetters)
              state: \(state)
            model:
              path: \(models.path)
              watch: true
            scoring:
              features: \(features?.path ?? root + "/config/features.yaml")
              rules: \(rules?.path ?? root + "/config/rules.yaml")
            pipeline:
              guarantee: \(guarantee)
            \(pipeline.contains { $0.hasPrefix("shutdown_timeout") } ? "" : "  shutdown_timeout: 10s")
            \(pipeline.map { "  " + $0 }.joined(separator: "\n"))
            sidecar:
              host: 127.0.0.1
              port: 9102
            logging:
              level: info
            """
        let config = directory.appendingPathComponent("verdict.yaml")
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        let group = yaml.split(separator: "\n").first { $0.contains("group_id:") }!.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)
        return StreamFixture(
            brokers: brokers, directory: directory, input: input, decisions: decisions, deadLetters: deadLetters, state: state,
            group: group, models: models, config: config)
    }

    func start(_ name: String = "serve", environment: [String: String] = [:]) async throws -> ServiceProcess {
        try await ServiceProcess.start(config: config, directory: directory, name: name, environment: environment)
    }

    /// Runs `verdict generate` into the input topic (waits for it); `seed` keeps ids distinct across calls.
    func generate(count: Int, rate: Double = 0, invalidFraction: Double = 0, seed: UInt64 = 1, cards: Int = 20_000) async throws {
        let process = try generator(count: count, rate: rate, invalidFraction: invalidFraction, seed: seed, cards: cards)
        try await exit(of: process)
        #expect(process.terminationStatus == 0, "verdict generate failed")
    }

    /// Starts `verdict generate` and returns without waiting.
    func generator(count: Int, rate: Double = 0, invalidFraction: Double = 0, seed: UInt64 = 1, cards: Int = 20_000) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = [
            "-k", "5", "240", try ServiceProcess.binary(), "generate", "--brokers", brokers, "--topic", input,
            "--count", String(count), "--rate", String(rate), "--invalid-fraction", String(invalidFraction), "--seed", String(seed),
            "--cards", String(cards),
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}
