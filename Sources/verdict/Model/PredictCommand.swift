import ArgumentParser
import Foundation
import VerdictForest

/// `verdict predict`: score a CSV of feature rows with a model, exactly as the stream would.
struct PredictCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Score a CSV of feature rows (header = feature names in any order; empty cell = missing)."
    )

    @Option(help: "Model file.") var model: String
    @Option(help: "CSV of rows.") var rows: String
    @Option(help: "Write the predictions here instead of standard output.") var output: String?
    @Flag(help: "Also write the raw margins.") var margin = false
    @Flag(help: "Also write TreeSHAP contributions per feature and the bias.") var contribs = false
    @Option(help: "Worker threads for scoring (default: cores).") var threads: Int?

    func run() async throws {
        let forest = try ModelFiles.load(model)
        let text = try String(contentsOfFile: rows, encoding: .utf8)
        let table = try FeatureTable(csv: text, featureNames: forest.info.featureNames, positional: forest.info.format == .onnx)
        let k = forest.outputCount
        var margins = [Double](repeating: 0, count: table.rowCount * k)
        var outputs = [Double](repeating: 0, count: table.rowCount * k)
        let pool = ForestWorkerPool(threads: threads)
        defer { pool.shutdown() }
        table.values.withUnsafeBufferPointer { input in
            margins.withUnsafeMutableBufferPointer { m in
                outputs.withUnsafeMutableBufferPointer { o in forest.predictBatch(rows: input, margins: m, outputs: o, pool: pool) }
            }
        }
        let info = forest.info
        let names = PredictionColumns(info: info)
        var header = names.outputs
        if info.isClassifier { header.append("predicted_class") }
        if margin { header += names.margins }
        if contribs { header += names.contributions }
        var lines = [header.joined(separator: ",")]
        lines.reserveCapacity(table.rowCount + 1)
        for r in 0..<table.rowCount {
            let rowOutputs = Array(outputs[(r * k)..<((r + 1) * k)])
            var cells = rowOutputs.map(format)
            if info.isClassifier, let predicted = forest.predictedClass(rowOutputs) {
                cells.append(info.classLabels.indices.contains(predicted) ? info.classLabels[predicted] : String(predicted))
            }
            if margin { cells += margins[(r * k)..<((r + 1) * k)].map(format) }
            if contribs { cells += try forest.contributions(Array(table.row(r))).flatMap { $0 }.map(format) }
            lines.append(cells.joined(separator: ","))
        }
        let result = lines.joined(separator: "\n") + "\n"
        if let output {
            try result.write(toFile: output, atomically: true, encoding: .utf8)
            FileHandle.standardError.write(Data("predict: \(table.rowCount) rows scored with \(info.source) -> \(output)\n".utf8))
        } else {
            FileHandle.standardOutput.write(Data(result.utf8))
        }
    }

    private func format(_ value: Double) -> String { "\(value)" }
}

/// Column names of prediction CSVs.
struct PredictionColumns {
    var outputs: [String]
    var margins: [String]
    var contributions: [String]

    init(info: ModelInfo) {
        let k = info.outputCount
        if info.isBinaryClassifier {
            outputs = ["probability"]
        } else if info.isClassifier {
            outputs = (0..<k).map { "p_\(info.classLabels.indices.contains($0) ? info.classLabels[$0] : String($0))" }
        } else {
            outputs = k == 1 ? ["value"] : (0..<k).map { "value_\($0)" }
        }
        margins = k == 1 ? ["margin"] : (0..<k).map { "margin_\($0)" }
        let features = info.featureNames + ["bias"]
        contributions =
            k == 1
            ? features.map { "contrib_\($0)" }
            : (0..<k).flatMap { o in features.map { "contrib_\(o)_\($0)" } }
    }
}
