import CRdKafka
import Testing
@testable import VerdictKafka

@Suite("Kafka error mapping")
struct KafkaErrorTests {
    @Test("queue full is retriable backpressure, with what to do")
    func queueFull() {
        let error = KafkaError(rdkafka: RD_KAFKA_RESP_ERR__QUEUE_FULL)
        #expect(error.code == .queueFull)
        #expect(error.isRetriable)
        #expect(!error.isFatal)
        #expect(error.message.contains("queue.buffering.max.messages"))
        #expect(error.librdkafkaName == "_QUEUE_FULL")
    }

    @Test("message timed out is indefinite, never fatal")
    func timedOut() {
        let error = KafkaError(rdkafka: RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
        #expect(error.isIndefinite)
        #expect(!error.isFatal)
        #expect(error.code == .messageTimedOut)
    }

    @Test("fatal is fatal", arguments: [RD_KAFKA_RESP_ERR__FATAL])
    func fatal(_ code: rd_kafka_resp_err_t) {
        let error = KafkaError(rdkafka: code)
        #expect(error.isFatal)
        #expect(error.code == .fatal)
    }

    @Test(
        "codes map to the categories applications act on",
        arguments: [
            (RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, KafkaError.Code.unknownTopic),
            (RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, .unknownTopic),
            (RD_KAFKA_RESP_ERR__TRANSPORT, .brokerUnreachable),
            (RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, .brokerUnreachable),
            (RD_KAFKA_RESP_ERR__RESOLVE, .brokerUnreachable),
            (RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED, .authentication),
            (RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, .authorization),
            (RD_KAFKA_RESP_ERR__PURGE_QUEUE, .purged),
            (RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, .messageTooLarge),
            (RD_KAFKA_RESP_ERR__TIMED_OUT, .timedOut),
        ])
    func categories(_ code: rd_kafka_resp_err_t, expected: KafkaError.Code) {
        #expect(KafkaError(rdkafka: code).code == expected)
    }

    @Test("transient broker states are retriable; authorization is not")
    func retriable() {
        #expect(KafkaError(rdkafka: RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION).isRetriable)
        #expect(!KafkaError(rdkafka: RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED).isRetriable)
    }

    @Test("the context and librdkafka's detail both reach the message")
    func message() {
        let error = KafkaError(rdkafka: RD_KAFKA_RESP_ERR__TRANSPORT, detail: "Connect to ipv4#127.0.0.1:1 failed", context: "producing")
        #expect(error.description.contains("127.0.0.1:1"))
        #expect(error.description.contains("producing"))
        #expect(error.description.contains("bootstrap.servers"))
    }
}
