import ArgumentParser
import Foundation
import VerdictForest

/// `verdict model inspect FILE`: what a model file is, without scoring anything.
struct ModelInspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's format, objective, classes, trees, depth and node statistics, features and sha256."
    )

    @Argument(help: "Model file (.json, .ubj, LightGBM .txt, .onnx).") var file: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let forest = try ModelFiles.load(file)
        let info = forest.info
        let stats = forest.statistics
        if json {
            let object: [String: Any] = [
                "file": file, "format": info.format.rawValue, "producer": info.producer, "objective": info.objective,
                "transform": info.transform.rawValue, "outputs": info.outputCount, "classes": info.classLabels,
                "trees": stats.trees, "nodes": stats.nodes, "leaves": stats.leaves, "max_depth": stats.maxDepth,
                "mean_depth": stats.meanDepth, "mean_leaves": stats.meanLeaves, "numeric_splits": stats.numericSplits,
                "categorical_splits": stats.categoricalSplits, "features": info.featureNames, "sha256": forest.sha256,
                "arithmetic": info.arithmetic.rawValue, "base_margins": info.baseMargins, "explainable": forest.explainable,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("file:        \(file)")
        print("format:      \(info.format.rawValue) (\(info.producer))")
        print("objective:   \(info.objective) -> \(info.transform.rawValue)\(info.sigmoidScale != 1 ? " (sigmoid \(info.sigmoidScale))" : "")")
        if info.isClassifier {
            print("classes:     \(info.classLabels.joined(separator: ", "))\(info.isBinaryClassifier ? " (output = P(\(info.classLabels.last ?? "1")))" : "")")
        }
        print("outputs:     \(info.outputCount)   base margins: \(info.baseMargins.map { String(format: "%.6g", $0) }.joined(separator: ", "))")
        print("arithmetic:  \(info.arithmetic.rawValue)")
        print("trees:       \(stats.trees)\(info.averageTrees ? " (averaged)" : "")")
        print("nodes:       \(stats.nodes) (\(stats.leaves) leaves; \(stats.numericSplits) numeric, \(stats.categoricalSplits) categorical splits)")
        print(String(format: "depth:       max %d, mean %.2f; mean leaves per tree %.1f", stats.maxDepth, stats.meanDepth, stats.meanLeaves))
        if stats.treesWithSpecialSplits > 0 {
            print("checked walk: \(stats.treesWithSpecialSplits) trees (categorical, equality or zero-as-missing splits)")
        }
        print("explainable: \(forest.explainable ? "yes (TreeSHAP)" : "no (the file records no node covers)")")
        print("features:    \(info.featureCount)")
        for (index, name) in info.featureNames.enumerated() { print(String(format: "  %3d  %@", index, name)) }
        print("sha256:      \(forest.sha256)")
    }
}
