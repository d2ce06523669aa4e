import Foundation
public import VerdictForest

/// A model ready to score events: the forest, its feature plan, and its identity.
public final class ScoringModel: Sendable {
    public let forest: Forest
    public let name: String
    public let version: String
    public let card: ModelCard?
    public let plan: FeaturePlan
    /// When this model was loaded (seconds since the epoch).
    public let loadedAt: Double

    public var sha256: String { forest.sha256 }

    /// Prepares a model for scoring.
    ///
    /// - Throws: ``ScoringError`` when the forest does not give one probability-like score, when a
    ///   model feature is not mapped by `features`, or when the card does not match the file.
    public init(forest: Forest, name: String, version: String, card: ModelCard?, features: FeatureConfiguration) throws(ScoringError) {
        let info = forest.info
        guard info.outputCount == 1, info.isBinaryClassifier || info.transform == .sigmoid else {
            throw ScoringError(
                .model,
                "\(info.source): a risk model must output one probability (binary classifier); this one is \(info.objective) with \(info.outputCount) outputs")
        }
        if let card {
            guard card.sha256.lowercased() == forest.sha256 else {
                throw ScoringError(
                    .model, "\(info.source): sha256 \(forest.sha256) does not match the card's \(card.sha256); the file changed after it was verified")
            }
        }
        // The card's feature list names the features of models whose files carry none (ONNX).
        let order =
            card?.features.count == info.featureCount && info.featureNames.allSatisfy({ $0.hasPrefix("f") && Int($0.dropFirst()) != nil })
            ? card!.features : info.featureNames
        self.plan = try FeaturePlan(configuration: features, order: order)
        if let card { try Self.checkAggregates(order: order, card: card, features: features, source: info.source) }
        self.forest = forest
        self.name = name
        self.version = version
        self.card = card
        self.loadedAt = Date().timeIntervalSince1970
    }

    /// A model feature that is a stream aggregate must be computed as it was in training: the
    /// card's definition and features.yaml's must agree, or every score would silently drift.
    private static func checkAggregates(order: [String], card: ModelCard, features: FeatureConfiguration, source: String) throws(ScoringError) {
        let configured = Dictionary((features.aggregates ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let featureNames = Set(features.names)
        let trained = Dictionary((card.aggregates ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for name in order where featureNames.contains(name) == false {
            guard let current = configured[name] else { continue }
            guard let recorded = trained[name] else {
                throw ScoringError(
                    .model,
                    "\(source): model feature \(name) is a stream aggregate, and the model card does not record how it was computed in training; retrain with training/train.py, which lists the aggregates in the card"
                )
            }
            guard recorded.computesSameValues(as: current) else {
                throw ScoringError(
                    .model,
                    "\(source): aggregate \(name) is defined as \(current.summary) in features.yaml, but the model was trained with \(recorded.summary); restore that definition or retrain"
                )
            }
        }
    }

    /// Checks the card's golden vectors: every row must reproduce its score within `tolerance`.
    ///
    /// - Throws: ``ScoringError`` naming the first row that does not.
    public func verifyGoldenVectors(tolerance: Double = 1e-6) throws(ScoringError) {
        guard let vectors = card?.goldenVectors else { return }
        for (index, vector) in vectors.enumerated() {
            guard vector.features.count == forest.featureCount else {
                throw ScoringError(.model, "golden vector \(index) has \(vector.features.count) values; the model has \(forest.featureCount) features")
            }
            let score = forest.predict(vector.features.map { $0 ?? .nan }).outputs[0]
            guard abs(score - vector.score) <= tolerance else {
                throw ScoringError(
                    .model,
                    "golden vector \(index): the model scores \(score), the card says \(vector.score) (|Δ| \(abs(score - vector.score)) > \(tolerance)); the model or the library it was trained with differs"
                )
            }
        }
    }
}
