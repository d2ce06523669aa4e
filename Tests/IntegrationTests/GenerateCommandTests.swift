import Foundation
import Testing
import VerdictKafka
import VerdictScoring

/// `verdict generate --as-of`: traffic stamped from a chosen time, to see the decisions a time of day
/// gets (the late-night rule, hour_of_day).
@Suite("verdict generate (command)", .serialized, .enabled(if: TestBroker.enabled))
struct GenerateCommandTests {
    @Test("--as-of stamps every event from that time on, keyed by card, all valid")
    func asOf() async throws {
        let brokers = try TestBroker.brokers()
        let topic = TestBroker.uniqueTopic("generate")
        try await TestBroker.createTopic(topic, partitions: 2, brokers: brokers)
        // Two days ago at 14:00 UTC: inside the default max_event_age, and not late at night.
        let day = (Date().timeIntervalSince1970 / 86_400).rounded(.down) * 86_400 - 2 * 86_400
        let asOf = day + 14 * 3600
        let (status, output) = try await runVerdict([
            "generate", "--brokers", brokers, "--topic", topic,
            "--count", "200", "--seed", "7", "--as-of", Timestamps.rfc3339(asOf),
        ])
        #expect(status == 0, "\(output)")

        let handler = CollectingHandler()
        let consumer = try KafkaConsumer(configuration: TestBroker.consumerConfiguration(brokers, group: "g-\(topic)"), logger: TestBroker.logger)
        try consumer.subscribe(topics: [topic])
        consumer.start(handler: handler)
        try await eventually(timeout: .seconds(60), "200 generated events") { handler.count >= 200 }
        #expect(await consumer.close(timeout: .seconds(10)))

        let validator = EventValidator(configuration: ValidationConfiguration())
        for message in handler.messages {
            let value = try #require(message.value)
            let result = value.withUnsafeBytes { validator.validate($0, now: Date().timeIntervalSince1970) }
            guard case .valid(let event) = result else {
                Issue.record("generated event is invalid: \(result)")
                continue
            }
            let time = try #require(event.eventTime)
            // Shifted wall clock: from --as-of on, by no more than the command's run time.
            #expect(time >= asOf - 1 && time <= asOf + 120, "event_time \(Timestamps.rfc3339(time))")
            #expect(message.key != nil)
        }
    }

    @Test("--as-of in the future is refused with the reason")
    func futureRefused() async throws {
        let (status, output) = try await runVerdict(
            [
                "generate", "--brokers", "127.0.0.1:1", "--topic", "t",
                "--as-of", Timestamps.rfc3339(Date().timeIntervalSince1970 + 86_400),
            ], seconds: 60)
        #expect(status != 0)
        #expect(output.contains("in the future"), "\(output)")
    }

    @Test(
        "a profile, card count or spacing it cannot use is refused with the reason",
        arguments: [
            (["--profile", "bursty"], "--profile 'bursty' is not one of realistic, wide, sequences"),
            (["--cards", "0"], "--cards must be at least 1"),
            (["--spacing=-1"], "--spacing must not be negative"),
        ])
    func badOptionsRefused(_ options: [String], _ reason: String) async throws {
        let (status, output) = try await runVerdict(["generate", "--output", "/dev/null", "--count", "10"] + options, seconds: 60)
        #expect(status != 0)
        #expect(output.contains(reason), "\(output)")
    }

    @Test("file mode writes per-card sequences by default: times in order, labels with the episode patterns")
    func sequencesByDefault() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("generate-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let events = directory.appendingPathComponent("events.jsonl").path
        let labels = directory.appendingPathComponent("labels.csv").path
        let (status, output) = try await runVerdict(
            ["generate", "--output", events, "--labels", labels, "--count", "20000", "--seed", "3", "--start", "2026-09-01T00:00:00Z", "--spacing", "3"],
            seconds: 120)
        #expect(status == 0, "\(output)")
        let times = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n").map { line in
            Timestamps.parse((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["event_time"] as? String ?? "") ?? -1
        }
        #expect(times.count == 20_000)
        #expect(times.allSatisfy { $0 > 0 } && times == times.sorted())
        let patterns = Set(try String(contentsOfFile: labels, encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",")[2] })
        #expect(patterns.isSuperset(of: ["legit", "card_testing", "velocity_spike"]), "\(patterns)")
    }
}
