import NIOCore
import NIOPosix
import NIOSSL
import Strata
import Synchronization

/// `strata serve`: a Kafka broker of one node over a lake (issue 13 §2, §3).
///
/// NIO does the I/O only: one event loop accepts and frames, and every request is answered by
/// an engine call on Swift's task pool (no engine call blocks an event loop). A connection
/// answers its requests one at a time, in order (clients pipeline), so at most one request per
/// connection is in flight and memory per connection is bounded by a few request frames.
public final class KafkaServer: Sendable {
    /// The listeners and the tasks that accept and serve their connections.
    private struct Running: Sendable {
        var channels: [any Channel]
        var tasks: [Task<Void, Never>]
        var groups: GroupCoordinator
        var store: GroupStore
        var security: ServerSecurity
    }

    /// A bound listener: `plaintext` or `tls`, and its real address.
    public struct BoundListener: Sendable {
        public var name: String
        public var host: String
        public var port: Int
        public var tls: Bool
    }

    let lake: Lake
    let options: KafkaServerOptions
    private let registry: ConnectionRegistry
    private let group: MultiThreadedEventLoopGroup
    private let running = Mutex<Running?>(nil)
    private let bound = Mutex<[BoundListener]>([])

    /// A server for `lake`; nothing is bound until `start`. The caller opens and closes the lake.
    public init(lake: Lake, options: KafkaServerOptions) {
        self.lake = lake
        self.options = options
        self.registry = ConnectionRegistry(maxConnections: options.maxConnections)
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Connections open now.
    public var connectionCount: Int { registry.count }
    /// The consumer groups' store while the server runs (metrics: group lag).
    var groupStore: GroupStore? { running.withLock { $0?.store } }

    /// The listeners bound by `start`: the plaintext one first unless `--listen none`, then TLS.
    public var listeners: [BoundListener] { bound.withLock { $0 } }

    /// Binds the listeners (plaintext unless disabled, TLS when a certificate is given) and
    /// starts serving.
    /// - Returns: the first listener's bound host and port (the real one when the port is 0).
    /// - Throws: `invalidOption`, `tls`, `saslUsers`, `acl` (a file named in the options cannot
    ///   be used), `bindFailed`, `clusterId`, `groupStore` (the consumer groups' log could not be
    ///   opened). On any of them nothing is bound.
    public func start() async throws(KafkaServerError) -> (host: String, port: Int) {
        try options.validate()
        let security = try ServerSecurity(options.security)
        let clusterId = try ClusterIdentity.load(lakePath: lake.path)
        let store: GroupStore
        do { store = try await GroupStore.open(lake) } catch {
            throw .groupStore("\(GroupStore.topicName): \(error)")
        }
        var servers: [(NIOAsyncChannel<Accepted, Never>, Listener)] = []
        do throws(KafkaServerError) {
            let sec = options.security
            /// Binds one listener; what Metadata advertises defaults to where it is bound (the port picked for 0).
            func listen(
                _ name: String, tls: NIOSSLContext?, host: String, port: Int, advertisedHost: String?, advertisedPort: Int?
            ) async throws(KafkaServerError) {
                let server = try await bind(host: host, port: port, tls: tls)
                let bound = server.channel.localAddress?.port ?? port
                servers.append(
                    (server, Listener(
                        name: name, tls: tls != nil, advertisedHost: advertisedHost ?? host,
                        advertisedPort: Int32(advertisedPort ?? bound))))
            }
            if sec.plaintextEnabled {
                try await listen(
                    "plaintext", tls: nil, host: options.listenHost, port: options.listenPort,
                    advertisedHost: options.advertisedHost, advertisedPort: options.advertisedPort)
            }
            if let context = security.tlsContext {
                try await listen(
                    "tls", tls: context, host: sec.tlsListenHost, port: sec.tlsListenPort,
                    advertisedHost: sec.tlsAdvertisedHost, advertisedPort: sec.tlsAdvertisedPort)
            }
        } catch {
            for (server, _) in servers { try? await server.channel.close() }
            await store.close()
            throw error
        }
        for (host, advertised) in [(options.listenHost, options.advertisedHost), (options.security.tlsListenHost, options.security.tlsAdvertisedHost)]
        where advertised == nil && ["0.0.0.0", "::", "[::]"].contains(host) {
            options.log(
                "listening on every address and advertising \(host): clients elsewhere need --advertise HOST:PORT "
                    + "(--tls-advertise for TLS)")
        }
        let lake = self.lake
        let groups = GroupCoordinator(
            persistence: store, clock: options.groupClock, options: options.groupCoordinator,
            partitionExists: { partition in
                guard let count = try? lake.partitionCount(partition.topic) else { return false }
                return partition.partition >= 0 && partition.partition < count
            }, log: options.log)
        await groups.start()
        let dispatcher = RequestDispatcher(
            lake: lake, options: options, clusterId: clusterId, groups: groups, security: security)
        let (registry, options) = (self.registry, self.options)
        let verifiesClients = options.security.tlsClientCAPath != nil
        let tasks = servers.map { server, listener in
            Task {
                await Self.accept(
                    server, listener: listener, verifiesClients: verifiesClients, dispatcher: dispatcher,
                    registry: registry, log: options.log)
            }
        }
        let listeners = servers.map { server, listener in
            BoundListener(
                name: listener.name, host: listener.tls ? options.security.tlsListenHost : options.listenHost,
                port: server.channel.localAddress?.port ?? 0, tls: listener.tls)
        }
        bound.withLock { $0 = listeners }
        running.withLock {
            $0 = Running(
                channels: servers.map { $0.0.channel }, tasks: tasks, groups: groups, store: store, security: security)
        }
        return (listeners[0].host, listeners[0].port)
    }

    /// Reads the `--sasl-users` and `--acl` files again (SIGHUP); a bad file is logged and what
    /// was loaded from it stays in force.
    public func reloadSecurityFiles() {
        guard let security = running.withLock({ $0?.security }) else { return }
        for line in security.reload() { options.log(line) }
    }

    private func bind(host: String, port: Int, tls: NIOSSLContext?) async throws(KafkaServerError)
        -> NIOAsyncChannel<Accepted, Never>
    {
        let (registry, options) = (self.registry, self.options)
        do {
            return try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture { () throws -> Accepted in
                        try Self.initialize(channel, tls: tls, registry: registry, options: options)
                    }
                }
        } catch {
            throw .bindFailed("\(host):\(port)\(tls == nil ? "" : " (TLS)"): \(error)")
        }
    }

