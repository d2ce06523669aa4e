import Foundation
public import Hummingbird
public import Logging

/// What the sidecar serves; the executable connects it to the running pipeline.
public protocol SidecarBackend: Sendable {
    /// Liveness: the poll loop is alive and nothing fatal happened. Details go into the body.
    func health() -> (ok: Bool, details: [(String, String)])
    /// Readiness: a model is loaded and the consumer joined its group (not gated on partitions).
    func readiness() -> (ok: Bool, details: [(String, String)])
    /// Prometheus text exposition.
    func metrics() -> [UInt8]
    /// The loaded model as JSON; nil when no model is loaded.
    func modelJSON() -> [UInt8]?
    /// The model versions on disk as JSON.
    func modelsJSON() -> [UInt8]
    /// Reloads the active model; returns the loaded version or why it was refused.
    func reload() async -> Result<String, SidecarFailure>
    /// Activates a version (persisted) and loads it.
    func activate(version: String) async -> Result<String, SidecarFailure>
}

/// Why an admin action failed, with the HTTP status code it maps to.
public struct SidecarFailure: Error, Sendable {
    public var statusCode: Int
    public var message: String

    public init(statusCode: Int, message: String) {
        self.statusCode = statusCode
        self.message = message
    }

    var status: HTTPResponse.Status { HTTPResponse.Status(code: statusCode) }
}

/// The sidecar HTTP server on its own port: health, readiness, metrics, model information, and
/// bearer-token protected admin actions.
///
/// | route | |
/// |---|---|
/// | `GET /healthz` | 200 while the poll loop is alive and nothing fatal happened, else 503 |
/// | `GET /readyz` | 200 once a model is loaded and the consumer joined its group, else 503 |
/// | `GET /metrics` | Prometheus text format |
/// | `GET /model` | name, version, sha256, features, loaded_at, shadow (503 without a model) |
/// | `GET /models` | versions on disk and the active one |
/// | `POST /admin/reload` | reload the active model (bearer token) |
/// | `POST /admin/models/{version}/activate` | activate a version, persisted (bearer token) |
public enum Sidecar {
    /// Builds the sidecar application (a ServiceLifecycle service).
    ///
    /// - Parameters:
    ///   - host: Address to bind, e.g. 0.0.0.0.
    ///   - port: Port; 0 picks a free one (see `onRunning`).
    ///   - adminToken: The bearer token for /admin routes (re-read when its file changes); nil
    ///     disables them (403).
    ///   - backend: The pipeline's view.
    ///   - onRunning: Called with the bound port once the server listens.
    public static func application(
        host: String, port: Int, adminToken: AdminToken?, backend: any SidecarBackend, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/healthz") { _, _ -> Response in
            let (ok, details) = backend.health()
            return json(ok ? .ok : .serviceUnavailable, object(("status", ok ? "ok" : "unhealthy"), details))
        }
        router.get("/readyz") { _, _ -> Response in
            let (ok, details) = backend.readiness()
            return json(ok ? .ok : .serviceUnavailable, object(("status", ok ? "ready" : "not ready"), details))
        }
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: backend.metrics())))
        }
        router.get("/model") { _, _ -> Response in
            guard let model = backend.modelJSON() else {
                return json(.serviceUnavailable, object(("error", "no model is loaded"), []))
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: model)))
        }
        router.get("/models") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: backend.modelsJSON())))
        }
        router.post("/admin/reload") { request, _ -> Response in
            if let refusal = authorize(request, token: adminToken) { return refusal }
            switch await backend.reload() {
            case .success(let version): return json(.ok, object(("status", "reloaded"), [("version", version)]))
            case .failure(let failure): return json(failure.status, object(("error", failure.message), []))
            }
        }
        router.post("/admin/models/:version/activate") { request, context -> Response in
            if let refusal = authorize(request, token: adminToken) { return refusal }
            guard let version = context.parameters.get("version") else {
                return json(.badRequest, object(("error", "missing version"), []))
            }
            switch await backend.activate(version: version) {
            case .success(let loaded): return json(.ok, object(("status", "activated"), [("version", loaded)]))
            case .failure(let failure): return json(failure.status, object(("error", failure.message), []))
            }
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "verdict-sidecar"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    /// nil when the request carries the right bearer token; otherwise the refusal.
    static func authorize(_ request: Request, token: AdminToken?) -> Response? {
        guard let token else {
            return json(.forbidden, object(("error", "admin endpoints are disabled: set sidecar.admin_token_file or the admin token environment variable"), []))
        }
        let expected: String
        switch token.current() {
        case .success(let value): expected = value
        case .failure(let problem): return json(.forbidden, object(("error", "admin endpoints are disabled: \(problem)"), []))
        }
        guard let presented = AdminToken.bearer(request.headers[.authorization] ?? ""), AdminToken.matches(presented, expected) else {
            return Response(
                status: .unauthorized, headers: [.contentType: "application/json", .wwwAuthenticate: "Bearer"],
                body: .init(byteBuffer: ByteBuffer(string: object(("error", "missing or wrong bearer token"), []))))
        }
        return nil
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// A flat JSON object of strings; values lose their directories (``PathRedaction``).
    static func object(_ first: (String, String), _ rest: [(String, String)]) -> String {
        "{" + ([first] + rest).map { "\(quote($0.0)):\(quote(PathRedaction.redact($0.1)))" }.joined(separator: ",") + "}"
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
