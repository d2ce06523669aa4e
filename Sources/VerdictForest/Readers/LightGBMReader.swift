/// Reads LightGBM text models (`booster.save_model("model.txt")`).
///
/// Exactness rules: rows and thresholds are doubles compared with `<=` (a threshold may be the
/// literal `inf`); `decision_type` bit 0 marks categorical splits, bit 1 default-left, bits 2-3 the
/// missing type (None: NaN is compared as 0.0; Zero: NaN and |x| <= 1e-35 take the default side; NaN:
/// NaN takes the default side); categorical bitsets send their categories left and NaN or negative
/// values right; the initial score is already folded into the first trees; margins are summed in
/// double in tree order. Linear trees are refused: their leaves are models of their own.
public enum LightGBMReader {
    /// Reads a text model.
    ///
    /// - Throws: ``ForestError`` naming the tree and key that is wrong.
    public static func read(_ bytes: [UInt8], name: String, sha256: String, limits: ModelLimits = .standard) throws(ForestError) -> Forest {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
        guard let first = lines.first, first.trimmingSpaces() == "tree" else {
            throw ForestError.malformed(name, "the first line is not 'tree'; this is not a LightGBM text model")
        }
        lines = lines.dropFirst()
        var header: [Substring: Substring] = [:]
        var averageOutput = false
        while let line = lines.first, !line.hasPrefix("Tree=") {
            lines = lines.dropFirst()
            let trimmed = line.trimmingSpaces()
            if trimmed == "end of trees" { break }
            if trimmed == "average_output" { averageOutput = true }
            if let eq = trimmed.firstIndex(of: "=") {
                header[trimmed[..<eq]] = trimmed[trimmed.index(after: eq)...]
            }
        }
        guard let maxFeature = header["max_feature_idx"].flatMap({ Int($0) }) else {
            throw ForestError.malformed(name, "missing or invalid max_feature_idx")
        }
        let featureCount = try limits.featureCount(lastIndex: maxFeature, file: name, key: "max_feature_idx")
        guard let classCount = header["num_class"].map({ Int($0) }) ?? 1,
            let treesPerIteration = header["num_tree_per_iteration"].map({ Int($0) }) ?? classCount
        else {
            throw ForestError.malformed(name, "num_class or num_tree_per_iteration is not an integer")
        }
        _ = try limits.outputCount(classCount, file: name, key: "num_class")
        _ = try limits.outputCount(treesPerIteration, file: name, key: "num_tree_per_iteration")
        let objectiveLine = header["objective"].map(String.init) ?? "custom"
        let semantics = try objectiveSemantics(objectiveLine, name: name, classCount: classCount)
        var featureNames = header["feature_names"].map { $0.split(separator: " ").map(String.init) } ?? []
        if featureNames.count != featureCount { featureNames = (0..<featureCount).map { "Column_\($0)" } }

        // Tree blocks: "Tree=N" followed by key=value lines until an empty line.
        var trees: [DecisionTree] = []
        var endOfTrees = false
        while let line = lines.first {
            let trimmed = line.trimmingSpaces()
            lines = lines.dropFirst()
            if trimmed == "end of trees" { endOfTrees = true; break }
            guard trimmed.hasPrefix("Tree=") else { continue }
            var block: [Substring: Substring] = [:]
            while let next = lines.first, !next.trimmingSpaces().isEmpty {
                lines = lines.dropFirst()
                let entry = next.trimmingSpaces()
                if let eq = entry.firstIndex(of: "=") { block[entry[..<eq]] = entry[entry.index(after: eq)...] }
            }
            let index = trees.count
            trees.append(try readTree(block, index: index, output: index % treesPerIteration, name: name))
        }
        guard !trees.isEmpty else {
            throw ForestError.malformed(name, "no 'Tree=' blocks (truncated file?)")
        }
        // A cut file loses its last trees or its trailer: both are detectable.
        guard endOfTrees else { throw ForestError.malformed(name, "no 'end of trees' line (truncated file?)") }
        if let sizes = header["tree_sizes"], sizes.split(separator: " ").count != trees.count {
            throw ForestError.malformed(name, "tree_sizes lists \(sizes.split(separator: " ").count) trees but \(trees.count) were read (truncated file?)")
        }
        if text.contains("\nparameters:") && !text.contains("\nend of parameters") {
            throw ForestError.malformed(name, "the parameters section has no 'end of parameters' line (truncated file?)")
        }
        guard trees.count % treesPerIteration == 0 else {
            throw ForestError.malformed(name, "\(trees.count) trees is not a multiple of num_tree_per_iteration=\(treesPerIteration) (truncated file?)")
        }
        let info = ModelInfo(
            format: .lightgbmText,
            source: name,
            objective: objectiveLine,
            producer: "LightGBM \(header["version"].map(String.init) ?? "")".trimmingSpaces().description,
            outputCount: treesPerIteration,
            classLabels: semantics.isClassifier ? (0..<(semantics.isBinary ? 2 : treesPerIteration)).map(String.init) : [],
            featureNames: featureNames,
            transform: semantics.transform,
            sigmoidScale: semantics.sigmoid,
            baseMargins: Array(repeating: 0, count: treesPerIteration),
            averageTrees: averageOutput,
            arithmetic: .lightgbm,
            isBinaryClassifier: semantics.isBinary,
            isClassifier: semantics.isClassifier
        )
        return try Forest(info: info, trees: trees, sha256: sha256)
    }