    /// Stops accepting, closes idle connections, answers every JoinGroup and SyncGroup the group
    /// coordinator holds, lets every request in flight finish and be answered, then closes the
    /// rest. Returns when every connection is closed. The lake stays open: the caller flushes
    /// and closes it.
    public func shutdown() async {
        guard let current = running.withLock({ $0 }) else { return }
        for channel in current.channels { try? await channel.close() }
        registry.shutDown()
        // A held join would otherwise keep its connection (and the shutdown) for its whole
        // rebalance timeout.
        await current.groups.shutdown()
        // A client that never reads its answer must not hold the shutdown forever.
        let (registry, graceMs, log) = (self.registry, options.shutdownGraceMs, options.log)
        let deadline = Task {
            do { try await Task.sleep(for: .milliseconds(graceMs)) } catch { return }
            log("shutdown: requests still in flight after \(graceMs) ms; closing their connections")
            registry.closeAll()
        }
        for task in current.tasks { await task.value }
        deadline.cancel()
        await current.store.close()
        try? await group.shutdownGracefully()
    }

    /// Waits until the server has stopped (after `shutdown`).
    public func waitUntilStopped() async {
        guard let current = running.withLock({ $0 }) else { return }
        for task in current.tasks { await task.value }
    }

    /// What the listener hands the accept loop for each new connection.
    private struct Accepted: Sendable {
        var connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>?
        var id: UInt64?
        var peer: String
        var channel: any Channel
    }

