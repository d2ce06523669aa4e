#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads XGBoost models saved with `save_model("m.json")` or `save_model("m.ubj")` (XGBoost >= 1.6).
///
/// Exactness rules (each one a difference from a naive reader that shows up in the predictions):
/// - thresholds and leaf values are float32; rows are cast to float32 and compared with `<`;
/// - a NaN input takes `default_left`;
/// - `base_score` is stored as a probability for logistic objectives (its logit, computed in float32,
///   is the base margin), as a margin otherwise; XGBoost >= 3.1 stores it as a list per output;
/// - margins are summed in float32, in tree order, starting from the base margin;
/// - categorical splits send the listed categories right.
public enum XGBoostReader {
    /// Reads a JSON or UBJSON model.
    ///
    /// - Parameters:
    ///   - bytes: The file's contents.
    ///   - name: The file name, for error messages.
    ///   - binary: UBJSON when true, JSON otherwise.
    ///   - sha256: Hex SHA-256 of `bytes`.
    /// - Throws: ``ForestError`` saying what is wrong and where.
    public static func read(_ bytes: [UInt8], name: String, binary: Bool, sha256: String, limits: ModelLimits = .standard) throws(ForestError) -> Forest {
        let document: JSONValue
        do {
            document = binary ? try UBJSONParser.parse(bytes) : try JSONParser.parse(bytes)
        } catch {
            throw ForestError.malformed(name, "\(binary ? "UBJSON" : "JSON") error at byte \(error.offset): \(error.reason)")
        }
        guard let learner = document["learner"], learner.isObject else {
            throw ForestError.malformed(name, "no 'learner' object; this is not an XGBoost model saved with save_model")
        }
        let version = document["version"]?.intArray.map { $0.map(String.init).joined(separator: ".") } ?? "unknown"
        guard let parameters = learner["learner_model_param"] else {
            throw ForestError.malformed(name, "missing learner.learner_model_param")
        }
        guard let objective = learner["objective"]?["name"]?.string else {
            throw ForestError.malformed(name, "missing learner.objective.name")
        }
        guard let declaredFeatures = parameters["num_feature"]?.int else {
            throw ForestError.malformed(name, "missing or invalid learner_model_param.num_feature")
        }
        let featureCount = try limits.featureCount(declaredFeatures, file: name, key: "learner_model_param.num_feature")
        let classCount = parameters["num_class"]?.int ?? 0
        // num_class is 0 for non-multiclass objectives; anything else must fit the output cap.
        if classCount != 0 { _ = try limits.outputCount(classCount, file: name, key: "learner_model_param.num_class") }
        if let targets = parameters["num_target"]?.int, targets > 1 {
            throw ForestError.unsupported(name, "multi-target models (num_target=\(targets)) are not supported; train one model per target")
        }
        let outputCount = max(1, classCount)

        // The booster: gbtree, or dart (gbtree with per-tree weights).
        guard let booster = learner["gradient_booster"], let boosterName = booster["name"]?.string else {
            throw ForestError.malformed(name, "missing learner.gradient_booster")
        }
        let model: JSONValue
        var treeWeights: [Double]?
        switch boosterName {
        case "gbtree":
            guard let m = booster["model"] else { throw ForestError.malformed(name, "missing gradient_booster.model") }
            model = m
        case "dart":
            guard let m = booster["gbtree"]?["model"] else { throw ForestError.malformed(name, "missing dart gbtree.model") }
            model = m
            treeWeights = booster["weight_drop"]?.floatArray?.map { Double($0) }
        default:
            throw ForestError.unsupported(name, "booster '\(boosterName)' is not a tree ensemble; Verdict scores gbtree and dart models")
        }
        guard let treeValues = model["trees"]?.array else {
            throw ForestError.malformed(name, "missing gradient_booster.model.trees")
        }
        let treeInfo = model["tree_info"]?.intArray ?? []
        guard treeInfo.count == treeValues.count else {
            throw ForestError.malformed(name, "tree_info has \(treeInfo.count) entries for \(treeValues.count) trees")
        }
        if let treeWeights, treeWeights.count != treeValues.count {
            throw ForestError.malformed(name, "dart weight_drop has \(treeWeights.count) entries for \(treeValues.count) trees")
        }

        let (transform, isClassifier, isBinary, marginOf) = try objectiveSemantics(objective, name: name, classCount: classCount)
        let baseScores = try parseBaseScore(parameters["base_score"], outputs: outputCount, name: name)
        let baseMargins = baseScores.map { Double(marginOf($0)) }

        var featureNames = learner["feature_names"]?.array?.compactMap(\.string) ?? []
        if featureNames.count != featureCount {
            featureNames = (0..<featureCount).map { "f\($0)" }
        }
        let featureTypes = learner["feature_types"]?.array?.compactMap(\.string) ?? []

        var trees: [DecisionTree] = []
        trees.reserveCapacity(treeValues.count)
        var anyDeleted = false
        for (t, value) in treeValues.enumerated() {
            let (tree, deleted) = try readTree(value, index: t, output: treeInfo[t], weight: treeWeights?[t] ?? 1, name: name)
            anyDeleted = anyDeleted || deleted
            trees.append(tree)
        }
        let info = ModelInfo(
            format: binary ? .xgboostUBJSON : .xgboostJSON,
            source: name,
            objective: objective,
            producer: "XGBoost \(version)",
            outputCount: outputCount,
            classLabels: isClassifier ? (0..<(isBinary ? 2 : outputCount)).map(String.init) : [],
            featureNames: featureNames,
            transform: transform,
            sigmoidScale: 1,
            baseMargins: baseMargins,
            averageTrees: false,
            arithmetic: .xgboost,
            isBinaryClassifier: isBinary,
            isClassifier: isClassifier
        )
        _ = featureTypes
        return try Forest(info: info, trees: trees, sha256: sha256, allowUnreachableNodes: anyDeleted)
    }

