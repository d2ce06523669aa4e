import Foundation
import SwiftProtobuf
public import VerdictForest

/// Reads ONNX `ai.onnx.ml` TreeEnsembleClassifier and TreeEnsembleRegressor models, which cover
/// scikit-learn's RandomForest, ExtraTrees, GradientBoosting and HistGradientBoosting exported with
/// skl2onnx.
///
/// Semantics follow ONNX Runtime: float inputs are cast to float32 and compared with the node's mode
/// (BRANCH_LEQ/LT/GTE/GT/EQ/NEQ); `nodes_missing_value_tracks_true` sends NaN to the true branch,
/// otherwise NaN is compared (and fails every test but NEQ); leaf weights are summed per class, base
/// values added, then `post_transform`. A binary classifier with weights for one class id reports
/// that score as P(second label), as ONNX Runtime does.
public enum ONNXReader {
    /// Reads an ONNX model.
    ///
    /// - Throws: ``ForestError`` for a file that is not a tree-ensemble model, or one that uses
    ///   something Verdict does not evaluate exactly.
    public static func read(_ bytes: [UInt8], name: String, sha256: String, limits: ModelLimits = .standard) throws(ForestError) -> Forest {
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: bytes)
        } catch {
            throw ForestError(.malformed, "\(name): not a valid ONNX protobuf (\(error)); the file is truncated or not an ONNX model")
        }
        let graph = model.graph
        let ensembles = graph.node.filter { $0.opType == "TreeEnsembleClassifier" || $0.opType == "TreeEnsembleRegressor" }
        guard ensembles.count == 1, let node = ensembles.first else {
            throw ForestError.unsupported(
                name,
                ensembles.isEmpty
                    ? "no TreeEnsembleClassifier or TreeEnsembleRegressor node; Verdict reads ONNX tree ensembles only"
                    : "\(ensembles.count) tree-ensemble nodes; Verdict reads graphs with exactly one")
        }
        // Operators that only reshape or label the ensemble's output are fine; anything that changes
        // the inputs or the numbers is not, and is refused rather than ignored.
        let harmless: Set<String> = ["TreeEnsembleClassifier", "TreeEnsembleRegressor", "ZipMap", "Identity", "Cast", "Reshape"]
        let others = Set(graph.node.map(\.opType)).subtracting(harmless)
        guard others.isEmpty else {
            throw ForestError.unsupported(
                name,
                "the graph also contains \(others.sorted().joined(separator: ", ")); only a single tree ensemble (optionally with ZipMap/Cast/Identity/Reshape) is evaluated"
            )
        }
        guard node.input.count == 1, let inputName = node.input.first,
            let input = graph.input.first(where: { $0.name == inputName })
        else {
            throw ForestError.unsupported(name, "the tree ensemble must read one graph input directly")
        }
        let attributes = Attributes(node.attribute, file: name)
        let elementType = input.type.tensorType.elemType
        guard elementType == 1 || elementType == 11 else {
            throw ForestError.unsupported(name, "input element type \(elementType); float (1) or double (11) tensors are supported")
        }
        let isClassifier = node.opType == "TreeEnsembleClassifier"
        return try build(
            attributes: attributes, isClassifier: isClassifier, floatInputs: elementType == 1,
            declaredFeatures: input.type.tensorType.shape.dim.last.flatMap { $0.dimValue > 0 ? Int($0.dimValue) : nil },
            producer: "\(model.producerName) \(model.producerVersion)".trimmingCharacters(in: .whitespaces),
            metadata: Dictionary(model.metadataProps.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }),
            name: name, sha256: sha256, limits: limits
        )
    }

    private static func build(
        attributes a: Attributes, isClassifier: Bool, floatInputs: Bool, declaredFeatures: Int?,
        producer: String, metadata: [String: String], name: String, sha256: String, limits: ModelLimits
    ) throws(ForestError) -> Forest {
        let treeIDs = try a.ints("nodes_treeids")
        let nodeIDs = try a.ints("nodes_nodeids")
        let featureIDs = try a.ints("nodes_featureids")
        let modes = try a.strings("nodes_modes")
        let (values, doubleThresholds) = try a.numbers("nodes_values")
        let trueIDs = try a.ints("nodes_truenodeids")
        let falseIDs = try a.ints("nodes_falsenodeids")
        let tracksTrue = a.optionalInts("nodes_missing_value_tracks_true") ?? []
        let count = treeIDs.count
        guard [nodeIDs.count, featureIDs.count, modes.count, values.count, trueIDs.count, falseIDs.count].allSatisfy({ $0 == count }),
            tracksTrue.isEmpty || tracksTrue.count == count
        else {
            throw ForestError.malformed(name, "the nodes_* attributes have different lengths")
        }
        let prefix = isClassifier ? "class" : "target"
        let weightTrees = try a.ints("\(prefix)_treeids")
        let weightNodes = try a.ints("\(prefix)_nodeids")
        let weightIDs = try a.ints("\(prefix)_ids")
        let (weights, _) = try a.numbers("\(prefix)_weights")
        guard weightTrees.count == weightNodes.count, weightNodes.count == weightIDs.count, weightIDs.count == weights.count else {
            throw ForestError.malformed(name, "the \(prefix)_* attributes have different lengths")
        }
        let postTransform = a.optionalString("post_transform") ?? "NONE"
        let baseValues = (try? a.numbers("base_values").0) ?? []

        // Outputs: classes or targets.
        var labels: [String] = []
        var outputCount: Int
        var binarySingle = false
        if isClassifier {
            if let ints = a.optionalInts("classlabels_int64s") {
                labels = ints.map(String.init)
            } else if let strings = a.optionalStrings("classlabels_strings") {
                labels = strings
            }
            guard labels.count >= 2 else { throw ForestError.malformed(name, "a classifier needs at least two class labels") }
            _ = try limits.outputCount(labels.count, file: name, key: "classlabels")
            let weighted = Set(weightIDs)
            binarySingle = labels.count == 2 && weighted.count == 1
            outputCount = binarySingle ? 1 : labels.count
            guard weighted.allSatisfy({ $0 >= 0 && $0 < labels.count }) else {
                throw ForestError.malformed(name, "class_ids refer to classes beyond the \(labels.count) labels")
            }
        } else {
            // Checked before the count sizes anything: a crafted n_targets or target id is a refusal, not a trap.
            if let targets = a.optionalInt("n_targets") {
                outputCount = try limits.outputCount(targets, file: name, key: "n_targets")
            } else {
                outputCount = try limits.outputCount(lastIndex: weightIDs.max() ?? 0, file: name, key: "target_ids")
            }
        }
        let transform: OutputTransform
        switch postTransform {
        case "NONE": transform = .identity
        case "LOGISTIC": transform = .sigmoid
        case "SOFTMAX": transform = .softmax
        case "SOFTMAX_ZERO": transform = .softmaxZero
        default: throw ForestError.unsupported(name, "post_transform \(postTransform) is not supported (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO are)")
        }
        var averageTrees = false
        if !isClassifier {
            switch a.optionalString("aggregate_function") ?? "SUM" {
            case "SUM": break
            case "AVERAGE": averageTrees = true
            case let other: throw ForestError.unsupported(name, "aggregate_function \(other) is not supported (SUM and AVERAGE are)")
            }
        }
        var baseMargins = [Double](repeating: 0, count: outputCount)
        if !baseValues.isEmpty {
            if binarySingle {
                baseMargins[0] = baseValues.count == 2 ? baseValues[1] : baseValues[0]
            } else {
                guard baseValues.count == outputCount else {
                    throw ForestError.malformed(name, "base_values has \(baseValues.count) values for \(outputCount) outputs")
                }
                baseMargins = baseValues
            }
        }

        // Group nodes by tree, in tree id order; map node ids to local indices.
        var order: [Int: [Int]] = [:]
        for i in 0..<count { order[treeIDs[i], default: []].append(i) }
        var leafWeights: [Int: [Int: [LeafOutput]]] = [:]
        for j in 0..<weightTrees.count {
            let output = binarySingle ? 0 : weightIDs[j]
            leafWeights[weightTrees[j], default: [:]][weightNodes[j], default: []].append(LeafOutput(output: output, value: weights[j]))
        }
        var trees: [DecisionTree] = []
        var maxFeature = -1
        for treeID in order.keys.sorted() {
            let members = order[treeID]!
            var local: [Int: Int] = [:]
            for (index, i) in members.enumerated() {
                guard local[nodeIDs[i]] == nil else {
                    throw ForestError.invalid(name, tree: treeID, node: nodeIDs[i], "node id appears twice")
                }
                local[nodeIDs[i]] = index
            }
            var nodes: [DecisionNode] = []
            var children = Set<Int>()
            for i in members {
                let mode = modes[i]
                if mode == "LEAF" {
                    let outputs = leafWeights[treeID]?[nodeIDs[i]] ?? []
                    nodes.append(.leaf(outputs: outputs.isEmpty ? [LeafOutput(output: 0, value: 0)] : outputs))
                    continue
                }
                let comparison: Comparison
                switch mode {
                case "BRANCH_LEQ": comparison = .lessOrEqual
                case "BRANCH_LT": comparison = .less
                case "BRANCH_GTE": comparison = .greaterOrEqual
                case "BRANCH_GT": comparison = .greater
                case "BRANCH_EQ": comparison = .equal
                case "BRANCH_NEQ": comparison = .notEqual
                default: throw ForestError.invalid(name, tree: treeID, node: nodeIDs[i], "unknown node mode '\(mode)'")
                }
                guard let left = local[trueIDs[i]], let right = local[falseIDs[i]] else {
                    throw ForestError.invalid(name, tree: treeID, node: nodeIDs[i], "child node id \(trueIDs[i]) or \(falseIDs[i]) does not exist in the tree")
                }
                children.insert(left)
                children.insert(right)
                maxFeature = max(maxFeature, featureIDs[i])
                let missing: MissingValues = (tracksTrue.isEmpty ? 0 : tracksTrue[i]) != 0 ? .left : .compared
                // Float thresholds are float32 values; keep them exact.
                let threshold = doubleThresholds ? values[i] : Double(Float(values[i]))
                nodes.append(.split(.numeric(feature: featureIDs[i], threshold: threshold, comparison: comparison, missing: missing), left: left, right: right))
            }
            let roots = (0..<nodes.count).filter { !children.contains($0) }
            guard roots.count == 1 else {
                throw ForestError.invalid(name, tree: treeID, "\(roots.count) nodes are no node's child; a tree has exactly one root")
            }
            trees.append(Self.simplified(DecisionTree(nodes: nodes, root: roots[0], output: 0)))
        }
        let featureCount =
            if let declaredFeatures {
                try limits.featureCount(declaredFeatures, file: name, key: "the input's last dimension")
            } else {
                try limits.featureCount(lastIndex: max(maxFeature, 0), file: name, key: "the largest nodes_featureids")
            }
        let featureNames =
            metadata["feature_names"].map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            .flatMap { $0.count == featureCount ? $0 : nil } ?? (0..<featureCount).map { "f\($0)" }
        let info = ModelInfo(
            format: .onnx,
            source: name,
            objective: isClassifier ? "TreeEnsembleClassifier" : "TreeEnsembleRegressor",
            producer: producer.isEmpty ? "unknown" : producer,
            outputCount: outputCount,
            classLabels: labels,
            featureNames: featureNames,
            transform: transform,
            sigmoidScale: 1,
            baseMargins: baseMargins,
            averageTrees: averageTrees,
            arithmetic: floatInputs ? .onnxFloat : .onnxDouble,
            isBinaryClassifier: binarySingle,
            isClassifier: isClassifier
        )
        return try Forest(info: info, trees: trees, sha256: sha256)
    }
}

