/// Per-feature contributions by exact path-dependent TreeSHAP (Lundberg et al., "Consistent
/// Individualized Feature Attribution for Tree Ensembles", Algorithm 2), as XGBoost's
/// `pred_contribs` and LightGBM's `pred_contrib` compute them: node covers (hessian sums or record
/// counts) weight the paths a row does not take, and the bias is each tree's cover-weighted mean
/// leaf value plus the base margin.
extension Forest {
    /// Contributions of each feature to each output's margin for one row.
    ///
    /// - Parameters:
    ///   - row: ``featureCount`` values in model order; NaN is missing.
    ///   - method: How to compute them; every method gives the same values to rounding.
    /// - Returns: One array per output of ``featureCount`` + 1 values: the features' contributions,
    ///   then the bias. Each array sums to the output's margin.
    /// - Throws: ``ForestError`` (unsupported) when the model records no node covers (ONNX files).
    public func contributions(_ row: [Double], method: TreeSHAPMethod = .quadrature) throws(ForestError) -> [[Double]] {
        guard row.count == featureCount else {
            throw ForestError(.invalidInput, "the row has \(row.count) values; the model has \(featureCount) features")
        }
        guard let explanation else {
            throw ForestError.unsupported(
                info.source, "the file records no node covers (hessian sums or counts), which TreeSHAP needs; explanations need XGBoost or LightGBM models")
        }
        let roundInputs = info.arithmetic == .xgboost || info.arithmetic == .onnxFloat
        let x = roundInputs ? row.map { Double(Float($0)) } : row
        let width = featureCount + 1
        var phi = [Double](repeating: 0, count: width * outputCount)
        let explainTrees = explanation.trees
        let others = method == .quadrature ? explanation.beyondQuadrature : Array(explainTrees.indices)
        // Scratch for the per-tree methods, sized to nothing when quadrature takes every tree.
        let maxDepth = others.isEmpty ? 0 : compiled.maxDepth + 2
        var scratch = [PathElement](repeating: PathElement(), count: maxDepth * (maxDepth + 1) / 2 + maxDepth)
        var decisions = [Bool](repeating: false, count: others.isEmpty ? 0 : explanation.widestTree)
        x.withUnsafeBufferPointer { x in
            scratch.withUnsafeMutableBufferPointer { path in
                decisions.withUnsafeMutableBufferPointer { decisions in
                    phi.withUnsafeMutableBufferPointer { phi in
                        for output in 0..<outputCount { phi[output * width + featureCount] = explanation.bias[output] }
                        if method == .quadrature {
                            explanation.addQuadrature(x: x.baseAddress!, width: width, phi: phi.baseAddress!)
                        }
                        for index in others {
                            let tree = explainTrees[index]
                            let contributions = phi.baseAddress! + explanation.outputs[index] * width
                            if method != .recursive, let table = tree.pathTable {
                                tree.decide(x.baseAddress!, into: decisions.baseAddress!)
                                table.contribute(goesLeft: UnsafePointer(decisions.baseAddress!), phi: contributions)
                            } else {
                                SHAPWalker(tree: tree, x: x.baseAddress!).shap(
                                    node: tree.root, phi: contributions, path: path.baseAddress!,
                                    uniqueDepth: 0, zeroFraction: 1, oneFraction: 1, feature: -1)
                            }
                        }
                    }
                }
            }
        }
        let divisor = info.averageTrees ? Double(trees.count) / Double(outputCount) : 1
        return (0..<outputCount).map { output in
            var values = Array(phi[(output * width)..<((output + 1) * width)])
            if divisor != 1 { for i in 0..<width { values[i] /= divisor } }
            values[featureCount] += info.baseMargins[output]
            return values
        }
    }

    /// Whether the model records the node covers TreeSHAP needs (and has single-output leaves).
    public var explainable: Bool { explanation != nil }

    /// How many trees each TreeSHAP method explains (``TreeSHAPMethod/quadrature`` picks per tree).
    public var explanationPlan: ExplanationPlan? { explanation?.plan }
}

