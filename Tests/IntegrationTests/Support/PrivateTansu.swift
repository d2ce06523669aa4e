import Foundation
import Testing

/// A Tansu broker of the test's own, for tests that pause or kill the broker (and so must not
/// disturb the shared one). Started under `timeout` so it cannot outlive a crashed test run.
final class PrivateTansu: @unchecked Sendable {
    let address: String
    private let wrapper: Process
    /// The tansu process itself (the wrapper's child), which SIGSTOP/SIGCONT target.
    let brokerPID: pid_t

    /// Starts a broker and waits until it accepts connections.
    static func start(lifetime: Int = 300) async throws -> PrivateTansu {
        let tansu = try PrivateTansu(lifetime: lifetime)
        try await tansu.waitUntilListening()
        return tansu
    }

    private let port: UInt16

    private init(lifetime: Int) throws {
        let tansu = TestBroker.projectRoot.appendingPathComponent(".venv-tools/bin/tansu").path
        guard FileManager.default.isExecutableFile(atPath: tansu) else {
            Issue.record("Tansu is not installed at \(tansu); run scripts/bootstrap")
            throw CancellationError()
        }
        port = try Self.freePort()
        address = "127.0.0.1:\(port)"
        wrapper = Process()
        wrapper.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        wrapper.arguments = [
            "-k", "2", "\(lifetime)", tansu, "broker",
            "--listener-url", "tcp://\(address)", "--advertised-listener-url", "tcp://\(address)",
        ]
        wrapper.standardOutput = FileHandle.nullDevice
        wrapper.standardError = FileHandle.nullDevice
        try wrapper.run()
        let child = childPID(of: wrapper)
        brokerPID = child
        guard child > 0 else {
            wrapper.terminate()
            Issue.record("Tansu did not start")
            throw CancellationError()
        }
    }

    deinit { stop() }

    func pause() { kill(brokerPID, SIGSTOP) }
    func resume() { kill(brokerPID, SIGCONT) }

    func stop() {
        kill(brokerPID, SIGCONT)
        kill(brokerPID, SIGKILL)
        if wrapper.isRunning { wrapper.terminate() }
        wrapper.waitUntilExit()
    }

    /// Polls with `Task.sleep`, not `usleep`, so the cooperative pool stays free for other tests.
    private func waitUntilListening() async throws {
        for _ in 0..<150 {
            if Self.canConnect(port: port) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("Tansu did not listen on \(address) within 15 s")
        throw CancellationError()
    }

    private static func canConnect(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else { throw CancellationError() }
        return UInt16(bigEndian: addr.sin_port)
    }
}
