import ArgumentParser
import Foundation
import VerdictHTTP
import VerdictPipeline

/// `verdict healthcheck`: exit 0 when the local sidecar answers /healthz with 200, 1 otherwise. It
/// is the image's HEALTHCHECK: the runtime image carries no curl or wget.
struct HealthcheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "healthcheck",
        abstract: "Probe a running verdict's sidecar: exit 0 when the path answers 200, 1 otherwise."
    )

    /// The sidecar's default port, shared with `sidecar.port` through the same variable the
    /// configuration's environment override reads.
    static let portVariable = "VERDICT_SIDECAR_PORT"

    @Option(help: "Sidecar host.") var host: String = "127.0.0.1"
    @Option(help: "Sidecar port (default: $VERDICT_SIDECAR_PORT, else 9102).") var port: Int?
    @Option(help: "Path to probe: /healthz (liveness) or /readyz (readiness).") var path: String = "/healthz"
    @Option(help: "Seconds to wait for the answer.") var timeout: Double = 3

    func validate() throws {
        guard timeout > 0, timeout <= 60 else { throw ValidationError("--timeout \(timeout) is outside (0, 60] seconds") }
        guard path.hasPrefix("/") else { throw ValidationError("--path '\(path)' must start with /") }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port \(port) is not a TCP port (1...65535)") }
    }

    func run() async throws {
        let resolved: Int
        if let port {
            resolved = port
        } else if let text = ProcessInfo.processInfo.environment[Self.portVariable] {
            guard let value = Int(text), (1...65535).contains(value) else {
                throw ValidationError("\(Self.portVariable)='\(text)' is not a TCP port (1...65535)")
            }
            resolved = value
        } else {
            resolved = VerdictConfiguration.Sidecar().port
        }
        switch await HealthProbe.get(host: host, port: resolved, path: path, timeout: .milliseconds(Int64(timeout * 1000))) {
        case .status(200):
            print("healthy: \(host):\(resolved)\(path) answered 200")
        case .status(let code):
            print("unhealthy: \(host):\(resolved)\(path) answered \(code)")
            throw ExitCode(1)
        case .failed(let reason):
            print("unhealthy: no answer from \(host):\(resolved)\(path): \(reason)")
            throw ExitCode(1)
        }
    }
}
