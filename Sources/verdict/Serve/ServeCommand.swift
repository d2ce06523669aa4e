import ArgumentParser
import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import VerdictForest
import VerdictHTTP
import VerdictKafka
import VerdictONNX
import VerdictPipeline
import VerdictScoring

/// `verdict serve`: the stream service, its model watcher, drift monitor and sidecar, in one
/// ServiceGroup.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the scoring service: consume events, publish decisions and dead letters, serve the sidecar."
    )

    @Option(help: "Service configuration.") var config: String = "config/verdict.yaml"
    @Option(help: "Bootstrap servers, overriding kafka.bootstrap_servers (host:port,...).") var brokers: String?
    @Option(name: .customLong("sidecar-port"), help: "Sidecar port, overriding sidecar.port (0 = any free port).") var sidecarPort: Int?
    @Option(name: .customLong("port-file"), help: "Write the sidecar's bound port to this file (for scripts and tests).") var portFile: String?

    func run() async throws {
        var configuration = try VerdictConfiguration.load(path: config)
        if let brokers { configuration.kafka.bootstrapServers = brokers.split(separator: ",").map(String.init) }
        if let sidecarPort { configuration.sidecar.port = sidecarPort }
        CommandSupport.bootstrapLogging(configuration.logging)
        let logger = CommandSupport.serviceLogger(label: "verdict", configuration)
        let scoring = try ScoringConfiguration.load(
            features: configuration.resolve(configuration.scoring.features),
            rules: configuration.resolve(configuration.scoring.rules),
            validation: configuration.scoring.validation
        )
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets = PipelineMetrics.histogramBuckets
        let metrics = PipelineMetrics(factory: factory, inputTopics: configuration.topics.input, build: Build.labels)
        let pool = ForestWorkerPool(threads: configuration.pipeline.workerThreads > 0 ? configuration.pipeline.workerThreads : nil)
        // The monitor observes the scorer the manager builds, and reads the manager's model card
        // when it publishes: it is created first and given the manager on each publication.
        let drift = DriftMonitor(models: nil, metrics: metrics)
        let models = try ModelManager(
            configuration: configuration, scoring: scoring, pool: pool, metrics: metrics, logger: logger,
            observer: drift, loader: { request throws(ForestError) in try ModelLoader.loadAnyFormat(request) })
        let status = PipelineStatus()
        // Aggregate state is rebuilt from each partition's own log when this instance takes it.
        let history: PartitionHistory? = try models.aggregates.map { _ in
            let reader = try KafkaPartitionReader(configuration: try configuration.consumerConfiguration(), logger: logger)
            return { partition, start, end, body in try reader.read(partition, from: start, before: end, timeout: .seconds(600), body) }
        }
        let snapshots = try configuration.pipeline.stateDirectory.map { try StateSnapshotDirectory(path: configuration.resolve($0)) }
        // Snapshots in the state topic let whichever instance takes a partition start from there.
        let stateTopic: StateTopic? =
            models.aggregates == nil || configuration.topics.state.isEmpty
            ? nil
            : try StateTopic(
                topic: configuration.topics.state, producer: configuration.producerConfiguration(),
                consumer: configuration.consumerConfiguration(), logger: logger)
        let processor = ScoringProcessor(
            models: models, decisionsTopic: configuration.topics.decisions, deadLetterTopic: configuration.topics.deadLetters, metrics: metrics,
            history: history, snapshots: snapshots, stores: stateTopic.map { [$0] } ?? [], snapshotsInTransactions: configuration.exactlyOnce,
            snapshotInterval: configuration.pipeline.stateSnapshotInterval.seconds, status: status,
            pollInterval: configuration.kafka.consumer.maxPollInterval.duration, logger: logger)
        let stream = StreamService(
            configuration: configuration, processor: processor, stateTopic: stateTopic?.topic, metrics: metrics, status: status, logger: logger)
        let adminToken = try Self.adminToken(configuration)
        let sidecar = Sidecar.application(
            host: configuration.sidecar.host, port: configuration.sidecar.port, adminToken: adminToken,
            backend: SidecarAdapter(models: models, status: status, registry: registry), logger: logger,
            onRunning: { [portFile] port in
                logger.info("sidecar listening", metadata: [LogKey.port: "\(port)"])
                if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
            }
        )
        let watch = ModelWatchService(models: models, logger: logger)
        // Graceful shutdown runs in reverse order: the stream stops first (draining while the
        // sidecar still answers), the sidecar last.
        let watchdog = ShutdownWatchdog(limit: configuration.pipeline.shutdownTimeout.seconds + 5, stream: stream, logger: logger)
        var services: [any Service] = [sidecar, DriftMonitorService(monitor: drift, models: models)]
        if configuration.model.watch { services.append(watch) }
        services.append(stream)
        // Last, so it hears of a shutdown first, whatever started it (a signal, a fatal error, a
        // failed service), and arms the deadline before anything else starts to stop.
        services.append(watchdog)
        let group = ServiceGroup(
            configuration: .init(
                services: services.map {
                    .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
                },
                gracefulShutdownSignals: [],
                cancellationSignals: [],
                logger: logger
            ))
        let signals = SignalHandling(group: group, stream: stream, models: models, watchdog: watchdog, logger: logger)
        signals.install()
        do {
            try await group.run()
        } catch {
            logger.error("verdict stopped with an error", metadata: [LogKey.error: "\(error)"])
            pool.shutdown()
            throw ExitCode(1)
        }
        pool.shutdown()
        await stateTopic?.close()
        if signals.forced { throw ExitCode(2) }
    }

    /// The admin bearer token from the configured file (re-read when it changes) or environment
    /// variable; refused at start when it is unreadable or shorter than 24 bytes.
    static func adminToken(_ configuration: VerdictConfiguration) throws -> AdminToken? {
        let token: AdminToken
        if let file = configuration.sidecar.adminTokenFile {
            token = AdminToken(file: configuration.resolve(file))
        } else if let variable = configuration.sidecar.adminTokenEnv, let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty {
            token = AdminToken(value: value)
        } else {
            return nil
        }
        if case .failure(let problem) = token.current() { throw ValidationError("\(problem)") }
        return token
    }
}

