#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Path-dependent TreeSHAP by Gauss-Legendre quadrature ("Quadrature TreeSHAP", arXiv 2605.04497;
/// XGBoost's development branch computes `pred_contribs` this way since 3.2).
///
/// For a leaf with value `v` whose path splits on the distinct features P (|P| = d), feature i gets
///
///     v * (o_i - z_i) * integral over t in [0, 1] of  prod over j in P, j != i, of (z_j + t (o_j - z_j))
///
/// (z_j: the share of cover that follows the path at feature j's nodes; o_j: 1 when the row follows
/// the path there, else 0). The integrand is a polynomial of degree d - 1, so Q Gauss-Legendre
/// points integrate it exactly for d <= 2Q. Writing z_j + t (o_j - z_j) = z_j (1 + a_j t) with
/// a_j = o_j / z_j - 1, the product of the z's is the leaf's path probability (fixed at load) and
/// only the factors (1 + a_j t) depend on the row, and only through o_j: a_j is 1/z_j - 1 or -1.
///
/// Per tree this is two passes over the splits in preorder, with no per-leaf loops:
/// - down: each split decides the row and sets its children's C(child) = C(parent) (1 + a_e t) /
///   (1 + a_prev t), where `prev` is the edge of the nearest earlier split on the same feature (the
///   root stands in when there is none: a = 0);
/// - up: each subtree's sum H of `v w C(t_q)` over its leaves gives the edge's feature
///   H . (a_e / (1 + a_e t) - a_prev / (1 + a_prev t)). The second term removes, at exactly the same
///   quadrature points, what the earlier split on that feature added for these leaves, so each leaf
///   is counted once for each feature with the factor of its last split on it.
///
/// The row enters only through which side of each split it takes, so every value an edge can need
/// is fixed at load. An edge the row follows has a_e = 1/z_e - 1; one it leaves has a_e = -1; and
/// below an edge the row left (o_prev = 0) both children have a = -1 like their `prev`, so their
/// factor (1 - t) / (1 - t) is 1 and their difference is 0. Each slot therefore keeps its a and
/// a / (1 + a t); one shared entry serves every left edge. A pass step picks entries by index
/// arithmetic (the slot's own or the shared one), with no branch on the row. Both children of a
/// split share its parent and its `prev`, so a step handles a split and its two children at once.
///
/// Trees this cannot take (a split or child with no cover, more distinct features on a path than
/// 2Q, a path probability too small for the products to stay in range) keep ``PathSHAPTable``.
struct QuadratureSHAP<Lanes: SIMD & Sendable>: Sendable where Lanes.Scalar == Double {
    /// One split, with what both passes read for it and its two children. Slots number a tree's
    /// nodes in preorder (the root is 0, a split's left child is the next slot).
    struct Split: Sendable {
        var slot: Int32
        var right: Int32
        /// Slot entered by the nearest earlier split on the same feature (0, the root, for none).
        var previous: Int32
        var feature: Int32
        var threshold: Double
        /// Where `previous`'s 1 / (1 + a t) is in ``inverse`` (1, ones, for the root).
        var previousInverse: Int32
        var flags: UInt8
    }

    /// One tree's ranges in the flat arrays.
    struct Tree: Sendable {
        /// The tree's index in the forest.
        var index: Int
        var splitStart: Int
        var splitCount: Int
        var slotStart: Int
    }

    /// Distinct features a path may have for these lanes to be exact.
    static var maxDistinctFeatures: Int { 2 * Lanes.scalarCount }

