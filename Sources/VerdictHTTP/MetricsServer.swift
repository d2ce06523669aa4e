public import Hummingbird
public import Logging

/// A bare metrics endpoint for processes that are not `verdict serve` (the lag exporter):
/// `GET /metrics` in Prometheus text format and `GET /healthz`.
public enum MetricsServer {
    /// Builds the server (a ServiceLifecycle service).
    ///
    /// - Parameters:
    ///   - host: Address to bind.
    ///   - port: Port; 0 picks a free one (see `onRunning`).
    ///   - metrics: The exposition, rendered per scrape.
    ///   - health: Whether the process is healthy, and a one-line reason either way.
    ///   - onRunning: Called with the bound port once the server listens.
    public static func application(
        host: String, port: Int, serverName: String, logger: Logger,
        metrics: @escaping @Sendable () -> [UInt8],
        health: @escaping @Sendable () -> (ok: Bool, reason: String),
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics())))
        }
        router.get("/healthz") { _, _ -> Response in
            let (ok, reason) = health()
            return Sidecar.json(ok ? .ok : .serviceUnavailable, Sidecar.object(("status", ok ? "ok" : "unhealthy"), [("reason", reason)]))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: serverName),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
