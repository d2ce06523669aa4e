import Foundation
import Logging
import Prometheus
import Testing
import VerdictForest
import VerdictONNX
@testable import VerdictPipeline
import VerdictScoring

/// features.yaml and rules.yaml reload without a restart: a valid set is swapped in, an invalid one
/// (a misspelt key, a feature the model needs removed) is refused with the reason while the old set
/// keeps deciding, and the file watcher notices edits.
@Suite("Policy reload (features.yaml, rules.yaml)")
struct PolicyReloadTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Fixture {
        let directory: URL
        let models: ModelManager
        let registry: PrometheusCollectorRegistry
        var rules: URL { directory.appendingPathComponent("rules.yaml") }
        var features: URL { directory.appendingPathComponent("features.yaml") }

        func reloads(_ result: String) -> String? {
            String(decoding: registry.emitToBuffer(), as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix("verdict_policy_reloads_total{result=\"\(result)\"}") }.map { String($0.split(separator: " ").last ?? "") }
        }
    }

    static func fixture() throws -> Fixture {
        let manager = FileManager.default
        let directory = manager.temporaryDirectory.appendingPathComponent("verdict-policy-\(UUID().uuidString.prefix(8))")
        try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in ["verdict.yaml", "features.yaml", "rules.yaml"] {
            try manager.copyItem(at: root.appendingPathComponent("config/\(name)"), to: directory.appendingPathComponent(name))
        }
        var configuration = try VerdictConfiguration.load(path: directory.appendingPathComponent("verdict.yaml").path, environment: [:])
        configuration.model.path = root.appendingPathComponent("models/verdict-fraud").path
        let scoring = try ScoringConfiguration.load(
            features: configuration.resolve(configuration.scoring.features), rules: configuration.resolve(configuration.scoring.rules),
            validation: configuration.scoring.validation)
        let registry = PrometheusCollectorRegistry()
        let metrics = PipelineMetrics(factory: PrometheusMetricsFactory(registry: registry), inputTopics: configuration.topics.input, build: [])
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let models = try ModelManager(
            configuration: configuration, scoring: scoring, pool: nil, metrics: metrics, logger: logger,
            loader: { request throws(ForestError) in try ModelLoader.loadAnyFormat(request) })
        return Fixture(directory: directory, models: models, registry: registry)
    }

    static func edit(_ file: URL, _ original: String, _ replacement: String) throws {
        let text = try String(contentsOf: file, encoding: .utf8)
        #expect(text.contains(original), "\(original) not in \(file.lastPathComponent)")
        // Write a new file and rename it over the old one, as editors and ConfigMaps do.
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).tmp")
        try text.replacingOccurrences(of: original, with: replacement).write(to: temporary, atomically: false, encoding: .utf8)
        #expect(rename(temporary.path, file.path) == 0, "renaming over \(file.lastPathComponent)")
    }

    @Test("a valid rules change is swapped in; a misspelt key and a removed model feature are refused and the old set keeps deciding")
    func reloadValidInvalidValid() throws {
        let fixture = try Self.fixture()
        let models = fixture.models
        #expect(models.policyVersion == "2026-11-23.1")
        #expect(models.scorer.rules.configuration.indicators.highAmount.threshold == 500)

        try Self.edit(fixture.rules, "policy_version: \"2026-11-23.1\"", "policy_version: \"2026-12-02.1\"")
        try Self.edit(fixture.rules, "high_amount: {threshold: 500}", "high_amount: {threshold: 750}")
        #expect(try models.reloadPolicy(reason: "test") == "2026-12-02.1")
        #expect(models.scorer.rules.configuration.indicators.highAmount.threshold == 750)
        #expect(models.hasModel)
        #expect(fixture.reloads("success") == "1")

        try Self.edit(fixture.rules, "high_amount: {threshold: 750}", "high_amount: {threshhold: 900}")
        #expect {
            try models.reloadPolicy(reason: "test")
        } throws: { error in
            "\(error)".contains("unknown key indicators.high_amount.threshhold; did you mean threshold?")
        }
        #expect(models.policyVersion == "2026-12-02.1")
        #expect(models.scorer.rules.configuration.indicators.highAmount.threshold == 750)

        // A features.yaml without a feature the model uses is refused: the model could not score.
        try Self.edit(fixture.rules, "high_amount: {threshhold: 900}", "high_amount: {threshold: 900}")
        let features = try String(contentsOf: fixture.features, encoding: .utf8)
        let withoutFirst = features.replacingOccurrences(
            of: #"(?m)^  - name: amount_usd\n(    .*\n)*"#, with: "", options: .regularExpression)
        #expect(withoutFirst != features)
        try withoutFirst.write(to: fixture.features, atomically: true, encoding: .utf8)
        #expect(throws: ScoringError.self) { try models.reloadPolicy(reason: "test") }
        #expect(models.scorer.rules.configuration.indicators.highAmount.threshold == 750)
        #expect(models.hasModel)
        #expect(fixture.reloads("refused") == "2")

        try features.write(to: fixture.features, atomically: true, encoding: .utf8)
        #expect(try models.reloadPolicy(reason: "test") == "2026-12-02.1")
        #expect(models.scorer.rules.configuration.indicators.highAmount.threshold == 900)
        #expect(fixture.reloads("success") == "2")
    }

    @Test("the watcher's fingerprint of the policy files moves when either file is replaced")
    func policyFingerprint() throws {
        let fixture = try Self.fixture()
        let files = fixture.models.policyFiles
        #expect(files == [fixture.features.path, fixture.rules.path])
        var seen = ModelWatchService.fingerprint(files: files)
        #expect(ModelWatchService.fingerprint(files: files) == seen)
        for file in [fixture.rules, fixture.features] {
            Thread.sleep(forTimeInterval: 0.01)
            try Self.edit(file, "\n", "\n\n")
            let now = ModelWatchService.fingerprint(files: files)
            #expect(now != seen, "\(file.lastPathComponent) replaced went unnoticed")
            seen = now
        }
    }

    @Test("a change is loaded once it is stable for one check; a refused one is not retried until it changes")
    func watchedStateMachine() {
        var watched = ModelWatchService.Watched(current: "a")
        do { let due = watched.due("a"); #expect(!due) }
        do { let due = watched.due("b"); #expect(!due) }  // first sight: wait one check
        do { let due = watched.due("b"); #expect(due) }
        watched.settle("b", accepted: false)
        do { let due = watched.due("b"); #expect(!due) }  // refused: not again
        do { let due = watched.due("b"); #expect(!due) }
        do { let due = watched.due("c"); #expect(!due) }
        do { let due = watched.due("c"); #expect(due) }
        watched.settle("c", accepted: true)
        #expect(watched.current == "c")
        do { let due = watched.due("c"); #expect(!due) }
    }
}
