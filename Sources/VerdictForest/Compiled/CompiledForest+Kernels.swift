/// The comparison every fast node of a forest uses, as a type so the kernels specialise on it.
protocol SplitOperator {
    static func holds(_ x: Int64, _ threshold: Int64) -> Bool
}

enum LessOperator: SplitOperator {
    @inline(__always) static func holds(_ x: Int64, _ threshold: Int64) -> Bool { x < threshold }
}

enum LessOrEqualOperator: SplitOperator {
    @inline(__always) static func holds(_ x: Int64, _ threshold: Int64) -> Bool { x <= threshold }
}

extension CompiledForest {
    /// One branch-free step: the next node index for a prepared `row` at node `index`. Missing
    /// values need no test here: the node reads the row copy whose NaN stand-in goes its way.
    @inline(__always)
    static func step<Op: SplitOperator>(_: Op.Type, _ index: Int, _ row: UnsafePointer<Int64>, _ nodes: UnsafePointer<Node>) -> Int {
        let node = nodes[index]
        let x = row[Int(node.feature)]
        // Unsigned 0/1 from the comparison, added without a branch.
        return Int(node.left) &+ Int(truncatingIfNeeded: (Op.holds(x, node.key) ? UInt8(0) : 1))
    }

    /// Walks eight trees for one row at once: eight independent dependency chains keep the core busy
    /// while each waits for its loads. Returns the eight leaf values.
    @inline(__always)
    static func walkTrees<Op: SplitOperator>(
        _ op: Op.Type, roots: UnsafePointer<Tree>, depth: Int, row: UnsafePointer<Int64>, nodes: UnsafePointer<Node>
    ) -> (Double, Double, Double, Double, Double, Double, Double, Double) {
        var i0 = Int(roots[0].root), i1 = Int(roots[1].root), i2 = Int(roots[2].root), i3 = Int(roots[3].root)
        var i4 = Int(roots[4].root), i5 = Int(roots[5].root), i6 = Int(roots[6].root), i7 = Int(roots[7].root)
        for _ in 0..<depth {
            i0 = step(op, i0, row, nodes); i1 = step(op, i1, row, nodes)
            i2 = step(op, i2, row, nodes); i3 = step(op, i3, row, nodes)
            i4 = step(op, i4, row, nodes); i5 = step(op, i5, row, nodes)
            i6 = step(op, i6, row, nodes); i7 = step(op, i7, row, nodes)
        }
        return (
            nodes[i0].leafValue, nodes[i1].leafValue, nodes[i2].leafValue, nodes[i3].leafValue,
            nodes[i4].leafValue, nodes[i5].leafValue, nodes[i6].leafValue, nodes[i7].leafValue
        )
    }

    /// Walks one tree for eight rows at once (rows `width` apart); returns the eight leaf values.
    @inline(__always)
    static func walkRows<Op: SplitOperator>(
        _ op: Op.Type, root: Int, depth: Int, rows: UnsafePointer<Int64>, width: Int, nodes: UnsafePointer<Node>
    ) -> (Double, Double, Double, Double, Double, Double, Double, Double) {
        let r0 = rows, r1 = rows + width, r2 = rows + 2 * width, r3 = rows + 3 * width
        let r4 = rows + 4 * width, r5 = rows + 5 * width, r6 = rows + 6 * width, r7 = rows + 7 * width
        var i0 = root, i1 = root, i2 = root, i3 = root, i4 = root, i5 = root, i6 = root, i7 = root
        for _ in 0..<depth {
            i0 = step(op, i0, r0, nodes); i1 = step(op, i1, r1, nodes)
            i2 = step(op, i2, r2, nodes); i3 = step(op, i3, r3, nodes)
            i4 = step(op, i4, r4, nodes); i5 = step(op, i5, r5, nodes)
            i6 = step(op, i6, r6, nodes); i7 = step(op, i7, r7, nodes)
        }
        return (
            nodes[i0].leafValue, nodes[i1].leafValue, nodes[i2].leafValue, nodes[i3].leafValue,
            nodes[i4].leafValue, nodes[i5].leafValue, nodes[i6].leafValue, nodes[i7].leafValue
        )
    }

    /// Calls `body(tree, leafValue)` for every tree, in tree order, for one prepared row. Fast trees
    /// are walked eight at a time; trees with special nodes take the checked walk.
    @inline(__always)
    func forEachLeaf<Op: SplitOperator>(
        _ op: Op.Type, row: UnsafePointer<Int64>, nodes: UnsafePointer<Node>,
        trees: UnsafeBufferPointer<Tree>, _ body: (Int, Double) -> Void
    ) {
        let count = trees.count
        let roots = trees.baseAddress!
        var t = 0
        while t < count {
            if t + 8 <= count, case let depth = groupDepth[t >> 3], depth >= 0 {
                let v = Self.walkTrees(op, roots: roots + t, depth: Int(depth), row: row, nodes: nodes)
                body(t, v.0); body(t + 1, v.1); body(t + 2, v.2); body(t + 3, v.3)
                body(t + 4, v.4); body(t + 5, v.5); body(t + 6, v.6); body(t + 7, v.7)
                t += 8
            } else {
                let tree = roots[t]
                if tree.hasSpecial {
                    body(t, nodes[checkedLeaf(of: tree, row: row, nodes: nodes)].leafValue)
                } else {
                    var index = Int(tree.root)
                    for _ in 0..<tree.depth { index = Self.step(op, index, row, nodes) }
                    body(t, nodes[index].leafValue)
                }
                t += 1
            }
        }
    }
}
