public import Foundation
public import Logging
import Synchronization
import VerdictScoring

/// Writes log records as JSON lines (one object per line: time, level, label, message, metadata),
/// the format log pipelines ingest without parsing rules. Card numbers are masked in messages and
/// metadata values as a last line of defence; Verdict never logs events to begin with.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let output: Output

    /// Where lines go (one lock so lines from many threads never interleave).
    public final class Output: Sendable {
        private let lock = Mutex(())
        private let handle: FileHandle
        public init(_ handle: FileHandle) { self.handle = handle }
        func write(_ data: Data) { lock.withLock { _ in handle.write(data) } }
        public static let standardError = Output(FileHandle.standardError)
    }

    public init(label: String, level: Logger.Level, output: Output = .standardError) {
        self.label = label
        self.logLevel = level
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: Any] = [
            "time": Timestamps.rfc3339(Date().timeIntervalSince1970),
            "level": event.level.rawValue,
            "label": label,
            "message": PANMasking.masked("\(event.message)"),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for (key, value) in merged { object[key] = Self.json(value) }
        if event.level >= .error { object["source"] = "\(event.file):\(event.line)" }
        guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        data.append(0x0A)
        output.write(data)
    }

    private static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s): return PANMasking.masked(s)
        case .stringConvertible(let c): return PANMasking.masked(c.description)
        case .array(let a): return a.map(json)
        case .dictionary(let d): return d.mapValues(json)
        }
    }
}
