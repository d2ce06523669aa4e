/// One error type for the scoring domain.
public struct ScoringError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// A configuration file is missing, unreadable or inconsistent.
        public static let configuration = Code(name: "configuration")
        /// The model needs features the feature configuration does not define.
        public static let unmappedFeatures = Code(name: "unmapped_features")
        /// The model cannot be used for scoring (wrong outputs, failed golden vectors, ...).
        public static let model = Code(name: "model")
        /// A snapshot of aggregate state is unreadable or was made for other aggregates.
        public static let state = Code(name: "state")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