    let trees: [Tree]
    let splits: [Split]
    /// Per slot, a = 1/z - 1 and a / (1 + a t) at the quadrature points for the edge into it when
    /// the row follows it, so a pass picks values by index instead of branching on the row. Two
    /// shared entries come first (slots are offset by ``fixedOffset``): index 0 holds -1 and
    /// -1 / (1 - t), what an edge the row leaves uses (a = -1); index 1 holds 0 and 0, the root's
    /// (a = 0), which stands in for the earlier split of the many splits that have none. The
    /// factor 1 + a t is two multiply-adds from `slope`, cheaper than reading it from memory.
    let slope: [Double]
    let weighted: [Lanes]
    /// 1 / (1 + a t) of the slots some split has as its `previous` (index 0: 1 / (1 - t), for a
    /// `previous` the row left; index 1: ones, the root's). Only those slots need it, so it is
    /// kept apart: the per-slot arrays are what a row streams through.
    let inverse: [Lanes]
    /// Per split, its node in the tree, for tests evaluated by the reference semantics (rare, so
    /// out of the ``Split`` records).
    let nodes: [Int32]
    /// Where a tree's slots start in the fixed per-slot arrays, past the shared entries.
    static var fixedOffset: Int { 2 }
    /// Per slot, a leaf's value times its path probability; 0 for splits.
    let leafScale: [Double]
    /// The most slots of any tree (the size of the scratch buffers).
    let widestTree: Int
    /// Quadrature weights and points on [0, 1].
    let weights: Lanes
    let points: Lanes

    /// Takes the trees this method can explain exactly.
    ///
    /// - Parameter accept: Whether a tree whose paths have at most this many distinct features
    ///   belongs here (lets a wider rule leave narrow trees to a narrower one).
    init(_ forest: [ExplainTree], accept: (Int) -> Bool) {
        let rule = GaussLegendre(points: Lanes.scalarCount)
        var points = Lanes(), weights = Lanes()
        for q in 0..<Lanes.scalarCount { points[q] = rule.nodes[q]; weights[q] = rule.weights[q] }
        self.weights = weights
        self.points = points
        var trees: [Tree] = []
        var splits: [Split] = []
        let leftFactor = Lanes(repeating: 1) - points
        var slope: [Double] = [-1, 0]
        var weighted: [Lanes] = [Lanes(repeating: -1) / leftFactor, Lanes()]
        var inverse: [Lanes] = [Lanes(repeating: 1) / leftFactor, Lanes(repeating: 1)]
        var nodes: [Int32] = []
        var leafScale: [Double] = []
        var widest = 0
        for (index, tree) in forest.enumerated() {
            guard let layout = Self.layout(tree, points: points, inverseBase: inverse.count), accept(layout.distinctFeatures) else { continue }
            // The passes index the fixed arrays with Int32 arithmetic: a forest too large for it
            // (billions of nodes) leaves the rest of its trees to path decomposition.
            guard slope.count + layout.slope.count < Int(Int32.max), inverse.count + layout.inverse.count < Int(Int32.max) else { continue }
            trees.append(Tree(index: index, splitStart: splits.count, splitCount: layout.splits.count, slotStart: leafScale.count))
            splits += layout.splits
            slope += layout.slope
            weighted += layout.weighted
            inverse += layout.inverse
            nodes += layout.nodes
            leafScale += layout.leafScale
            widest = max(widest, layout.leafScale.count)
        }
        self.trees = trees
        self.splits = splits
        self.slope = slope
        self.weighted = weighted
        self.inverse = inverse
        self.nodes = nodes
        self.leafScale = leafScale
        widestTree = widest
    }

    private struct Layout {
        var splits: [Split] = []
        var slope: [Double] = []
        var weighted: [Lanes] = []
        var inverse: [Lanes] = []
        var nodes: [Int32] = []
        var leafScale: [Double] = []
        var distinctFeatures = 0
    }

