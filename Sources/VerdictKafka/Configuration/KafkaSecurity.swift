/// How a client authenticates and encrypts its connections to the brokers.
public struct KafkaSecurity: Sendable, Hashable {
    /// librdkafka's `security.protocol`.
    public enum TransportProtocol: String, Sendable, Hashable, CaseIterable {
        case plaintext = "plaintext"
        case ssl = "ssl"
        case saslPlaintext = "sasl_plaintext"
        case saslSSL = "sasl_ssl"
    }

    /// SASL credentials (`sasl.mechanism`, `sasl.username`, `sasl.password`).
    public struct SASL: Sendable, Hashable {
        /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` (or any mechanism librdkafka supports).
        public var mechanism: String
        public var username: String
        public var password: KafkaSecret

        public init(mechanism: String, username: String, password: KafkaSecret) {
            self.mechanism = mechanism
            self.username = username
            self.password = password
        }
    }

    /// TLS files (`ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`, `ssl.key.password`).
    public struct TLS: Sendable, Hashable {
        /// CA bundle used to verify the brokers; nil uses the system's trust store.
        public var caLocation: String?
        /// Client certificate for mutual TLS.
        public var certificateLocation: String?
        /// Client private key for mutual TLS.
        public var keyLocation: String?
        /// Password of an encrypted client key.
        public var keyPassword: KafkaSecret?
        /// Verify the broker's host name against its certificate (`ssl.endpoint.identification.algorithm=https`).
        public var verifyHostname: Bool

        public init(
            caLocation: String? = nil,
            certificateLocation: String? = nil,
            keyLocation: String? = nil,
            keyPassword: KafkaSecret? = nil,
            verifyHostname: Bool = true
        ) {
            self.caLocation = caLocation
            self.certificateLocation = certificateLocation
            self.keyLocation = keyLocation
            self.keyPassword = keyPassword
            self.verifyHostname = verifyHostname
        }
    }

    /// `security.protocol`; default `plaintext`.
    public var transport: TransportProtocol
    public var sasl: SASL?
    public var tls: TLS?

    public init(transport: TransportProtocol = .plaintext, sasl: SASL? = nil, tls: TLS? = nil) {
        self.transport = transport
        self.sasl = sasl
        self.tls = tls
    }

    /// Plaintext, no authentication: development brokers only.
    public static let plaintext = KafkaSecurity()

    /// The librdkafka properties for these settings, secrets resolved.
    func properties() throws(KafkaError) -> [String: String] {
        var result = ["security.protocol": transport.rawValue]
        let usesSASL = transport == .saslPlaintext || transport == .saslSSL
        let usesTLS = transport == .ssl || transport == .saslSSL
        if usesSASL {
            guard let sasl else {
                throw .configuration("security.protocol \(transport.rawValue) needs SASL settings (mechanism, username, password)")
            }
            result["sasl.mechanism"] = sasl.mechanism
            result["sasl.username"] = sasl.username
            result["sasl.password"] = try sasl.password.resolve()
        } else if sasl != nil {
            throw .configuration("SASL settings are given but security.protocol is \(transport.rawValue); use sasl_ssl or sasl_plaintext")
        }
        if let tls {
            guard usesTLS else {
                throw .configuration("TLS settings are given but security.protocol is \(transport.rawValue); use ssl or sasl_ssl")
            }
            if let ca = tls.caLocation { result["ssl.ca.location"] = ca }
            if let cert = tls.certificateLocation { result["ssl.certificate.location"] = cert }
            if let key = tls.keyLocation { result["ssl.key.location"] = key }
            if let password = tls.keyPassword { result["ssl.key.password"] = try password.resolve() }
            result["ssl.endpoint.identification.algorithm"] = tls.verifyHostname ? "https" : "none"
        }
        return result
    }
}
