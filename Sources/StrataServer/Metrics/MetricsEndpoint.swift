import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// What starting the metrics endpoint can fail with.
public enum MetricsEndpointError: Error, Sendable, CustomStringConvertible {
    /// The address could not be bound (in use, not an address of this host); nothing listens.
    case bindFailed(flag: String, address: String, reason: String)

    public var description: String {
        switch self {
        case .bindFailed(let flag, let address, let reason): return "cannot listen on \(flag) \(address): \(reason)"
        }
    }
}

/// A minimal HTTP/1.1 server for Prometheus scrapes (`strata serve --metrics-listen`): `GET
/// /metrics` answers 200 with whatever `render` returns (the text exposition format); any other
/// path 404, any other method 405. One response per connection (`Connection: close`), at most
/// `connectionsMax` connections at once (more are closed unanswered), and a connection that
/// sends no complete request within `requestTimeoutMs` is closed.
public final class MetricsEndpoint: Sendable {
    /// The exposition format's content type (Prometheus text format 0.0.4).
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    let host: String
    let port: Int
    let flag: String
    let connectionsMax: Int
    let requestTimeoutMs: Int64
    let render: @Sendable () async -> [UInt8]
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let running = Mutex<(channel: any Channel, task: Task<Void, Never>)?>(nil)
    private let open = Atomic<Int>(0)

    /// - Parameters:
    ///   - flag: the option the address came from, for errors (`--metrics-listen`).
    ///   - render: the body of a `/metrics` answer, made per scrape.
    public init(
        host: String, port: Int, flag: String = "--metrics-listen", connectionsMax: Int = 16,
        requestTimeoutMs: Int64 = 10_000, render: @escaping @Sendable () async -> [UInt8]
    ) {
        (self.host, self.port, self.flag) = (host, port, flag)
        self.connectionsMax = max(1, connectionsMax)
        self.requestTimeoutMs = max(1, requestTimeoutMs)
        self.render = render
    }

    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// Binds and starts answering.
    /// - Returns: the bound host and port (the real one for port 0).
    /// - Throws: `bindFailed` naming the flag and address.
    public func start() async throws(MetricsEndpointError) -> (host: String, port: Int) {
        let timeoutMs = requestTimeoutMs
        let server: NIOAsyncChannel<Connection, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 16)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture { () throws -> Connection in
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(IdleStateHandler(readTimeout: .milliseconds(timeoutMs)))
                        try pipeline.addHandler(CloseOnIdle())
                        try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                        return try Connection(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw .bindFailed(flag: flag, address: "\(host):\(port)", reason: "\(error)")
        }
        let bound = server.channel.localAddress?.port ?? port
        let task = Task { await self.accept(server) }
        running.withLock { $0 = (server.channel, task) }
        return (host, bound)
    }

    /// Stops listening, lets answers in flight finish, and stops the event loop.
    public func shutdown() async {
        guard let current = running.withLock({ $0 }) else { return }
        try? await current.channel.close()
        await current.task.value
        try? await group.shutdownGracefully()
    }

    private func accept(_ server: NIOAsyncChannel<Connection, Never>) async {
        try? await server.executeThenClose { inbound in
            await withDiscardingTaskGroup { tasks in
                do {
                    for try await connection in inbound {
                        guard open.add(1, ordering: .relaxed).newValue <= connectionsMax else {
                            open.subtract(1, ordering: .relaxed)
                            try? await connection.channel.close()
                            continue
                        }
                        tasks.addTask {
                            defer { self.open.subtract(1, ordering: .relaxed) }
                            await self.serve(connection)
                        }
                    }
                } catch {
                    // The listener closed (shutdown).
                }
            }
        }
    }

    /// Answers the connection's first request and closes it.
    private func serve(_ connection: Connection) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let received): head = received
                case .body: continue  // A scrape has no body; one sent is read and ignored.
                case .end:
                    guard let head else { return }
                    let (status, body) = await answer(head)
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: status == .ok ? Self.contentType : "text/plain")
                    headers.add(name: "Content-Length", value: "\(body.count)")
                    headers.add(name: "Connection", value: "close")
                    try await outbound.write(
                        .head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
                    if head.method != .HEAD { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                    try await outbound.write(.end(nil))
                    return
                }
            }
        }
    }

    private func answer(_ head: HTTPRequestHead) async -> (HTTPResponseStatus, [UInt8]) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard path == "/metrics" else { return (.notFound, Array("not found: only /metrics is served\n".utf8)) }
        guard head.method == .GET || head.method == .HEAD else {
            return (.methodNotAllowed, Array("method \(head.method) not allowed: GET /metrics\n".utf8))
        }
        return (.ok, await render())
    }
}

/// Closes a connection that sent nothing for the idle timeout (a client that connects and never
/// asks must not hold one of the few connection slots).
private final class CloseOnIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
