extension CompiledForest {
    /// Values per prepared row: each feature twice (NaN as +inf, NaN as -inf) and the leaf sentinel.
    var preparedWidth: Int { 2 * featureCount + 1 }

    /// Copies `row` into `scratch` (``preparedWidth`` values) as order keys of the values the model
    /// sees (rounded to float32 when it compares in float32), NaN as a key above +inf in the first
    /// copy and below -inf in the second, and the leaf sentinel last.
    @inline(__always)
    func prepare(_ row: UnsafePointer<Double>, into scratch: UnsafeMutablePointer<Int64>) {
        let f = featureCount
        for i in 0..<f {
            let x = roundInputs ? Double(Float(row[i])) : row[i]
            let key = Self.orderKey(x)
            scratch[i] = x.isNaN ? Self.nanAboveKey : key
            scratch[f + i] = x.isNaN ? Self.nanBelowKey : key
        }
        scratch[2 * f] = Self.sentinelKey
    }

    /// A feature's value in a prepared row, NaN restored (for special nodes).
    @inline(__always)
    func value(_ feature: Int, in row: UnsafePointer<Int64>) -> Double {
        let high = row[feature]
        return high == Self.nanAboveKey ? .nan : Self.value(ofKey: high)
    }

    /// Walks one tree for one prepared row; returns the leaf's node index.
    @inline(__always)
    func leaf(of tree: Tree, row: UnsafePointer<Int64>, nodes: UnsafePointer<Node>) -> Int {
        if tree.hasSpecial { return checkedLeaf(of: tree, row: row, nodes: nodes) }
        var index = Int(tree.root)
        if lessOrEqual {
            for _ in 0..<tree.depth { index = Self.step(LessOrEqualOperator.self, index, row, nodes) }
        } else {
            for _ in 0..<tree.depth { index = Self.step(LessOperator.self, index, row, nodes) }
        }
        return index
    }

    /// The walk for trees with special nodes: stops at the leaf and evaluates special splits by
    /// their reference semantics.
    func checkedLeaf(of tree: Tree, row: UnsafePointer<Int64>, nodes: UnsafePointer<Node>) -> Int {
        var index = Int(tree.root)
        let sentinel = 2 * featureCount
        while true {
            let node = nodes[index]
            let slot = Int(node.feature & Self.featureMask)
            if slot == sentinel { return index }
            let goLeft: Bool
            if node.feature & Self.specialBit != 0 {
                let split = specials[UInt32(index)]!
                goLeft = DecisionNode.split(split, left: 0, right: 1).goesLeft(value(slot, in: row))
            } else {
                let x = row[slot]
                goLeft = lessOrEqual ? x <= node.key : x < node.key
            }
            index = Int(node.left) &+ (goLeft ? 0 : 1)
        }
    }

    /// Sums the trees for one prepared row into `margins` (outputCount values, pre-set to the base
    /// margins), in tree order, in the model's precision.
    func accumulate(row: UnsafePointer<Int64>, margins: UnsafeMutablePointer<Double>) {
        nodes.withUnsafeBufferPointer { nodeBuffer in
            trees.withUnsafeBufferPointer { treeBuffer in
                let nodes = nodeBuffer.baseAddress!
                if usesLeafVectors {
                    for tree in treeBuffer {
                        let leaf = leaf(of: tree, row: row, nodes: nodes)
                        let start = Int(leafStart[leaf])
                        if start >= 0 {
                            for entry in leafEntries[start..<(start + Int(leafCount[leaf]))] { margins[entry.output] += entry.value }
                        } else {
                            margins[Int(tree.output)] += nodes[leaf].leafValue
                        }
                    }
                } else if lessOrEqual {
                    sumTrees(LessOrEqualOperator.self, row: row, margins: margins, nodes: nodes, trees: treeBuffer)
                } else {
                    sumTrees(LessOperator.self, row: row, margins: margins, nodes: nodes, trees: treeBuffer)
                }
            }
        }
    }

