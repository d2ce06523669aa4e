/// TreeSHAP by path decomposition, for trees whose root-to-leaf paths split on at most 60 distinct
/// features (every real tree).
///
/// Path-dependent TreeSHAP is a sum over leaves. For a leaf with value `v` whose path splits on the
/// distinct features P (|P| = d), each with zero fraction z_k (the share of training cover that went
/// the path's way, multiplied over the feature's nodes) and one fraction o_k (1 when the row follows
/// the path at every node of feature k, else 0), feature j gets
///
///     v * (o_j - z_j) * sum over S subset of O \ {j} of  |S|! (d - |S| - 1)! / d!  *  prod over k in P \ S \ {j} of z_k
///
/// where O is the set of features the row satisfies (|O| = m). With U = P \ O and e_r the elementary
/// symmetric polynomials of the z's of a set, this is
///
///     j not in O:  -v * prod_U(z) * sum_r c(m - r) e_r(z_O)                  (the same for every such j)
///     j in O:       v * (1 - z_j) * prod_U(z) * sum_r c(m - 1 - r) e_r(z_{O \ {j}})
///
/// with c(s) = s! (d - s - 1)! / d!. Only O depends on the row, so a leaf costs O(m^3) arithmetic on
/// a handful of registers: no recursion, no per-model tables. The tests check the result against
/// XGBoost's `pred_contribs` and LightGBM's `pred_contrib`.
final class PathSHAPTable: Sendable {
    /// Paths with more distinct features than fit a bit mask fall back to the recursive algorithm.
    static let maxDistinctFeatures = 60

    struct Leaf: Sendable {
        var value: Double
        /// Range of this leaf's distinct features in `features`/`zeros`.
        var featureStart: Int32
        var featureCount: Int32
        /// Range of this leaf's path constraints in `constraints`.
        var constraintStart: Int32
        var constraintCount: Int32
    }

    /// One split on a leaf's path: the node, the side the path takes, and the feature's slot.
    struct Constraint: Sendable {
        var node: Int32
        var left: Bool
        var slot: Int32
    }

    let leaves: [Leaf]
    let features: [Int32]
    let zeros: [Double]
    let constraints: [Constraint]
    /// coefficients[d * stride + s] = s! (d - s - 1)! / d!, the Shapley weight of a coalition of size
    /// s among d (flat, so the per-leaf loop reads it without retaining an inner array).
    let coefficients: [Double]
    let coefficientStride: Int

    /// Builds the table, or returns nil when a path has too many distinct features or a cover is
    /// unusable.
    init?(root: Int, feature featureOf: [Int32], left: [Int32], right: [Int32], cover: [Double], value: [Double]) {
        var leaves: [Leaf] = []
        var features: [Int32] = []
        var zeros: [Double] = []
        var constraints: [Constraint] = []
        var stack: [(node: Int, path: [(feature: Int, node: Int, left: Bool, ratio: Double)])] = [(root, [])]
        while let (node, path) = stack.popLast() {
            let feature = Int(featureOf[node])
            if feature >= 0 {
                let c = cover[node]
                let l = Int(left[node]), r = Int(right[node])
                let leftRatio = c > 0 ? cover[l] / c : 0
                let rightRatio = c > 0 ? cover[r] / c : 0
                stack.append((r, path + [(feature, node, false, rightRatio)]))
                stack.append((l, path + [(feature, node, true, leftRatio)]))
                continue
            }
            // Distinct features in order of first appearance, with their combined zero fractions.
            var distinct: [Int] = []
            var zero: [Double] = []
            var slotOf: [Int: Int] = [:]
            for step in path {
                if let slot = slotOf[step.feature] {
                    zero[slot] *= step.ratio
                } else {
                    slotOf[step.feature] = distinct.count
                    distinct.append(step.feature)
                    zero.append(step.ratio)
                }
            }
            let d = distinct.count
            guard d <= Self.maxDistinctFeatures else { return nil }
            leaves.append(
                Leaf(
                    value: value[node],
                    featureStart: Int32(features.count), featureCount: Int32(d),
                    constraintStart: Int32(constraints.count), constraintCount: Int32(path.count)
                ))
            features += distinct.map { Int32($0) }
            zeros += zero
            constraints += path.map { Constraint(node: Int32($0.node), left: $0.left, slot: Int32(slotOf[$0.feature]!)) }
        }
        self.leaves = leaves
        self.features = features
        self.zeros = zeros
        self.constraints = constraints
        let longest = leaves.map { Int($0.featureCount) }.max() ?? 0
        let stride = max(1, longest) + 1
        coefficientStride = stride
        coefficients = (0...max(1, longest)).flatMap { d in
            (0..<stride).map { s in
                guard s < max(1, d) else { return 0.0 }
                var value = 1.0
                // s! (d-s-1)! / d! computed as a product of ratios to stay in range.
                for k in 1...max(1, d) { value /= Double(k) }
                var numerator = 1.0
                if s > 0 { for k in 1...s { numerator *= Double(k) } }
                if d - s - 1 > 0 { for k in 1...(d - s - 1) { numerator *= Double(k) } }
                return value * numerator
            }
        }
    }

