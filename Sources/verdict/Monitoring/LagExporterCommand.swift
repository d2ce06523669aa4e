import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import UnixSignals
import VerdictHTTP
import VerdictKafka
import VerdictPipeline

/// `verdict lag-exporter`: the consumer group's lag, read from the brokers and served to Prometheus.
///
/// Each `verdict serve` pod reports its own lag while it runs; when every pod is down (a crash loop,
/// a bad rollout) those series vanish, and the alert that matters most, lag growing, would go
/// silent. This process never joins the group, so it keeps measuring whatever the members do.
struct LagExporterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lag-exporter",
        abstract: "Serve the consumer group's lag (committed offsets against the end of each input partition) to Prometheus."
    )

    @Option(help: "Service configuration: its brokers, security, consumer group and input topics are measured.") var config: String = "config/verdict.yaml"
    @Option(help: "Bootstrap servers, overriding kafka.bootstrap_servers (host:port,...).") var brokers: String?
    @Option(help: "Consumer group, overriding kafka.consumer.group_id.") var group: String?
    @Option(help: "Input topic, overriding topics.input (repeatable).") var topic: [String] = []
    @Option(help: "Port for /metrics and /healthz (0 = any free port).") var port: Int = 9103
    @Option(help: "Address to bind.") var host: String = "0.0.0.0"
    @Option(help: "Seconds between two measurements.") var interval: Double = 10
    @Option(name: .customLong("port-file"), help: "Write the bound port to this file (for scripts and tests).") var portFile: String?

    func validate() throws {
        guard interval >= 0.5, interval <= 3600 else { throw ValidationError("--interval \(interval) is outside 0.5...3600 seconds") }
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port) is not a TCP port (0...65535)") }
    }

    func run() async throws {
        var configuration = try VerdictConfiguration.load(path: config)
        if let brokers { configuration.kafka.bootstrapServers = brokers.split(separator: ",").map(String.init) }
        if let group { configuration.kafka.consumer.groupID = group }
        if !topic.isEmpty { configuration.topics.input = topic }
        CommandSupport.bootstrapLogging(configuration.logging)
        let logger = CommandSupport.serviceLogger(label: "verdict.lag", configuration)
        let patterns = configuration.topics.input.filter { $0.hasPrefix("^") }
        guard patterns.isEmpty else {
            throw ValidationError("topics.input has patterns (\(patterns.joined(separator: ", "))): name the topics with --topic to measure them")
        }
        let reader = try KafkaGroupLag(configuration: configuration.kafkaClient(), groupID: configuration.kafka.consumer.groupID, logger: logger)
        let registry = PrometheusCollectorRegistry()
        let metrics = GroupLagMetrics(factory: PrometheusMetricsFactory(registry: registry), group: reader.groupID)
        let poller = GroupLagPoller(
            reader: reader, topics: configuration.topics.input, interval: .milliseconds(Int64(interval * 1000)),
            metrics: metrics, logger: logger)
        let server = MetricsServer.application(
            host: host, port: port, serverName: "verdict-lag-exporter", logger: logger,
            metrics: { registry.emitToBuffer() },
            health: { poller.isHealthy ? (true, "measured within three intervals") : (false, "no successful measurement within three intervals") },
            onRunning: { [portFile] bound in
                logger.info("lag exporter listening", metadata: [LogKey.port: "\(bound)", LogKey.group: "\(reader.groupID)"])
                if let portFile { try? "\(bound)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
            }
        )
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [.init(service: server), .init(service: poller)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            ))
        try await serviceGroup.run()
    }
}

/// The exporter's metrics, created once; one gauge per partition, bounded by the topics' partitions.
final class GroupLagMetrics: Sendable {
    private let factory: PrometheusMetricsFactory
    private let group: String
    private let gauges = Mutex<[KafkaTopicPartition: (lag: Metrics.Gauge, committed: Metrics.Gauge, end: Metrics.Gauge)]>([:])
    let failures: Metrics.Counter
    let lastSuccess: Metrics.Gauge
    let totalLag: Metrics.Gauge

    init(factory: PrometheusMetricsFactory, group: String) {
        self.factory = factory
        self.group = group
        failures = Metrics.Counter(label: "verdict_group_lag_failures_total", dimensions: [("group", group)], factory: factory)
        lastSuccess = Metrics.Gauge(label: "verdict_group_lag_last_success_timestamp_seconds", dimensions: [("group", group)], factory: factory)
        totalLag = Metrics.Gauge(label: "verdict_group_total_lag_records", dimensions: [("group", group)], factory: factory)
    }

    func record(_ lags: [KafkaPartitionLag], at time: Date) {
        var total: Int64 = 0
        for entry in lags {
            let tp = entry.topicPartition
            let set = gauges.withLock { gauges in
                if let existing = gauges[tp] { return existing }
                let dimensions = [("group", group), ("topic", tp.topic), ("partition", String(tp.partition))]
                let created = (
                    Metrics.Gauge(label: "verdict_group_lag_records", dimensions: dimensions, factory: factory),
                    Metrics.Gauge(label: "verdict_group_committed_offset", dimensions: dimensions, factory: factory),
                    Metrics.Gauge(label: "verdict_group_end_offset", dimensions: dimensions, factory: factory)
                )
                gauges[tp] = created
                return created
            }
            set.lag.record(entry.lag)
            set.committed.record(entry.committed ?? -1)
            set.end.record(entry.high)
            total = total.addingReportingOverflow(entry.lag).overflow ? .max : total + entry.lag
        }
        totalLag.record(total)
        lastSuccess.record(time.timeIntervalSince1970)
    }
}

/// Measures every `interval` until shutdown; a failed measurement is logged and counted, and the
/// previous values stay exported (their timestamp says how old they are).
final class GroupLagPoller: Service, Sendable {
    let reader: KafkaGroupLag
    let topics: [String]
    let interval: Duration
    let metrics: GroupLagMetrics
    let logger: Logger
    private let lastSuccess = Mutex<ContinuousClock.Instant?>(nil)

    init(reader: KafkaGroupLag, topics: [String], interval: Duration, metrics: GroupLagMetrics, logger: Logger) {
        self.reader = reader
        self.topics = topics
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
    }

    /// Healthy while the last successful measurement is at most three intervals old.
    var isHealthy: Bool {
        guard let last = lastSuccess.withLock({ $0 }) else { return false }
        return ContinuousClock.now - last <= interval * 3
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let lags = try await self.reader.measure(topics: self.topics)
                    self.metrics.record(lags, at: Date())
                    self.lastSuccess.withLock { $0 = ContinuousClock.now }
                } catch {
                    self.metrics.failures.increment()
                    self.logger.warning("measuring the group's lag failed; the last values stay exported", metadata: [LogKey.error: "\(error)"])
                }
                try await Task.sleep(for: self.interval)
            }
        }
    }
}
