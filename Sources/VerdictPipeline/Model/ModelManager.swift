import Foundation
public import Logging
import Synchronization
import VerdictKafka
public import VerdictForest
public import VerdictScoring

/// Holds the scorer the stream uses and replaces it when the model or the policy changes. A reload
/// loads and checks the new model completely (sha256 against its card, features mapped, golden
/// vectors), or the new features.yaml and rules.yaml against the loaded models, before swapping; a
/// set that fails is refused, logged and counted, and the old one keeps serving. Batches pick up
/// the current scorer when they start, so a swap happens between batches.
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
    private let pool: ForestWorkerPool?
    private let metrics: PipelineMetrics?
    private let logger: Logger
    private let loader: ModelFileLoader
    private let observer: (any ScoringObserver)?
    private let state: Mutex<State>

    private struct State {
        var scorer: Scorer
        var scoring: ScoringConfiguration
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
        let plan = try scoring.features.aggregatePlan()
        aggregates = plan.isEmpty ? nil : AggregateStore(plan: plan)
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
        state = Mutex(State(scorer: scorer, scoring: scoring, model: model, shadow: shadow, lastError: lastError))
        if let model { announce(model, shadow: shadow) }
    }

    private static func repository(_ path: String, _ configuration: VerdictConfiguration, _ loader: @escaping ModelFileLoader) -> ModelRepository {
        ModelRepository(path: configuration.resolve(path), limits: ModelLimits(maxFileBytes: configuration.model.maxFileBytes), loader: loader)
    }

    /// The stream aggregates' state (features.yaml `aggregates:`), per input partition; nil when
    /// there are none. It outlives model and policy reloads: a reload may not change the aggregates.
    public let aggregates: AggregateStore?

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
            let (shadow, scoring) = state.withLock { ($0.shadow, $0.scoring) }
            let model = try repository.load(features: scoring.features, verifyGoldenVectors: configuration.model.verifyGoldenVectors)
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

    /// features.yaml and rules.yaml, resolved: what a policy reload reads.
    public var policyFiles: [String] { [configuration.resolve(configuration.scoring.features), configuration.resolve(configuration.scoring.rules)] }

    /// The policy version the current scorer decides with.
    public var policyVersion: String { state.withLock { $0.scoring.rules.policyVersion } }

    /// Reads features.yaml and rules.yaml again (file changed, SIGHUP, POST /admin/reload) and swaps
    /// them in between batches. The new set must load strictly and every loaded model (champion and
    /// shadow) must find all its features in it; otherwise it is refused and the old set keeps
    /// deciding.
    ///
    /// - Returns: The new policy version.
    /// - Throws: ``ScoringError`` naming the file and the problem when the set was refused.
    @discardableResult
    public func reloadPolicy(reason: String) throws(ScoringError) -> String {
        let (old, model, shadow) = state.withLock { ($0.scoring, $0.model, $0.shadow) }
        do throws(ScoringError) {
            let scoring = try ScoringConfiguration.load(
                features: configuration.resolve(configuration.scoring.features), rules: configuration.resolve(configuration.scoring.rules),
                validation: old.validation)
            // State is a fold over the log under one set of definitions: changing them under a
            // running stream would mix two meanings in one key's record.
            let plan = try scoring.features.aggregatePlan()
            guard plan.isEmpty ? aggregates == nil : plan.fingerprint == aggregates?.plan.fingerprint else {
                throw ScoringError(
                    .configuration,
                    "features.yaml changes the aggregates (names, functions, keys, fields, windows or capacities); restart the service to rebuild their state from the input, or revert the change"
                )
            }
            // The same forests, planned against the new features: a feature the model needs and the
            // new file no longer computes refuses the set.
            let replan = { (model: ScoringModel) throws(ScoringError) -> ScoringModel in
                try ScoringModel(forest: model.forest, name: model.name, version: model.version, card: model.card, features: scoring.features)
            }
            let newModel = try model.map(replan)
            let newShadow = try shadow.map(replan)
            let scorer = try Scorer(
                validation: scoring.validation, rules: scoring.rules, model: newModel, shadow: newShadow, pool: pool, observer: observer,
                deadLetters: configuration.deadLetters)
            state.withLock { state in
                state.scorer = scorer
                state.scoring = scoring
                state.model = newModel
                state.shadow = newShadow
            }
            metrics?.policyReload(success: true)
            logger.info(
                "policy reloaded",
                metadata: [
                    LogKey.reason: "\(reason)", LogKey.policyVersion: "\(scoring.rules.policyVersion)",
                    LogKey.previousPolicyVersion: "\(old.rules.policyVersion)",
                ])
            return scoring.rules.policyVersion
        } catch {
            metrics?.policyReload(success: false)
            logger.error(
                "policy refused; the previous features and rules keep deciding",
                metadata: [LogKey.reason: "\(reason)", LogKey.error: "\(error.message)", LogKey.policyVersion: "\(old.rules.policyVersion)"])
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