    private struct Semantics {
        var transform: OutputTransform
        var sigmoid: Double
        var isClassifier: Bool
        var isBinary: Bool
    }

    private static func objectiveSemantics(_ line: String, name: String, classCount: Int) throws(ForestError) -> Semantics {
        let parts = line.split(separator: " ")
        let kind = parts.first.map(String.init) ?? "custom"
        var parameters: [String: String] = [:]
        for part in parts.dropFirst() {
            let pair = part.split(separator: ":", maxSplits: 1)
            if pair.count == 2 { parameters[String(pair[0])] = String(pair[1]) } else { parameters[String(part)] = "" }
        }
        let sigmoid = parameters["sigmoid"].flatMap(Double.init) ?? 1
        switch kind {
        case "binary":
            return Semantics(transform: .sigmoid, sigmoid: sigmoid, isClassifier: true, isBinary: true)
        case "multiclass", "softmax":
            return Semantics(transform: .softmax, sigmoid: 1, isClassifier: true, isBinary: false)
        case "multiclassova", "multiclass_ova", "ova", "ovr":
            return Semantics(transform: .sigmoid, sigmoid: sigmoid, isClassifier: true, isBinary: false)
        case "cross_entropy", "xentropy":
            return Semantics(transform: .sigmoid, sigmoid: 1, isClassifier: false, isBinary: false)
        case "regression", "regression_l2", "l2", "mean_squared_error", "mse", "regression_l1", "l1", "mae",
            "huber", "fair", "quantile", "mape", "lambdarank", "rank_xendcg", "custom":
            if parameters["sqrt"] != nil {
                throw ForestError.unsupported(
                    name, "objective '\(line)' trains on sqrt(label) (reg_sqrt); its predictions are squared, which Verdict does not reproduce")
            }
            return Semantics(transform: .identity, sigmoid: 1, isClassifier: false, isBinary: false)
        case "poisson", "gamma", "tweedie":
            return Semantics(transform: .exponential, sigmoid: 1, isClassifier: false, isBinary: false)
        default:
            throw ForestError.unsupported(
                name,
                "objective '\(line)' is not supported; supported: binary, multiclass, multiclassova, cross_entropy, regression (l1/l2/huber/fair/quantile/mape), poisson, gamma, tweedie"
            )
        }
    }

