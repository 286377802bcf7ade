import NIOSSL
import Synchronization

/// What the server loaded from its security options at start: the TLS context, the SASL users,
/// the ACL rules (replaced on `reloadAcl`).
final class ServerSecurity: Sendable {
    let options: SecurityOptions
    let tlsContext: NIOSSLContext?
    let users: SaslUsers?
    private let acl: Mutex<AclRules?>

    /// Loads every file the options name.
    /// - Throws: `KafkaServerError.tls`, `.saslUsers` or `.acl` naming the file and what is wrong.
    init(_ options: SecurityOptions) throws(KafkaServerError) {
        self.options = options
        self.tlsContext = try Self.tlsContext(options)
        do throws(SaslUsersError) {
            self.users = try options.saslUsersPath.map { path throws(SaslUsersError) in try SaslUsers.load(path: path) }
        } catch {
            throw .saslUsers(error.description)
        }
        if let users, users.entries.isEmpty, let path = options.saslUsersPath {
            throw .saslUsers("\(path): no users: nobody could connect (strata users add makes one)")
        }
        do throws(AclError) {
            self.acl = Mutex(try options.aclPath.map { path throws(AclError) in try AclRules.load(path: path) })
        } catch {
            throw .acl(error.description)
        }
    }

    /// True when every request but ApiVersions and the SASL ones waits for authentication.
    var saslRequired: Bool { users != nil }

    /// True when the ACLs let `principal` do `operation` to the named topic or group (no `--acl`: always).
    func allows(_ principal: String, _ operation: AclOperation, _ resource: AclResource, _ name: String) -> Bool {
        acl.withLock { $0?.allows(principal, operation, resource, name) ?? true }
    }

    /// Reads the ACL file again. A bad file keeps the rules in force.
    /// - Returns: a line for the log saying what happened.
    func reloadAcl() -> String {
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
