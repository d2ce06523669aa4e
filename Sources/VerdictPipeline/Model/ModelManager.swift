import Foundation
public import Logging
import Synchronization
import VerdictKafka
public import VerdictForest
public import VerdictScoring

/// Holds the scorer the stream uses and replaces it when the model changes. A reload loads and
/// checks the new model completely (sha256 against its card, features mapped, golden vectors)
/// before swapping; a model that fails is refused, logged and counted, and the old one keeps
/// serving. Batches pick up the current scorer when they start, so a swap happens between batches.
public final class ModelManager: Sendable {
    /// What the sidecar shows about the loaded model.
    public struct Status: Sendable {
        public var name: String
        public var version: String
        public var sha256: String
        public var features: [String]
        public var loadedAt: Double
        public var shadow: (name: String, version: String, sha256: String)?
        public var source: String
    }

    private let configuration: VerdictConfiguration
    private let scoring: ScoringConfiguration
    private let pool: ForestWorkerPool?
    private let metrics: PipelineMetrics?
    private let logger: Logger
    private let loader: ModelFileLoader
    private let observer: (any ScoringObserver)?
    private let state: Mutex<State>

    private struct State {
        var scorer: Scorer
        var model: ScoringModel?
        var shadow: ScoringModel?
        var lastError: String?
    }

    /// Loads the configured model (and shadow). A missing or bad model does not stop the service:
    /// it starts without one and decides DEGRADED until a good model arrives.
    public init(
        configuration: VerdictConfiguration, scoring: ScoringConfiguration, pool: ForestWorkerPool?, metrics: PipelineMetrics?, logger: Logger,
        observer: (any ScoringObserver)? = nil, loader: @escaping ModelFileLoader
    ) throws(ScoringError) {
        self.observer = observer
        self.configuration = configuration
        self.scoring = scoring
        self.pool = pool
        self.metrics = metrics
        self.logger = logger
        self.loader = loader
        var model: ScoringModel?
        var lastError: String?
        do {
            model = try Self.repository(configuration.model.path, configuration, loader).load(
                features: scoring.features, verifyGoldenVectors: configuration.model.verifyGoldenVectors)
        } catch {
            lastError = error.message
            logger.error("no model loaded; deciding DEGRADED until one loads", metadata: [LogKey.error: "\(error)"])
        }
        var shadow: ScoringModel?
        if let path = configuration.model.shadowPath {
            do {
                shadow = try Self.repository(path, configuration, loader).load(
                    features: scoring.features, verifyGoldenVectors: configuration.model.verifyGoldenVectors)
            } catch {
                logger.error("shadow model refused; running without a challenger", metadata: [LogKey.error: "\(error)"])
            }
        }
        let scorer = try Scorer(
            validation: scoring.validation, rules: scoring.rules, model: model, shadow: shadow, pool: pool, observer: observer,
            deadLetters: configuration.deadLetters)
        state = Mutex(State(scorer: scorer, model: model, shadow: shadow, lastError: lastError))
        if let model { announce(model, shadow: shadow) }
    }

    private static func repository(_ path: String, _ configuration: VerdictConfiguration, _ loader: @escaping ModelFileLoader) -> ModelRepository {
        ModelRepository(path: configuration.resolve(path), limits: ModelLimits(maxFileBytes: configuration.model.maxFileBytes), loader: loader)
    }

    /// How dead letters are written (`dead_letters.*`).
    public var deadLetterConfiguration: DeadLetterConfiguration { configuration.deadLetters }

    /// The repository of the champion model.
    public var repository: ModelRepository { Self.repository(configuration.model.path, configuration, loader) }

    /// The scorer for the next batch.
    public var scorer: Scorer { state.withLock { $0.scorer } }

    /// Whether a model is loaded (readiness).
    public var hasModel: Bool { state.withLock { $0.model != nil } }

    public var status: Status? {
        state.withLock { state in
            guard let model = state.model else { return nil }
            return Status(
                name: model.name, version: model.version, sha256: model.sha256, features: model.plan.featureNames,
                loadedAt: model.loadedAt, shadow: state.shadow.map { ($0.name, $0.version, $0.sha256) },
                source: model.forest.info.source)
        }
    }

    public var lastError: String? { state.withLock { $0.lastError } }

    /// Loads the active model again (file changed, SIGHUP, POST /admin/reload, activation).
    ///
    /// - Returns: The new model's version.
    /// - Throws: ``ScoringError`` when the model was refused; the previous one keeps serving.
    @discardableResult
    public func reload(reason: String) throws(ScoringError) -> String {
        do {
            let model = try repository.load(features: scoring.features, verifyGoldenVectors: configuration.model.verifyGoldenVectors)
            let shadow = state.withLock { $0.shadow }
            let scorer = try Scorer(
                validation: scoring.validation, rules: scoring.rules, model: model, shadow: shadow, pool: pool, observer: observer,
                deadLetters: configuration.deadLetters)
            let previous = state.withLock { state in
                defer {
                    state.scorer = scorer
                    state.model = model
                    state.lastError = nil
                }
                return state.model
            }
            metrics?.modelReload(success: true)
            announce(model, shadow: shadow)
            logger.info(
                "model reloaded",
                metadata: [
                    LogKey.reason: "\(reason)", LogKey.modelVersion: "\(model.version)", LogKey.modelSHA256: "\(model.sha256)",
                    LogKey.previousVersion: "\(previous?.version ?? "none")",
                ])
            return model.version
        } catch {
            state.withLock { $0.lastError = error.message }
            metrics?.modelReload(success: false)
            logger.error("model refused; the previous model keeps serving", metadata: [LogKey.reason: "\(reason)", LogKey.error: "\(error.message)"])
            throw error
        }
    }

    /// Makes `version` the active version (persisted) and loads it.
    ///
    /// - Throws: ``ScoringError`` when the version does not exist or is refused (the ACTIVE file is
    ///   then restored, so a restart does not pick up a model that failed).
    public func activate(_ version: String) throws(ScoringError) {
        let repository = self.repository
        let previous = repository.activeVersion()
        try repository.activate(version)
        do {
            try reload(reason: "activate \(version)")
        } catch {
            if let previous { try? repository.activate(previous) }
            throw error
        }
    }

    private func announce(_ model: ScoringModel, shadow: ScoringModel?) {
        metrics?.model(name: model.name, version: model.version, sha256: model.sha256)
        if let shadow { metrics?.model(name: shadow.name, version: shadow.version, sha256: shadow.sha256, role: "shadow") }
    }

    /// The PSI reference of the current model's card.
    public var psiReference: (ScoringModel, ModelCard.PSIReference)? {
        state.withLock { state in
            guard let model = state.model, let reference = model.card?.psiReference else { return nil }
            return (model, reference)
        }
    }
}
