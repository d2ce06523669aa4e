import Foundation
import Logging
import VerdictKafka
import VerdictPipeline

/// Helpers the subcommands share.
enum CommandSupport {
    static func logger(level: Logger.Level, label: String = "verdict") -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }

    /// Starts the process's logging as `logging` says: JSON lines, or text with card numbers masked.
    static func bootstrapLogging(_ logging: VerdictConfiguration.Logging) {
        let level = logging.logLevel
        let json = logging.format == "json"
        LoggingSystem.bootstrap { label in
            if json { return JSONLogHandler(label: label, level: level) }
            var handler = MaskingLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
    }

    /// The process's logger with the client id, the consumer group and the instance stamped on it
    /// once, so every line can be traced to its pod and group without each call site adding them.
    static func serviceLogger(label: String, _ configuration: VerdictConfiguration) -> Logger {
        var logger = Logger(label: label)
        logger[metadataKey: LogKey.client] = "\(configuration.kafka.clientID)"
        logger[metadataKey: LogKey.group] = "\(configuration.kafka.consumer.groupID)"
        logger[metadataKey: LogKey.instance] = "\(configuration.kafka.consumer.groupInstanceID ?? ProcessInfo.processInfo.hostName)"
        return logger
    }

    static func client(_ brokers: String) -> KafkaClientConfiguration {
        KafkaClientConfiguration(bootstrapServers: brokers.split(separator: ",").map { String($0) })
    }

    /// Runs blocking work (a produce loop) on a dedicated thread, off Swift's cooperative pool.
    static func onDedicatedThread(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                do {
                    try body()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    static func format(_ duration: Duration) -> String {
        String(format: "%.2f s", duration.seconds)
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
