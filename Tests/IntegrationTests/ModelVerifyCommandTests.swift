import Foundation
import Testing

/// `verdict model verify` as CI and operators run it: exit status and the reason on stdout.
@Suite("verdict model verify (command)")
struct ModelVerifyCommandTests {
    @Test("passes the committed models with the configuration that serves them, fails 2.0.0 without its aggregates, and fails a tampered copy with the reason")
    func committedAndTampered() async throws {
        let (ok, passed) = try await runVerdict(["model", "verify", "--features", "config/stateful/features.yaml", "models/verdict-fraud"])
        #expect(ok == 0, "\(passed)")
        #expect(passed.contains("PASS") && passed.contains("1.0.0") && passed.contains("2.0.0"))
        let (stateless, unmapped) = try await runVerdict(["model", "verify", "models/verdict-fraud"])
        #expect(stateless == 1)
        #expect(unmapped.contains("PASS models/verdict-fraud/1.0.0") && unmapped.contains("FAIL models/verdict-fraud/2.0.0"), "\(unmapped)")
        #expect(unmapped.contains("card_txn_count_1h"), "\(unmapped)")

        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("tampered-\(UUID().uuidString.prefix(8))")
        try FileManager.default.copyItem(at: TestBroker.projectRoot.appendingPathComponent("models/verdict-fraud/1.0.0"), to: copy)
        let handle = try FileHandle(forWritingTo: copy.appendingPathComponent("model.ubj"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0]))
        try handle.close()
        let (failed, output) = try await runVerdict(["model", "verify", copy.path])
        #expect(failed == 1)
        #expect(output.contains("FAIL") && output.contains("sha256"), "\(output)")
    }
}
