import Foundation
import Synchronization

/// The bearer token of the sidecar's admin endpoints, from a file (re-read whenever the file
/// changes, so a rotated Kubernetes Secret takes effect without a restart) or a fixed value (an
/// environment variable).
public final class AdminToken: Sendable {
    /// Tokens shorter than this are refused: a guessable token would make `/admin` an open door.
    public static let minimumBytes = 24

    /// Why no usable token is available.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    private enum Source: Sendable {
        case file(String)
        case value(String)
    }

    private struct Cached: Sendable {
        var stamp: [Int] = []
        var token: Result<String, Problem> = .failure(Problem(description: "not read yet"))
    }

    private let source: Source
    private let cache = Mutex(Cached())

    /// A token read from `path` on every change of the file.
    public init(file path: String) {
        source = .file(path)
    }

    /// A fixed token.
    public init(value: String) {
        source = .value(value)
    }

    /// The token now, or why there is none (missing file, too short).
    public func current() -> Result<String, Problem> {
        switch source {
        case .value(let value):
            return Self.check(value, origin: "the admin token environment variable")
        case .file(let path):
            // Modification time, size and inode: a Secret update swaps a symlink, a rewrite changes the rest.
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            let stamp = [
                Int(((attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0) * 1_000_000),
                (attributes?[.size] as? Int) ?? -1, (attributes?[.systemFileNumber] as? Int) ?? -1,
            ]
            return cache.withLock { cached in
                if cached.stamp == stamp { return cached.token }
                let name = (path as NSString).lastPathComponent
                if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                    cached.token = Self.check(text.trimmingCharacters(in: .whitespacesAndNewlines), origin: "sidecar.admin_token_file \(name)")
                } else {
                    cached.token = .failure(Problem(description: "cannot read sidecar.admin_token_file \(name)"))
                }
                cached.stamp = stamp
                return cached.token
            }
        }
    }

    static func check(_ token: String, origin: String) -> Result<String, Problem> {
        guard token.utf8.count >= minimumBytes else {
            return .failure(
                Problem(
                    description: "\(origin) holds a token of \(token.utf8.count) bytes; use at least \(minimumBytes) random bytes (e.g. `openssl rand -hex 24`)"
                ))
        }
        return .success(token)
    }

    /// The token of an `Authorization` header: the scheme `Bearer` in any case, one or more spaces,
    /// the token; nil for anything else.
    public static func bearer(_ header: String) -> String? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " "), trimmed[..<space].lowercased() == "bearer" else { return nil }
        let token = trimmed[space...].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    /// Compares in time that depends only on the lengths, so the token does not leak through timing.
    public static func matches(_ presented: String, _ expected: String) -> Bool {
        let a = Array(presented.utf8), b = Array(expected.utf8)
        var difference = a.count ^ b.count
        for i in 0..<max(a.count, b.count) {
            difference |= Int((i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0))
        }
        return difference == 0
    }
}

/// Strips directories from text the sidecar returns: an absolute path becomes its last component,
/// so `/model`, `/models` and error bodies never disclose the host's file layout.
public enum PathRedaction {
    public static func redact(_ text: String) -> String {
        guard text.contains("/") else { return text }
        return text.replacing(/\/(?:[^\s\/:'",()\[\]]+\/)+([^\s\/:'",()\[\]]*)/) { match in String(match.1) }
    }
}
