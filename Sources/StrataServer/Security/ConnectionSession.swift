import Synchronization

/// The listener a connection came in on, and what Metadata advertises to it.
struct Listener: Sendable {
    /// `plaintext` or `tls`, for log lines.
    var name: String
    var tls: Bool
    var advertisedHost: String
    var advertisedPort: Int32
}

/// One connection's security state, handed to `RequestDispatcher.respond` with each request:
/// who it is (the principal) and where it is in SASL authentication.
final class ConnectionSession: Sendable {
    /// Where a connection is in SASL (RFC 4422 over Kafka's SaslHandshake/SaslAuthenticate).
    enum SaslStage: Sendable {
        /// No SaslHandshake yet.
        case start
        /// SaslHandshake done; `raw`: v0, the tokens come as raw frames, not SaslAuthenticate.
        case handshook(SaslMechanism, raw: Bool)
        /// A SCRAM exchange between its first and its final message.
        case scram(ScramServer, raw: Bool)
        case authenticated
    }

    private struct State {
        var principal = ConnectionSession.anonymous
        var sasl = SaslStage.start
        /// The connection's own budget (`--quota-scope connection`).
        var quotaMeters = QuotaMeters()
        /// The throttle the last answer carried: the connection reads nothing more until it passes.
        var throttleMs = 0
    }

    static let anonymous = "User:ANONYMOUS"

    let peer: String
    let listener: Listener
    private let state = Mutex(State())

    init(peer: String, listener: Listener) {
        (self.peer, self.listener) = (peer, listener)
    }

    /// `User:NAME`: SASL's user, else a verified client certificate's CN, else `User:ANONYMOUS`.
    var principal: String {
        get { state.withLock { $0.principal } }
        set { state.withLock { $0.principal = newValue } }
    }

    var sasl: SaslStage {
        get { state.withLock { $0.sasl } }
        set { state.withLock { $0.sasl = newValue } }
    }

    /// Runs `body` on this connection's quota meters.
    func withQuotaMeters<R>(_ body: (inout QuotaMeters) -> R) -> R { state.withLock { body(&$0.quotaMeters) } }

    /// The throttle of the answer just sent (set by the dispatcher), reset to 0.
    func takeThrottleMs() -> Int {
        state.withLock { s in
            defer { s.throttleMs = 0 }
            return s.throttleMs
        }
    }

    func setThrottleMs(_ milliseconds: Int) { state.withLock { $0.throttleMs = milliseconds } }

    var isAuthenticated: Bool {
        if case .authenticated = sasl { return true }
        return false
    }

    /// True while the next frame is a raw SASL token (after SaslHandshake v0), not a request.
    var expectsRawToken: Bool {
        switch sasl {
        case .handshook(_, let raw), .scram(_, let raw): return raw
        case .start, .authenticated: return false
        }
    }
}