/// How ``Forest/contributions(_:method:)`` computes TreeSHAP.
public enum TreeSHAPMethod: Sendable, Hashable {
    /// Gauss-Legendre quadrature with 4 points for trees whose paths split on at most 8 distinct
    /// features and 8 points for at most 16; other trees by path decomposition. The fastest.
    case quadrature
    /// Per-leaf closed forms (``PathSHAPTable``); trees with more than 60 distinct features on a
    /// path by the recursive algorithm.
    case pathDecomposition
    /// Lundberg et al.'s recursive Algorithm 2 for every tree (the reference the others are
    /// checked against).
    case recursive
}

/// Which method explains how many of a model's trees.
public struct ExplanationPlan: Sendable, Hashable {
    /// Trees explained by 2-point quadrature (at most 4 distinct features on any path).
    public var quadrature2: Int
    /// Trees explained by 4-point quadrature (5 to 8 distinct features on a path).
    public var quadrature4: Int
    /// Trees explained by 8-point quadrature (9 to 16 distinct features on a path).
    public var quadrature8: Int
    /// Trees explained by path decomposition (zero covers, or more than 16 distinct features).
    public var pathDecomposition: Int
    /// Trees explained by the recursive algorithm (more than 60 distinct features on a path).
    public var recursive: Int
}

/// A forest laid out for TreeSHAP, built once when the model loads.
final class ForestExplanation: Sendable {
    let trees: [ExplainTree]
    let outputs: [Int]
    /// The model's outputs (a class may have no trees in a hand-made file).
    let outputCount: Int
    let quadrature2: QuadratureSHAP<SIMD2<Double>>
    let quadrature4: QuadratureSHAP<SIMD4<Double>>
    let quadrature8: QuadratureSHAP<SIMD8<Double>>
    /// The trees no quadrature group explains, in order.
    let beyondQuadrature: [Int]
    /// Per output, the sum of its trees' cover-weighted mean leaf values, in tree order (the bias
    /// before the base margin).
    let bias: [Double]
    /// The most nodes of any tree (the size of a decision buffer).
    let widestTree: Int
    let plan: ExplanationPlan

    init(_ decisionTrees: [DecisionTree], outputCount: Int) {
        let plain = decisionTrees.map { ExplainTree($0, pathTable: false) }
        // Each tree goes to the fewest points that are exact for it: a pass step's vector work
        // is proportional to the lanes, and on baseline x86-64 a SIMD2<Double> is one instruction
        // where a SIMD4 is two.
        let quadrature2 = QuadratureSHAP<SIMD2<Double>>(plain, accept: { $0 <= 4 })
        let quadrature4 = QuadratureSHAP<SIMD4<Double>>(plain, accept: { $0 > 4 && $0 <= 8 })
        let quadrature8 = QuadratureSHAP<SIMD8<Double>>(plain, accept: { $0 > 8 })
        var taken = [Bool](repeating: false, count: plain.count)
        for tree in quadrature2.trees { taken[tree.index] = true }
        for tree in quadrature4.trees { taken[tree.index] = true }
        for tree in quadrature8.trees { taken[tree.index] = true }
        // Only the trees quadrature cannot take pay for per-leaf tables.
        let trees = decisionTrees.indices.map { taken[$0] ? plain[$0] : ExplainTree(decisionTrees[$0], pathTable: true) }
        self.trees = trees
        let outputs = decisionTrees.map(\.output)
        self.outputs = outputs
        self.outputCount = outputCount
        self.quadrature2 = quadrature2
        self.quadrature4 = quadrature4
        self.quadrature8 = quadrature8
        beyondQuadrature = trees.indices.filter { !taken[$0] }
        var bias = [Double](repeating: 0, count: outputCount)
        for (index, tree) in trees.enumerated() { bias[outputs[index]] += tree.expectedValue }
        self.bias = bias
        widestTree = trees.map(\.feature.count).max() ?? 0
        let rest = trees.indices.filter { !taken[$0] }
        let tabled = rest.filter { trees[$0].pathTable != nil }.count
        plan = ExplanationPlan(
            quadrature2: quadrature2.trees.count, quadrature4: quadrature4.trees.count, quadrature8: quadrature8.trees.count,
            pathDecomposition: tabled, recursive: rest.count - tabled)
    }