    @inline(__always)
    private func sumTrees<Op: SplitOperator>(
        _ op: Op.Type, row: UnsafePointer<Int64>, margins: UnsafeMutablePointer<Double>,
        nodes: UnsafePointer<Node>, trees: UnsafeBufferPointer<Tree>
    ) {
        if float32Sum {
            if outputCount == 1 {
                var sum = Float(margins[0])
                forEachLeaf(op, row: row, nodes: nodes, trees: trees) { _, value in sum += Float(value) }
                margins[0] = Double(sum)
            } else {
                withUnsafeTemporaryAllocation(of: Float.self, capacity: outputCount) { sums in
                    for k in 0..<outputCount { sums[k] = Float(margins[k]) }
                    forEachLeaf(op, row: row, nodes: nodes, trees: trees) { t, value in
                        sums[Int(trees[t].output)] += Float(value)
                    }
                    for k in 0..<outputCount { margins[k] = Double(sums[k]) }
                }
            }
        } else if outputCount == 1 {
            var sum = margins[0]
            forEachLeaf(op, row: row, nodes: nodes, trees: trees) { _, value in sum += value }
            margins[0] = sum
        } else {
            forEachLeaf(op, row: row, nodes: nodes, trees: trees) { t, value in
                margins[Int(trees[t].output)] += value
            }
        }
    }

    /// Rows evaluated together per tree in a batch: enough independent walks to hide the latency
    /// of each step's two dependent loads.
    static let interleave = 8

    /// Rows scored together in a batch: several groups of eight, so that a block of trees, once
    /// loaded into L1 for the first group, serves the others from there.
    static let blockRows = 32
    /// Trees per block: their nodes plus the block's rows fit in L1.
    static let blockTrees = 8

    /// Sums the trees for `rowCount` (a multiple of eight, at most ``blockRows``) prepared rows, laid
    /// out ``preparedWidth`` apart, into their margins (`outputCount` each, pre-set to the base
    /// margins), in tree order for every row. Only for forests without leaf vectors.
    func accumulateBlock(rows: UnsafePointer<Int64>, rowCount: Int, margins: UnsafeMutablePointer<Double>) {
        nodes.withUnsafeBufferPointer { nodeBuffer in
            trees.withUnsafeBufferPointer { treeBuffer in
                if lessOrEqual {
                    sumBlock(LessOrEqualOperator.self, rows: rows, rowCount: rowCount, margins: margins, nodes: nodeBuffer.baseAddress!, trees: treeBuffer)
                } else {
                    sumBlock(LessOperator.self, rows: rows, rowCount: rowCount, margins: margins, nodes: nodeBuffer.baseAddress!, trees: treeBuffer)
                }
            }
        }
    }

    @inline(__always)
    private func sumBlock<Op: SplitOperator>(
        _ op: Op.Type, rows: UnsafePointer<Int64>, rowCount: Int, margins: UnsafeMutablePointer<Double>,
        nodes: UnsafePointer<Node>, trees: UnsafeBufferPointer<Tree>
    ) {
        let width = preparedWidth
        let k = outputCount
        let groups = rowCount / 8
        withUnsafeTemporaryAllocation(of: Float.self, capacity: rowCount * k) { floatSums in
            if float32Sum { for i in 0..<(rowCount * k) { floatSums[i] = Float(margins[i]) } }
            var blockStart = 0
            while blockStart < trees.count {
                let blockEnd = min(blockStart + Self.blockTrees, trees.count)
                for group in 0..<groups {
                    let groupRows = rows + group * 8 * width
                    let base = group * 8 * k
                    for t in blockStart..<blockEnd {
                        let tree = trees[t]
                        let v: (Double, Double, Double, Double, Double, Double, Double, Double)
                        if tree.hasSpecial {
                            func value(_ lane: Int) -> Double { nodes[checkedLeaf(of: tree, row: groupRows + lane * width, nodes: nodes)].leafValue }
                            v = (value(0), value(1), value(2), value(3), value(4), value(5), value(6), value(7))
                        } else {
                            v = Self.walkRows(op, root: Int(tree.root), depth: Int(tree.depth), rows: groupRows, width: width, nodes: nodes)
                        }
                        let o = base + Int(tree.output)
                        if float32Sum {
                            floatSums[o] += Float(v.0); floatSums[k + o] += Float(v.1)
                            floatSums[2 * k + o] += Float(v.2); floatSums[3 * k + o] += Float(v.3)
                            floatSums[4 * k + o] += Float(v.4); floatSums[5 * k + o] += Float(v.5)
                            floatSums[6 * k + o] += Float(v.6); floatSums[7 * k + o] += Float(v.7)
                        } else {
                            margins[o] += v.0; margins[k + o] += v.1; margins[2 * k + o] += v.2; margins[3 * k + o] += v.3
                            margins[4 * k + o] += v.4; margins[5 * k + o] += v.5; margins[6 * k + o] += v.6; margins[7 * k + o] += v.7
                        }
                    }
                }
                blockStart = blockEnd
            }
            if float32Sum { for i in 0..<(rowCount * k) { margins[i] = Double(floatSums[i]) } }
        }
    }
}
