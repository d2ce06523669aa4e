import Foundation
import Testing
import VerdictHTTP

@Suite("Sidecar admin token and path redaction")
struct AdminTokenTests {
    @Test(
        "the Bearer scheme is matched in any case; anything else carries no token",
        arguments: [
            ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER   abc ", "abc"), ("  Bearer abc", "abc"),
        ])
    func bearer(_ header: String, _ token: String) {
        #expect(AdminToken.bearer(header) == token)
    }

    @Test("headers without a bearer token are refused", arguments: ["", "Bearer", "Bearer ", "Basic abc", "Bearerabc", "abc"])
    func notBearer(_ header: String) {
        #expect(AdminToken.bearer(header) == nil)
    }

    @Test("tokens shorter than 24 bytes are refused with what to do")
    func minimumLength() throws {
        guard case .failure(let problem) = AdminToken(value: "short-token").current() else { Issue.record("accepted"); return }
        #expect(problem.description.contains("24"))
        #expect(!problem.description.contains("short-token"), "the refusal must not echo the token")
        #expect(try AdminToken(value: String(repeating: "k", count: 24)).current().get() == String(repeating: "k", count: 24))
    }

    @Test("a token file is re-read when it changes; a rewrite with a short token disables admin until fixed")
    func fileRotation() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("verdict-token-\(UUID().uuidString)").path
        let first = String(repeating: "a", count: 32), second = String(repeating: "b", count: 40)
        try (first + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let token = AdminToken(file: path)
        #expect(try token.current().get() == first)
        try second.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try token.current().get() == second)
        try "tiny".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: AdminToken.Problem.self) { try token.current().get() }
        try FileManager.default.removeItem(atPath: path)
        guard case .failure(let problem) = token.current() else { Issue.record("a missing file gave a token"); return }
        #expect(!problem.description.contains(FileManager.default.temporaryDirectory.path))
    }

    @Test("comparison is exact")
    func matches() {
        #expect(AdminToken.matches("abc", "abc"))
        #expect(!AdminToken.matches("abd", "abc"))
        #expect(!AdminToken.matches("abcd", "abc"))
        #expect(!AdminToken.matches("", "abc"))
    }

    @Test(
        "absolute paths lose their directories",
        arguments: [
            ("cannot load /srv/models/verdict/1.0.0/model.json: bad", "cannot load model.json: bad"),
            ("/var/lib/verdict/models holds no model versions", "models holds no model versions"),
            ("no path here", "no path here"), ("ratio 3/4", "ratio 3/4"),
            ("cannot read the model card '/a/b/card.json'", "cannot read the model card 'card.json'"),
        ])
    func redaction(_ text: String, _ expected: String) {
        #expect(PathRedaction.redact(text) == expected)
    }
}