    /// Adds the quadrature groups' contributions (bias excluded) to `phi`, outputs times `width`.
    func addQuadrature(x: UnsafePointer<Double>, width: Int, phi: UnsafeMutablePointer<Double>) {
        Self.add(quadrature2, x: x, trees: trees, outputs: outputs, width: width, outputCount: outputCount, phi: phi)
        Self.add(quadrature4, x: x, trees: trees, outputs: outputs, width: width, outputCount: outputCount, phi: phi)
        Self.add(quadrature8, x: x, trees: trees, outputs: outputs, width: width, outputCount: outputCount, phi: phi)
    }

    private static func add<Lanes: SIMD & Sendable>(
        _ group: QuadratureSHAP<Lanes>, x: UnsafePointer<Double>, trees: [ExplainTree], outputs: [Int],
        width: Int, outputCount: Int, phi: UnsafeMutablePointer<Double>
    ) where Lanes.Scalar == Double {
        guard !group.trees.isEmpty else { return }
        var scratch = QuadratureSHAP<Lanes>.Scratch(slots: group.widestTree)
        var lanes = [Lanes](repeating: Lanes(), count: width * outputCount)
        lanes.withUnsafeMutableBufferPointer { lanes in
            group.contribute(
                x: x, explainTrees: trees, outputs: outputs, width: width,
                lanes: lanes.baseAddress!, scratch: &scratch)
            for i in 0..<lanes.count { phi[i] += lanes[i].sum() }
        }
    }
}

/// Reciprocals of small integers: the TreeSHAP path arithmetic divides by depths, and divisions are
/// the slowest instruction in its inner loops.
private let reciprocals: [Double] = (0...ForestValidation.maxDepth + 2).map { $0 == 0 ? 0 : 1 / Double($0) }

/// A tree laid out for TreeSHAP: plain arrays, so the walk touches no reference-counted storage.
/// A class, so passing it around does not retain each of its arrays.
final class ExplainTree: Sendable {
    /// How a node tests its feature (categorical tests point into `categorical`).
    struct Test: Sendable {
        var threshold: Double
        var comparison: Comparison
        var missing: MissingValues
        var categorical: Int32  // -1 when numeric
    }

    let left: [Int32]
    let right: [Int32]
    let feature: [Int32]  // -1 for leaves
    let cover: [Double]
    let value: [Double]  // leaf value x tree weight
    let tests: [Test]
    let categorical: [Split]
    let root: Int
    /// The cover-weighted mean leaf value (the tree's share of the bias).
    let expectedValue: Double
    /// Per node, the test in the form the decision pass evaluates without branching on its kind.
    let decisionTests: [DecisionTest]

    struct DecisionTest: Sendable {
        static let leaf: UInt8 = 1
        static let lessOrEqual: UInt8 = 2
        static let nanLeft: UInt8 = 4
        /// Evaluate with the reference semantics (categorical, equality, zero-as-missing, ...).
        static let reference: UInt8 = 8
        var threshold: Double
        var feature: Int32
        var flags: UInt8
    }
    /// Precomputed path weights, when the tree's paths are short enough.
    let pathTable: PathSHAPTable?

