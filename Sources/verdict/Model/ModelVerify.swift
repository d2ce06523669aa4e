import ArgumentParser
import Foundation
import VerdictForest
import VerdictONNX
import VerdictScoring

/// `verdict model verify DIR...`: the promotion gate. A model version passes when its file is the one
/// its card describes (sha256), it parses and gives one probability, every feature it uses is mapped
/// by the feature configuration (and that configuration is the one it was trained with), its
/// thresholds are sane, and the card's golden vectors reproduce within the tolerance.
struct ModelVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check model versions before promotion: sha256, features mapped, golden vectors reproduced; exit 1 with the reason otherwise."
    )

    @Argument(help: "Model version directories (model file + card.json), or model directories holding versions (each is checked).")
    var paths: [String]

    @Option(help: "Feature configuration the service uses.") var features: String = "config/features.yaml"
    @Option(help: "Largest allowed |score - golden score|.") var tolerance: Double = 1e-6
    @Flag(name: .customLong("allow-feature-config-change"), help: "Pass even if the feature configuration differs from the one the model was trained with.")
    var allowFeatureConfigChange = false

    func run() async throws {
        let featureBytes: [UInt8]
        do {
            featureBytes = Array(try Data(contentsOf: URL(fileURLWithPath: features)))
        } catch {
            throw ValidationError("cannot read the feature configuration \(features): \(error.localizedDescription)")
        }
        let featureConfiguration: FeatureConfiguration
        do {
            featureConfiguration = try ScoringConfiguration.loadYAML(FeatureConfiguration.self, path: features)
        } catch {
            throw ValidationError(ScoringConfiguration.describe(error))
        }
        let verification = ModelVerification(
            features: featureConfiguration, featureConfigSHA256: SHA256Hex.of(featureBytes), tolerance: tolerance,
            allowFeatureConfigChange: allowFeatureConfigChange,
            loader: { request throws(ForestError) in try ModelLoader.loadAnyFormat(request) }
        )
        var failures = 0
        var checked = 0
        for path in paths {
            for directory in ModelVerification.versionDirectories(path) {
                checked += 1
                let problems = verification.problems(directory)
                if problems.isEmpty {
                    print("PASS \(directory)")
                } else {
                    failures += 1
                    print("FAIL \(directory)")
                    for problem in problems { print("  - \(problem)") }
                }
            }
        }
        guard checked > 0 else {
            print("FAIL no model versions found under \(paths.joined(separator: ", "))")
            throw ExitCode(1)
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
