import ArgumentParser
@preconcurrency import Dispatch
import Foundation
import CoreMetrics
import Glibc
import Logging
import Prometheus
import Strata
import StrataServer

/// `strata serve`: the lake as a Kafka broker of one node (issue 13 §2).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the lake over the Kafka protocol: any Kafka client produces to it and fetches from it.",
        discussion: """
            Prints one line `listening on HOST:PORT` on stdout once clients can connect (with --listen \
            HOST:0 the port picked), then one log line per event on stderr. Runs the background offloader. \
            SIGTERM or SIGINT stops accepting, lets requests in flight finish and be answered, flushes and \
            closes the lake, and exits 0. One broker, node id 1, leads every partition and coordinates every \
            consumer group (the classic protocol: join, sync, heartbeat, commit); the cluster id is made once \
            and kept in <lake>/kafka-cluster-id. Transactions are not served.

            With --metrics-listen, GET /metrics on that address answers Prometheus' text format: the \
            engine's and the server's metrics (docs/ARCHITECTURE.md, "Observability"). --log-format json \
            writes each log line as one JSON object (ts, level, logger, msg, metadata).

            Security (docs/ARCHITECTURE.md §2n): --tls-cert and --tls-key add a TLS listener \
            (--tls-listen, printed as `listening tls on HOST:PORT`); --listen none leaves TLS only. \
            --sasl-users FILE (made by `strata users add`) requires SASL PLAIN or SCRAM-SHA-256/512 on every \
            listener before any request but ApiVersions. --acl FILE allows each principal (User:NAME from SASL \
            or the client certificate's CN, else User:ANONYMOUS) only what its rules name; SIGHUP reloads it \
            and the users file. --quota-produce-bytes, --quota-fetch-bytes and --quota-requests limit each \
            principal (or connection) per second: an answer over the quota carries ThrottleTimeMs and the \
            connection's next request waits that long (Kafka's quotas; nothing is dropped).

            Example:
              strata serve --lake /lake --listen 127.0.0.1:9092 &
              kcat -b 127.0.0.1:9092 -L
              strata serve --lake /lake --metrics-listen 127.0.0.1:9644 --log-format json
              curl -s 127.0.0.1:9644/metrics
              strata serve --lake /lake --listen none --tls-cert c.pem --tls-key k.pem
            """
    )

    @OptionGroup var lakeOption: LakeOption
    @Option(
        help: ArgumentHelp(
            "Address of the plaintext listener; loopback by default; port 0 picks a free one; `none`: no "
                + "plaintext listener (TLS only).", valueName: "host:port|none"))
    var listen = "127.0.0.1:9092"
    @Option(
        help: ArgumentHelp(
            "Address clients are told to connect to (default: the listen address).", valueName: "host:port"))
    var advertise: String?
    @Option(
        help: ArgumentHelp("Create a topic Metadata asks about that does not exist (true|false).", valueName: "bool"))
    var autoCreateTopics = true
    @Option(help: "Partitions of an auto-created topic, and of CreateTopics asking for the default.")
    var defaultPartitions: Int32 = 1
    @Option(help: "Largest request frame in bytes; a larger declared size closes the connection unread.")
    var maxRequestBytes = 104_857_600
    @Option(help: "Open connections at most; more are accepted and closed at once.")
    var maxConnections = 1024
    @Option(help: "Close a connection with no traffic either way and no request waiting for its answer for this long.")
    var idleTimeoutMs: Int64 = 600_000
    @Option(
        help: ArgumentHelp(
            "How long a new (or emptied) consumer group waits for more members before its first generation, so "
                + "consumers starting together get one rebalance instead of one each (Kafka's "
                + "group.initial.rebalance.delay.ms); 0 starts at once.", valueName: "ms"))
    var groupInitialRebalanceDelayMs: Int64 = 3_000
    @Option(
        help: ArgumentHelp(
            "Shortest session timeout a consumer may ask for (session.timeout.ms); a shorter one gets "
                + "INVALID_SESSION_TIMEOUT (Kafka's group.min.session.timeout.ms).", valueName: "ms"))
    var groupMinSessionTimeoutMs: Int32 = 6_000
    @Option(
        help: ArgumentHelp(
            "Longest session timeout a consumer may ask for: how long a silent member can hold its partitions "
                + "(Kafka's group.max.session.timeout.ms).", valueName: "ms"))
    var groupMaxSessionTimeoutMs: Int32 = 1_800_000
    @Option(
        help: ArgumentHelp(
            "Members one consumer group may have; one more gets GROUP_MAX_SIZE_REACHED (Kafka's group.max.size).",
            valueName: "count"))
    var groupMaxSize = 1_000
    @Option(
        help: ArgumentHelp(
            "Serve Prometheus metrics at GET /metrics on this address (off by default; port 0 picks a free one "
                + "and prints `metrics on HOST:PORT`).", valueName: "host:port"))
    var metricsListen: String?
    @Option(
        help: ArgumentHelp(
            "Topics with a metrics label of their own; later topics count under topic=\"_other\", so many "
                + "topics cannot make unbounded series.", valueName: "count"))
    var metricsTopicsMax = ServerMetrics.topicLabelsMaxDefault
    @Option(help: ArgumentHelp("Log line format on stderr: text or json (one object per line).", valueName: "format"))
    var logFormat = "text"
    @Option(
        help: ArgumentHelp(
            "Least severe level logged: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel = "info"

    @OptionGroup var security: ServeSecurityOptions

    func validate() throws {
        if listen != "none" { _ = try Self.hostPort(listen, flag: "--listen", portMin: 0) }
        if let metricsListen { _ = try Self.hostPort(metricsListen, flag: "--metrics-listen", portMin: 0) }
        guard metricsTopicsMax >= 0 else { throw ValidationError("--metrics-topics-max \(metricsTopicsMax) is negative") }
        guard LogFormat(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format '\(logFormat)' is not one of: text, json")
        }
        guard Logger.Level(flag: logLevel) != nil else {
            throw ValidationError(
                "--log-level '\(logLevel)' is not one of: "
                    + Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if let advertise { _ = try Self.hostPort(advertise, flag: "--advertise", portMin: 1) }
        let options = try options()
        do throws(KafkaServerError) { try options.validate() } catch { throw ValidationError("\(error)") }
    }

    func options() throws -> KafkaServerOptions {
        var options = KafkaServerOptions()
        if listen == "none" {
            options.security.plaintextEnabled = false
        } else {
            (options.listenHost, options.listenPort) = try Self.hostPort(listen, flag: "--listen", portMin: 0)
        }
        try security.apply(to: &options.security)
        if let advertise {
            let (host, port) = try Self.hostPort(advertise, flag: "--advertise", portMin: 1)
            options.advertisedHost = host
            options.advertisedPort = port
        }
        options.autoCreateTopics = autoCreateTopics
        options.defaultPartitions = defaultPartitions
        options.maxRequestBytes = maxRequestBytes
        options.maxConnections = maxConnections
        options.idleTimeoutMs = idleTimeoutMs
        options.groupInitialRebalanceDelayMs = groupInitialRebalanceDelayMs
        options.groupSessionTimeoutMsMin = groupMinSessionTimeoutMs
        options.groupSessionTimeoutMsMax = groupMaxSessionTimeoutMs
        options.groupMembersMax = groupMaxSize
        return options
    }

    /// `HOST:PORT`, `[V6]:PORT`.
    static func hostPort(_ text: String, flag: String, portMin: Int) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":") else {
            throw ValidationError("\(flag) '\(text)' is not HOST:PORT")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (portMin ... 65535).contains(port)
        else {
            throw ValidationError("\(flag) '\(text)' is not HOST:PORT with a port in \(portMin)-65535")
        }
        return (host, port)
    }

    func run() async throws {
        var options = try options()
        Self.keepLargeBuffersInTheHeap()
        let (serveLogger, lakeLogger) = bootstrapLogging()
        options.logger = serveLogger
        options.log = { serveLogger.info("\($0)") }
        let registry = metricsListen == nil ? nil : PrometheusCollectorRegistry()
        if let registry {
            MetricsSystem.bootstrap(StrataPrometheus.factory(registry: registry))
            options.metrics = ServerMetrics(factory: MetricsSystem.factory, topicLabelsMax: metricsTopicsMax)
        }
        let lake = try lakeOption.open { lakeOptions in
            lakeOptions.log = { lakeLogger.info("\($0)") }
            if registry != nil { lakeOptions.metrics = EngineMetrics(factory: MetricsSystem.factory) }
        }
        let server = KafkaServer(lake: lake, options: options)
        let stop = StopSignals()
        signal(SIGHUP, SIG_IGN)
        let bound: (host: String, port: Int)
        var endpoint: MetricsEndpoint? = nil
        do {
            bound = try await server.start()
            if let registry, let metricsListen {
                endpoint = try await startMetrics(metricsListen, registry: registry, lake: lake, server: server)
            }
        } catch {
            await server.shutdown()
            await lake.close(after: error)
            printError("error: \(error)")
            throw ExitCode(3)
        }
        _ = bound
        for listener in server.listeners {
            print("listening \(listener.tls ? "tls " : "")on \(listener.host):\(listener.port)")
        }
        fflush(nil)
        let reload = Self.reloadOnHangup(server)
        defer { reload.cancel() }
        let signal = await stop.next()
        options.log("signal \(signal): stopping (requests in flight finish)")
        await endpoint?.shutdown()
        await server.shutdown()
        try await lake.close()
        options.log("stopped; lake closed")
    }

    /// Bootstraps swift-log once with Strata's handler (`--log-format`, `--log-level`).
    private func bootstrapLogging() -> (serve: Logger, lake: Logger) {
        let format = LogFormat(rawValue: logFormat) ?? .text
        let level = Logger.Level(flag: logLevel) ?? .info
        LoggingSystem.bootstrap { label in StrataLogHandler(label: label, format: format, level: level) }
        return (Logger(label: "strata.serve"), Logger(label: "strata.lake"))
    }

    /// Starts `GET /metrics` on `address`; prints `metrics on HOST:PORT` once it answers. Each
    /// scrape first samples the gauges (open partitions, offload lag, connections, group lag).
    private func startMetrics(
        _ address: String, registry: PrometheusCollectorRegistry, lake: Lake, server: KafkaServer
    ) async throws -> MetricsEndpoint {
        let (host, port) = try Self.hostPort(address, flag: "--metrics-listen", portMin: 0)
        let endpoint = MetricsEndpoint(host: host, port: port) {
            lake.refreshMetrics()
            await server.refreshMetrics()
            return StrataPrometheus.exposition(registry)
        }
        let bound = try await endpoint.start()
        print("metrics on \(bound.host):\(bound.port)")
        return endpoint
    }
}

/// SIGTERM and SIGINT, delivered once as an async value instead of killing the process.
/// Unchecked: the sources are only kept alive, never touched after `init`.
private final class StopSignals: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation

    init() {
        (stream, continuation) = AsyncStream<Int32>.makeStream()
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            let continuation = self.continuation
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    /// The first signal received.
    func next() async -> Int32 {
        for await number in stream { return number }
        return SIGTERM
    }
}

extension Serve {
    /// A Fetch builds responses of up to 55 MiB from batch-sized arrays; glibc serves every
    /// allocation over its mmap threshold with a fresh mapping, so each response faulted in and
    /// unmapped tens of MiB (system time was two thirds of serve's CPU on a fetch from offset
    /// 0). Up to 32 MiB (glibc's largest threshold) they now come from the heap and are reused;
    /// freed memory is given back to the system beyond 256 MiB.
    static func keepLargeBuffersInTheHeap() {
        // `mallopt` is in <malloc.h>, which the Glibc module does not export: look it up.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let (trimThreshold, mmapThreshold): (Int32, Int32) = (-1, -3)  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        _ = mallopt(mmapThreshold, 32 * 1024 * 1024)
        _ = mallopt(trimThreshold, 256 * 1024 * 1024)
    }
}
