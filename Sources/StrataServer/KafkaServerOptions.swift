import Glibc
import Logging
import Strata

/// How `strata serve` listens and what it allows (issue 13 §2, §3). Every bound is named here.
public struct KafkaServerOptions: Sendable {
    /// Address to bind; loopback unless told otherwise.
    public var listenHost = "127.0.0.1"
    /// Port to bind; 0 picks a free one (`KafkaServer.start` returns the real one).
    public var listenPort = 9092
    /// Host and port clients are told to connect to (Metadata's broker); nil: the bound address.
    public var advertisedHost: String? = nil
    public var advertisedPort: Int? = nil
    /// Metadata creates topics it is asked about that do not exist (when the request allows it).
    public var autoCreateTopics = true
    /// Partitions of an auto-created topic, and of CreateTopics asking for the default (-1).
    public var defaultPartitions: Int32 = 1
    /// Largest request frame accepted; a larger declared size closes the connection unread.
    public var maxRequestBytes = 100 * 1024 * 1024
    /// Open connections at most; one more is accepted and closed at once.
    public var maxConnections = 1024
    /// A connection with no traffic either way for this long (and no request in flight) is closed.
    public var idleTimeoutMs: Int64 = 600_000
    /// The longest a Fetch waits for MinBytes, whatever its MaxWaitMs (clients ask 500 ms).
    public var fetchWaitMsMax: Int64 = 30_000
    /// Bytes one Fetch answers at most, whatever its MaxBytes and PartitionMaxBytes ask (Kafka's
    /// broker `fetch.max.bytes`, 55 MiB): the response is held in memory until it is written.
    public var fetchBytesMax = 55 * 1024 * 1024
    /// Partition entries one Fetch may name; more get INVALID_REQUEST for the whole request
    /// (each entry costs a read and, while long-polling, a waiter).
    public var fetchPartitionsMax = 10_000
    /// How long shutdown lets requests in flight finish before it closes their connections.
    public var shutdownGraceMs: Int64 = 60_000
    /// How long a new group waits for more members before its first generation (Kafka's
    /// group.initial.rebalance.delay.ms).
    public var groupInitialRebalanceDelayMs: Int64 = 3_000
    /// The session timeouts a JoinGroup may ask for (Kafka's group.min/max.session.timeout.ms);
    /// others get INVALID_SESSION_TIMEOUT.
    public var groupSessionTimeoutMsMin: Int32 = 6_000
    public var groupSessionTimeoutMsMax: Int32 = 1_800_000
    /// Members one group may have (Kafka's group.max.size); one more gets GROUP_MAX_SIZE_REACHED.
    public var groupMembersMax = 1_000
    /// Longest metadata string of one committed offset, in UTF-8 bytes (Kafka's
    /// offset.metadata.max.bytes); longer gets OFFSET_METADATA_TOO_LARGE.
    public var groupOffsetMetadataBytesMax = 4_096
    /// The group coordinator's clock (session timeouts, rebalance delays, commit timestamps).
    public var groupClock: any StrataClock = SystemClock()
    /// TLS listener, SASL users and ACLs (Security/SecurityOptions.swift); all off by default.
    public var security = SecurityOptions()
    /// The node id this broker reports (one broker: the leader of every partition).
    public static let nodeId: Int32 = 1
    /// Where the server's metrics go (Metrics/ServerMetrics.swift); nil: `ServerMetrics.global`.
    public var metrics: ServerMetrics? = nil
    /// Where log lines go (one per event); stderr by default. `strata serve` routes them into a
    /// swift-log `Logger` at info level (Logging/StrataLogHandler.swift); new code may log
    /// through `logger` with a level.
    public var log: @Sendable (String) -> Void = { line in
        let bytes = Array(("strata serve: " + line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
    /// The levelled logger (swift-log): the process's bootstrapped handler.
    public var logger = Logger(label: "strata.serve")

    public init() {}

    /// Checks every bound.
    /// - Throws: `KafkaServerError.invalidOption` naming the option.
    public func validate() throws(KafkaServerError) {
        try security.validate(plaintextHost: listenHost)
        guard (0 ... 65535).contains(listenPort) else {
            throw .invalidOption("listen port \(listenPort) is not 0-65535")
        }
        if let advertisedPort, !(1 ... 65535).contains(advertisedPort) {
            throw .invalidOption("advertised port \(advertisedPort) is not 1-65535")
        }
        guard defaultPartitions >= 1 else { throw .invalidOption("default partitions \(defaultPartitions) is not ≥ 1") }
        guard maxRequestBytes >= 64, maxRequestBytes <= Int(Int32.max) else {
            throw .invalidOption("max request bytes \(maxRequestBytes) is not in 64...\(Int32.max)")
        }
        guard maxConnections >= 1 else { throw .invalidOption("max connections \(maxConnections) is not ≥ 1") }
        guard fetchWaitMsMax >= 0 else { throw .invalidOption("fetch wait max \(fetchWaitMsMax) ms is negative") }
        guard shutdownGraceMs >= 0 else { throw .invalidOption("shutdown grace \(shutdownGraceMs) ms is negative") }
        guard idleTimeoutMs >= 1 else { throw .invalidOption("idle timeout \(idleTimeoutMs) ms is not ≥ 1") }
        guard groupInitialRebalanceDelayMs >= 0 else {
            throw .invalidOption("group initial rebalance delay \(groupInitialRebalanceDelayMs) ms is negative")
        }
        guard groupSessionTimeoutMsMin >= 1, groupSessionTimeoutMsMin <= groupSessionTimeoutMsMax else {
            throw .invalidOption(
                "group session timeouts: min \(groupSessionTimeoutMsMin) ms and max \(groupSessionTimeoutMsMax) ms "
                    + "must satisfy 1 ≤ min ≤ max")
        }
        guard groupMembersMax >= 1 else { throw .invalidOption("group max size \(groupMembersMax) is not ≥ 1") }
        guard groupOffsetMetadataBytesMax >= 0 else {
            throw .invalidOption("offset metadata max \(groupOffsetMetadataBytesMax) bytes is negative")
        }
    }
}

extension KafkaServerOptions {
    /// The coordinator's share of these options.
    var groupCoordinator: GroupCoordinatorOptions {
        var options = GroupCoordinatorOptions()
        options.initialRebalanceDelayMs = groupInitialRebalanceDelayMs
        options.sessionTimeoutMsMin = groupSessionTimeoutMsMin
        options.sessionTimeoutMsMax = groupSessionTimeoutMsMax
        options.groupMembersMax = groupMembersMax
        options.offsetMetadataBytesMax = groupOffsetMetadataBytesMax
        return options
    }
}

/// What starting or running the server can fail with.
public enum KafkaServerError: Error, Sendable, CustomStringConvertible {
    /// An option is out of its range; nothing was bound.
    case invalidOption(String)
    /// The listener could not be bound (address in use, not an address of this host).
    case bindFailed(String)
    /// The cluster id file could not be read or written.
    case clusterId(String)
    /// The consumer groups' log (`__consumer_offsets`) could not be opened or replayed.
    case groupStore(String)
    /// The TLS certificate, key or client CA file (named) could not be used; nothing was bound.
    case tls(String)
    /// The `--sasl-users` file (named, with the line) could not be used; nothing was bound.
    case saslUsers(String)
    /// The `--acl` file (named, with the line) could not be used; nothing was bound.
    case acl(String)

    public var description: String {
        switch self {
        case .invalidOption(let why): return "invalid option: \(why)"
        case .bindFailed(let why): return "cannot listen: \(why)"
        case .clusterId(let why): return "cluster id: \(why)"
        case .groupStore(let why): return "consumer groups: \(why)"
        case .tls(let why): return "TLS: \(why)"
        case .saslUsers(let why): return "SASL users: \(why)"
        case .acl(let why): return "ACL: \(why)"
        }
    }
}