    /// The preorder layout of one tree, or nil when a cover makes the method inexact.
    private static func layout(_ tree: ExplainTree, points: Lanes, inverseBase: Int) -> Layout? {
        // Slots in preorder: the node, its parent's slot and whether it is the left child.
        var node: [Int] = []
        var parent: [Int] = []
        var isLeft: [Bool] = []
        var stack: [(node: Int, parent: Int, isLeft: Bool)] = [(tree.root, -1, false)]
        while let entry = stack.popLast() {
            node.append(entry.node)
            parent.append(entry.parent)
            isLeft.append(entry.isLeft)
            if tree.feature[entry.node] >= 0 {
                stack.append((Int(tree.right[entry.node]), node.count - 1, false))
                stack.append((Int(tree.left[entry.node]), node.count - 1, true))
            }
        }
        let count = node.count
        // Slots and inverse indices are stored as Int32 (checked here, before any conversion).
        guard count < Int(Int32.max) - inverseBase else { return nil }
        // Per slot: the combined zero fraction z of its edge's feature along the path, the path
        // probability, the nearest earlier edge on the same feature, distinct features so far.
        var zero = [Double](repeating: 1, count: count)
        var probability = [Double](repeating: 1, count: count)
        var previous = [Int](repeating: 0, count: count)
        var distinct = [Int](repeating: 0, count: count)
        var right = [Int](repeating: 0, count: count)
        for slot in 1..<max(1, count) {
            let up = parent[slot]
            let feature = tree.feature[node[up]]
            let parentCover = tree.cover[node[up]]
            let share = tree.cover[node[slot]] / parentCover
            guard parentCover > 0, share > 0, share.isFinite else { return nil }
            var walk = up
            while walk > 0 {
                if tree.feature[node[parent[walk]]] == feature { previous[slot] = walk; break }
                walk = parent[walk]
            }
            zero[slot] = (previous[slot] > 0 ? zero[previous[slot]] : 1) * share
            probability[slot] = probability[up] * share
            distinct[slot] = distinct[up] + (previous[slot] > 0 ? 0 : 1)
            // The factors (1 + a t) multiply up to 1 / probability: keep them in range.
            guard probability[slot] > 1e-280, distinct[slot] <= maxDistinctFeatures else { return nil }
            if !isLeft[slot] { right[up] = slot }
        }
        let one = Lanes(repeating: 1)
        var layout = Layout()
        // Where each slot that is some split's `previous` keeps its inverse (the root: entry 1).
        var inverseAt = [Int32](repeating: 1, count: count)
        for slot in 0..<count {
            let a = 1 / zero[slot] - 1
            let f = one + a * points
            layout.slope.append(a)
            layout.weighted.append(a / f)
            let n = node[slot]
            if tree.feature[n] >= 0 {
                layout.leafScale.append(0)
                let test = tree.decisionTests[n]
                let before = previous[slot + 1]
                if before > 0 && inverseAt[before] == 1 {
                    inverseAt[before] = Int32(inverseBase + layout.inverse.count)
                    layout.inverse.append(one / (one + (1 / zero[before] - 1) * points))
                }
                layout.nodes.append(Int32(n))
                layout.splits.append(
                    Split(
                        slot: Int32(slot), right: Int32(right[slot]), previous: Int32(before),
                        feature: tree.feature[n], threshold: test.threshold, previousInverse: inverseAt[before], flags: test.flags))
            } else {
                layout.leafScale.append(tree.value[n] * probability[slot])
                layout.distinctFeatures = max(layout.distinctFeatures, distinct[slot])
            }
        }
        return layout
    }

    /// Per-thread scratch for ``contribute``, sized by the widest tree.
    struct Scratch {
        /// Per slot, the index of its edge's values in the fixed arrays: the slot's own when the
        /// row follows the edge, 0 when it left.
        var choice: [Int32]
        /// Per slot, the path product at the quadrature points (weights included).
        var product: [Lanes]
        /// Per slot, the sum over the subtree's leaves of their weighted values.
        var sum: [Lanes]

        init(slots: Int) {
            choice = [Int32](repeating: 0, count: max(1, slots))
            product = [Lanes](repeating: Lanes(), count: max(1, slots))
            sum = product
        }
    }

