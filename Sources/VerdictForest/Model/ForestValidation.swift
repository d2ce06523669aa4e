/// Load-time checks: a model that passes them cannot make the evaluator read out of bounds, loop,
/// or produce NaN from its own values.
enum ForestValidation {
    /// The deepest tree accepted; deeper ones are almost certainly corrupt, and TreeSHAP recurses by depth.
    static let maxDepth = 256

    static func validate(_ trees: [DecisionTree], info: ModelInfo, allowUnreachable: Bool) throws(ForestError) {
        let file = info.source
        guard !trees.isEmpty else {
            throw ForestError(.invalidModel, "\(file): the model has no trees")
        }
        guard info.outputCount >= 1 else {
            throw ForestError(.invalidModel, "\(file): the model declares \(info.outputCount) outputs")
        }
        guard info.baseMargins.count == info.outputCount, info.baseMargins.allSatisfy(\.isFinite) else {
            throw ForestError(.invalidModel, "\(file): base margins \(info.baseMargins) do not fit \(info.outputCount) outputs or are not finite")
        }
        for (t, tree) in trees.enumerated() {
            try validate(tree, index: t, info: info, allowUnreachable: allowUnreachable)
        }
    }

    private static func validate(_ tree: DecisionTree, index t: Int, info: ModelInfo, allowUnreachable: Bool) throws(ForestError) {
        let file = info.source
        let count = tree.nodes.count
        guard count > 0 else { throw ForestError.invalid(file, tree: t, "the tree has no nodes") }
        guard tree.root >= 0 && tree.root < count else {
            throw ForestError.invalid(file, tree: t, "root index \(tree.root) is outside 0..<\(count)")
        }
        guard tree.output >= 0 && tree.output < info.outputCount else {
            throw ForestError.invalid(file, tree: t, "the tree feeds output \(tree.output) but the model has \(info.outputCount)")
        }
        guard tree.weight.isFinite else { throw ForestError.invalid(file, tree: t, "tree weight \(tree.weight) is not finite") }
        var seen = [Bool](repeating: false, count: count)
        var stack: [(node: Int, depth: Int)] = [(tree.root, 0)]
        seen[tree.root] = true
        var reached = 1
        while let (n, depth) = stack.popLast() {
            let node = tree.nodes[n]
            guard depth <= maxDepth else {
                throw ForestError.invalid(file, tree: t, node: n, "the tree is deeper than \(maxDepth) levels")
            }
            guard let split = node.split else {
                guard node.value.isFinite else { throw ForestError.invalid(file, tree: t, node: n, "leaf value \(node.value) is not finite") }
                for entry in node.outputs {
                    guard entry.value.isFinite else { throw ForestError.invalid(file, tree: t, node: n, "leaf value \(entry.value) is not finite") }
                    guard entry.output >= 0 && entry.output < info.outputCount else {
                        throw ForestError.invalid(file, tree: t, node: n, "leaf feeds output \(entry.output) but the model has \(info.outputCount)")
                    }
                }
                continue
            }
            guard split.feature >= 0 && split.feature < info.featureCount else {
                throw ForestError.invalid(file, tree: t, node: n, "split on feature \(split.feature) but the model has \(info.featureCount) features")
            }
            switch split {
            case .numeric(_, let threshold, _, _):
                guard !threshold.isNaN else { throw ForestError.invalid(file, tree: t, node: n, "threshold is NaN") }
            case .categorical(_, let categories, _):
                guard categories.allSatisfy({ $0 >= 0 }) else {
                    throw ForestError.invalid(file, tree: t, node: n, "negative category in a categorical split")
                }
            }
            for child in [node.left, node.right] {
                guard child >= 0 && child < count else {
                    throw ForestError.invalid(file, tree: t, node: n, "child index \(child) is outside 0..<\(count)")
                }
                guard !seen[child] else {
                    throw ForestError.invalid(file, tree: t, node: n, "node \(child) is reached twice (a cycle or shared subtree)")
                }
                seen[child] = true
                reached += 1
                stack.append((child, depth + 1))
            }
        }
        if reached != count && !allowUnreachable {
            let orphan = seen.firstIndex(of: false)!
            throw ForestError.invalid(file, tree: t, node: orphan, "the node is not reachable from the root")
        }
    }
}
