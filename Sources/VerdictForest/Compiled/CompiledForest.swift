/// The evaluation layout: every tree's nodes in one flat array, built once at load.
///
/// A node is 16 bytes: its threshold, the row slot it reads, and the index of its left child; the
/// right child is always `left + 1`. Thresholds and row values are compared as order-preserving
/// integer keys. Leaves point to themselves and read a sentinel slot holding the smallest key, which
/// always "goes left", so a tree is walked with exactly `depth` branch-free steps and its leaf value
/// read from the node.
///
/// Missing values cost nothing at run time: a prepared row holds every feature twice, once with NaN
/// as a key above +inf (fails `x < t` and `x <= t` for every threshold: goes right) and once as a
/// key below -inf (goes left). A node whose missing values go left reads the second copy. Real
/// values are the same in both copies.
///
/// Every comparison is normalised to the model's one operator (`<` for XGBoost, `<=` for LightGBM
/// and scikit-learn exports) by swapping children or moving the threshold to the neighbouring
/// representable value. Nodes that cannot be normalised (categorical sets, equality tests,
/// LightGBM's zero-as-missing) are "special": their
/// trees take a checked loop that evaluates the special node by its reference semantics.
struct CompiledForest: Sendable {
    struct Node: Sendable {
        /// Inner nodes: the threshold's order key (see ``orderKey(_:)``). Leaves: the leaf value's bits.
        var key: Int64
        var feature: UInt32
        var left: UInt32

        /// A leaf's value.
        @inline(__always) var leafValue: Double { Double(bitPattern: UInt64(bitPattern: key)) }
    }

    /// Maps doubles to integers with the same order (for non-NaN values, -0 taken as +0), so the walk
    /// compares integers: a shorter dependency chain than a floating-point compare.
    @inline(__always)
    static func orderKey(_ x: Double) -> Int64 {
        let bits = Int64(bitPattern: (x == 0 ? 0.0 : x).bitPattern)
        return bits < 0 ? bits ^ Int64.max : bits
    }

    /// The double whose order key is `key`.
    @inline(__always)
    static func value(ofKey key: Int64) -> Double {
        Double(bitPattern: UInt64(bitPattern: key < 0 ? key ^ Int64.max : key))
    }

    /// The key a prepared row holds in its sentinel slot: below every leaf's key.
    static let sentinelKey = Int64.min
    /// NaN in the "missing goes right" copy: above every real value, +inf included, so it fails
    /// both `<` and `<=` against any threshold.
    static let nanAboveKey = orderKey(.infinity) + 1
    /// NaN in the "missing goes left" copy: below every real value, -inf included.
    static let nanBelowKey = orderKey(-.infinity) - 1

    struct Tree: Sendable {
        var root: UInt32
        var depth: UInt32
        var output: Int32
        var hasSpecial: Bool
    }

    static let specialBit: UInt32 = 1 << 30
    static let featureMask: UInt32 = (1 << 30) - 1

    var nodes: [Node]
    var trees: [Tree]
    /// The split of each special node, by node index.
    var specials: [UInt32: Split]
    /// For multi-output leaves: node index -> first entry in `leafEntries` (-1 for none) and count.
    var leafStart: [Int32]
    var leafCount: [Int32]
    var leafEntries: [LeafOutput]
    /// `<=` when true, `<` otherwise.
    var lessOrEqual: Bool
    /// Inputs are rounded to float32 before comparing.
    var roundInputs: Bool
    /// Margins are summed in float32 (XGBoost).
    var float32Sum: Bool
    var featureCount: Int
    var outputCount: Int
    var usesLeafVectors: Bool { !leafEntries.isEmpty }
    var maxDepth: Int
    /// For each group of eight consecutive trees: the deepest one's depth, or -1 when a tree of the
    /// group has special nodes (the group is then walked tree by tree).
    var groupDepth: [Int32]
}

