import ArgumentParser

@main
struct VerdictCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verdict",
        abstract: "Scores payment events from Kafka with tree-ensemble models and business rules.",
        subcommands: [
            ServeCommand.self, GenerateCommand.self, ReportCommand.self, FeaturesCommand.self, ScoreCommand.self, ReplayCommand.self, ModelCommand.self,
            PredictCommand.self,
            BenchCommand.self, LagExporterCommand.self, HealthcheckCommand.self, ConfigCommand.self,
        ]
    )
}
