import ArgumentParser
import Foundation
import VerdictPipeline

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

    /// ArgumentParser's own `main`, after the CPU check (``CPUSupport``): nothing of the forest
    /// evaluator runs before it.
    static func main() async {
        #if VERDICT_FOREST_HASWELL
        let required = CPUSupport.haswellFlags
        #else
        let required: [String] = []
        #endif
        if let problem = CPUSupport.problem(required: required, cpuinfo: CPUSupport.cpuinfo()) {
            FileHandle.standardError.write(Data((problem + "\n").utf8))
            Self.exit(withError: ExitCode.failure)
        }
        await Self.main(nil)
    }
}
