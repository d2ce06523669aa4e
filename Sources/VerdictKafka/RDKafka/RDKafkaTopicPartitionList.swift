import CRdKafka

/// Owns an `rd_kafka_topic_partition_list_t` built from Swift values.
struct RDKafkaTopicPartitionList: ~Copyable {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(capacity: Int) {
        pointer = rd_kafka_topic_partition_list_new(Int32(clamping: max(capacity, 1)))
    }

    init(_ partitions: [KafkaTopicPartition]) {
        self.init(capacity: partitions.count)
        for tp in partitions {
            rd_kafka_topic_partition_list_add(pointer, tp.topic, Int32(tp.partition))
        }
    }

    init(_ offsets: [KafkaTopicPartitionOffset]) {
        self.init(capacity: offsets.count)
        for entry in offsets {
            let element = rd_kafka_topic_partition_list_add(pointer, entry.topicPartition.topic, Int32(entry.topicPartition.partition))!
            element.pointee.offset = entry.offset
        }
    }

    deinit {
        rd_kafka_topic_partition_list_destroy(pointer)
    }

    /// Copies a librdkafka-owned list into Swift values.
    static func partitions(of list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [KafkaTopicPartition] {
        (0..<Int(list.pointee.cnt)).map { index in
            let element = list.pointee.elems[index]
            return KafkaTopicPartition(topic: String(cString: element.topic), partition: Int(element.partition))
        }
    }

    /// Copies a librdkafka-owned list with offsets; entries with an error or no offset are skipped
    /// unless `includeInvalid`.
    static func offsets(of list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [KafkaTopicPartitionOffset] {
        (0..<Int(list.pointee.cnt)).map { index in
            let element = list.pointee.elems[index]
            return KafkaTopicPartitionOffset(topic: String(cString: element.topic), partition: Int(element.partition), offset: element.offset)
        }
    }

    /// The first per-partition error in the list, if any.
    static func firstError(in list: UnsafePointer<rd_kafka_topic_partition_list_t>, context: String) -> KafkaError? {
        for index in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems[index]
            if element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                let tp = "\(String(cString: element.topic))[\(element.partition)]"
                return KafkaError(rdkafka: element.err, context: "\(context) \(tp)")
            }
        }
        return nil
    }
}
