import ArgumentParser
import VerdictScoring

/// `verdict model fingerprint --features F NAME...`: the fingerprint of the definitions of a model's
/// features, which training records in the card (`feature_definitions_sha256`) and `verdict model
/// verify` compares. One implementation, in the scoring library, for both.
struct ModelFingerprint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fingerprint",
        abstract: "Print the SHA-256 of the definitions of the named features (model order), as training records it in the model card."
    )

    @Option(help: "Feature configuration (features.yaml).") var features: String = "config/features.yaml"
    @Argument(help: "The model's features and aggregates, in model order.") var names: [String]

    func run() async throws {
        let configuration: FeatureConfiguration
        do {
            configuration = try ScoringConfiguration.loadYAML(FeatureConfiguration.self, path: features)
        } catch {
            throw ValidationError(ScoringConfiguration.describe(error))
        }
        // Training asks only for what it trained on: an unknown name is a mistake, not a new feature.
        let known = Set(configuration.names + (configuration.aggregates ?? []).map(\.name))
        let unknown = names.filter { !known.contains($0) }
        guard unknown.isEmpty else {
            throw ValidationError("\(unknown.joined(separator: ", ")) not defined in \(features) (neither a feature nor an aggregate)")
        }
        print(configuration.definitionsFingerprint(of: names))
    }
}
