/// Settings every Kafka client shares: where the cluster is, how to reach it, and a pass-through
/// map for any librdkafka property the typed settings do not cover.
public struct KafkaClientConfiguration: Sendable, Hashable {
    /// `bootstrap.servers`: `host:port` of one or more brokers. Default `localhost:9092`.
    public var bootstrapServers: [String]
    /// `client.id`, shown in broker logs and quotas. Default `verdict`.
    public var clientID: String
    /// TLS and SASL. Default plaintext.
    public var security: KafkaSecurity
    /// How often librdkafka emits statistics (`statistics.interval.ms`); nil disables them.
    public var statisticsInterval: Duration?
    /// Any librdkafka property (https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md).
    /// Applied last, so it overrides the typed settings.
    public var properties: [String: String]

    public init(
        bootstrapServers: [String] = ["localhost:9092"],
        clientID: String = "verdict",
        security: KafkaSecurity = .plaintext,
        statisticsInterval: Duration? = nil,
        properties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.security = security
        self.statisticsInterval = statisticsInterval
        self.properties = properties
    }

    func baseProperties() throws(KafkaError) -> [String: String] {
        guard !bootstrapServers.isEmpty, bootstrapServers.allSatisfy({ !$0.isEmpty }) else {
            throw .configuration("bootstrap servers are empty; give at least one host:port (e.g. --brokers kafka-0:9092)")
        }
        var result = try security.properties()
        result["bootstrap.servers"] = bootstrapServers.joined(separator: ",")
        result["client.id"] = clientID
        if let statisticsInterval {
            result["statistics.interval.ms"] = String(statisticsInterval.milliseconds)
        }
        return result
    }
}

/// Renders librdkafka properties for logs with every secret replaced.
///
/// librdkafka's own configuration dump contains `sasl.password` in clear text; never log that.
public enum KafkaRedaction {
    /// True for property names that hold secrets.
    public static func isSecret(_ key: String) -> Bool {
        let lower = key.lowercased()
        return lower.contains("password") || lower.contains("secret") || lower.hasSuffix(".pem")
            || lower == "sasl.oauthbearer.config" || lower.contains("token")
    }

    /// `key=value` pairs, sorted, secrets shown as `[redacted]`.
    public static func describe(_ properties: [String: String]) -> String {
        properties.keys.sorted().map { key in
            "\(key)=\(isSecret(key) ? "[redacted]" : properties[key]!)"
        }.joined(separator: " ")
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, at least 0.
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        return max(0, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }

    /// The value librdkafka's blocking calls take: milliseconds clamped to Int32.
    var timeoutMilliseconds: Int32 {
        Int32(clamping: milliseconds)
    }
}
