import Foundation
import VerdictForest
import VerdictONNX
import VerdictPipeline
import VerdictScoring

/// Loads what the scoring commands share from a verdict.yaml.
struct ScoringSetup {
    var configuration: VerdictConfiguration
    var scoring: ScoringConfiguration

    /// - Parameters:
    ///   - features: A features.yaml instead of the configuration's (a challenger's).
    ///   - rules: A rules.yaml instead of the configuration's (a candidate policy).
    init(configPath: String?, features: String? = nil, rules: String? = nil) throws {
        configuration = try VerdictConfiguration.load(path: configPath)
        scoring = try ScoringConfiguration.load(
            features: features ?? configuration.resolve(configuration.scoring.features),
            rules: rules ?? configuration.resolve(configuration.scoring.rules),
            validation: configuration.scoring.validation
        )
    }

    /// The model named by `override` or by the configuration.
    func loadModel(override: String?) throws -> ScoringModel {
        let path = override ?? configuration.resolve(configuration.model.path)
        let repository = ModelRepository(
            path: path, limits: ModelLimits(maxFileBytes: configuration.model.maxFileBytes),
            loader: { request throws(ForestError) in try ModelLoader.loadAnyFormat(request) })
        return try repository.load(features: scoring.features, verifyGoldenVectors: configuration.model.verifyGoldenVectors)
    }
}