    /// - Parameter pathTable: Whether to build the per-leaf ``PathSHAPTable`` (trees explained by
    ///   quadrature do without it).
    init(_ tree: DecisionTree, pathTable: Bool) {
        root = tree.root
        left = tree.nodes.map { Int32($0.left) }
        right = tree.nodes.map { Int32($0.right) }
        feature = tree.nodes.map { Int32($0.split?.feature ?? -1) }
        cover = tree.nodes.map(\.cover)
        value = tree.nodes.map { $0.value * tree.weight }
        var categorical: [Split] = []
        var tests: [Test] = []
        for node in tree.nodes {
            switch node.split {
            case .numeric(_, let t, let c, let m)?:
                tests.append(Test(threshold: t, comparison: c, missing: m, categorical: -1))
            case .categorical?:
                tests.append(Test(threshold: 0, comparison: .less, missing: .compared, categorical: Int32(categorical.count)))
                categorical.append(node.split!)
            case nil:
                tests.append(Test(threshold: 0, comparison: .less, missing: .compared, categorical: -1))
            }
        }
        self.categorical = categorical
        self.tests = tests
        let feature = self.feature
        expectedValue = Self.meanValue(root, feature: feature, left: left, right: right, cover: cover, value: value)
        decisionTests = tests.indices.map { node in
            guard feature[node] >= 0 else { return DecisionTest(threshold: 0, feature: 0, flags: DecisionTest.leaf) }
            let test = tests[node]
            var flags: UInt8 = 0
            switch (test.comparison, test.missing) {
            case (.less, .left) where test.categorical < 0: flags = DecisionTest.nanLeft
            case (.less, .right) where test.categorical < 0: flags = 0
            case (.lessOrEqual, .left) where test.categorical < 0: flags = DecisionTest.lessOrEqual | DecisionTest.nanLeft
            case (.lessOrEqual, .right) where test.categorical < 0: flags = DecisionTest.lessOrEqual
            default: flags = DecisionTest.reference
            }
            return DecisionTest(threshold: test.threshold, feature: feature[node], flags: flags)
        }
        self.pathTable = pathTable ? PathSHAPTable(root: root, feature: feature, left: left, right: right, cover: cover, value: value) : nil
    }

    /// Decides every split of the tree for one row (`goesLeft[node]`), leaves untouched.
    func decide(_ x: UnsafePointer<Double>, into goesLeft: UnsafeMutablePointer<Bool>) {
        decisionTests.withUnsafeBufferPointer { tests in
            for node in 0..<tests.count {
                let test = tests[node]
                if test.flags & DecisionTest.leaf != 0 { continue }
                let value = x[Int(test.feature)]
                if test.flags & DecisionTest.reference != 0 {
                    goesLeft[node] = self.goesLeft(node, value)
                } else if value.isNaN {
                    goesLeft[node] = test.flags & DecisionTest.nanLeft != 0
                } else {
                    goesLeft[node] = test.flags & DecisionTest.lessOrEqual != 0 ? value <= test.threshold : value < test.threshold
                }
            }
        }
    }

    /// The cover-weighted mean of the leaves below `node` (XGBoost's node mean values).
    static func meanValue(_ node: Int, feature: [Int32], left: [Int32], right: [Int32], cover: [Double], value: [Double]) -> Double {
        guard feature[node] >= 0 else { return value[node] }
        let c = cover[node]
        guard c > 0 else { return 0 }
        let l = Int(left[node]), r = Int(right[node])
        return
            (meanValue(l, feature: feature, left: left, right: right, cover: cover, value: value) * cover[l]
            + meanValue(r, feature: feature, left: left, right: right, cover: cover, value: value) * cover[r]) / c
    }

    @inline(__always)
    func goesLeft(_ node: Int, _ x: Double) -> Bool {
        let test = tests[node]
        // The common numeric cases inline; the rest by the reference semantics.
        switch (test.comparison, test.missing) {
        case (.less, .left) where test.categorical < 0: return x.isNaN || x < test.threshold
        case (.less, .right) where test.categorical < 0: return !x.isNaN && x < test.threshold
        case (.lessOrEqual, .left) where test.categorical < 0: return x.isNaN || x <= test.threshold
        case (.lessOrEqual, .right) where test.categorical < 0: return !x.isNaN && x <= test.threshold
        default: break
        }
        if test.categorical >= 0 {
            return DecisionNode.split(categorical[Int(test.categorical)], left: 0, right: 1).goesLeft(x)
        }
        return DecisionNode.split(
            .numeric(feature: 0, threshold: test.threshold, comparison: test.comparison, missing: test.missing),
            left: 0, right: 1
        ).goesLeft(x)
    }
}

/// One tree's TreeSHAP walk for one row.
private struct SHAPWalker {
    let tree: ExplainTree
    let x: UnsafePointer<Double>