/// The drift monitor with the model manager wired in after both exist (the manager's scorer feeds
/// the monitor, the monitor reads the manager's card).
struct DriftMonitorService: Service {
    let monitor: DriftMonitor
    let models: ModelManager

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(30))
                monitor.publish(models: models)
            }
        }
    }
}

/// SIGTERM/SIGINT: graceful shutdown; a second one (more than a second later): commit what is safe
/// and exit 2. SIGHUP:
/// reload the model. A watchdog ends the process if shutdown overruns its deadline.
final class SignalHandling: @unchecked Sendable {
    // Signal sources must be retained for as long as they should fire.
    private var sources: [any DispatchSourceSignal] = []
    private let group: ServiceGroup
    private let stream: StreamService
    private let models: ModelManager
    private let watchdog: ShutdownWatchdog
    private let logger: Logger
    private let signalsSeen = Atomic<Int>(0)
    private let forcedFlag = Atomic<Bool>(false)
    /// When the first stop signal arrived (uptime nanoseconds).
    private let firstSignalAt = Atomic<UInt64>(0)
    /// A stop signal within this long of the first is the same request delivered twice: `timeout`
    /// and some init processes signal both the process and its process group.
    static let duplicateWindow: UInt64 = 1_000_000_000

    init(group: ServiceGroup, stream: StreamService, models: ModelManager, watchdog: ShutdownWatchdog, logger: Logger) {
        self.group = group
        self.stream = stream
        self.models = models
        self.watchdog = watchdog
        self.logger = logger
    }

    var forced: Bool { forcedFlag.load(ordering: .relaxed) }

    func install() {
        for signal in [SIGTERM, SIGINT, SIGHUP] {
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { [self] in handle(signal) }
            source.resume()
            sources.append(source)
        }
    }

    private func handle(_ signal: Int32) {
        if signal == SIGHUP {
            logger.info("SIGHUP: reloading the policy and the model", metadata: [LogKey.signal: "SIGHUP"])
            // A refused policy or model is logged and counted by the manager; the old one keeps
            // serving. The policy first, so a model that needs a new feature finds it.
            _ = try? models.reloadPolicy(reason: "SIGHUP")
            _ = try? models.reload(reason: "SIGHUP")
            return
        }
        let now = DispatchTime.now().uptimeNanoseconds
        let first = firstSignalAt.load(ordering: .relaxed)
        if first != 0 && now &- first < Self.duplicateWindow {
            logger.debug("stop signal repeated within a second: one request", metadata: [LogKey.signal: "\(signal)"])
            return
        }
        let count = signalsSeen.add(1, ordering: .relaxed).newValue
        if count == 1 {
            firstSignalAt.store(now, ordering: .relaxed)
            logger.info("shutting down gracefully", metadata: [LogKey.signal: "\(signal == SIGTERM ? "SIGTERM" : "SIGINT")"])
            watchdog.arm()
            Task { await group.triggerGracefulShutdown() }
        } else {
            forcedFlag.store(true, ordering: .relaxed)
            logger.warning("second signal: stopping now")
            stream.emergencyStop()
            exit(2)
        }
    }
}

/// Never hang on the way out: once any shutdown starts (a signal, a fatal stream error, a service
/// that failed), the process commits what is safe and exits 3 if it is still running `limit`
/// seconds later.
final class ShutdownWatchdog: Service, Sendable {
    private let limit: Double
    private let stream: StreamService
    private let logger: Logger
    private let armed = Atomic<Bool>(false)

    init(limit: Double, stream: StreamService, logger: Logger) {
        self.limit = limit
        self.stream = stream
        self.logger = logger
    }

    func run() async throws {
        try? await gracefulShutdown()
        arm()
    }

    /// Starts the deadline (once; later calls do nothing).
    func arm() {
        guard !armed.exchange(true, ordering: .relaxed) else { return }
        let limit = self.limit
        DispatchQueue.global().asyncAfter(deadline: .now() + limit) { [logger, stream] in
            logger.error("shutdown overran its deadline; exiting", metadata: [LogKey.duration: "\(limit)"])
            stream.emergencyStop()
            exit(3)
        }
    }
}

/// Version strings for `verdict_build_info`.
enum Build {
    static let version = "0.1.0"
    static var labels: [(String, String)] {
        [("version", version), ("librdkafka", KafkaVersion.librdkafka), ("swift", "6")]
    }
}
