import Foundation
import Testing

/// `verdict model verify` as CI and operators run it: exit status and the reason on stdout.
@Suite("verdict model verify (command)")
struct ModelVerifyCommandTests {
    @Test("passes the committed model and fails a tampered copy with the reason")
    func committedAndTampered() async throws {
        let (ok, passed) = try await runVerdict(["model", "verify", "models/verdict-fraud"])
        #expect(ok == 0, "\(passed)")
        #expect(passed.contains("PASS"))

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
