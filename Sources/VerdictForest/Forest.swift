/// A tree-ensemble model, validated and compiled, ready to score.
///
/// Scoring holds no lock and shares no scratch memory: any number of threads may score with one
/// `Forest` at once. Single rows run on the caller's thread; batches interleave rows and can be
/// split across a ``ForestWorkerPool``.
public final class Forest: Sendable {
    /// What the model is.
    public let info: ModelInfo
    /// The trees as read from the file (reference semantics, used for explanations and inspection).
    public let trees: [DecisionTree]
    /// Hex SHA-256 of the model file's bytes.
    public let sha256: String
    let compiled: CompiledForest
    /// The trees laid out for TreeSHAP; nil when the model is not explainable.
    let explanation: ForestExplanation?

    /// Validates and compiles a model.
    ///
    /// - Parameters:
    ///   - info: The model's description.
    ///   - trees: Its trees.
    ///   - sha256: Hex SHA-256 of the file.
    ///   - allowUnreachableNodes: Accept nodes no root reaches (XGBoost keeps pruned nodes as
    ///     "deleted"); otherwise they are an error.
    /// - Throws: ``ForestError`` naming the file, tree and node of the first problem.
    public init(info: ModelInfo, trees: [DecisionTree], sha256: String, allowUnreachableNodes: Bool = false) throws(ForestError) {
        try ForestValidation.validate(trees, info: info, allowUnreachable: allowUnreachableNodes)
        self.info = info
        self.trees = trees
        self.sha256 = sha256
        self.compiled = CompiledForest(trees: trees, info: info)
        let explainable = trees.allSatisfy { tree in tree.nodes.allSatisfy { !$0.cover.isNaN && $0.outputs.isEmpty } }
        self.explanation = explainable ? ForestExplanation(trees, outputCount: info.outputCount) : nil
    }

    public var featureCount: Int { info.featureCount }
    public var outputCount: Int { info.outputCount }

    // MARK: Single row