    /// Output transform, classifier flags, and how a stored base_score becomes a margin.
    private static func objectiveSemantics(
        _ objective: String, name: String, classCount: Int
    ) throws(ForestError)
        -> (OutputTransform, Bool, Bool, @Sendable (Float) -> Float)
    {
        // XGBoost's ProbToMargin, in float32: -log(1/p - 1).
        let logit: @Sendable (Float) -> Float = { p in -logf(1.0 / p - 1.0) }
        let identity: @Sendable (Float) -> Float = { $0 }
        let log: @Sendable (Float) -> Float = { logf($0) }
        switch objective {
        case "binary:logistic": return (.sigmoid, true, true, logit)
        case "reg:logistic": return (.sigmoid, false, false, logit)
        // binary:logitraw stores its base score as a margin already (XGBoost >= 2).
        case "binary:logitraw": return (.identity, false, false, identity)
        case "reg:squarederror", "reg:squaredlogerror", "reg:pseudohubererror", "reg:absoluteerror", "reg:linear":
            return (.identity, false, false, identity)
        case "count:poisson", "reg:gamma", "reg:tweedie": return (.exponential, false, false, log)
        case "multi:softprob", "multi:softmax":
            guard classCount >= 2 else {
                throw ForestError(.invalidModel, "\(name): objective \(objective) with num_class=\(classCount)")
            }
            return (.softmax, true, false, identity)
        default:
            throw ForestError.unsupported(
                name,
                "objective '\(objective)' is not supported; supported: binary:logistic, binary:logitraw, reg:logistic, reg:squarederror, count:poisson, reg:gamma, reg:tweedie, multi:softprob, multi:softmax"
            )
        }
    }

    /// `"[1.447E-2]"` (XGBoost >= 3.1, one per output) or `"5E-1"` (older).
    private static func parseBaseScore(_ value: JSONValue?, outputs: Int, name: String) throws(ForestError) -> [Float] {
        guard let text = value?.string else {
            if let f = value?.float { return Array(repeating: f, count: outputs) }
            throw ForestError.malformed(name, "missing learner_model_param.base_score")
        }
        let trimmed = text.trimmingBrackets()
        let parts = trimmed.split(separator: ",").map { $0.trimmingSpaces() }
        let values = parts.compactMap { Float($0) }
        guard !values.isEmpty, values.count == parts.count else {
            throw ForestError.malformed(name, "base_score '\(text)' is not a number or a list of numbers")
        }
        if values.count == 1 { return Array(repeating: values[0], count: outputs) }
        guard values.count == outputs else {
            throw ForestError.malformed(name, "base_score has \(values.count) values for \(outputs) outputs")
        }
        return values
    }

