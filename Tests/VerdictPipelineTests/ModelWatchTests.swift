import Foundation
import Logging
import Prometheus
import Testing
import VerdictForest
import VerdictONNX
@testable import VerdictPipeline
import VerdictScoring

/// The model watcher notices every change that can alter what is loaded, from file metadata alone.
@Suite("Model watcher")
struct ModelWatchTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the fingerprint stays put while nothing changes and moves when the model, its card, ACTIVE, a new version or a swapped symlink does")
    func fingerprintFollowsEveryChange() throws {
        let manager = FileManager.default
        let repository = manager.temporaryDirectory.appendingPathComponent("verdict-watch-\(UUID().uuidString)")
        defer { try? manager.removeItem(at: repository) }
        // A ConfigMap-style layout: the version directory lives under a timestamped directory
        // that the `..data` symlink points at, and the repository names it through `..data`.
        let first = repository.appendingPathComponent("..2026_12_01_a")
        try manager.createDirectory(at: first, withIntermediateDirectories: true)
        try manager.copyItem(at: Self.root.appendingPathComponent("models/verdict-fraud/1.0.0"), to: first.appendingPathComponent("1.0.0"))
        try manager.createSymbolicLink(atPath: repository.appendingPathComponent("..data").path, withDestinationPath: "..2026_12_01_a")
        try manager.createSymbolicLink(atPath: repository.appendingPathComponent("1.0.0").path, withDestinationPath: "..data/1.0.0")
        try "1.0.0\n".write(to: repository.appendingPathComponent("ACTIVE"), atomically: true, encoding: .utf8)

        var configuration = try VerdictConfiguration.load(path: Self.root.appendingPathComponent("config/verdict.yaml").path, environment: [:])
        configuration.model.path = repository.path
        let scoring = try ScoringConfiguration.load(
            features: configuration.resolve(configuration.scoring.features),
            rules: configuration.resolve(configuration.scoring.rules),
            validation: configuration.scoring.validation
        )
        let metrics = PipelineMetrics(
            factory: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()), inputTopics: configuration.topics.input, build: [])
        let logger = Logger(label: "test")
        let models = try ModelManager(
            configuration: configuration, scoring: scoring, pool: nil, metrics: metrics, logger: logger,
            loader: { request throws(ForestError) in try ModelLoader.loadAnyFormat(request) })
        #expect(models.hasModel)
        let watcher = ModelWatchService(models: models, logger: logger)

        var seen = watcher.fingerprint()
        #expect(watcher.fingerprint() == seen, "nothing changed")
        func expectChange(_ what: String, _ change: () throws -> Void) rethrows {
            // Modification times have nanosecond resolution here, but make sure they move.
            Thread.sleep(forTimeInterval: 0.01)
            try change()
            let now = watcher.fingerprint()
            #expect(now != seen, "\(what) went unnoticed")
            seen = now
        }
        let version = first.appendingPathComponent("1.0.0")
        try expectChange("a rewritten model file") {
            let data = try Data(contentsOf: version.appendingPathComponent("model.ubj"))
            try data.write(to: version.appendingPathComponent("model.ubj"))
        }
        try expectChange("an edited card") {
            let text = try String(contentsOf: version.appendingPathComponent("card.json"), encoding: .utf8)
            try (text + "\n").write(to: version.appendingPathComponent("card.json"), atomically: true, encoding: .utf8)
        }
        try expectChange("a new version") {
            try manager.copyItem(at: version, to: repository.appendingPathComponent("1.1.0"))
        }
        try expectChange("an edited ACTIVE") {
            try "1.1.0\n".write(to: repository.appendingPathComponent("ACTIVE"), atomically: true, encoding: .utf8)
        }
        try expectChange("a swapped ..data symlink") {
            let second = repository.appendingPathComponent("..2026_12_01_b")
            try manager.createDirectory(at: second, withIntermediateDirectories: true)
            try manager.copyItem(at: version, to: second.appendingPathComponent("1.0.0"))
            try manager.removeItem(at: repository.appendingPathComponent("..data"))
            try manager.createSymbolicLink(atPath: repository.appendingPathComponent("..data").path, withDestinationPath: "..2026_12_01_b")
        }
        #expect(watcher.fingerprint() == seen, "nothing changed since")
    }
}
