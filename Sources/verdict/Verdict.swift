import ArgumentParser

@main
struct Verdict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verdict",
        abstract: "Scores payment events from Kafka with tree-ensemble models and business rules.",
        subcommands: [ModelCommand.self, PredictCommand.self, BenchCommand.self]
    )
}