    /// Sets up a new connection's pipeline: framing, idleness, the async bridge. Over the
    /// connection bound it gets none and the accept loop closes it.
    private static func initialize(
        _ channel: any Channel, tls: NIOSSLContext?, registry: ConnectionRegistry, options: KafkaServerOptions
    ) throws -> Accepted {
        let peer = channel.remoteAddress?.description ?? "unknown peer"
        guard let id = registry.admit(channel) else {
            return Accepted(connection: nil, id: nil, peer: peer, channel: channel)
        }
        do {
            let pipeline = channel.pipeline.syncOperations
            // TLS first: every handler after it sees plaintext.
            if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls)) }
            try pipeline.addHandler(IdleStateHandler(allTimeout: .milliseconds(options.idleTimeoutMs)))
            try pipeline.addHandler(
                ByteToMessageHandler(
                    FrameDecoder(maxRequestBytes: options.maxRequestBytes, log: options.log, peer: peer)))
            try pipeline.addHandler(
                IdleCloser(
                    id: id, registry: registry, idleTimeoutMs: options.idleTimeoutMs, peer: peer, log: options.log))
            // Two frames queued at most while one is answered: memory stays bounded.
            let connection = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                wrappingChannelSynchronously: channel,
                configuration: .init(backPressureStrategy: .init(lowWatermark: 1, highWatermark: 2)))
            return Accepted(connection: connection, id: id, peer: peer, channel: channel)
        } catch {
            registry.remove(id)
            throw error
        }
    }

    private static func accept(
        _ server: NIOAsyncChannel<Accepted, Never>, listener: Listener, verifiesClients: Bool,
        dispatcher: RequestDispatcher, registry: ConnectionRegistry, log: @escaping @Sendable (String) -> Void
    ) async {
        do {
            try await server.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await accepted in inbound {
                            group.addTask {
                                let session = ConnectionSession(peer: accepted.peer, listener: listener)
                                await serve(
                                    accepted, session: session, readsCertificate: listener.tls && verifiesClients,
                                    dispatcher: dispatcher, registry: registry, log: log)
                            }
                        }
                    } catch {
                        log("\(listener.name) listener: \(error)")
                    }
                }
            }
        } catch {
            log("\(listener.name) listener closed: \(error)")
        }
    }

    /// Answers one connection's requests in order until it closes or the server shuts down.
    private static func serve(
        _ accepted: Accepted, session: ConnectionSession, readsCertificate: Bool, dispatcher: RequestDispatcher,
        registry: ConnectionRegistry, log: @escaping @Sendable (String) -> Void
    ) async {
        guard let connection = accepted.connection, let id = accepted.id else {
            log(
                "connection \(accepted.peer): \(registry.maxConnections) connections already open "
                    + "(--max-connections); closed")
            try? await accepted.channel.close()
            return
        }
        defer { registry.remove(id) }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var certificateRead = !readsCertificate
                for try await frame in inbound {
                    guard registry.begin(id) else { return }
                    // The handshake (and the certificate's check) is over once a frame arrives.
                    if !certificateRead {
                        certificateRead = true
                        if let name = await Self.clientCommonName(accepted.channel) { session.principal = "User:\(name)" }
                    }
                    let reply = await dispatcher.respond(to: Array(frame.readableBytesView), session: session)
                    switch reply {
                    case .send(let bytes): try await outbound.write(ByteBuffer(bytes: bytes))
                    case .none: break
                    case .close(let why):
                        log("connection \(accepted.peer): \(why); closed")
                        return
                    case .sendThenClose(let bytes, let why):
                        try await outbound.write(ByteBuffer(bytes: bytes))
                        log("connection \(accepted.peer): \(why); closed")
                        return
                    }
                    guard registry.end(id) else { return }
                    await Self.mute(session, registry: registry)
                }
            }
        } catch let error as NIOSSLError {
            log("connection \(accepted.peer): TLS: \(error); closed")
        } catch is FrameDecoder.FrameError {
            // Logged by the decoder.
        } catch let error as ChannelError where error == .ioOnClosedChannel || error == .eof {
            // The client hung up (or the idle closer did, and logged it).
        } catch {
            log("connection \(accepted.peer): \(error); closed")
        }
    }

    /// Waits out the throttle the last answer carried before the next request is read (KIP-219:
    /// the client got its answer at once and is told to wait; a client that does not is held
    /// back here). Unread requests stay in the socket. Shutdown ends the wait.
    private static func mute(_ session: ConnectionSession, registry: ConnectionRegistry) async {
        var leftMs = session.takeThrottleMs()
        while leftMs > 0, !registry.isShuttingDown {
            let sliceMs = min(leftMs, 100)
            try? await Task.sleep(nanoseconds: UInt64(sliceMs) * 1_000_000)
            leftMs -= sliceMs
        }
    }

    /// The subject CN of the verified client certificate of a TLS connection, or nil.
    private static func clientCommonName(_ channel: any Channel) async -> String? {
        try? await channel.eventLoop.submit { () throws -> String? in
            ServerSecurity.clientCommonName(try channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self))
        }.get()
    }
}
