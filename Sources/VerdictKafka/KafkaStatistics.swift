public import Foundation

/// librdkafka's statistics (https://github.com/confluentinc/librdkafka/blob/master/STATISTICS.md),
/// parsed into the values an operator watches.
public struct KafkaStatistics: Sendable, Hashable {
    /// One partition's positions as the client sees them.
    public struct Partition: Sendable, Hashable {
        public var topic: String
        public var partition: Int
        /// High watermark minus the committed offset (or the position); nil when unknown.
        public var consumerLag: Int64?
        public var committedOffset: Int64?
        public var storedOffset: Int64?
        /// The partition's high-water offset.
        public var highWatermark: Int64?
        /// Records fetched and waiting to be consumed.
        public var fetchQueueCount: Int
        /// Records waiting to be sent to this partition (producer).
        public var producerQueueCount: Int
    }

    /// One broker connection.
    public struct Broker: Sendable, Hashable {
        public var name: String
        public var nodeID: Int
        public var state: String
        /// Average round-trip time over the statistics window; nil when no request completed.
        public var rttAverage: Duration?
        /// 99th percentile round-trip time.
        public var rttP99: Duration?
    }

    /// librdkafka's instance name.
    public var name: String
    /// `producer` or `consumer`.
    public var clientType: String
    /// Records in the producer's queues, not yet delivered.
    public var producerQueueMessages: Int
    /// Bytes in the producer's queues.
    public var producerQueueBytes: Int
    public var brokers: [Broker]
    /// Partitions with a real id (librdkafka's internal `-1` partition is left out).
    public var partitions: [Partition]
    /// Rebalances this consumer went through; nil for producers.
    public var rebalanceCount: Int?
    /// Consumer group state (`up`, `wait-coord`, ...); nil for producers.
    public var groupState: String?
    /// Partitions currently assigned; nil for producers.
    public var assignmentSize: Int?

    /// Parses librdkafka's statistics JSON.
    ///
    /// - Throws: `DecodingError` when the JSON does not have librdkafka's shape.
    public init(json: UnsafeRawBufferPointer) throws {
        try self.init(json: Data(json))
    }

    /// Parses librdkafka's statistics JSON.
    public init(json: Data) throws {
        let raw = try JSONDecoder().decode(Raw.self, from: json)
        name = raw.name
        clientType = raw.type
        producerQueueMessages = raw.msg_cnt ?? 0
        producerQueueBytes = raw.msg_size ?? 0
        brokers = (raw.brokers ?? [:]).values.map { broker in
            Broker(
                name: broker.name,
                nodeID: broker.nodeid ?? -1,
                state: broker.state ?? "",
                rttAverage: broker.rtt.flatMap { $0.cnt ?? 0 > 0 ? .microseconds($0.avg ?? 0) : nil },
                rttP99: broker.rtt.flatMap { $0.cnt ?? 0 > 0 ? .microseconds($0.p99 ?? 0) : nil }
            )
        }.sorted { $0.name < $1.name }
        partitions = (raw.topics ?? [:]).values.flatMap { topic in
            (topic.partitions ?? [:]).values.compactMap { p -> Partition? in
                guard p.partition >= 0 else { return nil }
                func known(_ value: Int64?) -> Int64? { value.flatMap { $0 >= 0 ? $0 : nil } }
                return Partition(
                    topic: topic.topic,
                    partition: p.partition,
                    consumerLag: known(p.consumer_lag),
                    committedOffset: known(p.committed_offset),
                    storedOffset: known(p.stored_offset),
                    highWatermark: known(p.hi_offset),
                    fetchQueueCount: p.fetchq_cnt ?? 0,
                    producerQueueCount: p.msgq_cnt ?? 0
                )
            }
        }.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        rebalanceCount = raw.cgrp?.rebalance_cnt
        groupState = raw.cgrp?.state
        assignmentSize = raw.cgrp?.assignment_size
    }

    // librdkafka's field names, decoded as they are.
    // swiftlint:disable identifier_name
    private struct Raw: Decodable {
        var name: String
        var type: String
        var msg_cnt: Int?
        var msg_size: Int?
        var brokers: [String: RawBroker]?
        var topics: [String: RawTopic]?
        var cgrp: RawGroup?
    }

    private struct RawBroker: Decodable {
        var name: String
        var nodeid: Int?
        var state: String?
        var rtt: RawWindow?
    }

    private struct RawWindow: Decodable {
        var avg: Int64?
        var p99: Int64?
        var cnt: Int64?
    }

    private struct RawTopic: Decodable {
        var topic: String
        var partitions: [String: RawPartition]?
    }

    private struct RawPartition: Decodable {
        var partition: Int
        var consumer_lag: Int64?
        var committed_offset: Int64?
        var stored_offset: Int64?
        var hi_offset: Int64?
        var fetchq_cnt: Int?
        var msgq_cnt: Int?
    }

    private struct RawGroup: Decodable {
        var state: String?
        var rebalance_cnt: Int?
        var assignment_size: Int?
    }
    // swiftlint:enable identifier_name
}
