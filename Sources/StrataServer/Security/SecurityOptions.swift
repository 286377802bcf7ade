/// How `strata serve` secures its front door (docs/ARCHITECTURE.md §2n): TLS, SASL, ACLs.
/// Everything off by default: one plaintext listener, no authentication, everything allowed.
public struct SecurityOptions: Sendable {
    /// PEM certificate chain and private key of the TLS listener; both or neither.
    public var tlsCertPath: String? = nil
    public var tlsKeyPath: String? = nil
    /// PEM CA certificates a client's certificate must chain to; nil: clients send none.
    /// A verified certificate's subject CN becomes the principal `User:CN` (unless SASL names one).
    public var tlsClientCAPath: String? = nil
    /// Where the TLS listener binds (with a certificate); port 0 picks a free one.
    public var tlsListenHost = "127.0.0.1"
    public var tlsListenPort = 9093
    /// What Metadata tells a client connected over TLS; nil: the TLS listener's address.
    public var tlsAdvertisedHost: String? = nil
    public var tlsAdvertisedPort: Int? = nil
    /// False: no plaintext listener (`--listen none`); TLS must be on.
    public var plaintextEnabled = true
    /// The `--sasl-users` file (formats/sasl-users.md); set, every listener requires SASL.
    public var saslUsersPath: String? = nil
    /// Allows SASL on a plaintext listener that is not loopback (passwords cross the network in clear with PLAIN).
    public var saslPlaintextAllowed = false
    /// The `--acl` file (formats/acl.md); nil: everything is allowed.
    public var aclPath: String? = nil
    /// Rate limits answered with ThrottleTimeMs (Quotas.swift); none by default.
    public var quotas = QuotaOptions()

    public init() {}

    /// True when a TLS listener is configured.
    public var tlsEnabled: Bool { tlsCertPath != nil }

    /// Checks how the options combine.
    /// - Throws: `KafkaServerError.invalidOption` naming the options.
    func validate(plaintextHost: String) throws(KafkaServerError) {
        try quotas.validate()
        guard (tlsCertPath == nil) == (tlsKeyPath == nil) else {
            throw .invalidOption("--tls-cert and --tls-key go together")
        }
        if tlsClientCAPath != nil, !tlsEnabled { throw .invalidOption("--tls-client-ca needs --tls-cert and --tls-key") }
        guard (0 ... 65535).contains(tlsListenPort) else {
            throw .invalidOption("TLS listen port \(tlsListenPort) is not 0-65535")
        }
        if let tlsAdvertisedPort, !(1 ... 65535).contains(tlsAdvertisedPort) {
            throw .invalidOption("TLS advertised port \(tlsAdvertisedPort) is not 1-65535")
        }
        guard plaintextEnabled || tlsEnabled else {
            throw .invalidOption("--listen none leaves no listener: give --tls-cert and --tls-key")
        }
        if saslUsersPath != nil, plaintextEnabled, !saslPlaintextAllowed, !Self.isLoopback(plaintextHost) {
            throw .invalidOption(
                "SASL on the plaintext listener \(plaintextHost) (not loopback) sends credentials unencrypted: use "
                    + "TLS (--tls-cert, --listen none) or --sasl-allow-plaintext")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}
