import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import Yams

/// The monitoring of monitoring/ proven against the real thing: Debian's `prometheus` scrapes a
/// running `verdict serve` and `verdict lag-exporter` on the embedded broker, with the committed
/// rules (only their `for:` durations shortened, so alerts fire in seconds rather than minutes).
@Suite("Alerts and dashboard against a live Prometheus", .serialized, .enabled(if: TestBroker.enabled))
struct PrometheusLiveTests {
    static let monitoring = TestBroker.projectRoot.appendingPathComponent("monitoring")

    @Test("every recording rule, alert and dashboard query is valid and finds its metrics in the scrape; the dead-letter and lag alerts fire")
    func liveRulesAndAlerts() async throws {
        let fixture = try await StreamFixture.make("prom", brokers: try TestBroker.brokers())
        let service = try await fixture.start()
        try await service.waitUntilReady()
        let exporter = try await PortFileProcess.start(
            name: "lag-exporter", directory: fixture.directory,
            arguments: ["lag-exporter", "--config", fixture.config.path, "--interval", "1", "--host", "127.0.0.1"])
        let rules = try Self.rules()
        let prometheus = try await PrometheusProcess.start(
            directory: fixture.directory, rules: rules.shortened,
            targets: ["verdict": "127.0.0.1:\(service.port)", "verdict-lag": "127.0.0.1:\(exporter.port)"])
        defer {
            prometheus.stop()
            exporter.stop()
        }

        // 30% invalid traffic: the dead-letter ratio alert must fire.
        let generator = try fixture.generator(count: 12_000, rate: 800, invalidFraction: 0.3, seed: 71)

        // (a) Every expression is valid, and every metric it names is in the scrape. Some series
        // appear only once traffic flows (lag per partition) or after the drift monitor's first
        // publication (PSI, every 30 s): wait for them, then name whatever is still missing.
        let expressions = rules.expressions + (try Self.dashboardQueries())
        #expect(expressions.count > 30)
        let recorded = Set(rules.recordNames)
        for (source, expression) in expressions {
            let (status, body) = try await prometheus.query(expression)
            #expect(status == 200 && body.contains("\"status\":\"success\""), "\(source): \(expression) is refused: \(body)")
            for name in Self.recordingRuleNames(in: expression) {
                #expect(recorded.contains(name), "\(source): \(expression) uses \(name), which no rule records")
            }
        }
        let wanted = Set(expressions.flatMap { Self.metricNames(in: $0.expression) })
        var missing = wanted
        let deadline = ContinuousClock.now + .seconds(90)
        while !missing.isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .seconds(2))
            missing.subtract(try await prometheus.metricNames())
        }
        #expect(missing.isEmpty, "metrics the rules or the dashboard name but the scrape does not contain: \(missing.sorted())")

        // (b) The dead-letter ratio alert fires.
        try await prometheus.waitUntilFiring("VerdictDeadLetterRatioHigh", timeout: .seconds(90))
        try await exit(of: generator)

        // (c) Lag grows while the service is stopped and traffic keeps coming: the lag exporter,
        // which never joins the group, keeps the series alive and the alert fires.
        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(30)) == 0)
        let backlog = try fixture.generator(count: 20_000, rate: 1_000, seed: 72)
        try await prometheus.waitUntilFiring("VerdictConsumerLagGrowing", timeout: .seconds(90))
        try await exit(of: backlog)
    }

    /// The committed rules, with each alert's `for:` cut to a few seconds.
    struct Rules {
        var shortened: String
        var expressions: [(source: String, expression: String)]
        var recordNames: [String]
    }

    static func rules() throws -> Rules {
        let text = try String(contentsOf: monitoring.appendingPathComponent("prometheus/rules.yml"), encoding: .utf8)
        guard var tree = try Yams.load(yaml: text) as? [String: Any], var groups = tree["groups"] as? [[String: Any]] else {
            Issue.record("monitoring/prometheus/rules.yml has no groups")
            throw CancellationError()
        }
        var expressions: [(String, String)] = []
        var records: [String] = []
        for (g, group) in groups.enumerated() {
            var rules = group["rules"] as? [[String: Any]] ?? []
            for (r, rule) in rules.enumerated() {
                let expression = (rule["expr"] as? String ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                if let record = rule["record"] as? String {
                    records.append(record)
                    expressions.append(("recording rule \(record)", expression))
                } else if let alert = rule["alert"] as? String {
                    expressions.append(("alert \(alert)", expression))
                    if rule["for"] != nil { rules[r]["for"] = "3s" }
                }
            }
            groups[g]["rules"] = rules
            groups[g]["interval"] = "1s"
        }
        tree["groups"] = groups
        return Rules(shortened: try Yams.dump(object: tree), expressions: expressions, recordNames: records)
    }

    static func dashboardQueries() throws -> [(source: String, expression: String)] {
        let data = try Data(contentsOf: monitoring.appendingPathComponent("grafana/verdict.json"))
        let dashboard = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        return (dashboard["panels"] as? [[String: Any]] ?? []).flatMap { panel in
            (panel["targets"] as? [[String: Any]] ?? []).compactMap { target in
                (target["expr"] as? String).map { ("dashboard panel '\(panel["title"] ?? "")'", $0) }
            }
        }
    }

    /// `verdict_...` metric names in an expression (label values are quoted, so they never match).
    static func metricNames(in expression: String) -> [String] {
        matches(
            of: #"(?<![\w:"])verdict_[a-z0-9_]+(?![\w:"])"#, in: expression.replacingOccurrences(of: #""[^"]*""#, with: "\"\"", options: .regularExpression))
    }

    static func recordingRuleNames(in expression: String) -> [String] {
        matches(of: #"(?<![\w:])verdict:[a-z0-9_:]+"#, in: expression)
    }

    static func matches(of pattern: String, in text: String) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { Range($0.range, in: text).map { String(text[$0]) } }
    }
}

/// A `verdict` subcommand that writes its bound port to `--port-file`, run under `timeout`.
final class PortFileProcess: @unchecked Sendable {
    private let process: Process
    let port: Int

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    static func start(name: String, directory: URL, arguments: [String], lifetime: Int = 300) async throws -> PortFileProcess {
        let portFile = directory.appendingPathComponent("\(name).port")
        let logFile = directory.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-k", "5", "\(lifetime)", try ServiceProcess.binary()] + arguments + ["--port", "0", "--port-file", portFile.path]
        let log = try FileHandle(forWritingTo: logFile)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        for _ in 0..<300 {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return PortFileProcess(process: process, port: port)
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let output = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        Issue.record("verdict \(name) did not write its port; log:\n\(output.suffix(2000))")
        throw CancellationError()
    }

    deinit { stop() }

    /// Stops the `timeout` wrapper, which passes SIGTERM on to the command.
    func stop() {
        if process.isRunning { process.terminate() }
    }
}

/// Debian's `prometheus` on loopback, scraping the given targets every second.
final class PrometheusProcess: @unchecked Sendable {
    private let process: Process
    let port: UInt16
    let logFile: URL

    private init(process: Process, port: UInt16, logFile: URL) {
        self.process = process
        self.port = port
        self.logFile = logFile
    }

    static var binary: String { ProcessInfo.processInfo.environment["VERDICT_PROMETHEUS"] ?? "/usr/bin/prometheus" }

    static func start(directory: URL, rules: String, targets: [String: String]) async throws -> PrometheusProcess {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            Issue.record("no Prometheus at \(binary): run scripts/check (it installs Debian's prometheus package) or set VERDICT_PROMETHEUS")
            throw CancellationError()
        }
        let home = directory.appendingPathComponent("prometheus")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        try rules.write(to: home.appendingPathComponent("rules.yml"), atomically: true, encoding: .utf8)
        let scrapes = targets.sorted { $0.key < $1.key }.map { job, target in
            "  - job_name: \(job)\n    static_configs: [{targets: [\"\(target)\"]}]"
        }.joined(separator: "\n")
        let config = """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            rule_files: [rules.yml]
            scrape_configs:
            \(scrapes)

            """
        try config.write(to: home.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let port = try PrivateTansu.freePort()
        let logFile = home.appendingPathComponent("prometheus.log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = [
            "-k", "5", "300", binary, "--config.file=\(home.path)/prometheus.yml",
            "--storage.tsdb.path=\(home.path)/data", "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
        ]
        process.currentDirectoryURL = home
        let log = try FileHandle(forWritingTo: logFile)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let prometheus = PrometheusProcess(process: process, port: port, logFile: logFile)
        try await eventually(timeout: .seconds(60), "Prometheus to be ready") { () async -> Bool in
            ((try? await prometheus.get("/-/ready"))?.0 ?? 0) == 200
        }
        return prometheus
    }

    deinit { stop() }

    func stop() {
        if process.isRunning { process.terminate() }
    }

    func get(_ path: String) async throws -> (Int, String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// An instant query, sent as a form (so `+`, braces and quotes arrive intact).
    func query(_ expression: String) async throws -> (Int, String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/query")!)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        request.httpBody = Data(("query=" + (expression.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")).utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// Every metric name Prometheus has stored.
    func metricNames() async throws -> Set<String> {
        let (_, body) = try await get("/api/v1/label/__name__/values")
        let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        return Set(object?["data"] as? [String] ?? [])
    }

    /// The names of the alerts now firing.
    func firing() async throws -> Set<String> {
        let (_, body) = try await get("/api/v1/alerts")
        let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let alerts = (object?["data"] as? [String: Any])?["alerts"] as? [[String: Any]] ?? []
        return Set(
            alerts.compactMap { alert in
                (alert["state"] as? String) == "firing" ? (alert["labels"] as? [String: Any])?["alertname"] as? String : nil
            })
    }

    func waitUntilFiring(_ alert: String, timeout: Duration, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await firing().contains(alert) { return }
            try await Task.sleep(for: .seconds(1))
        }
        let (_, alerts) = try await get("/api/v1/alerts")
        let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        Issue.record(
            "\(alert) did not fire within \(timeout); alerts: \(alerts.prefix(3000)); prometheus log: \(log.suffix(1500))",
            sourceLocation: sourceLocation)
        throw CancellationError()
    }
}
