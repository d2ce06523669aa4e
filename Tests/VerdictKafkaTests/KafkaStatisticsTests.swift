import Foundation
import Testing
import VerdictKafka

@Suite("Kafka statistics")
struct KafkaStatisticsTests {
    // Trimmed from a real librdkafka 2.8 consumer's statistics.
    static let consumerJSON = """
        {"name":"verdict#consumer-1","client_id":"verdict","type":"consumer","ts":1,"time":2,"msg_cnt":0,"msg_size":0,
         "brokers":{"127.0.0.1:9092/1":{"name":"127.0.0.1:9092/1","nodeid":1,"state":"UP",
            "rtt":{"min":100,"max":900,"avg":250,"sum":1000,"cnt":4,"p50":200,"p99":850}},
            "GroupCoordinator":{"name":"GroupCoordinator","nodeid":-1,"state":"UP","rtt":{"avg":0,"p99":0,"cnt":0}}},
         "topics":{"transactions":{"topic":"transactions","partitions":{
            "0":{"partition":0,"consumer_lag":42,"committed_offset":100,"stored_offset":120,"hi_offset":142,"fetchq_cnt":7,"msgq_cnt":0},
            "1":{"partition":1,"consumer_lag":-1,"committed_offset":-1001,"stored_offset":-1001,"hi_offset":-1,"fetchq_cnt":0,"msgq_cnt":0},
            "-1":{"partition":-1,"consumer_lag":-1,"committed_offset":-1001,"hi_offset":-1}}}},
         "cgrp":{"state":"up","join_state":"steady","rebalance_cnt":3,"assignment_size":2}}
        """

    @Test("consumer lag, offsets, rebalances and RTTs are parsed; unknown values are nil")
    func consumer() throws {
        let stats = try KafkaStatistics(json: Data(Self.consumerJSON.utf8))
        #expect(stats.clientType == "consumer")
        #expect(stats.rebalanceCount == 3)
        #expect(stats.assignmentSize == 2)
        #expect(stats.groupState == "up")
        #expect(stats.partitions.count == 2)  // the internal -1 partition is dropped
        let p0 = try #require(stats.partitions.first { $0.partition == 0 })
        #expect(p0.consumerLag == 42)
        #expect(p0.committedOffset == 100)
        #expect(p0.highWatermark == 142)
        #expect(p0.fetchQueueCount == 7)
        let p1 = try #require(stats.partitions.first { $0.partition == 1 })
        #expect(p1.consumerLag == nil)
        #expect(p1.committedOffset == nil)
        let broker = try #require(stats.brokers.first { $0.nodeID == 1 })
        #expect(broker.rttAverage == .microseconds(250))
        #expect(broker.rttP99 == .microseconds(850))
        #expect(stats.brokers.first { $0.name == "GroupCoordinator" }?.rttAverage == nil)
    }

    @Test("producer queue depth is parsed")
    func producer() throws {
        let json = #"{"name":"p","type":"producer","msg_cnt":1234,"msg_size":567890,"brokers":{},"topics":{}}"#
        let stats = try KafkaStatistics(json: Data(json.utf8))
        #expect(stats.producerQueueMessages == 1234)
        #expect(stats.producerQueueBytes == 567_890)
        #expect(stats.rebalanceCount == nil)
    }

    @Test("malformed statistics throw instead of crashing")
    func malformed() {
        #expect(throws: (any Error).self) { try KafkaStatistics(json: Data("{\"name\":1}".utf8)) }
        #expect(throws: (any Error).self) { try KafkaStatistics(json: Data("not json".utf8)) }
    }
}
