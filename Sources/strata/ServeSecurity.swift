import ArgumentParser
@preconcurrency import Dispatch
import Glibc
import StrataServer

/// `strata serve`'s security flags (docs/ARCHITECTURE.md §2n): TLS, SASL, ACLs, quotas.
struct ServeSecurityOptions: ParsableArguments {
    @Option(help: ArgumentHelp("PEM certificate chain of the TLS listener (with --tls-key).", valueName: "file"))
    var tlsCert: String?
    @Option(help: ArgumentHelp("PEM private key of the TLS listener's certificate.", valueName: "file"))
    var tlsKey: String?
    @Option(
        help: ArgumentHelp(
            "PEM CA certificates: TLS clients must present a certificate signed by one; its subject CN becomes "
                + "the principal User:CN (a SASL login replaces it).", valueName: "file"))
    var tlsClientCa: String?
    @Option(help: ArgumentHelp("Address of the TLS listener; port 0 picks a free one.", valueName: "host:port"))
    var tlsListen = "127.0.0.1:9093"
    @Option(
        help: ArgumentHelp(
            "Address TLS clients are told to connect to (default: the TLS listen address).", valueName: "host:port"))
    var tlsAdvertise: String?
    @Option(
        help: ArgumentHelp(
            "Users file (formats/sasl-users.md, made by `strata users add`): every listener then requires SASL "
                + "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 before any request but ApiVersions.", valueName: "file"))
    var saslUsers: String?
    @Flag(
        help: "Allow SASL on a plaintext listener that is not loopback (PLAIN's password crosses the network in clear).")
    var saslAllowPlaintext = false
    @Option(
        help: ArgumentHelp(
            "ACL file (formats/acl.md): what each principal may do to which topics and groups; anything else is "
                + "refused with TOPIC_/GROUP_AUTHORIZATION_FAILED. SIGHUP reloads it (a bad file keeps the old rules).",
            valueName: "file"))
    var acl: String?
    @Option(
        help: ArgumentHelp(
            "Produce request bytes per second each principal (or connection, --quota-scope) may send; more is "
                + "answered with ThrottleTimeMs and the connection waits that long before its next request is "
                + "read. Nothing is dropped. Default: no limit.", valueName: "bytes"))
    var quotaProduceBytes: Int?
    @Option(
        help: ArgumentHelp(
            "Fetch response bytes per second each principal (or connection) may receive; throttled as above.",
            valueName: "bytes"))
    var quotaFetchBytes: Int?
    @Option(
        help: ArgumentHelp(
            "Requests per second each principal (or connection) may send (ApiVersions and SASL not counted); "
                + "throttled as above.", valueName: "count"))
    var quotaRequests: Int?
    @Option(
        help: ArgumentHelp(
            "Who shares one quota: principal (all connections of one User:NAME, as Kafka's user quotas) or "
                + "connection.", valueName: "scope"))
    var quotaScope = "principal"

    func apply(to security: inout SecurityOptions) throws {
        guard let scope = QuotaOptions.Scope(rawValue: quotaScope) else {
            throw ValidationError("--quota-scope '\(quotaScope)' is not one of: principal, connection")
        }
        security.quotas.scope = scope
        security.quotas.produceBytesPerSecond = quotaProduceBytes
        security.quotas.fetchBytesPerSecond = quotaFetchBytes
        security.quotas.requestsPerSecond = quotaRequests
        security.tlsCertPath = tlsCert
        security.tlsKeyPath = tlsKey
        security.tlsClientCAPath = tlsClientCa
        (security.tlsListenHost, security.tlsListenPort) = try Serve.hostPort(tlsListen, flag: "--tls-listen", portMin: 0)
        if let tlsAdvertise {
            let (host, port) = try Serve.hostPort(tlsAdvertise, flag: "--tls-advertise", portMin: 1)
            (security.tlsAdvertisedHost, security.tlsAdvertisedPort) = (host, port)
        }
        security.saslUsersPath = saslUsers
        security.saslPlaintextAllowed = saslAllowPlaintext
        security.aclPath = acl
    }
}

/// Reloads the server's users and ACL files on each SIGHUP until cancelled.
/// Unchecked: the source is only kept alive and cancelled.
final class HangupReloader: @unchecked Sendable {
    private let source: any DispatchSourceSignal

    init(_ server: KafkaServer) {
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { server.reloadSecurityFiles() }
        source.resume()
    }

    func cancel() { source.cancel() }
}

extension Serve {
    static func reloadOnHangup(_ server: KafkaServer) -> HangupReloader { HangupReloader(server) }
}
