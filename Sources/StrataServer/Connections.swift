import NIOCore
import Synchronization

/// The server's open connections: the `--max-connections` bound, which of them have requests
/// waiting for answers (an idle or shutting-down connection is closed only between requests),
/// and shutdown.
final class ConnectionRegistry: Sendable {
    private struct Entry {
        var channel: any Channel
        /// Requests received and not answered yet (queued or being answered).
        var pending = 0
    }

    private struct State {
        var open: [UInt64: Entry] = [:]
        var nextId: UInt64 = 0
        var shuttingDown = false
    }

    private let state = Mutex(State())
    let maxConnections: Int

    init(maxConnections: Int) {
        self.maxConnections = maxConnections
    }

    /// Registers a new connection. Returns nil when `maxConnections` are open or the server is
    /// shutting down: the caller closes it.
    func admit(_ channel: any Channel) -> UInt64? {
        state.withLock { s in
            guard !s.shuttingDown, s.open.count < maxConnections else { return nil }
            s.nextId += 1
            s.open[s.nextId] = Entry(channel: channel)
            return s.nextId
        }
    }

    /// Connections open now.
    var count: Int { state.withLock { $0.open.count } }

    /// A request frame arrived on the connection.
    func received(_ id: UInt64) { state.withLock { $0.open[id]?.pending += 1 } }

    /// A request is about to be answered. False when the server is shutting down: it is not
    /// started and the connection closes.
    func begin(_ id: UInt64) -> Bool { state.withLock { !$0.shuttingDown } }

    /// A request was answered (or dropped). False when the server is shutting down.
    func end(_ id: UInt64) -> Bool {
        state.withLock { s in
            if let pending = s.open[id]?.pending { s.open[id]?.pending = max(0, pending - 1) }
            return !s.shuttingDown
        }
    }

    /// True once shutdown began.
    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// True when the connection has no request waiting for an answer (it may be closed for idleness).
    func isIdle(_ id: UInt64) -> Bool { state.withLock { ($0.open[id]?.pending ?? 0) == 0 } }

    func remove(_ id: UInt64) { _ = state.withLock { $0.open.removeValue(forKey: id) } }

    /// Closes every connection, requests in flight or not (the end of a shutdown's grace).
    func closeAll() {
        for channel in state.withLock({ $0.open.values.map(\.channel) }) { channel.close(promise: nil) }
    }

    /// Refuses new connections and requests, and closes every connection with no request in
    /// flight; the others close once their request is answered.
    func shutDown() {
        let idle: [any Channel] = state.withLock { s in
            s.shuttingDown = true
            return s.open.values.filter { $0.pending == 0 }.map(\.channel)
        }
        for channel in idle { channel.close(promise: nil) }
    }
}

/// Counts the request frames a connection received, and closes a connection that neither sent
/// nor was sent anything for the idle timeout unless a request waits for its answer (a
/// long-polling Fetch reads and writes nothing while it waits).
final class IdleCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let id: UInt64
    let registry: ConnectionRegistry
    let idleTimeoutMs: Int64
    let peer: String
    let log: @Sendable (String) -> Void

    init(
        id: UInt64, registry: ConnectionRegistry, idleTimeoutMs: Int64, peer: String,
        log: @escaping @Sendable (String) -> Void
    ) {
        (self.id, self.registry, self.idleTimeoutMs, self.peer, self.log) = (id, registry, idleTimeoutMs, peer, log)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        registry.received(id)
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all {
            if registry.isIdle(id) {
                log("connection \(peer): idle for \(idleTimeoutMs) ms (--idle-timeout-ms); closed")
                context.close(promise: nil)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
