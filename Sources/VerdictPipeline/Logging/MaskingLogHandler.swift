public import Logging
import VerdictKafka
import VerdictScoring

/// Wraps any log handler (the text format's `StreamLogHandler`) so that every message and metadata
/// value is PAN-masked before it is written, as ``JSONLogHandler`` does for the JSON format: no log
/// format may carry a card number.
public struct MaskingLogHandler: LogHandler {
    private var upstream: any LogHandler

    public init(_ upstream: any LogHandler) {
        self.upstream = upstream
    }

    public var logLevel: Logger.Level {
        get { upstream.logLevel }
        set { upstream.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { upstream.metadata }
        set { upstream.metadata = newValue.mapValues(Self.masked) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { upstream[metadataKey: key] }
        set { upstream[metadataKey: key] = newValue.map(Self.masked) }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(PANMasking.masked("\(event.message)"))"
        event.metadata = event.metadata?.mapValues(Self.masked)
        // An error's description can quote input: it goes out masked, as metadata.
        if let error = event.error {
            event.metadata = (event.metadata ?? [:]).merging([LogKey.error: .string(PANMasking.masked("\(error)"))]) { _, new in new }
            event.error = nil
        }
        upstream.log(event: event)
    }

    static func masked(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let s): .string(PANMasking.masked(s))
        case .stringConvertible(let c): .string(PANMasking.masked(c.description))
        case .array(let a): .array(a.map(masked))
        case .dictionary(let d): .dictionary(d.mapValues(masked))
        }
    }
}
