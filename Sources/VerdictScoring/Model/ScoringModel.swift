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
        self.forest = forest
        self.name = name
        self.version = version
        self.card = card
        self.loadedAt = Date().timeIntervalSince1970
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
