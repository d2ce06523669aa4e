/// Shape of a forest, for `verdict model inspect` and for reasoning about speed.
public struct ForestStatistics: Sendable, Hashable {
    public var trees: Int
    public var nodes: Int
    public var leaves: Int
    public var maxDepth: Int
    public var meanDepth: Double
    /// Mean number of leaves per tree.
    public var meanLeaves: Double
    /// Splits by kind.
    public var numericSplits: Int
    public var categoricalSplits: Int
    /// Trees that need the checked (non branch-free) walk.
    public var treesWithSpecialSplits: Int
}

extension Forest {
    /// Counts over the reachable nodes of every tree.
    public var statistics: ForestStatistics {
        var nodes = 0, leaves = 0, numeric = 0, categorical = 0
        for tree in trees {
            var stack = [tree.root]
            while let n = stack.popLast() {
                nodes += 1
                let node = tree.nodes[n]
                switch node.split {
                case nil: leaves += 1
                case .numeric?: numeric += 1; stack += [node.left, node.right]
                case .categorical?: categorical += 1; stack += [node.left, node.right]
                }
            }
        }
        let depths = compiled.trees.map { Int($0.depth) }
        return ForestStatistics(
            trees: trees.count,
            nodes: nodes,
            leaves: leaves,
            maxDepth: depths.max() ?? 0,
            meanDepth: depths.isEmpty ? 0 : Double(depths.reduce(0, +)) / Double(depths.count),
            meanLeaves: trees.isEmpty ? 0 : Double(leaves) / Double(trees.count),
            numericSplits: numeric,
            categoricalSplits: categorical,
            treesWithSpecialSplits: compiled.trees.filter(\.hasSpecial).count
        )
    }
}