    func shap(
        node: Int, phi: UnsafeMutablePointer<Double>, path parent: UnsafeMutablePointer<PathElement>,
        uniqueDepth: Int, zeroFraction: Double, oneFraction: Double, feature: Int
    ) {
        // This level's copy of the path lives right after the parent's.
        let path = parent + uniqueDepth + 1
        path.update(from: parent, count: uniqueDepth + 1)
        var depth = uniqueDepth
        extend(path, depth, zeroFraction, oneFraction, feature)
        let splitFeature = Int(tree.feature[node])
        guard splitFeature >= 0 else {
            let value = tree.value[node]
            if depth > 0 {
                for i in 1...depth {
                    let element = path[i]
                    phi[element.feature] += unwoundSum(path, depth, i) * (element.one - element.zero) * value
                }
            }
            return
        }
        let l = Int(tree.left[node]), r = Int(tree.right[node])
        let hot = tree.goesLeft(node, x[splitFeature]) ? l : r
        let cold = hot == l ? r : l
        let cover = tree.cover[node]
        let hotZero = cover > 0 ? tree.cover[hot] / cover : 0
        let coldZero = cover > 0 ? tree.cover[cold] / cover : 0
        var incomingZero = 1.0
        var incomingOne = 1.0
        // A feature split on before: undo its earlier extension and redo it here.
        var index = 0
        while index <= depth && path[index].feature != splitFeature { index += 1 }
        if index <= depth {
            incomingZero = path[index].zero
            incomingOne = path[index].one
            unwind(path, depth, index)
            depth -= 1
        }
        shap(
            node: hot, phi: phi, path: path, uniqueDepth: depth + 1,
            zeroFraction: hotZero * incomingZero, oneFraction: incomingOne, feature: splitFeature)
        shap(
            node: cold, phi: phi, path: path, uniqueDepth: depth + 1,
            zeroFraction: coldZero * incomingZero, oneFraction: 0, feature: splitFeature)
    }

    @inline(__always)
    private func extend(_ path: UnsafeMutablePointer<PathElement>, _ depth: Int, _ zero: Double, _ one: Double, _ feature: Int) {
        path[depth] = PathElement(feature: feature, zero: zero, one: one, weight: depth == 0 ? 1 : 0)
        let scale = reciprocals[depth + 1]
        var i = depth - 1
        while i >= 0 {
            path[i + 1].weight += one * path[i].weight * Double(i + 1) * scale
            path[i].weight = zero * path[i].weight * Double(depth - i) * scale
            i -= 1
        }
    }

    @inline(__always)
    private func unwind(_ path: UnsafeMutablePointer<PathElement>, _ depth: Int, _ index: Int) {
        let one = path[index].one
        let zero = path[index].zero
        let inverseOne = one != 0 ? 1 / one : 0
        let inverseZero = zero != 0 ? 1 / zero : 0
        let scale = reciprocals[depth + 1]
        var nextOnePortion = path[depth].weight
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let tmp = path[i].weight
                path[i].weight = nextOnePortion * Double(depth + 1) * reciprocals[i + 1] * inverseOne
                nextOnePortion = tmp - path[i].weight * zero * Double(depth - i) * scale
            } else if zero != 0 {
                path[i].weight = path[i].weight * Double(depth + 1) * inverseZero * reciprocals[depth - i]
            }
            i -= 1
        }
        for j in index..<depth {
            path[j].feature = path[j + 1].feature
            path[j].zero = path[j + 1].zero
            path[j].one = path[j + 1].one
        }
    }

    @inline(__always)
    private func unwoundSum(_ path: UnsafeMutablePointer<PathElement>, _ depth: Int, _ index: Int) -> Double {
        let one = path[index].one
        let zero = path[index].zero
        let inverseOne = one != 0 ? 1 / one : 0
        let inverseZero = zero != 0 ? 1 / zero : 0
        let scale = reciprocals[depth + 1]
        var nextOnePortion = path[depth].weight
        var total = 0.0
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let tmp = nextOnePortion * Double(depth + 1) * reciprocals[i + 1] * inverseOne
                total += tmp
                nextOnePortion = path[i].weight - tmp * zero * Double(depth - i) * scale
            } else if zero != 0 {
                total += path[i].weight * inverseZero * Double(depth + 1) * reciprocals[depth - i]
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
