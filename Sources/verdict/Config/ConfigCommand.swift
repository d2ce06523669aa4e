import ArgumentParser
import Foundation
import VerdictForest
import VerdictPipeline
import VerdictScoring

/// `verdict config`: configuration tooling.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check the configuration files and show the effective configuration.",
        subcommands: [ConfigCheckCommand.self]
    )
}

/// `verdict config check`: everything `verdict serve` would refuse at start, refused here the same
/// way (exit 2), then the effective configuration with each value's origin, secrets redacted.
struct ConfigCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate verdict.yaml, features.yaml, rules.yaml and the active model's features; print the effective configuration."
    )

    @Option(help: "Service configuration.") var config: String = "config/verdict.yaml"
    @Flag(name: .customLong("no-model"), help: "Do not load the active model (check the files only).") var noModel = false
    @Flag(help: "Print only problems.") var quiet = false

    func run() async throws {
        do {
            let setup = try ScoringSetup(configPath: config)
            var lines: [String] = []
            if !noModel {
                let model = try setup.loadModel(override: nil)
                lines.append(
                    "model: \(model.name) \(model.version): its \(model.forest.featureCount) features are all computed by \(setup.configuration.scoring.features)"
                )
            }
            guard !quiet else { return }
            print(
                "config check: \(config) is valid; features \(setup.scoring.features.features.count), rules policy_version \(setup.scoring.rules.policyVersion)"
            )
            for line in lines { print(line) }
            let values = try VerdictConfiguration.effective(path: config)
            let width = values.map(\.key.count).max() ?? 0
            print("")
            print("effective configuration (origin: default, file or environment; secrets redacted):")
            for value in values {
                print(
                    "  \(value.key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value.origin.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))  \(value.value)"
                )
            }
        } catch {
            FileHandle.standardError.write(Data("config check: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
