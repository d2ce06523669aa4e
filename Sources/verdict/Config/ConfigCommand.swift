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
        subcommands: [ConfigCheckCommand.self, ConfigDocsCommand.self]
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
                "config check: \(config) is valid; features \(setup.scoring.features.features.count), aggregates \(setup.scoring.features.aggregates?.count ?? 0), rules policy_version \(setup.scoring.rules.policyVersion)"
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

/// `verdict config docs`: the key reference of docs/configuration.md, generated from the one
/// declaration of the keys (`VerdictConfiguration.keys`).
struct ConfigDocsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docs",
        abstract: "Print the configuration reference generated from the key declarations, or write it into a page, or check that a page is current."
    )

    @Option(help: "Rewrite the generated part of this page (between its markers).") var write: String?
    @Option(help: "Exit 1 when the generated part of this page differs from the declarations.") var check: String?

    func run() async throws {
        guard let page = write ?? check else {
            print(VerdictConfiguration.referenceMarkdown(), terminator: "")
            return
        }
        guard let text = try? String(contentsOfFile: page, encoding: .utf8) else {
            throw ValidationError("cannot read \(page)")
        }
        guard let updated = VerdictConfiguration.regenerate(text) else {
            throw ValidationError(
                "\(page) has no generated part; put the lines \(VerdictConfiguration.referenceMarkers.begin) and \(VerdictConfiguration.referenceMarkers.end) where it goes"
            )
        }
        if write != nil {
            if updated != text { try updated.write(toFile: page, atomically: true, encoding: .utf8) }
            print("config docs: \(page) is current")
        } else if updated != text {
            FileHandle.standardError.write(Data("config docs: \(page) is stale; run `make docs` (verdict config docs --write \(page))\n".utf8))
            throw ExitCode(1)
        } else {
            print("config docs: \(page) is current")
        }
    }
}
