import NIOSSL
import Synchronization

/// What the server loaded from its security options at start: the TLS context, the SASL users,
/// the ACL rules (both replaced by `reload`).
final class ServerSecurity: Sendable {
    let options: SecurityOptions
    let tlsContext: NIOSSLContext?
    /// The rate limits and their meters.
    let quotas: Quotas
    private let usersInForce: Mutex<SaslUsers?>
    private let acl: Mutex<AclRules?>

    /// Loads every file the options name.
    /// - Throws: `KafkaServerError.tls`, `.saslUsers` or `.acl` naming the file and what is wrong.
    init(_ options: SecurityOptions) throws(KafkaServerError) {
        self.options = options
        self.quotas = Quotas(options.quotas)
        self.tlsContext = try Self.tlsContext(options)
        do throws(SaslUsersError) {
            self.usersInForce = Mutex(try options.saslUsersPath.map { path throws(SaslUsersError) in
                try Self.loadUsers(path)
            })
        } catch {
            throw .saslUsers(error.description)
        }
        do throws(AclError) {
            self.acl = Mutex(try options.aclPath.map { path throws(AclError) in try AclRules.load(path: path) })
        } catch {
            throw .acl(error.description)
        }
    }

    /// True when every request but ApiVersions and the SASL ones waits for authentication.
    var saslRequired: Bool { options.saslUsersPath != nil }

    /// The users in force (nil without `--sasl-users`); a SIGHUP may replace them.
    var users: SaslUsers? { usersInForce.withLock { $0 } }

    /// A users file with at least one user: an empty one would let nobody connect.
    private static func loadUsers(_ path: String) throws(SaslUsersError) -> SaslUsers {
        let users = try SaslUsers.load(path: path)
        guard !users.entries.isEmpty else {
            throw SaslUsersError(path: path, line: 0, message: "no users: nobody could connect (strata users add makes one)")
        }
        return users
    }

    /// True when the ACLs let `principal` do `operation` to the named topic or group (no `--acl`: always).
    func allows(_ principal: String, _ operation: AclOperation, _ resource: AclResource, _ name: String) -> Bool {
        acl.withLock { $0?.allows(principal, operation, resource, name) ?? true }
    }

    /// Reads the users and ACL files again (SIGHUP). A bad file keeps what is in force from it;
    /// exchanges already past their handshake finish with the users they started with.
    /// - Returns: lines for the log saying what happened.
    func reload() -> [String] {
        var lines: [String] = []
        if let path = options.saslUsersPath {
            do throws(SaslUsersError) {
                let users = try Self.loadUsers(path)
                usersInForce.withLock { $0 = users }
                lines.append("SIGHUP: reloaded \(path): \(users.entries.count) user credentials")
            } catch {
                lines.append("SIGHUP: \(error); the previous users stay in force")
            }
        }
        if options.aclPath != nil { lines.append(reloadAcl()) }
        return lines.isEmpty ? ["SIGHUP: no --sasl-users or --acl file to reload"] : lines
    }

    /// Reads the ACL file again. A bad file keeps the rules in force.
    /// - Returns: a line for the log saying what happened.
    private func reloadAcl() -> String {
        guard let path = options.aclPath else { return "SIGHUP: no --acl file to reload" }
        do throws(AclError) {
            let rules = try AclRules.load(path: path)
            acl.withLock { $0 = rules }
            return "SIGHUP: reloaded \(path): \(rules.rules.count) rules"
        } catch {
            return "SIGHUP: \(error); the previous rules stay in force"
        }
    }

    private static func tlsContext(_ options: SecurityOptions) throws(KafkaServerError) -> NIOSSLContext? {
        guard let certPath = options.tlsCertPath, let keyPath = options.tlsKeyPath else { return nil }
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(certPath) } catch {
            throw .tls("--tls-cert \(certPath): not a readable PEM certificate (\(error))")
        }
        guard !chain.isEmpty else { throw .tls("--tls-cert \(certPath): no certificate in the file") }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: keyPath, format: .pem) } catch {
            throw .tls("--tls-key \(keyPath): not a readable PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let caPath = options.tlsClientCAPath {
            let roots: [NIOSSLCertificate]
            do { roots = try NIOSSLCertificate.fromPEMFile(caPath) } catch {
                throw .tls("--tls-client-ca \(caPath): not a readable PEM certificate (\(error))")
            }
            guard !roots.isEmpty else { throw .tls("--tls-client-ca \(caPath): no certificate in the file") }
            configuration.trustRoots = .certificates(roots)
            // Clients have no host name to check; the chain to the CA is what counts.
            configuration.certificateVerification = .noHostnameVerification
        }
        do { return try NIOSSLContext(configuration: configuration) } catch {
            throw .tls("--tls-cert \(certPath) with --tls-key \(keyPath): \(error) (does the key belong to the certificate?)")
        }
    }

    /// The subject CN of the client's verified certificate, read on the channel's event loop.
    static func clientCommonName(_ handler: NIOSSLHandler) -> String? {
        handler.peerCertificate?.subjectName.last { $0.type == .commonName }?.value
    }
}
