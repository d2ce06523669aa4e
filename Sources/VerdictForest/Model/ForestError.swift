/// Why a model file was refused or a prediction could not be made.
///
/// Messages name the file, the tree and the node where the problem is, and say what to do.
public struct ForestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The file cannot be read.
        public static let unreadable = Code(name: "unreadable")
        /// The file's bytes are not valid for its format (truncated, corrupt, wrong syntax).
        public static let malformed = Code(name: "malformed")
        /// The file is valid but the model is inconsistent (indices out of range, cycles, NaN values).
        public static let invalidModel = Code(name: "invalid_model")
        /// The model uses something Verdict does not evaluate exactly; it is refused rather than approximated.
        public static let unsupported = Code(name: "unsupported")
        /// Input rows do not fit the model (wrong width, unknown feature names).
        public static let invalidInput = Code(name: "invalid_input")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    /// The file is not valid for its format.
    public static func malformed(_ file: String, _ detail: String) -> ForestError {
        ForestError(.malformed, "\(file): \(detail); the file is truncated or not a model of this format (re-export it from the training library)")
    }

    /// The model is inconsistent at a tree (and node).
    public static func invalid(_ file: String, tree: Int, node: Int? = nil, _ detail: String) -> ForestError {
        let location = node.map { "tree \(tree), node \($0)" } ?? "tree \(tree)"
        return ForestError(.invalidModel, "\(file): \(location): \(detail)")
    }

    /// The model uses something Verdict does not evaluate exactly.
    public static func unsupported(_ file: String, _ detail: String) -> ForestError {
        ForestError(.unsupported, "\(file): \(detail)")
    }
}
