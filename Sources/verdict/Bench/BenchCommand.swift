import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks; the figures in docs/benchmarks.md come from these.",
        subcommands: [
            BenchPassthrough.self, BenchProduce.self, BenchForest.self, BenchDecode.self, BenchAggregates.self, BenchLatency.self, BenchMockBroker.self,
        ]
    )
}
