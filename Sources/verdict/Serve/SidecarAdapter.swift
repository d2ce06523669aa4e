import Foundation
import Metrics
import Prometheus
import VerdictHTTP
import VerdictPipeline
import VerdictScoring

/// Connects the sidecar to the running pipeline.
struct SidecarAdapter: SidecarBackend {
    let models: ModelManager
    let status: PipelineStatus
    let registry: PrometheusCollectorRegistry
    /// /healthz and /readyz as gauges, set on every scrape: alerts on readiness need a series, and
    /// Prometheus cannot probe an HTTP status by itself.
    private let healthy: Metrics.Gauge
    private let ready: Metrics.Gauge

    init(models: ModelManager, status: PipelineStatus, registry: PrometheusCollectorRegistry) {
        self.models = models
        self.status = status
        self.registry = registry
        let factory = PrometheusMetricsFactory(registry: registry)
        healthy = Metrics.Gauge(label: "verdict_healthy", dimensions: [], factory: factory)
        ready = Metrics.Gauge(label: "verdict_ready", dimensions: [], factory: factory)
    }

    func health() -> (ok: Bool, details: [(String, String)]) {
        var details: [(String, String)] = []
        if let since = status.secondsSinceLastPoll { details.append(("seconds_since_poll", String(format: "%.3f", since))) }
        if let fatal = status.fatalError { details.append(("fatal_error", fatal)) }
        for (index, reason) in status.unhealthyReasons.enumerated() { details.append(("held_\(index)", reason)) }
        return (status.isAlive(), details)
    }

    func readiness() -> (ok: Bool, details: [(String, String)]) {
        let model = models.hasModel
        let joined = status.hasJoinedGroup
        var details = [("model_loaded", String(model)), ("joined_group", String(joined)), ("assigned_partitions", String(status.assignedPartitions))]
        if let error = models.lastError { details.append(("model_error", error)) }
        return (model && joined && status.fatalError == nil, details)
    }

    func metrics() -> [UInt8] {
        healthy.record(health().ok ? 1 : 0)
        ready.record(readiness().ok ? 1 : 0)
        return registry.emitToBuffer()
    }

    func modelJSON() -> [UInt8]? {
        guard let s = models.status else { return nil }
        var object: [String: Any] = [
            "name": s.name, "version": s.version, "sha256": s.sha256, "features": s.features,
            "loaded_at": Timestamps.rfc3339(s.loadedAt), "file": (s.source as NSString).lastPathComponent,
        ]
        object["shadow"] = s.shadow.map { ["name": $0.name, "version": $0.version, "sha256": $0.sha256] } ?? NSNull()
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { [UInt8]($0) }
    }

    func modelsJSON() -> [UInt8] {
        let repository = models.repository
        let active = repository.activeVersion()
        let loaded = models.status?.version
        let versions: [[String: Any]] = repository.versions().map { version in
            var entry: [String: Any] = [
                "version": version.version, "active": version.version == active, "loaded": version.version == loaded,
                "file": (version.modelFile as NSString).lastPathComponent,
            ]
            if let card = version.card {
                entry["created_at"] = card.createdAt ?? NSNull()
                entry["sha256"] = card.sha256
                entry["metrics"] = card.metrics ?? [:]
            }
            return entry
        }
        // The repository's name, not its path: the sidecar does not disclose the host's layout.
        let object: [String: Any] = [
            "path": (repository.path as NSString).lastPathComponent, "versioned": repository.isVersioned, "active": active ?? NSNull(),
            "loaded": loaded ?? NSNull(), "versions": versions,
        ]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { [UInt8]($0) } ?? []
    }

    /// The policy (features.yaml, rules.yaml), then the model. A refused policy stops there: the
    /// model is not reloaded against a policy that is not in force.
    func reload() async -> Result<String, SidecarFailure> {
        let policy: String
        do {
            policy = try models.reloadPolicy(reason: "POST /admin/reload")
        } catch {
            return .failure(
                SidecarFailure(statusCode: 422, message: "policy refused; the previous features and rules keep deciding: \(error.message)"))
        }
        do {
            return .success("\(try models.reload(reason: "POST /admin/reload")) (policy_version \(policy))")
        } catch {
            return .failure(SidecarFailure(statusCode: 422, message: "model refused; the previous model keeps serving: \(error.message)"))
        }
    }

    func activate(version: String) async -> Result<String, SidecarFailure> {
        guard models.repository.isVersioned else {
            return .failure(SidecarFailure(statusCode: 409, message: "model.path is not a directory of versions"))
        }
        guard models.repository.versions().contains(where: { $0.version == version }) else {
            return .failure(SidecarFailure(statusCode: 404, message: "no version '\(version)'"))
        }
        do {
            try models.activate(version)
            return .success(version)
        } catch {
            return .failure(SidecarFailure(statusCode: 422, message: "version \(version) refused; the previous model keeps serving: \(error.message)"))
        }
    }
}