extension CompiledForest {
    /// Compiles validated trees. `lessOrEqual` picks the operator every comparison is normalised to.
    init(trees source: [DecisionTree], info: ModelInfo) {
        featureCount = info.featureCount
        outputCount = info.outputCount
        roundInputs = info.arithmetic == .xgboost || info.arithmetic == .onnxFloat
        float32Sum = info.arithmetic == .xgboost
        lessOrEqual = Self.preferredOperator(source, info: info)
        nodes = []
        trees = []
        specials = [:]
        leafStart = []
        leafCount = []
        leafEntries = []
        var multiOutputLeaves: [(slot: Int, start: Int, count: Int)] = []
        maxDepth = 0
        groupDepth = []
        let sentinel = UInt32(2 * featureCount)
        for tree in source {
            let rootIndex = UInt32(nodes.count)
            // Breadth-first: each inner node's two children get consecutive slots.
            var queue: [(source: Int, slot: Int, depth: Int)] = [(tree.root, nodes.count, 0)]
            nodes.append(Node(key: 0, feature: 0, left: 0))
            var depth = 0
            var hasSpecial = false
            var head = 0
            while head < queue.count {
                let (sourceIndex, slot, level) = queue[head]
                head += 1
                let node = tree.nodes[sourceIndex]
                depth = max(depth, level)
                guard let split = node.split else {
                    // -0.0's bits are the sentinel key; +0.0 sums the same.
                    let value = node.value * tree.weight == 0 ? 0.0 : node.value * tree.weight
                    nodes[slot] = Node(key: Int64(bitPattern: value.bitPattern), feature: sentinel, left: UInt32(slot))
                    if !node.outputs.isEmpty {
                        let start = leafEntries.count
                        leafEntries.append(contentsOf: node.outputs.map { LeafOutput(output: $0.output, value: $0.value * tree.weight) })
                        multiOutputLeaves.append((slot, start, node.outputs.count))
                    }
                    continue
                }
                let childSlot = nodes.count
                nodes.append(Node(key: 0, feature: 0, left: 0))
                nodes.append(Node(key: 0, feature: 0, left: 0))
                if let fast = fastForm(split) {
                    let (left, right) = fast.swapped ? (node.right, node.left) : (node.left, node.right)
                    queue.append((left, childSlot, level + 1))
                    queue.append((right, childSlot + 1, level + 1))
                    let slotOfFeature = fast.defaultLeft ? split.feature + featureCount : split.feature
                    nodes[slot] = Node(key: Self.orderKey(fast.threshold), feature: UInt32(slotOfFeature), left: UInt32(childSlot))
                } else {
                    hasSpecial = true
                    queue.append((node.left, childSlot, level + 1))
                    queue.append((node.right, childSlot + 1, level + 1))
                    specials[UInt32(slot)] = split
                    nodes[slot] = Node(key: 0, feature: UInt32(split.feature) | Self.specialBit, left: UInt32(childSlot))
                }
            }
            maxDepth = max(maxDepth, depth)
            trees.append(Tree(root: rootIndex, depth: UInt32(depth), output: Int32(tree.output), hasSpecial: hasSpecial))
        }
        if !multiOutputLeaves.isEmpty {
            leafStart = [Int32](repeating: -1, count: nodes.count)
            leafCount = [Int32](repeating: 0, count: nodes.count)
            for (slot, start, count) in multiOutputLeaves {
                leafStart[slot] = Int32(start)
                leafCount[slot] = Int32(count)
            }
        }
        groupDepth = stride(from: 0, to: trees.count, by: 8).map { start in
            let group = trees[start..<min(start + 8, trees.count)]
            return group.contains(where: \.hasSpecial) ? -1 : Int32(group.map(\.depth).max()!)
        }
    }

    /// The operator most numeric splits already use (ONNX files may mix them).
    private static func preferredOperator(_ trees: [DecisionTree], info: ModelInfo) -> Bool {
        switch info.arithmetic {
        case .xgboost: return false
        case .lightgbm: return true
        case .onnxFloat, .onnxDouble:
            var less = 0
            var lessOrEqual = 0
            for tree in trees {
                for node in tree.nodes {
                    guard case .numeric(_, _, let comparison, _) = node.split else { continue }
                    switch comparison {
                    case .less, .greaterOrEqual: less += 1
                    case .lessOrEqual, .greater: lessOrEqual += 1
                    default: break
                    }
                }
            }
            return lessOrEqual >= less
        }
    }

    /// The value just below/above `t` among the values inputs can take.
    private func neighbour(_ t: Double, up: Bool) -> Double {
        if roundInputs {
            let f = Float(t)
            return Double(up ? f.nextUp : f.nextDown)
        }
        return up ? t.nextUp : t.nextDown
    }

    /// The branch-free form of a numeric split, or nil when it needs the checked path.
    private func fastForm(_ split: Split) -> (threshold: Double, swapped: Bool, defaultLeft: Bool)? {
        guard case .numeric(_, let t, let comparison, let missing) = split else { return nil }
        // Where NaN goes in the original orientation.
        let nanLeft: Bool
        switch missing {
        case .left: nanLeft = true
        case .right: nanLeft = false
        case .asZero: nanLeft = comparison.holds(0, t)
        case .compared: nanLeft = comparison.holds(.nan, t)
        case .zeroIsMissing: return nil
        }
        // A threshold of float32 precision must stay exact when inputs are rounded to float32.
        if roundInputs && Double(Float(t)) != t && !t.isInfinite { return nil }
        return normalised(t, comparison, nanLeft)
    }

    private func normalised(_ t: Double, _ comparison: Comparison, _ nanLeft: Bool) -> (threshold: Double, swapped: Bool, defaultLeft: Bool)? {
        let mode: Comparison = lessOrEqual ? .lessOrEqual : .less
        switch (comparison, mode) {
        case (.less, .less), (.lessOrEqual, .lessOrEqual):
            return (t, false, nanLeft)
        case (.greaterOrEqual, .less), (.greater, .lessOrEqual):
            return (t, true, !nanLeft)
        case (.less, .lessOrEqual):
            guard t.isFinite else { return nil }
            return (neighbour(t, up: false), false, nanLeft)
        case (.lessOrEqual, .less):
            guard t.isFinite else { return nil }
            return (neighbour(t, up: true), false, nanLeft)
        case (.greater, .less):
            guard t.isFinite else { return nil }
            return (neighbour(t, up: true), true, !nanLeft)
        case (.greaterOrEqual, .lessOrEqual):
            guard t.isFinite else { return nil }
            return (neighbour(t, up: false), true, !nanLeft)
        default:
            return nil
        }
    }
}