    private static func readTree(_ block: [Substring: Substring], index t: Int, output: Int, name: String) throws(ForestError) -> DecisionTree {
        func ints(_ key: Substring) throws(ForestError) -> [Int] {
            guard let value = block[key] else { throw ForestError.malformed(name, "tree \(t): missing '\(key)'") }
            var result: [Int] = []
            for part in value.split(separator: " ") {
                guard let v = Int(part) else { throw ForestError.malformed(name, "tree \(t): '\(key)' has a non-integer '\(part)'") }
                result.append(v)
            }
            return result
        }
        func doubles(_ key: Substring) throws(ForestError) -> [Double] {
            guard let value = block[key] else { throw ForestError.malformed(name, "tree \(t): missing '\(key)'") }
            var result: [Double] = []
            for part in value.split(separator: " ") {
                guard let v = Double(part) else { throw ForestError.malformed(name, "tree \(t): '\(key)' has a non-number '\(part)'") }
                result.append(v)
            }
            return result
        }
        if let linear = block["is_linear"], linear != "0" {
            throw ForestError.unsupported(
                name,
                "tree \(t) is a linear tree (linear_tree=true); its leaves hold linear models, which Verdict does not evaluate. Retrain with linear_tree=false")
        }
        guard let leafCount = block["num_leaves"].flatMap({ Int($0) }), leafCount >= 1 else {
            throw ForestError.malformed(name, "tree \(t): missing or invalid num_leaves")
        }
        let leafValues = try doubles("leaf_value")
        guard leafValues.count == leafCount else {
            throw ForestError.malformed(name, "tree \(t): \(leafValues.count) leaf values for num_leaves=\(leafCount)")
        }
        let leafCounts = block["leaf_count"] != nil ? try doubles("leaf_count") : []
        if leafCount == 1 {
            return DecisionTree(nodes: [.leaf(leafValues[0], cover: leafCounts.first ?? .nan)], root: 0, output: output)
        }
        let inner = leafCount - 1
        let features = try ints("split_feature")
        let thresholds = try doubles("threshold")
        let decisionTypes = try ints("decision_type")
        let left = try ints("left_child")
        let right = try ints("right_child")
        let innerCounts = block["internal_count"] != nil ? try doubles("internal_count") : []
        guard features.count == inner, thresholds.count == inner, decisionTypes.count == inner, left.count == inner, right.count == inner else {
            throw ForestError.malformed(name, "tree \(t): split arrays do not have num_leaves-1=\(inner) entries")
        }
        let categoryCount = block["num_cat"].flatMap { Int($0) } ?? 0
        var boundaries: [Int] = []
        var bitsets: [Int] = []
        // Each category set has a boundary in the file, so a count beyond the splits is corrupt (and
        // `categoryCount + 1` below cannot overflow).
        guard categoryCount >= 0, categoryCount <= inner else {
            throw ForestError.malformed(name, "tree \(t): num_cat=\(categoryCount) is outside 0...\(inner)")
        }
        if categoryCount > 0 {
            boundaries = try ints("cat_boundaries")
            bitsets = try ints("cat_threshold")
            guard boundaries.count == categoryCount + 1, boundaries.first == 0, boundaries.last == bitsets.count,
                zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 <= $1 })
            else {
                throw ForestError.malformed(name, "tree \(t): cat_boundaries do not describe cat_threshold")
            }
        }
        // Inner nodes keep their indices; leaf k becomes node inner + k. LightGBM encodes leaf k as ~k.
        // Out-of-range children are refused here, before the arithmetic: `~Int.min` is Int.max.
        func child(_ raw: Int, of node: Int) throws(ForestError) -> Int {
            if raw >= 0 && raw < inner { return raw }
            if raw < 0 && ~raw < leafCount { return inner + ~raw }
            throw ForestError.invalid(name, tree: t, node: node, "child \(raw) is neither a split (0..<\(inner)) nor a leaf (-1...-\(leafCount))")
        }
        var nodes: [DecisionNode] = []
        nodes.reserveCapacity(inner + leafCount)
        for i in 0..<inner {
            let decision = decisionTypes[i]
            let defaultLeft = decision & 2 != 0
            let split: Split
            if decision & 1 != 0 {
                guard thresholds[i] >= 0 && thresholds[i] < Double(categoryCount) else {
                    throw ForestError.invalid(name, tree: t, node: i, "categorical split refers to bitset \(thresholds[i]) of \(categoryCount)")
                }
                let index = Int(thresholds[i])
                var categories: [Int] = []
                for word in boundaries[index]..<boundaries[index + 1] {
                    let bits = UInt32(truncatingIfNeeded: bitsets[word])
                    for bit in 0..<32 where bits & (1 << UInt32(bit)) != 0 {
                        categories.append((word - boundaries[index]) * 32 + bit)
                    }
                }
                split = .categorical(feature: features[i], categories: categories, rule: .lightgbm)
            } else {
                let missing: MissingValues
                switch (decision >> 2) & 3 {
                case 0: missing = .asZero
                case 1: missing = .zeroIsMissing(defaultLeft: defaultLeft)
                case 2: missing = defaultLeft ? .left : .right
                default:
                    throw ForestError.invalid(name, tree: t, node: i, "unknown missing type in decision_type \(decision)")
                }
                split = .numeric(feature: features[i], threshold: thresholds[i], comparison: .lessOrEqual, missing: missing)
            }
            nodes.append(
                .split(split, left: try child(left[i], of: i), right: try child(right[i], of: i), cover: i < innerCounts.count ? innerCounts[i] : .nan))
        }
        for k in 0..<leafCount {
            nodes.append(.leaf(leafValues[k], cover: k < leafCounts.count ? leafCounts[k] : .nan))
        }
        return DecisionTree(nodes: nodes, root: 0, output: output)
    }
}