    /// Adds every taken tree's contributions, bias excluded, to `lanes` (per output, `width`
    /// features each; the caller sums the lanes).
    func contribute(
        x: UnsafePointer<Double>, explainTrees: [ExplainTree], outputs: [Int], width: Int,
        lanes: UnsafeMutablePointer<Lanes>, scratch: inout Scratch
    ) {
        let weights = self.weights
        let one = Lanes(repeating: 1)
        let points = self.points
        splits.withUnsafeBufferPointer { splits in
            slope.withUnsafeBufferPointer { slope in
                inverse.withUnsafeBufferPointer { inverse in
                    weighted.withUnsafeBufferPointer { weighted in
                        leafScale.withUnsafeBufferPointer { leafScale in
                            scratch.choice.withUnsafeMutableBufferPointer { choice in
                                scratch.product.withUnsafeMutableBufferPointer { product in
                                    scratch.sum.withUnsafeMutableBufferPointer { sum in
                                        let choice = choice.baseAddress!, product = product.baseAddress!, sum = sum.baseAddress!
                                        // The quadrature weights ride in the root's product, so a leaf's sum is one multiply.
                                        product[0] = weights
                                        // The root: followed, a = 0 (z = 1), the shared entry 1.
                                        choice[0] = 1
                                        for tree in trees {
                                            let phi = lanes + outputs[tree.index] * width
                                            let slotBase = tree.slotStart
                                            let fixedBase = Int32(truncatingIfNeeded: Self.fixedOffset &+ slotBase)
                                            for k in tree.splitStart..<(tree.splitStart + tree.splitCount) {
                                                let split = splits[k]
                                                let s = Int(split.slot), l = s &+ 1, r = Int(split.right)
                                                let x = x[Int(split.feature)]
                                                let goesLeft: Bool
                                                if split.flags & ExplainTree.DecisionTest.reference != 0 {
                                                    goesLeft = explainTrees[tree.index].goesLeft(Int(nodes[k]), x)
                                                } else if x.isNaN {
                                                    goesLeft = split.flags & ExplainTree.DecisionTest.nanLeft != 0
                                                } else {
                                                    goesLeft =
                                                        split.flags & ExplainTree.DecisionTest.lessOrEqual != 0 ? x <= split.threshold : x < split.threshold
                                                }
                                                // Which side a row takes is unpredictable: pick values by index arithmetic.
                                                let follows: Int32 = choice[Int(split.previous)] != 0 ? 1 : 0
                                                let left: Int32 = goesLeft ? 1 : 0
                                                let choiceLeft = (follows & left) &* (fixedBase &+ Int32(truncatingIfNeeded: l))
                                                let choiceRight = (follows & (left ^ 1)) &* (fixedBase &+ split.right)
                                                choice[l] = choiceLeft
                                                choice[r] = choiceRight
                                                let carried = product[s] * inverse[Int(follows &* split.previousInverse)]
                                                let cLeft = carried * (one + slope[Int(choiceLeft)] * points)
                                                let cRight = carried * (one + slope[Int(choiceRight)] * points)
                                                product[l] = cLeft
                                                product[r] = cRight
                                                // A split's sum is written by the up pass; a leaf's is its weighted value.
                                                sum[l] = cLeft * leafScale[slotBase &+ l]
                                                sum[r] = cRight * leafScale[slotBase &+ r]
                                            }
                                            var k = tree.splitStart + tree.splitCount
                                            while k > tree.splitStart {
                                                k -= 1
                                                let split = splits[k]
                                                let s = Int(split.slot), l = s &+ 1, r = Int(split.right)
                                                let hLeft = sum[l], hRight = sum[r]
                                                let h = hLeft + hRight
                                                sum[s] = h
                                                phi[Int(split.feature)] +=
                                                    hLeft * weighted[Int(choice[l])] + hRight * weighted[Int(choice[r])]
                                                    - h * weighted[Int(choice[Int(split.previous)])]
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Gauss-Legendre nodes and weights on [0, 1], by Newton's method on the Legendre polynomial.
struct GaussLegendre {
    let nodes: [Double]
    let weights: [Double]

    init(points n: Int) {
        var nodes: [Double] = []
        var weights: [Double] = []
        for i in 0..<n {
            var x = cos(Double.pi * (Double(i) + 0.75) / (Double(n) + 0.5))
            for _ in 0..<100 {
                let (p, dp) = Self.legendre(n, x)
                let step = p / dp
                x -= step
                if abs(step) < 1e-16 { break }
            }
            let derivative = Self.legendre(n, x).1
            nodes.append((1 - x) / 2)
            weights.append(1 / ((1 - x * x) * derivative * derivative))
        }
        self.nodes = nodes
        self.weights = weights
    }

    /// P_n(x) and P_n'(x) by the three-term recurrence.
    private static func legendre(_ n: Int, _ x: Double) -> (Double, Double) {
        var p0 = 1.0, p1 = x
        if n == 0 { return (1, 0) }
        for k in stride(from: 2, through: n, by: 1) {
            let pk = ((2 * Double(k) - 1) * x * p1 - (Double(k) - 1) * p0) / Double(k)
            p0 = p1
            p1 = pk
        }
        return (p1, Double(n) * (x * p1 - p0) / (x * x - 1))
    }
}