extension ONNXReader {
    /// A tree whose leaves each feed the same single output becomes a single-output tree, which the
    /// evaluator walks with its fast kernels (random forests of binary classifiers and regressors).
    static func simplified(_ tree: DecisionTree) -> DecisionTree {
        let leaves = tree.nodes.filter(\.isLeaf)
        guard let output = leaves.first?.outputs.first?.output,
            leaves.allSatisfy({ $0.outputs.count == 1 && $0.outputs[0].output == output })
        else { return tree }
        var result = tree
        result.output = output
        result.nodes = tree.nodes.map { node in node.isLeaf ? .leaf(node.outputs[0].value, cover: node.cover) : node }
        return result
    }
}

/// A node's attributes by name.
private struct Attributes {
    let byName: [String: Onnx_AttributeProto]
    let file: String

    init(_ attributes: [Onnx_AttributeProto], file: String) {
        byName = Dictionary(attributes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.file = file
    }

    func ints(_ name: String) throws(ForestError) -> [Int] {
        guard let values = optionalInts(name) else { throw ForestError(.malformed, "\(file): missing attribute \(name)") }
        return values
    }

    func optionalInts(_ name: String) -> [Int]? {
        byName[name].map { $0.ints.map { Int($0) } }
    }

    func optionalInt(_ name: String) -> Int? {
        byName[name].map { Int($0.i) }
    }

    func strings(_ name: String) throws(ForestError) -> [String] {
        guard let values = optionalStrings(name) else { throw ForestError(.malformed, "\(file): missing attribute \(name)") }
        return values
    }

    func optionalStrings(_ name: String) -> [String]? {
        byName[name].map { $0.strings.map { String(decoding: $0, as: UTF8.self) } }
    }

    func optionalString(_ name: String) -> String? {
        byName[name].map { String(decoding: $0.s, as: UTF8.self) }
    }

    /// `name` as floats, or `name_as_tensor` as doubles; the flag says which.
    func numbers(_ name: String) throws(ForestError) -> ([Double], Bool) {
        if let tensor = byName["\(name)_as_tensor"]?.t {
            return (try Self.doubles(of: tensor, file: file, name: name), true)
        }
        guard let attribute = byName[name] else { throw ForestError(.malformed, "\(file): missing attribute \(name)") }
        return (attribute.floats.map { Double($0) }, false)
    }

    private static func doubles(of tensor: Onnx_TensorProto, file: String, name: String) throws(ForestError) -> [Double] {
        switch tensor.dataType {
        case 11:
            if !tensor.doubleData.isEmpty { return tensor.doubleData }
            guard tensor.rawData.count % 8 == 0 else { throw ForestError(.malformed, "\(file): \(name)_as_tensor raw data is not whole doubles") }
            return stride(from: 0, to: tensor.rawData.count, by: 8).map { offset in
                var bits: UInt64 = 0
                for byte in 0..<8 { bits |= UInt64(tensor.rawData[tensor.rawData.startIndex + offset + byte]) << (8 * UInt64(byte)) }
                return Double(bitPattern: bits)
            }
        case 1:
            if !tensor.floatData.isEmpty { return tensor.floatData.map { Double($0) } }
            guard tensor.rawData.count % 4 == 0 else { throw ForestError(.malformed, "\(file): \(name)_as_tensor raw data is not whole floats") }
            return stride(from: 0, to: tensor.rawData.count, by: 4).map { offset in
                var bits: UInt32 = 0
                for byte in 0..<4 { bits |= UInt32(tensor.rawData[tensor.rawData.startIndex + offset + byte]) << (8 * UInt32(byte)) }
                return Double(Float(bitPattern: bits))
            }
        default:
            throw ForestError(.unsupported, "\(file): \(name)_as_tensor has element type \(tensor.dataType)")
        }
    }
}

extension ModelLoader {
    /// Loads a model in any supported format: XGBoost JSON/UBJSON, LightGBM text, ONNX.
    ///
    /// - Throws: ``ForestError`` saying why the file was refused.
    public static func loadAnyFormat(path: String) throws(ForestError) -> Forest {
        try load(ModelLoadRequest(path: path), onnx: ONNXReader.read)
    }

    /// Loads a model in any supported format within the request's limits, checking its sha256
    /// before parsing when the request carries one.
    ///
    /// - Throws: ``ForestError`` saying why the file was refused.
    public static func loadAnyFormat(_ request: ModelLoadRequest) throws(ForestError) -> Forest {
        try load(request, onnx: ONNXReader.read)
    }
}
