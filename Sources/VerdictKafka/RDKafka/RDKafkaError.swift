import CRdKafka

extension KafkaError {
    /// Maps a librdkafka response code to a classified error whose message says what to do.
    ///
    /// - Parameters:
    ///   - err: The librdkafka code.
    ///   - detail: librdkafka's own text for this occurrence (it often names the broker or topic).
    ///   - context: What Verdict was doing, e.g. "producing to topic decisions".
    init(rdkafka err: rd_kafka_resp_err_t, detail: String? = nil, context: String? = nil) {
        let name = String(cString: rd_kafka_err2name(err))
        let text = detail ?? String(cString: rd_kafka_err2str(err))
        let (code, hint, retriable) = Self.classify(err)
        var message = context.map { "\($0): \(text)" } ?? text
        if let hint { message += ". \(hint)" }
        self.init(code: code, message: message, librdkafkaName: name, isRetriable: retriable)
    }

    /// Maps a librdkafka error object, which carries its own fatal/retriable/abortable flags.
    /// Takes ownership of `error` and destroys it.
    init(consuming error: OpaquePointer, context: String? = nil) {
        let err = rd_kafka_error_code(error)
        let detail = rd_kafka_error_string(error).map { String(cString: $0) }
        self.init(rdkafka: err, detail: detail, context: context)
        if rd_kafka_error_is_fatal(error) != 0 {
            code = .fatal
            isFatal = true
        } else if rd_kafka_error_txn_requires_abort(error) != 0 {
            code = .transactionAbortable
        }
        isRetriable = rd_kafka_error_is_retriable(error) != 0
        rd_kafka_error_destroy(error)
    }

    // swiftlint:disable:next cyclomatic_complexity
    private static func classify(_ err: rd_kafka_resp_err_t) -> (Code, String?, Bool) {
        switch err {
        case RD_KAFKA_RESP_ERR__QUEUE_FULL:
            return (.queueFull, "Wait for delivery reports to drain the queue, or raise queue.buffering.max.messages", true)
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
            return (.messageTimedOut, "The record may or may not have been written; it is treated as not delivered", true)
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
            RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
            return (.unknownTopic, "Create the topic (or fix its name in the configuration); Verdict does not auto-create topics", false)
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__RESOLVE:
            return (.brokerUnreachable, "Check bootstrap.servers, the network path and the security protocol", true)
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            return (.timedOut, "Check that the brokers are reachable and not overloaded", true)
        case RD_KAFKA_RESP_ERR__AUTHENTICATION, RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED,
            RD_KAFKA_RESP_ERR__SSL:
            return (.authentication, "Check the SASL mechanism and credentials or the TLS certificates", false)
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED,
            RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
            return (.authorization, "Grant the principal the ACLs for this topic, group or transactional id", false)
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
            return (.purged, "The record was not delivered because the producer was closed or purged", false)
        case RD_KAFKA_RESP_ERR__STATE, RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
            return (.state, nil, false)
        case RD_KAFKA_RESP_ERR__FATAL:
            return (.fatal, "The client is unusable; close it and create a new one", false)
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
            return (.messageTooLarge, "Raise message.max.bytes on the client and the topic's max.message.bytes", false)
        case RD_KAFKA_RESP_ERR__INVALID_ARG, RD_KAFKA_RESP_ERR__INVALID_TYPE:
            return (.invalidArgument, nil, false)
        case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
            return (.other, "Transient cluster state; the operation is retried", true)
        default:
            return (.other, nil, false)
        }
    }
}