    /// Adds this tree's contributions for a row whose split decisions are in `goesLeft` (by node).
    func contribute(goesLeft: UnsafePointer<Bool>, phi: UnsafeMutablePointer<Double>) {
        features.withUnsafeBufferPointer { features in
            zeros.withUnsafeBufferPointer { zeros in
                constraints.withUnsafeBufferPointer { constraints in
                    leaves.withUnsafeBufferPointer { leaves in
                        coefficients.withUnsafeBufferPointer { coefficients in
                            withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * (Self.maxDistinctFeatures + 2)) { scratch in
                                let all = scratch.baseAddress!
                                for leaf in leaves {
                                    let d = Int(leaf.featureCount)
                                    guard d > 0 else { continue }
                                    var satisfied = (1 << d) - 1
                                    let c0 = Int(leaf.constraintStart)
                                    for c in c0..<(c0 + Int(leaf.constraintCount)) {
                                        let constraint = constraints[c]
                                        // Branch-free: which side a row takes is unpredictable.
                                        let missed = Int(truncatingIfNeeded: goesLeft[Int(constraint.node)] != constraint.left ? UInt8(1) : 0)
                                        satisfied &= ~(missed << Int(constraint.slot))
                                    }
                                    contribute(
                                        leaf, satisfied: satisfied, features: features.baseAddress! + Int(leaf.featureStart),
                                        zeros: zeros.baseAddress! + Int(leaf.featureStart),
                                        c: coefficients.baseAddress! + Int(leaf.featureCount) * coefficientStride,
                                        all: all, phi: phi)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    private func contribute(
        _ leaf: Leaf, satisfied: Int, features: UnsafePointer<Int32>, zeros: UnsafePointer<Double>,
        c: UnsafePointer<Double>, all: UnsafeMutablePointer<Double>, phi: UnsafeMutablePointer<Double>
    ) {
        let d = Int(leaf.featureCount)
        let m = satisfied.nonzeroBitCount
        // e_r over the satisfied features (prod of (1 + z_k t) for k in O), and the product of the
        // unsatisfied ones' zero fractions, walking set bits instead of branching on each feature.
        all[0] = 1
        var degree = 0
        var bits = satisfied
        while bits != 0 {
            let k = bits.trailingZeroBitCount
            bits &= bits - 1
            degree += 1
            let z = zeros[k]
            all[degree] = z * all[degree - 1]
            var r = degree - 1
            while r > 0 { all[r] += z * all[r - 1]; r -= 1 }
        }
        var unsatisfiedProduct = 1.0
        var unsatisfied = ~satisfied & ((1 << d) - 1)
        while unsatisfied != 0 {
            unsatisfiedProduct *= zeros[unsatisfied.trailingZeroBitCount]
            unsatisfied &= unsatisfied - 1
        }
        let scale = leaf.value * unsatisfiedProduct
        if m < d {
            var sum = 0.0
            for r in 0...m { sum += c[m - r] * all[r] }
            let share = -scale * sum
            var rest = ~satisfied & ((1 << d) - 1)
            while rest != 0 {
                phi[Int(features[rest.trailingZeroBitCount])] += share
                rest &= rest - 1
            }
        }
        guard m > 0 else { return }
        bits = satisfied
        while bits != 0 {
            let j = bits.trailingZeroBitCount
            bits &= bits - 1
            // e_r over the satisfied features but j: divide (1 + z_j t) out of prod (1 + z_k t).
            // All terms are non-negative and m is small, so the subtraction stays accurate.
            let z = zeros[j]
            var previous = 1.0
            var sum = c[m - 1]
            var r = 1
            while r < m {
                let e = all[r] - z * previous
                sum += c[m - 1 - r] * e
                previous = e
                r += 1
            }
            phi[Int(features[j])] += scale * (1 - z) * sum
        }
    }
}
