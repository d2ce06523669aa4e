import Foundation

/// A secret (a SASL password, a TLS key password) named by where it lives, never by its value in a
/// committed configuration file.
///
/// The value is read when a client is created, so a rotated file takes effect on the next start.
public enum KafkaSecret: Sendable, Hashable, CustomStringConvertible {
    /// Read from a file; one trailing newline is removed (Kubernetes secrets are often written with one).
    case file(String)
    /// Read from an environment variable.
    case environment(String)
    /// A literal value, for programmatic use and tests; configuration files cannot produce it.
    case literal(String)

    /// Resolves the secret.
    ///
    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/configuration`` naming the file or variable
    ///   that is missing or unreadable.
    public func resolve() throws(KafkaError) -> String {
        switch self {
        case .literal(let value):
            return value
        case .environment(let name):
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw .configuration("the secret's environment variable \(name) is not set or empty; export it before starting")
            }
            return value
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path), var value = String(data: data, encoding: .utf8) else {
                throw .configuration("cannot read the secret file \(path); check that it exists and is readable by this user")
            }
            if value.hasSuffix("\r\n") { value.removeLast(2) } else if value.hasSuffix("\n") { value.removeLast() }
            return value
        }
    }

    /// Never prints the value.
    public var description: String {
        switch self {
        case .file(let path): "file:\(path)"
        case .environment(let name): "env:\(name)"
        case .literal: "<literal secret>"
        }
    }
}
