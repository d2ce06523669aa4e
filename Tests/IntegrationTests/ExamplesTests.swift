import Foundation
import Testing

/// The integration examples of docs/integration.md, run as a user would against `verdict serve` on
/// the embedded broker: a processor producing events (Python), a synchronous authorisation waiting
/// for its decision (Python), and downstream consumers deduplicating decisions (Python and Swift).
@Suite("Integration examples (examples/) against verdict serve", .serialized, .enabled(if: TestBroker.enabled))
struct ExamplesTests {
    /// .venv-examples' interpreter: scripts/test-run builds it with scripts/examples-env.
    static func python() throws -> String {
        let path =
            ProcessInfo.processInfo.environment["VERDICT_EXAMPLES_PYTHON"]
            ?? TestBroker.projectRoot.appendingPathComponent(".venv-examples/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("no Python for the examples at \(path): run scripts/examples-env (make test does)")
            throw CancellationError()
        }
        return path
    }

    static func consumerBinary() throws -> String {
        for candidate in [".build/debug/verdict-example-consumer", ".build/release/verdict-example-consumer"] {
            let path = TestBroker.projectRoot.appendingPathComponent(candidate).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        Issue.record("verdict-example-consumer is not built: swift build --product verdict-example-consumer (make test builds it)")
        throw CancellationError()
    }

    @Test("a processor's events are decided; an authorisation gets its decision in time; Python and Swift consumers see each decision once")
    func examplesEndToEnd() async throws {
        let fixture = try await StreamFixture.make("examples", brokers: try TestBroker.brokers())
        let service = try await fixture.start()
        try await service.waitUntilReady()
        let python = try Self.python()
        let examples = TestBroker.projectRoot.appendingPathComponent("examples/python").path

        let produced = try await runProgram(
            python,
            [
                "\(examples)/produce_events.py", "--brokers", fixture.brokers, "--topic", fixture.input,
                "--count", "300", "--seed", "9",
            ])
        #expect(produced.status == 0, "produce_events: \(produced.output)")
        #expect(produced.output.contains("300 events delivered"))

        let authorized = try await runProgram(
            python,
            [
                "\(examples)/authorize.py", "--brokers", fixture.brokers, "--input", fixture.input,
                "--decisions", fixture.decisions, "--timeout", "20",
            ])
        #expect(authorized.status == 0, "authorize (exit 3 = timed out, stand-in applied): \(authorized.output)")
        let line = authorized.output.split(separator: "\n").last.map(String.init) ?? ""
        let answer = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        #expect(["APPROVE", "REVIEW", "DECLINE"].contains(answer?["decision"] as? String ?? ""), "authorize printed: \(authorized.output)")
        #expect(answer?["stand_in"] == nil)

        // 300 events and the authorisation: 301 distinct decisions, whichever consumer reads them.
        let viaPython = try await runProgram(
            python,
            [
                "\(examples)/consume_decisions.py", "--brokers", fixture.brokers, "--topic", fixture.decisions,
                "--group", "examples-py-\(UUID().uuidString.prefix(8))", "--expect", "301", "--idle", "60",
            ])
        #expect(viaPython.status == 0, "consume_decisions: \(viaPython.output)")
        #expect(viaPython.output.contains("301 distinct decisions"))

        let viaSwift = try await runProgram(
            try Self.consumerBinary(),
            [
                "--brokers", fixture.brokers, "--topic", fixture.decisions,
                "--group", "examples-swift-\(UUID().uuidString.prefix(8))",
                "--expect", "301", "--idle", "60",
            ])
        #expect(viaSwift.status == 0, "verdict-example-consumer: \(viaSwift.output)")
        #expect(viaSwift.output.contains("301 distinct decisions"))
        #expect(viaSwift.output.contains("0 malformed"))

        service.signal(SIGTERM)
        #expect(try await service.waitForExit(timeout: .seconds(30)) == 0)
    }
}
