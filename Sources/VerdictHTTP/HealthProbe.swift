import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 GET for container health checks (`verdict healthcheck`): the runtime image
/// has no curl or wget, and the probe must not pull an HTTP client library into it.
public enum HealthProbe {
    /// What a probe saw.
    public enum Outcome: Sendable, Equatable {
        /// The server answered with this status code.
        case status(Int)
        /// No answer: the reason (connection refused, timed out, ...).
        case failed(String)
    }

    /// GETs `path` from `host:port` and returns the response's status code, within `timeout`.
    public static func get(host: String, port: Int, path: String, timeout: Duration) async -> Outcome {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: Int.self)
        let milliseconds = Int64(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(max(milliseconds, 1)))
                .channelInitializer { channel in
                    channel.pipeline.addHTTPClientHandlers().flatMap {
                        channel.pipeline.addHandler(StatusHandler(promise: promise))
                    }
                }
                .connect(host: host, port: port).get()
            let timer = channel.eventLoop.scheduleTask(in: .milliseconds(max(milliseconds, 1))) {
                promise.fail(ProbeError("no response within \(timeout)"))
            }
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
            head.headers.add(name: "Host", value: "\(host):\(port)")
            head.headers.add(name: "Connection", value: "close")
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            defer {
                timer.cancel()
                channel.close(promise: nil)
            }
            return .status(try await promise.futureResult.get())
        } catch {
            promise.fail(error)
            return .failed("\(error)")
        }
    }

    struct ProbeError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Completes the promise with the status of the first response head.
    final class StatusHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<Int>

        init(promise: EventLoopPromise<Int>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = unwrapInboundIn(data) { promise.succeed(Int(head.status.code)) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ProbeError("the connection closed before a response"))
        }
    }
}
