import CRdKafka

/// Copies `rd_kafka_message_t`s into ``KafkaMessage`` values. Used by one poll thread only, so its
/// topic-name cache needs no lock: a topic's name String is made once, not once per message.
struct RDKafkaMessageCopier {
    private var topicNames: [OpaquePointer: String] = [:]
    /// The topic of the previous message: a batch is runs of one partition's messages, so this
    /// answers most lookups without hashing.
    private var last: (rkt: OpaquePointer, name: String)?

    mutating func topicName(_ rkt: OpaquePointer?) -> String {
        guard let rkt else { return "" }
        if let last, last.rkt == rkt { return last.name }
        let name = topicNames[rkt] ?? String(cString: rd_kafka_topic_name(rkt))
        topicNames[rkt] = name
        last = (rkt, name)
        return name
    }

    mutating func copy(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaMessage {
        let m = message.pointee
        let key: [UInt8]? = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        // A NULL payload is a tombstone; an empty non-NULL payload is an empty value.
        let value: [UInt8]? = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let milliseconds = rd_kafka_message_timestamp(message, &timestampType)
        let timestamp: KafkaTimestamp? =
            switch timestampType {
            case RD_KAFKA_TIMESTAMP_CREATE_TIME: KafkaTimestamp(milliseconds: milliseconds, kind: .createTime)
            case RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME: KafkaTimestamp(milliseconds: milliseconds, kind: .logAppendTime)
            default: nil
            }
        return KafkaMessage(
            topic: topicName(m.rkt),
            partition: Int(m.partition),
            offset: m.offset,
            key: key,
            value: value,
            headers: Self.headers(of: message),
            timestamp: timestamp
        )
    }

    static func headers(of message: UnsafePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return [] }
        var result: [KafkaHeader] = []
        var index = 0
        while true {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { break }
            let bytes: [UInt8]? = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
            result.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: bytes))
            index += 1
        }
        return result
    }

    /// A consumer error event (the message carries an error instead of a record).
    mutating func error(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaError {
        let m = message.pointee
        let detail = rd_kafka_message_errstr(message).map { String(cString: $0) }
        let topic = topicName(m.rkt)
        let context = topic.isEmpty ? "consuming" : "consuming from topic '\(topic)'"
        return KafkaError(rdkafka: m.err, detail: detail, context: context)
    }
}
