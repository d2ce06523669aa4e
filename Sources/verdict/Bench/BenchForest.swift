import ArgumentParser
import Foundation
import VerdictForest

/// Measures the forest evaluator: single-row latency on the caller's thread and batch throughput
/// per thread count.
struct BenchForest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forest",
        abstract: "Single-row latency (p50/p99) and batch throughput of a model on a CSV of rows."
    )

    @Option(help: "Model file (.json, .ubj, LightGBM .txt, .onnx).") var model: String
    @Option(help: "CSV of rows; header = feature names.") var rows: String
    @Option(help: "Highest thread count to measure batches with (default: cores).") var threads: Int?
    @Option(help: "Seconds per batch measurement.") var seconds: Double = 2
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let forest = try ModelFiles.load(model)
        let text = try String(contentsOfFile: rows, encoding: .utf8)
        let table = try FeatureTable(csv: text, featureNames: forest.info.featureNames, positional: forest.info.format == .onnx)
        let result = ForestBenchmark.run(forest: forest, table: table, maxThreads: threads ?? ForestWorkerPool.coreCount, seconds: seconds)
        if json {
            let plan =
                forest.explanationPlan.map {
                    #"{"quadrature2":\#($0.quadrature2),"quadrature4":\#($0.quadrature4),"quadrature8":\#($0.quadrature8),"path_decomposition":\#($0.pathDecomposition),"recursive":\#($0.recursive)}"#
                } ?? "null"
            let batch = result.batchRowsPerSecond.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\(Int($0.value))" }.joined(separator: ",")
            print(
                #"{"model":"\#(forest.info.source)","trees":\#(forest.trees.count),"single_row_p50_us":\#(String(format: "%.3f", result.p50)),"single_row_p99_us":\#(String(format: "%.3f", result.p99)),"batch_rows_per_s":{\#(batch)},"ns_per_tree_row":\#(String(format: "%.3f", result.nsPerTreeRow)),"explain_p50_us":\#(result.explain.map { String(format: "%.1f", $0.p50) } ?? "null"),"explain_p99_us":\#(result.explain.map { String(format: "%.1f", $0.p99) } ?? "null"),"explain_plan":\#(plan)}"#
            )
        } else {
            print("model: \(forest.info.source) (\(forest.trees.count) trees, max depth \(forest.statistics.maxDepth), \(table.rowCount) rows)")
            print(String(format: "single row: p50 %.2f µs, p99 %.2f µs", result.p50, result.p99))
            for (threads, rate) in result.batchRowsPerSecond.sorted(by: { $0.key < $1.key }) {
                print(String(format: "batch, %d thread%@: %.0f rows/s", threads, threads == 1 ? "" : "s", rate))
            }
            print(String(format: "ns per tree per row (1 thread): %.2f", result.nsPerTreeRow))
            if let explain = result.explain, let plan = forest.explanationPlan {
                print(String(format: "TreeSHAP, one row (all contributions): p50 %.1f µs, p99 %.1f µs", explain.p50, explain.p99))
                print(
                    "TreeSHAP method per tree: \(plan.quadrature2) quadrature (2 points), \(plan.quadrature4) quadrature (4 points), \(plan.quadrature8) quadrature (8 points), \(plan.pathDecomposition) path decomposition, \(plan.recursive) recursive"
                )
            }
        }
    }
}

enum ForestBenchmark {
    struct Result {
        var p50: Double
        var p99: Double
        var batchRowsPerSecond: [Int: Double]
        var nsPerTreeRow: Double
        /// TreeSHAP for one row (all features' contributions), p50 and p99 in µs; nil when the
        /// model records no covers.
        var explain: (p50: Double, p99: Double)?
    }

    static func run(forest: Forest, table: FeatureTable, maxThreads: Int, seconds: Double) -> Result {
        let k = forest.outputCount
        var margins = [Double](repeating: 0, count: k)
        var outputs = [Double](repeating: 0, count: k)
        let clock = ContinuousClock()
        // Single row: many calls over the table, each timed; warm-up first.
        let iterations = 50_000
        var samples = [Double]()
        samples.reserveCapacity(iterations)
        table.values.withUnsafeBufferPointer { values in
            margins.withUnsafeMutableBufferPointer { m in
                outputs.withUnsafeMutableBufferPointer { o in
                    for i in 0..<(iterations + 5_000) {
                        let r = i % table.rowCount
                        let row = UnsafeBufferPointer(rebasing: values[(r * table.featureCount)..<((r + 1) * table.featureCount)])
                        let start = clock.now
                        forest.predict(row: row, margins: m, outputs: o)
                        let elapsed = clock.now - start
                        if i >= 5_000 { samples.append(elapsed.microseconds) }
                    }
                }
            }
        }
        samples.sort()
        let p50 = samples[samples.count / 2]
        let p99 = samples[samples.count * 99 / 100]

        var rates: [Int: Double] = [:]
        var batchMargins = [Double](repeating: 0, count: table.rowCount * k)
        var batchOutputs = [Double](repeating: 0, count: table.rowCount * k)
        for threads in 1...max(1, maxThreads) {
            let pool = threads > 1 ? ForestWorkerPool(threads: threads) : nil
            defer { pool?.shutdown() }
            var rows = 0
            let start = clock.now
            table.values.withUnsafeBufferPointer { values in
                batchMargins.withUnsafeMutableBufferPointer { m in
                    batchOutputs.withUnsafeMutableBufferPointer { o in
                        forest.predictBatch(rows: values, margins: m, outputs: o, pool: pool)  // warm-up
                        let measured = clock.now
                        while (clock.now - measured).seconds < seconds {
                            forest.predictBatch(rows: values, margins: m, outputs: o, pool: pool)
                            rows += table.rowCount
                        }
                        _ = start
                        rates[threads] = Double(rows) / (clock.now - measured).seconds
                    }
                }
            }
        }
        let nsPerTreeRow = 1e9 / (rates[1]! * Double(forest.trees.count))
        return Result(p50: p50, p99: p99, batchRowsPerSecond: rates, nsPerTreeRow: nsPerTreeRow, explain: explainLatency(forest, table))
    }

    /// TreeSHAP per row, timed one call at a time over the table (a warm-up pass first).
    static func explainLatency(_ forest: Forest, _ table: FeatureTable) -> (p50: Double, p99: Double)? {
        guard forest.explainable else { return nil }
        let clock = ContinuousClock()
        let count = min(table.rowCount, 2_000)
        let rows = (0..<count).map { r in Array(table.values[(r * table.featureCount)..<((r + 1) * table.featureCount)]) }
        var samples: [Double] = []
        for pass in 0..<2 {
            for row in rows {
                let start = clock.now
                let contributions = try? forest.contributions(row)
                let elapsed = clock.now - start
                precondition(contributions != nil, "explainable model refused a row")
                if pass == 1 { samples.append(elapsed.microseconds) }
            }
        }
        samples.sort()
        return (samples[samples.count / 2], samples[samples.count * 99 / 100])
    }
}

extension Duration {
    var microseconds: Double { seconds * 1e6 }
}
