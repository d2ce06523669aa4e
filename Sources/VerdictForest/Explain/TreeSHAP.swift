/// Per-feature contributions by exact path-dependent TreeSHAP (Lundberg et al., "Consistent
/// Individualized Feature Attribution for Tree Ensembles", Algorithm 2), as XGBoost's
/// `pred_contribs` and LightGBM's `pred_contrib` compute them: node covers (hessian sums or record
/// counts) weight the paths a row does not take, and the bias is each tree's cover-weighted mean
/// leaf value plus the base margin.
extension Forest {
    /// Contributions of each feature to each output's margin for one row.
    ///
    /// - Parameter row: ``featureCount`` values in model order; NaN is missing.
    /// - Returns: One array per output of ``featureCount`` + 1 values: the features' contributions,
    ///   then the bias. Each array sums to the output's margin.
    /// - Throws: ``ForestError`` (unsupported) when the model records no node covers (ONNX files).
    public func contributions(_ row: [Double]) throws(ForestError) -> [[Double]] {
        guard row.count == featureCount else {
            throw ForestError(.invalidInput, "the row has \(row.count) values; the model has \(featureCount) features")
        }
        guard explainable else {
            throw ForestError.unsupported(info.source, "the file records no node covers (hessian sums or counts), which TreeSHAP needs; explanations need XGBoost or LightGBM models")
        }
        let roundInputs = info.arithmetic == .xgboost || info.arithmetic == .onnxFloat
        let x = roundInputs ? row.map { Double(Float($0)) } : row
        var phi = [[Double]](repeating: [Double](repeating: 0, count: featureCount + 1), count: outputCount)
        let maxDepth = compiled.maxDepth + 2
        var scratch = [PathElement](repeating: PathElement(), count: maxDepth * (maxDepth + 1) / 2 + maxDepth)
        for tree in trees {
            for output in outputsOf(tree) {
                let leafValue: (DecisionNode) -> Double = { node in
                    let value = node.outputs.isEmpty ? node.value : (node.outputs.first { $0.output == output }?.value ?? 0)
                    return value * tree.weight
                }
                phi[output][featureCount] += meanValue(tree, tree.root, leafValue)
                scratch.withUnsafeMutableBufferPointer { path in
                    phi[output].withUnsafeMutableBufferPointer { contributions in
                        shap(tree, node: tree.root, x: x, phi: contributions.baseAddress!, path: path.baseAddress!,
                             uniqueDepth: 0, zeroFraction: 1, oneFraction: 1, feature: -1, leafValue: leafValue)
                    }
                }
            }
        }
        for output in 0..<outputCount {
            if info.averageTrees {
                let divisor = compiled.usesLeafVectors ? Double(trees.count) : Double(trees.count) / Double(outputCount)
                for i in 0...featureCount { phi[output][i] /= divisor }
            }
            phi[output][featureCount] += info.baseMargins[output]
        }
        return phi
    }

    /// Whether the model records the node covers TreeSHAP needs.
    public var explainable: Bool {
        trees.allSatisfy { tree in tree.nodes.allSatisfy { !$0.cover.isNaN } }
    }

    private func outputsOf(_ tree: DecisionTree) -> [Int] {
        let vectors = Set(tree.nodes.flatMap { $0.outputs.map(\.output) })
        return vectors.isEmpty ? [tree.output] : vectors.sorted()
    }

    /// The cover-weighted mean of the leaves below `node` (XGBoost's node mean values).
    private func meanValue(_ tree: DecisionTree, _ node: Int, _ leafValue: (DecisionNode) -> Double) -> Double {
        let n = tree.nodes[node]
        guard !n.isLeaf else { return leafValue(n) }
        let left = tree.nodes[n.left]
        let right = tree.nodes[n.right]
        guard n.cover > 0 else { return 0 }
        return (meanValue(tree, n.left, leafValue) * left.cover + meanValue(tree, n.right, leafValue) * right.cover) / n.cover
    }

