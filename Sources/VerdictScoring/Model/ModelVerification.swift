import Foundation
public import VerdictForest

/// The promotion gate (`verdict model verify`): a model version passes when its file is the one its
/// card describes (sha256), it parses and gives one probability, every feature it uses is mapped by
/// the feature configuration (and that configuration is the one it was trained with), its thresholds
/// are sane, and the card's golden vectors reproduce within the tolerance.
public struct ModelVerification: Sendable {
    public var features: FeatureConfiguration
    public var featureConfigSHA256: String
    public var tolerance: Double
    public var allowFeatureConfigChange: Bool
    public var loader: ModelFileLoader

    public init(
        features: FeatureConfiguration, featureConfigSHA256: String, tolerance: Double = 1e-6, allowFeatureConfigChange: Bool = false,
        loader: @escaping ModelFileLoader
    ) {
        self.features = features
        self.featureConfigSHA256 = featureConfigSHA256
        self.tolerance = tolerance
        self.allowFeatureConfigChange = allowFeatureConfigChange
        self.loader = loader
    }

    /// A directory with card.json is a version; otherwise its subdirectories with card.json are.
    public static func versionDirectories(_ path: String) -> [String] {
        let manager = FileManager.default
        if manager.fileExists(atPath: (path as NSString).appendingPathComponent("card.json")) { return [path] }
        let children = (try? manager.contentsOfDirectory(atPath: path)) ?? []
        let versions = children.sorted().map { (path as NSString).appendingPathComponent($0) }
            .filter { manager.fileExists(atPath: ($0 as NSString).appendingPathComponent("card.json")) }
        return versions.isEmpty ? [path] : versions
    }

    /// Every check that fails, in the order an operator would fix them.
    public func problems(_ directory: String) -> [String] {
        let cardPath = (directory as NSString).appendingPathComponent("card.json")
        let card: ModelCard
        do {
            card = try ModelCard.load(path: cardPath)
        } catch {
            return ["no readable model card at \(cardPath): \(ScoringConfiguration.describe(error)); a model is promoted with its card"]
        }
        var problems: [String] = []
        let file = (directory as NSString).appendingPathComponent(card.modelFile)
        guard let bytes = FileManager.default.contents(atPath: file) else {
            return ["the card names model_file \(card.modelFile), which is not in \(directory)"]
        }
        let actual = SHA256Hex.of(Array(bytes))
        if actual != card.sha256.lowercased() {
            // Nothing else about this file can be trusted: stop here.
            return ["sha256 of \(card.modelFile) is \(actual), the card says \(card.sha256): the file is not the one that was trained and evaluated"]
        }
        if !allowFeatureConfigChange {
            if let recorded = card.featureDefinitionsSHA256 {
                // The precise check: only the definitions of the features this model uses.
                let current = features.definitionsFingerprint(of: card.features)
                if recorded != current {
                    problems.append(
                        "the features this model uses are not defined as they were in training (definitions sha256 \(current), the card's \(recorded)): a field, derivation, lookup table or aggregate changed; restore it, retrain, or pass --allow-feature-config-change after checking the features mean the same"
                    )
                }
            } else if let recorded = card.featureConfigSHA256, recorded != featureConfigSHA256 {
                problems.append(
                    "the feature configuration (sha256 \(featureConfigSHA256)) is not the one the model was trained with (\(recorded)); retrain, or pass --allow-feature-config-change after checking the features mean the same"
                )
            }
        }
        if let thresholds = card.thresholds, !(0 < thresholds.reviewAt && thresholds.reviewAt <= thresholds.declineAt && thresholds.declineAt <= 1) {
            problems.append("thresholds review_at \(thresholds.reviewAt) / decline_at \(thresholds.declineAt) must satisfy 0 < review_at <= decline_at <= 1")
        }
        guard let vectors = card.goldenVectors, !vectors.isEmpty else {
            problems.append("the card has no golden vectors: nothing proves this runtime reproduces the training library's scores")
            return problems
        }
        let forest: Forest
        do {
            forest = try loader(ModelLoadRequest(path: file, expectedSHA256: card.sha256))
        } catch {
            problems.append("cannot load \(card.modelFile): \(error.message)")
            return problems
        }
        do {
            let model = try ScoringModel(forest: forest, name: card.name, version: card.version, card: card, features: features)
            try model.verifyGoldenVectors(tolerance: tolerance)
        } catch {
            problems.append(error.message)
        }
        return problems
    }
}