    /// Scores one row on the caller's thread without allocating.
    ///
    /// - Parameters:
    ///   - row: ``featureCount`` values in model order; NaN is missing.
    ///   - margins: Receives ``outputCount`` raw sums (base margin included).
    ///   - outputs: Receives ``outputCount`` outputs (probabilities or values).
    public func predict(row: UnsafeBufferPointer<Double>, margins: UnsafeMutableBufferPointer<Double>, outputs: UnsafeMutableBufferPointer<Double>) {
        precondition(
            row.count >= featureCount && margins.count >= outputCount && outputs.count >= outputCount,
            "row needs \(featureCount) values and the buffers \(outputCount)")
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: compiled.preparedWidth) { scratch in
            let prepared = scratch.baseAddress!
            compiled.prepare(row.baseAddress!, into: prepared)
            let m = margins.baseAddress!
            for k in 0..<outputCount { m[k] = info.baseMargins[k] }
            compiled.accumulate(row: prepared, margins: m)
            finish(margins: m, outputs: outputs.baseAddress!)
        }
    }

    /// Scores one row; allocates the result (use the buffer form on hot paths).
    public func predict(_ row: [Double]) -> Prediction {
        var margins = [Double](repeating: 0, count: outputCount)
        var outputs = [Double](repeating: 0, count: outputCount)
        row.withUnsafeBufferPointer { row in
            margins.withUnsafeMutableBufferPointer { m in
                outputs.withUnsafeMutableBufferPointer { o in predict(row: row, margins: m, outputs: o) }
            }
        }
        return Prediction(margins: margins, outputs: outputs, predictedClass: predictedClass(outputs))
    }

    /// The class a classifier predicts from its outputs (nil for regressors).
    public func predictedClass(_ outputs: [Double]) -> Int? {
        guard info.isClassifier else { return nil }
        if info.isBinaryClassifier { return outputs[0] > 0.5 ? 1 : 0 }
        return outputs.indices.max { outputs[$0] < outputs[$1] }
    }

    @inline(__always)
    func finish(margins: UnsafeMutablePointer<Double>, outputs: UnsafeMutablePointer<Double>) {
        if info.averageTrees {
            // ONNX AVERAGE divides by the number of trees; LightGBM average_output by iterations.
            let divisor = compiled.usesLeafVectors ? Double(compiled.trees.count) : Double(compiled.trees.count) / Double(outputCount)
            for k in 0..<outputCount { margins[k] = info.baseMargins[k] + (margins[k] - info.baseMargins[k]) / divisor }
        }
        info.applyTransform(margins: margins, outputs: outputs)
    }

    // MARK: Batches

    /// Scores many rows: interleaved in groups to hide branch and load latency, and split across
    /// `pool`'s threads when given.
    ///
    /// - Parameters:
    ///   - rows: Row-major, ``featureCount`` values per row.
    ///   - margins: Receives ``outputCount`` margins per row.
    ///   - outputs: Receives ``outputCount`` outputs per row.
    ///   - pool: Worker threads to spread the batch over; nil scores on the caller's thread.
    public func predictBatch(
        rows: UnsafeBufferPointer<Double>,
        margins: UnsafeMutableBufferPointer<Double>,
        outputs: UnsafeMutableBufferPointer<Double>,
        pool: ForestWorkerPool? = nil
    ) {
        let count = rows.count / featureCount
        precondition(rows.count == count * featureCount, "rows must hold a whole number of \(featureCount)-value rows")
        precondition(margins.count >= count * outputCount && outputs.count >= count * outputCount, "output buffers are too small")
        guard count > 0 else { return }
        let rowBase = rows.baseAddress!
        let marginBase = margins.baseAddress!
        let outputBase = outputs.baseAddress!
        let chunk = 256
        let chunks = (count + chunk - 1) / chunk
        if let pool, chunks > 1 {
            pool.run(tasks: chunks) { task in
                let start = task * chunk
                self.predictRange(rowBase, marginBase, outputBase, start, min(count, start + chunk))
            }
        } else {
            predictRange(rowBase, marginBase, outputBase, 0, count)
        }
    }

    /// Rows `start..<end`, interleaved by `CompiledForest.interleave`.
    func predictRange(_ rows: UnsafePointer<Double>, _ margins: UnsafeMutablePointer<Double>, _ outputs: UnsafeMutablePointer<Double>, _ start: Int, _ end: Int)
    {
        let width = compiled.preparedWidth
        let lanes = CompiledForest.interleave
        let k = outputCount
        var row = start
        if !compiled.usesLeafVectors {
            let block = CompiledForest.blockRows
            withUnsafeTemporaryAllocation(of: Int64.self, capacity: block * width) { scratch in
                let prepared = scratch.baseAddress!
                while row + lanes <= end {
                    let n = min(block, (end - row) / lanes * lanes)
                    for r in 0..<n {
                        compiled.prepare(rows + (row + r) * featureCount, into: prepared + r * width)
                        for o in 0..<k { margins[(row + r) * k + o] = info.baseMargins[o] }
                    }
                    compiled.accumulateBlock(rows: prepared, rowCount: n, margins: margins + row * k)
                    for r in 0..<n {
                        finish(margins: margins + (row + r) * k, outputs: outputs + (row + r) * k)
                    }
                    row += n
                }
            }
        }
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: width) { scratch in
            let prepared = scratch.baseAddress!
            while row < end {
                compiled.prepare(rows + row * featureCount, into: prepared)
                for o in 0..<k { margins[row * k + o] = info.baseMargins[o] }
                compiled.accumulate(row: prepared, margins: margins + row * k)
                finish(margins: margins + row * k, outputs: outputs + row * k)
                row += 1
            }
        }
    }
}

/// One row's result.
public struct Prediction: Sendable, Hashable {
    /// Raw tree sums per output, base margin included.
    public var margins: [Double]
    /// Probabilities (classifiers) or values (regressors) per output; for binary classifiers one
    /// value, P(positive class).
    public var outputs: [Double]
    /// The predicted class for classifiers.
    public var predictedClass: Int?
}
