/// An error from a Kafka client, classified so the caller knows what to do with it.
///
/// librdkafka reports hundreds of codes; what an application must decide is narrower:
/// - ``isFatal``: the client instance is unusable; close it and start a new one (or exit).
/// - ``isRetriable``: the operation may succeed if repeated (after a backoff).
/// - ``isIndefinite``: the outcome is unknown (`Message timed out`): the message may or may not
///   have been written. Treat it as not delivered, never as delivered, and never commit past it.
public struct KafkaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, at the granularity an application acts on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Value: String, Sendable {
            case configuration
            case queueFull
            case messageTimedOut
            case unknownTopic
            case brokerUnreachable
            case timedOut
            case authentication
            case authorization
            case purged
            case state
            case fatal
            case transactionAbortable
            case messageTooLarge
            case invalidArgument
            case other
        }

        let value: Value

        /// A property is unknown or has an invalid value, or a secret could not be read.
        public static let configuration = Code(value: .configuration)
        /// The producer's local queue is full: back off until delivery reports drain it.
        public static let queueFull = Code(value: .queueFull)
        /// A message was not acknowledged within `message.timeout.ms`; its fate is unknown.
        public static let messageTimedOut = Code(value: .messageTimedOut)
        /// A topic or partition does not exist on the cluster.
        public static let unknownTopic = Code(value: .unknownTopic)
        /// No broker could be reached (connection refused, name resolution, all brokers down).
        public static let brokerUnreachable = Code(value: .brokerUnreachable)
        /// An operation did not finish within its deadline.
        public static let timedOut = Code(value: .timedOut)
        /// SASL or TLS authentication failed.
        public static let authentication = Code(value: .authentication)
        /// The principal is not allowed to use a topic, group or transactional id.
        public static let authorization = Code(value: .authorization)
        /// The message was purged from the producer's queue before delivery (close or abort).
        public static let purged = Code(value: .purged)
        /// The client is in the wrong state for the call (e.g. not assigned, closed).
        public static let state = Code(value: .state)
        /// librdkafka raised a fatal error; the instance must be recreated.
        public static let fatal = Code(value: .fatal)
        /// The current transaction must be aborted; records and offsets are rewound.
        public static let transactionAbortable = Code(value: .transactionAbortable)
        /// A record exceeds the broker's or the client's size limit.
        public static let messageTooLarge = Code(value: .messageTooLarge)
        /// An argument was invalid (e.g. an empty topic name or partition list).
        public static let invalidArgument = Code(value: .invalidArgument)
        /// Any other broker or client error; see ``KafkaError/librdkafkaName``.
        public static let other = Code(value: .other)

        public var description: String { value.rawValue }
    }

    /// The category of the error.
    public var code: Code
    /// What happened and what to do about it.
    public var message: String
    /// librdkafka's symbolic name for the underlying error (for example `_MSG_TIMED_OUT`), if any.
    public var librdkafkaName: String?
    /// The client must be closed and recreated.
    public var isFatal: Bool
    /// Repeating the operation may succeed.
    public var isRetriable: Bool

    /// The outcome is unknown: the message may have been written. Never treat as delivered.
    public var isIndefinite: Bool { code == .messageTimedOut }

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: The category.
    ///   - message: What happened and what to do about it.
    ///   - librdkafkaName: librdkafka's name for the error, when it came from librdkafka.
    ///   - isFatal: The client instance is unusable.
    ///   - isRetriable: The operation may be repeated.
    public init(
        code: Code,
        message: String,
        librdkafkaName: String? = nil,
        isFatal: Bool = false,
        isRetriable: Bool = false
    ) {
        self.code = code
        self.message = message
        self.librdkafkaName = librdkafkaName
        self.isFatal = isFatal || code == .fatal
        self.isRetriable = isRetriable
    }

    public var description: String {
        var text = "KafkaError.\(code): \(message)"
        if let librdkafkaName { text += " [\(librdkafkaName)]" }
        return text
    }

    static func configuration(_ message: String) -> KafkaError {
        KafkaError(code: .configuration, message: message)
    }

    static func timedOut(_ what: String, after timeout: Duration) -> KafkaError {
        KafkaError(
            code: .timedOut,
            message: "\(what) did not finish within \(timeout); check that the brokers are reachable",
            isRetriable: true
        )
    }
}

/// The librdkafka version in use.
public enum KafkaVersion {
    public static var librdkafka: String { RDKafkaVersion.string }
}