    private static func readTree(_ value: JSONValue, index t: Int, output: Int, weight: Double, name: String) throws(ForestError) -> (DecisionTree, Bool) {
        func field(_ key: String) throws(ForestError) -> JSONValue {
            guard let v = value[key] else { throw ForestError.malformed(name, "tree \(t): missing '\(key)'") }
            return v
        }
        guard let left = try field("left_children").intArray,
            let right = try field("right_children").intArray,
            let features = try field("split_indices").intArray,
            let conditions = try field("split_conditions").floatArray,
            let defaultLeft = try field("default_left").intArray
        else {
            throw ForestError.malformed(name, "tree \(t): a node array has non-numeric entries")
        }
        let count = left.count
        guard right.count == count, features.count == count, conditions.count == count, defaultLeft.count == count else {
            throw ForestError.malformed(
                name, "tree \(t): node arrays have different lengths (\(count), \(right.count), \(features.count), \(conditions.count), \(defaultLeft.count))")
        }
        if let size = value["tree_param"]?["size_leaf_vector"]?.int, size > 1 {
            throw ForestError.unsupported(name, "tree \(t): vector leaves (size_leaf_vector=\(size)) are not supported")
        }
        let deleted = (value["tree_param"]?["num_deleted"]?.int ?? 0) > 0
        let hessians = value["sum_hessian"]?.floatArray ?? []
        let splitTypes = value["split_type"]?.intArray ?? []
        // Categorical splits: the categories of node categories_nodes[k] are
        // categories[segments[k] ..< segments[k] + sizes[k]].
        var categoriesByNode: [Int: [Int]] = [:]
        if splitTypes.contains(1) {
            guard let nodes = value["categories_nodes"]?.intArray,
                let segments = value["categories_segments"]?.intArray,
                let sizes = value["categories_sizes"]?.intArray,
                let categories = value["categories"]?.intArray,
                nodes.count == segments.count, nodes.count == sizes.count
            else {
                throw ForestError.malformed(name, "tree \(t): categorical splits without consistent categories_* arrays")
            }
            for (k, node) in nodes.enumerated() {
                let start = segments[k]
                // Both values come from the file: check them before adding, or a crafted pair traps.
                guard start >= 0, sizes[k] >= 0, start <= categories.count, sizes[k] <= categories.count - start else {
                    throw ForestError.malformed(name, "tree \(t), node \(node): category segment \(start) of \(sizes[k]) is outside the categories array")
                }
                let end = start + sizes[k]
                guard end <= categories.count else {
                    throw ForestError.malformed(name, "tree \(t), node \(node): category segment \(start)..<\(end) is outside the categories array")
                }
                categoriesByNode[node] = Array(categories[start..<end])
            }
        }
        var nodes: [DecisionNode] = []
        nodes.reserveCapacity(count)
        for i in 0..<count {
            let cover = i < hessians.count ? Double(hessians[i]) : .nan
            if left[i] == -1 {
                nodes.append(.leaf(Double(conditions[i]), cover: cover))
                continue
            }
            let split: Split
            if i < splitTypes.count && splitTypes[i] == 1 {
                guard let categories = categoriesByNode[i] else {
                    throw ForestError.malformed(name, "tree \(t), node \(i): categorical split without categories")
                }
                split = .categorical(feature: features[i], categories: categories, rule: .xgboost(defaultLeft: defaultLeft[i] != 0))
            } else {
                split = .numeric(
                    feature: features[i], threshold: Double(conditions[i]), comparison: .less,
                    missing: defaultLeft[i] != 0 ? .left : .right)
            }
            nodes.append(.split(split, left: left[i], right: right[i], cover: cover))
        }
        return (DecisionTree(nodes: nodes, root: 0, output: output, weight: weight), deleted)
    }
}

extension StringProtocol {
    func trimmingBrackets() -> String {
        var s = Substring(self).trimmingSpaces()
        if s.hasPrefix("[") { s = s.dropFirst() }
        if s.hasSuffix("]") { s = s.dropLast() }
        return String(s)
    }

    func trimmingSpaces() -> Substring {
        var s = Substring(self)
        while let first = s.first, first == " " || first == "\t" || first == "\r" || first == "\n" { s = s.dropFirst() }
        while let last = s.last, last == " " || last == "\t" || last == "\r" || last == "\n" { s = s.dropLast() }
        return s
    }
}