    private func shap(
        _ tree: DecisionTree, node: Int, x: [Double], phi: UnsafeMutablePointer<Double>,
        path parent: UnsafeMutablePointer<PathElement>, uniqueDepth: Int,
        zeroFraction: Double, oneFraction: Double, feature: Int, leafValue: (DecisionNode) -> Double
    ) {
        // This level's copy of the path lives right after the parent's.
        let path = parent + uniqueDepth + 1
        path.update(from: parent, count: uniqueDepth + 1)
        var depth = uniqueDepth
        extend(path, depth, zeroFraction, oneFraction, feature)
        let n = tree.nodes[node]
        guard let split = n.split else {
            let value = leafValue(n)
            if depth > 0 {
                for i in 1...depth {
                    let w = unwoundSum(path, depth, i)
                    let element = path[i]
                    phi[element.feature] += w * (element.one - element.zero) * value
                }
            }
            return
        }
        let hot = n.goesLeft(x[split.feature]) ? n.left : n.right
        let cold = hot == n.left ? n.right : n.left
        let cover = n.cover
        let hotZero = cover > 0 ? tree.nodes[hot].cover / cover : 0
        let coldZero = cover > 0 ? tree.nodes[cold].cover / cover : 0
        var incomingZero = 1.0
        var incomingOne = 1.0
        // A feature split on before: undo its earlier extension and redo it here.
        if let index = (0...depth).first(where: { path[$0].feature == split.feature }) {
            incomingZero = path[index].zero
            incomingOne = path[index].one
            unwind(path, depth, index)
            depth -= 1
        }
        shap(tree, node: hot, x: x, phi: phi, path: path, uniqueDepth: depth + 1,
             zeroFraction: hotZero * incomingZero, oneFraction: incomingOne, feature: split.feature, leafValue: leafValue)
        shap(tree, node: cold, x: x, phi: phi, path: path, uniqueDepth: depth + 1,
             zeroFraction: coldZero * incomingZero, oneFraction: 0, feature: split.feature, leafValue: leafValue)
    }

    private func extend(_ path: UnsafeMutablePointer<PathElement>, _ depth: Int, _ zero: Double, _ one: Double, _ feature: Int) {
        path[depth] = PathElement(feature: feature, zero: zero, one: one, weight: depth == 0 ? 1 : 0)
        var i = depth - 1
        while i >= 0 {
            path[i + 1].weight += one * path[i].weight * Double(i + 1) / Double(depth + 1)
            path[i].weight = zero * path[i].weight * Double(depth - i) / Double(depth + 1)
            i -= 1
        }
    }

    private func unwind(_ path: UnsafeMutablePointer<PathElement>, _ depth: Int, _ index: Int) {
        let one = path[index].one
        let zero = path[index].zero
        var nextOnePortion = path[depth].weight
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let tmp = path[i].weight
                path[i].weight = nextOnePortion * Double(depth + 1) / (Double(i + 1) * one)
                nextOnePortion = tmp - path[i].weight * zero * Double(depth - i) / Double(depth + 1)
            } else if zero != 0 {
                path[i].weight = path[i].weight * Double(depth + 1) / (zero * Double(depth - i))
            }
            i -= 1
        }
        for j in index..<depth {
            path[j].feature = path[j + 1].feature
            path[j].zero = path[j + 1].zero
            path[j].one = path[j + 1].one
        }
    }

    private func unwoundSum(_ path: UnsafeMutablePointer<PathElement>, _ depth: Int, _ index: Int) -> Double {
        let one = path[index].one
        let zero = path[index].zero
        var nextOnePortion = path[depth].weight
        var total = 0.0
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let tmp = nextOnePortion * Double(depth + 1) / (Double(i + 1) * one)
                total += tmp
                nextOnePortion = path[i].weight - tmp * zero * (Double(depth - i) / Double(depth + 1))
            } else if zero != 0 {
                total += (path[i].weight / zero) / (Double(depth - i) / Double(depth + 1))
            }
            i -= 1
        }
        return total
    }
}

struct PathElement {
    var feature: Int = -1
    var zero: Double = 0
    var one: Double = 0
    var weight: Double = 0
}
