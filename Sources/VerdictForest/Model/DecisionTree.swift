/// A decision tree as a reader found it in a model file, before compilation.
///
/// This is the ground truth of a model's semantics: each library's reader translates its own
/// conventions (comparison operator, missing-value rules, category sets) into these values, the
/// compiler turns them into the fast layout, and tests check the two agree.
public struct DecisionTree: Sendable, Hashable {
    public var nodes: [DecisionNode]
    /// Index of the root node.
    public var root: Int
    /// The output (class) single-valued leaves of this tree add to.
    public var output: Int
    /// Multiplier of every leaf (XGBoost DART tree weights); 1 otherwise.
    public var weight: Double

    public init(nodes: [DecisionNode], root: Int = 0, output: Int = 0, weight: Double = 1) {
        self.nodes = nodes
        self.root = root
        self.output = output
        self.weight = weight
    }
}

/// One node: a split with two children, or a leaf.
public struct DecisionNode: Sendable, Hashable {
    /// The test of an inner node; nil for a leaf.
    public var split: Split?
    /// Child taken when the test holds (ignored for leaves).
    public var left: Int
    /// Child taken when it does not.
    public var right: Int
    /// A leaf's value (for models whose trees each feed one output).
    public var value: Double
    /// A leaf's values for several outputs (ONNX classifiers); empty when ``value`` is used.
    public var outputs: [LeafOutput]
    /// Training weight that reached the node (XGBoost: hessian sum; LightGBM: record count);
    /// TreeSHAP needs it. NaN when the format does not record it.
    public var cover: Double

    public static func leaf(_ value: Double, cover: Double = .nan) -> DecisionNode {
        DecisionNode(split: nil, left: -1, right: -1, value: value, outputs: [], cover: cover)
    }

    public static func leaf(outputs: [LeafOutput], cover: Double = .nan) -> DecisionNode {
        DecisionNode(split: nil, left: -1, right: -1, value: 0, outputs: outputs, cover: cover)
    }

    public static func split(_ split: Split, left: Int, right: Int, cover: Double = .nan) -> DecisionNode {
        DecisionNode(split: split, left: left, right: right, value: 0, outputs: [], cover: cover)
    }

    public var isLeaf: Bool { split == nil }
}

/// A leaf's contribution to one output.
public struct LeafOutput: Sendable, Hashable {
    public var output: Int
    public var value: Double

    public init(output: Int, value: Double) {
        self.output = output
        self.value = value
    }
}

/// The test at an inner node. "Holds" sends the row to ``DecisionNode/left``.
public enum Split: Sendable, Hashable {
    /// `x <op> threshold`; a missing value (NaN) goes where `missing` says.
    case numeric(feature: Int, threshold: Double, comparison: Comparison, missing: MissingValues)
    /// Category membership; the rule says which side the listed categories go and where NaN,
    /// negative and unlisted values go.
    case categorical(feature: Int, categories: [Int], rule: CategoricalRule)

    public var feature: Int {
        switch self {
        case .numeric(let feature, _, _, _), .categorical(let feature, _, _): feature
        }
    }
}

/// Numeric comparison operators, as ONNX names them (`BRANCH_LT` ...).
public enum Comparison: Sendable, Hashable {
    case less, lessOrEqual, greater, greaterOrEqual, equal, notEqual

    func holds(_ x: Double, _ t: Double) -> Bool {
        switch self {
        case .less: x < t
        case .lessOrEqual: x <= t
        case .greater: x > t
        case .greaterOrEqual: x >= t
        case .equal: x == t
        case .notEqual: x != t
        }
    }
}

/// Where missing values go at a numeric split.
public enum MissingValues: Sendable, Hashable {
    /// NaN goes left (the test's "holds" side) / right.
    case left, right
    /// LightGBM `missing_type=None`: NaN is treated as 0.0 and compared.
    case asZero
    /// LightGBM `missing_type=Zero`: NaN and values within ±1e-35 of zero go to the default side.
    case zeroIsMissing(defaultLeft: Bool)
    /// ONNX without `nodes_missing_value_tracks_true`: NaN is compared like any value (and every
    /// comparison with NaN is false, so it goes right; `notEqual` holds, so it goes left).
    case compared
}

/// How a categorical split sends values.
public enum CategoricalRule: Sendable, Hashable {
    /// XGBoost: listed categories go right; NaN goes to the default side; negative values or values
    /// beyond the category bitset go left.
    case xgboost(defaultLeft: Bool)
    /// LightGBM: listed categories go left; NaN and negative values go right.
    case lightgbm
}

extension DecisionNode {
    /// Whether a row goes left here (the reference semantics the compiled forest must reproduce).
    /// `x` is the feature value as the model sees it (already rounded to float32 when the model
    /// compares in float32).
    func goesLeft(_ x: Double) -> Bool {
        switch split! {
        case .numeric(_, let threshold, let comparison, let missing):
            if x.isNaN {
                switch missing {
                case .left: return true
                case .right: return false
                case .asZero: return comparison.holds(0, threshold)
                case .zeroIsMissing(let defaultLeft): return defaultLeft
                case .compared: return comparison.holds(x, threshold)
                }
            }
            if case .zeroIsMissing(let defaultLeft) = missing, x >= -kLightGBMZero && x <= kLightGBMZero {
                return defaultLeft
            }
            return comparison.holds(x, threshold)
        case .categorical(_, let categories, let rule):
            switch rule {
            case .xgboost(let defaultLeft):
                if x.isNaN { return defaultLeft }
                // XGBoost: negative or too-large values are "not a chosen category": left.
                guard x >= 0, x < 16_777_216 else { return true }
                let category = Int(x)
                return !categories.contains(category)
            case .lightgbm:
                // NaN, negative and out-of-int-range values are never in the set: right.
                guard !x.isNaN, x > -1, x < 2_147_483_648 else { return false }
                let category = Int(x)  // LightGBM truncates toward zero
                guard category >= 0 else { return false }
                return categories.contains(category)
            }
        }
    }
}

/// LightGBM's kZeroThreshold: |x| at or below it counts as zero.
let kLightGBMZero = 1.0000000180025095e-35
