import Foundation
import StrataKafka

// SaslHandshake and SaslAuthenticate (KIP-43, KIP-152): PLAIN and SCRAM-SHA-256/512 against
// the `--sasl-users` file. A failed authentication is answered once and the connection closes.
extension RequestDispatcher {
    /// The one text a client gets for any failed authentication: never which part was wrong.
    static func authenticationFailed(_ mechanism: SaslMechanism) -> String {
        "Authentication failed: invalid user name or password (SASL mechanism \(mechanism.rawValue))"
    }

    /// SaslHandshake 0–1: picks the mechanism; v0 means the tokens follow as raw frames.
    func saslHandshake(_ request: KafkaRequest, session: ConnectionSession) throws(KafkaDecodeError) -> KafkaStruct {
        let asked = try request.body.string("Mechanism") ?? ""
        let enabled = security.users?.mechanisms ?? []
        func answer(_ code: KafkaErrorCode) -> KafkaStruct {
            ["ErrorCode": code.value, "Mechanisms": .strings(enabled.map(\.rawValue))]
        }
        guard case .start = session.sasl, !enabled.isEmpty else {
            log("connection \(session.peer): SaslHandshake \(asked) out of order or SASL not enabled: ILLEGAL_SASL_STATE")
            return answer(.illegalSaslState)
        }
        guard let mechanism = enabled.first(where: { $0.rawValue == asked }) else {
            log("connection \(session.peer): SASL mechanism '\(asked)' is not enabled: UNSUPPORTED_SASL_MECHANISM")
            return answer(.unsupportedSaslMechanism)
        }
        session.sasl = .handshook(mechanism, raw: request.version == 0)
        return answer(.none)
    }

    /// SaslAuthenticate 0–2: one step of the exchange the handshake chose.
    func saslAuthenticate(_ request: KafkaRequest, session: ConnectionSession) throws(KafkaDecodeError) -> Answer {
        let token = try request.body.bytes("AuthBytes") ?? []
        func body(_ code: KafkaErrorCode, _ message: String?, _ bytes: [UInt8]) -> KafkaStruct {
            ["ErrorCode": code.value, "ErrorMessage": .string(message), "AuthBytes": .bytes(bytes), "SessionLifetimeMs": .int(0)]
        }
        if session.expectsRawToken || !saslInProgress(session) {
            log("connection \(session.peer): SaslAuthenticate without a SaslHandshake v1 first: ILLEGAL_SASL_STATE")
            return .bodyThenClose(
                body(.illegalSaslState, "SaslAuthenticate needs a SaslHandshake v1 first", []), "SASL out of order")
        }
        switch saslStep(token, session: session) {
        case .success(let bytes): return .body(body(.none, nil, bytes))
        case .failure(let failure):
            return .bodyThenClose(body(.saslAuthenticationFailed, failure.clientMessage, []), "SASL authentication failed")
        }
    }

    /// A raw token after SaslHandshake v0: the answer is a raw frame; a failure closes at once.
    func saslRawToken(_ frame: [UInt8], session: ConnectionSession) -> Reply {
        switch saslStep(frame, session: session) {
        case .success(let bytes): return .send(KafkaResponse.framed(bytes))
        case .failure: return .close("SASL authentication failed")
        }
    }

    private func saslInProgress(_ session: ConnectionSession) -> Bool {
        switch session.sasl {
        case .handshook, .scram: return true
        case .start, .authenticated: return false
        }
    }

    struct SaslFailure: Error {
        var clientMessage: String
    }

    /// Feeds one token to the session's exchange; on success the bytes to send back (empty
    /// when the client is authenticated by PLAIN).
    private func saslStep(_ token: [UInt8], session: ConnectionSession) -> Result<[UInt8], SaslFailure> {
        guard let users = security.users else { return .failure(SaslFailure(clientMessage: "SASL is not enabled")) }
        switch session.sasl {
        case .handshook(.plain, _):
            let (user, ok) = Self.checkPlain(token, users: users)
            guard ok, let user else {
                log("connection \(session.peer): SASL PLAIN authentication failed (user \(user.map { "'\($0)'" } ?? "unreadable"))")
                session.sasl = .start
                return .failure(SaslFailure(clientMessage: Self.authenticationFailed(.plain)))
            }
            authenticated(session, user: user, mechanism: .plain)
            return .success([])
        case .handshook(let mechanism, let raw):
            guard let hash = mechanism.scramHash else { return .failure(SaslFailure(clientMessage: "bad state")) }
            let server = ScramServer(hash: hash, serverNonce: ScramServer.randomNonce()) { user in
                users.credential(user, mechanism)
            }
            return scramStep(server, token, mechanism: mechanism, raw: raw, session: session)
        case .scram(let server, let raw):
            let mechanism: SaslMechanism = server.hash == .sha512 ? .scramSha512 : .scramSha256
            return scramStep(server, token, mechanism: mechanism, raw: raw, session: session)
        case .start, .authenticated:
            return .failure(SaslFailure(clientMessage: "SASL out of order"))
        }
    }

    private func scramStep(
        _ server: ScramServer, _ token: [UInt8], mechanism: SaslMechanism, raw: Bool, session: ConnectionSession
    ) -> Result<[UInt8], SaslFailure> {
        var server = server
        do throws(ScramServer.Failure) {
            switch try server.step(token) {
            case .challenge(let bytes):
                session.sasl = .scram(server, raw: raw)
                return .success(bytes)
            case .done(let user, let bytes):
                authenticated(session, user: user, mechanism: mechanism)
                return .success(bytes)
            }
        } catch {
            log("connection \(session.peer): SASL \(mechanism.rawValue) authentication failed: \(error.reason)")
            session.sasl = .start
            return .failure(SaslFailure(clientMessage: Self.authenticationFailed(mechanism)))
        }
    }

    private func authenticated(_ session: ConnectionSession, user: String, mechanism: SaslMechanism) {
        session.sasl = .authenticated
        session.principal = "User:\(user)"
        log("connection \(session.peer): authenticated as User:\(user) (SASL \(mechanism.rawValue), \(session.listener.name))")
    }

    /// PLAIN's message `[authzid] NUL authcid NUL passwd` (RFC 4616) checked against the users'
    /// stored SCRAM credentials. Returns the user name when it could be read.
    static func checkPlain(_ token: [UInt8], users: SaslUsers) -> (user: String?, ok: Bool) {
        let parts = token.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let user = String(validating: parts[1], as: UTF8.self), !user.isEmpty else {
            return (nil, false)
        }
        let authzid = String(decoding: parts[0], as: UTF8.self)
        guard authzid.isEmpty || authzid == user else { return (user, false) }
        return (user, users.plainMatches(user: user, password: Array(parts[2])))
    }
}
