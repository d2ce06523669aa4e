import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import VerdictHTTP

/// `verdict healthcheck`'s probe against a real server (the lag exporter's metrics endpoint), and
/// against nothing.
@Suite("Health probe and metrics endpoint")
struct HealthProbeTests {
    @Test("the probe reads 200 and 503 from /healthz, the metrics endpoint serves the exposition, a closed port fails")
    func probeAgainstTheMetricsServer() async throws {
        var logger = Logger(label: "verdict.tests.http")
        logger.logLevel = .critical
        let healthy = Atomic<Bool>(true)
        let bound = Mutex<Int?>(nil)
        let app = MetricsServer.application(
            host: "127.0.0.1", port: 0, serverName: "test", logger: logger,
            metrics: { Array("verdict_group_total_lag_records{group=\"g\"} 7\n".utf8) },
            health: { healthy.load(ordering: .relaxed) ? (true, "fine") : (false, "no measurement") },
            onRunning: { port in bound.withLock { $0 = port } }
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var port: Int?
            for _ in 0..<200 {
                port = bound.withLock { $0 }
                if port != nil { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let listening = try #require(port)
            #expect(await HealthProbe.get(host: "127.0.0.1", port: listening, path: "/healthz", timeout: .seconds(5)) == .status(200))
            healthy.store(false, ordering: .relaxed)
            #expect(await HealthProbe.get(host: "127.0.0.1", port: listening, path: "/healthz", timeout: .seconds(5)) == .status(503))
            #expect(await HealthProbe.get(host: "127.0.0.1", port: listening, path: "/metrics", timeout: .seconds(5)) == .status(200))
            #expect(await HealthProbe.get(host: "127.0.0.1", port: listening, path: "/nothing", timeout: .seconds(5)) == .status(404))
            group.cancelAll()
        }
    }

    @Test("no server: the probe fails with the reason instead of hanging")
    func closedPort() async {
        let outcome = await HealthProbe.get(host: "127.0.0.1", port: 1, path: "/healthz", timeout: .seconds(3))
        guard case .failed(let reason) = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        #expect(reason.contains("Connection refused"), "\(reason)")
    }
}
