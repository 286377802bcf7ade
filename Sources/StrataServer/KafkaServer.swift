import NIOCore
import NIOPosix
import Strata
import Synchronization

/// `strata serve`: a Kafka broker of one node over a lake (issue 13 §2, §3).
///
/// NIO does the I/O only: one event loop accepts and frames, and every request is answered by
/// an engine call on Swift's task pool (no engine call blocks an event loop). A connection
/// answers its requests one at a time, in order (clients pipeline), so at most one request per
/// connection is in flight and memory per connection is bounded by a few request frames.
public final class KafkaServer: Sendable {
    /// The listener and the task that accepts and serves connections.
    private struct Running: Sendable {
        var channel: any Channel
        var task: Task<Void, Never>
        var groups: GroupCoordinator
        var store: GroupStore
    }

    let lake: Lake
    let options: KafkaServerOptions
    private let registry: ConnectionRegistry
    private let group: MultiThreadedEventLoopGroup
    private let running = Mutex<Running?>(nil)

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

    /// Binds the listener and starts serving.
    /// - Returns: the bound host and port (the real one when `listenPort` is 0).
    /// - Throws: `invalidOption`, `bindFailed`, `clusterId`, `groupStore` (the consumer groups'
    ///   log could not be opened: nothing is bound).
    public func start() async throws(KafkaServerError) -> (host: String, port: Int) {
        try options.validate()
        let clusterId = try ClusterIdentity.load(lakePath: lake.path)
        let store: GroupStore
        do { store = try await GroupStore.open(lake) } catch {
            throw .groupStore("\(GroupStore.topicName): \(error)")
        }
        let (registry, options) = (self.registry, self.options)
        let server: NIOAsyncChannel<Accepted, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: options.listenHost, port: options.listenPort) { channel in
                    channel.eventLoop.makeCompletedFuture { () throws -> Accepted in
                        try Self.initialize(channel, registry: registry, options: options)
                    }
                }
        } catch {
            await store.close()
            throw .bindFailed("\(options.listenHost):\(options.listenPort): \(error)")
        }
        let port = server.channel.localAddress?.port ?? options.listenPort
        if options.advertisedHost == nil, ["0.0.0.0", "::", "[::]"].contains(options.listenHost) {
            options.log(
                "listening on every address and advertising \(options.listenHost): clients elsewhere need "
                    + "--advertise HOST:PORT")
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
            lake: lake, options: options, clusterId: clusterId,
            advertisedHost: options.advertisedHost ?? options.listenHost,
            advertisedPort: Int32(options.advertisedPort ?? port), groups: groups)
        let task = Task { await Self.accept(server, dispatcher: dispatcher, registry: registry, log: options.log) }
        running.withLock { $0 = Running(channel: server.channel, task: task, groups: groups, store: store) }
        return (options.listenHost, port)
    }

    /// Stops accepting, closes idle connections, answers every JoinGroup and SyncGroup the group
    /// coordinator holds, lets every request in flight finish and be answered, then closes the
    /// rest. Returns when every connection is closed. The lake stays open: the caller flushes
    /// and closes it.
    public func shutdown() async {
        guard let current = running.withLock({ $0 }) else { return }
        try? await current.channel.close()
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
        await current.task.value
        deadline.cancel()
        await current.store.close()
        try? await group.shutdownGracefully()
    }

    /// Waits until the server has stopped (after `shutdown`).
    public func waitUntilStopped() async {
        guard let current = running.withLock({ $0 }) else { return }
        await current.task.value
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
        _ channel: any Channel, registry: ConnectionRegistry, options: KafkaServerOptions
    ) throws -> Accepted {
        let peer = channel.remoteAddress?.description ?? "unknown peer"
        guard let id = registry.admit(channel) else {
            return Accepted(connection: nil, id: nil, peer: peer, channel: channel)
        }
        do {
            let pipeline = channel.pipeline.syncOperations
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
        _ server: NIOAsyncChannel<Accepted, Never>, dispatcher: RequestDispatcher, registry: ConnectionRegistry,
        log: @escaping @Sendable (String) -> Void
    ) async {
        do {
            try await server.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await accepted in inbound {
                            group.addTask {
                                await serve(accepted, dispatcher: dispatcher, registry: registry, log: log)
                            }
                        }
                    } catch {
                        log("listener: \(error)")
                    }
                }
            }
        } catch {
            log("listener closed: \(error)")
        }
    }

    /// Answers one connection's requests in order until it closes or the server shuts down.
    private static func serve(
        _ accepted: Accepted, dispatcher: RequestDispatcher, registry: ConnectionRegistry,
        log: @escaping @Sendable (String) -> Void
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
                for try await frame in inbound {
                    guard registry.begin(id) else { return }
                    let reply = await dispatcher.respond(to: Array(frame.readableBytesView), peer: accepted.peer)
                    switch reply {
                    case .send(let bytes): try await outbound.write(ByteBuffer(bytes: bytes))
                    case .none: break
                    case .close(let why):
                        log("connection \(accepted.peer): \(why); closed")
                        return
                    }
                    guard registry.end(id) else { return }
                }
            }
        } catch is FrameDecoder.FrameError {
            // Logged by the decoder.
        } catch let error as ChannelError where error == .ioOnClosedChannel || error == .eof {
            // The client hung up (or the idle closer did, and logged it).
        } catch {
            log("connection \(accepted.peer): \(error); closed")
        }
    }
}
