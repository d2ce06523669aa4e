extension CompiledForest {
    /// Copies `row` into `scratch` (featureCount + 1 values) as the model sees it: rounded to float32
    /// when the model compares in float32, with the leaf sentinel appended.
    @inline(__always)
    func prepare(_ row: UnsafePointer<Double>, into scratch: UnsafeMutablePointer<Double>) {
        if roundInputs {
            for i in 0..<featureCount { scratch[i] = Double(Float(row[i])) }
        } else {
            scratch.update(from: row, count: featureCount)
        }
        scratch[featureCount] = -.infinity
    }

    /// Walks one tree for one prepared row; returns the leaf's node index.
    @inline(__always)
    func leaf(of tree: Tree, row: UnsafePointer<Double>, nodes: UnsafePointer<Node>) -> Int {
        if tree.hasSpecial { return checkedLeaf(of: tree, row: row, nodes: nodes) }
        var index = Int(tree.root)
        if lessOrEqual {
            for _ in 0..<tree.depth {
                let node = nodes[index]
                let x = row[Int(node.feature & Self.featureMask)]
                let goLeft = x.isNaN ? node.feature & Self.defaultLeftBit != 0 : x <= node.threshold
                index = Int(node.left) &+ (goLeft ? 0 : 1)
            }
        } else {
            for _ in 0..<tree.depth {
                let node = nodes[index]
                let x = row[Int(node.feature & Self.featureMask)]
                let goLeft = x.isNaN ? node.feature & Self.defaultLeftBit != 0 : x < node.threshold
                index = Int(node.left) &+ (goLeft ? 0 : 1)
            }
        }
        return index
    }

    /// The walk for trees with special nodes: stops at the leaf and evaluates special splits by
    /// their reference semantics.
    func checkedLeaf(of tree: Tree, row: UnsafePointer<Double>, nodes: UnsafePointer<Node>) -> Int {
        var index = Int(tree.root)
        while true {
            let node = nodes[index]
            let feature = Int(node.feature & Self.featureMask)
            if feature == featureCount { return index }
            let x = row[feature]
            let goLeft: Bool
            if node.feature & Self.specialBit != 0 {
                let split = specials[UInt32(index)]!
                goLeft = DecisionNode.split(split, left: 0, right: 1).goesLeft(x)
            } else if x.isNaN {
                goLeft = node.feature & Self.defaultLeftBit != 0
            } else {
                goLeft = lessOrEqual ? x <= node.threshold : x < node.threshold
            }
            index = Int(node.left) &+ (goLeft ? 0 : 1)
        }
    }

    /// Sums the trees for one prepared row into `margins` (outputCount values, pre-set to the base
    /// margins), in tree order, in the model's precision.
    func accumulate(row: UnsafePointer<Double>, margins: UnsafeMutablePointer<Double>) {
        nodes.withUnsafeBufferPointer { nodeBuffer in
            trees.withUnsafeBufferPointer { treeBuffer in
                let nodes = nodeBuffer.baseAddress!
                if usesLeafVectors {
                    for tree in treeBuffer {
                        let leaf = leaf(of: tree, row: row, nodes: nodes)
                        if let range = leafRanges[UInt32(leaf)] {
                            for entry in leafEntries[range] { margins[entry.output] += entry.value }
                        } else {
                            margins[Int(tree.output)] += nodes[leaf].threshold
                        }
                    }
                } else if float32Sum {
                    if outputCount == 1 {
                        var sum = Float(margins[0])
                        for tree in treeBuffer {
                            sum += Float(nodes[leaf(of: tree, row: row, nodes: nodes)].threshold)
                        }
                        margins[0] = Double(sum)
                    } else {
                        withUnsafeTemporaryAllocation(of: Float.self, capacity: outputCount) { sums in
                            for k in 0..<outputCount { sums[k] = Float(margins[k]) }
                            for tree in treeBuffer {
                                sums[Int(tree.output)] += Float(nodes[leaf(of: tree, row: row, nodes: nodes)].threshold)
                            }
                            for k in 0..<outputCount { margins[k] = Double(sums[k]) }
                        }
                    }
                } else {
                    for tree in treeBuffer {
                        margins[Int(tree.output)] += nodes[leaf(of: tree, row: row, nodes: nodes)].threshold
                    }
                }
            }
        }
    }

    /// Rows evaluated together per tree in a batch: enough independent walks to hide the latency
    /// of each step's two dependent loads.
    static let interleave = 8

    /// Sums the trees for `Self.interleave` prepared rows (each `featureCount + 1` wide, laid out
    /// consecutively) into their margins (`outputCount` each, pre-set to the base margins).
    /// Only for forests without leaf vectors.
    func accumulateInterleaved(rows: UnsafePointer<Double>, margins: UnsafeMutablePointer<Double>) {
        let width = featureCount + 1
        let lanes = Self.interleave
        nodes.withUnsafeBufferPointer { nodeBuffer in
            trees.withUnsafeBufferPointer { treeBuffer in
                let nodes = nodeBuffer.baseAddress!
                withUnsafeTemporaryAllocation(of: Int.self, capacity: lanes) { index in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: lanes * outputCount) { floatSums in
                        if float32Sum {
                            for i in 0..<(lanes * outputCount) { floatSums[i] = Float(margins[i]) }
                        }
                        for tree in treeBuffer {
                            if tree.hasSpecial {
                                for lane in 0..<lanes {
                                    index[lane] = checkedLeaf(of: tree, row: rows + lane * width, nodes: nodes)
                                }
                            } else {
                                for lane in 0..<lanes { index[lane] = Int(tree.root) }
                                if lessOrEqual {
                                    for _ in 0..<tree.depth {
                                        for lane in 0..<lanes {
                                            let node = nodes[index[lane]]
                                            let x = rows[lane * width + Int(node.feature & Self.featureMask)]
                                            let goLeft = x.isNaN ? node.feature & Self.defaultLeftBit != 0 : x <= node.threshold
                                            index[lane] = Int(node.left) &+ (goLeft ? 0 : 1)
                                        }
                                    }
                                } else {
                                    for _ in 0..<tree.depth {
                                        for lane in 0..<lanes {
                                            let node = nodes[index[lane]]
                                            let x = rows[lane * width + Int(node.feature & Self.featureMask)]
                                            let goLeft = x.isNaN ? node.feature & Self.defaultLeftBit != 0 : x < node.threshold
                                            index[lane] = Int(node.left) &+ (goLeft ? 0 : 1)
                                        }
                                    }
                                }
                            }
                            let output = Int(tree.output)
                            if float32Sum {
                                for lane in 0..<lanes {
                                    floatSums[lane * outputCount + output] += Float(nodes[index[lane]].threshold)
                                }
                            } else {
                                for lane in 0..<lanes {
                                    margins[lane * outputCount + output] += nodes[index[lane]].threshold
                                }
                            }
                        }
                        if float32Sum {
                            for i in 0..<(lanes * outputCount) { margins[i] = Double(floatSums[i]) }
                        }
                    }
                }
            }
        }
    }
}
