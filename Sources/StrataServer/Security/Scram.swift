import Crypto
import Foundation

/// The hash a SCRAM mechanism is built on (RFC 5802 §2.2: H, HMAC and Hi).
enum ScramHash: Sendable {
    /// RFC 5802's own examples; no mechanism is offered with it.
    case sha1
    case sha256
    case sha512

    /// HMAC(key, data).
    func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        let key = SymmetricKey(data: key)
        switch self {
        case .sha1: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: key))
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: key))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: data, using: key))
        }
    }

    /// H(data).
    func hash(_ data: [UInt8]) -> [UInt8] {
        switch self {
        case .sha1: return Array(Insecure.SHA1.hash(data: data))
        case .sha256: return Array(SHA256.hash(data: data))
        case .sha512: return Array(SHA512.hash(data: data))
        }
    }

    /// Hi(password, salt, i): PBKDF2 with HMAC as the PRF and one block of output (RFC 5802 §2.2).
    func hi(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        var u = hmac(key: password, salt + [0, 0, 0, 1])
        var result = u
        for _ in 1 ..< max(1, iterations) {
            u = hmac(key: password, u)
            for i in result.indices { result[i] ^= u[i] }
        }
        return result
    }
}

/// What the server keeps of one user's password for one SCRAM hash: never the password
/// (formats/sasl-users.md).
struct ScramCredential: Sendable, Equatable {
    var salt: [UInt8]
    var iterations: Int
    var storedKey: [UInt8]
    var serverKey: [UInt8]

    /// The fewest iterations accepted (RFC 7677 §4 asks at least 4096).
    static let iterationsMin = 4096
    /// The most accepted: a file cannot make each login cost minutes.
    static let iterationsMax = 1_000_000

    /// Derives the credential of `password` (SaltedPassword, ClientKey, StoredKey, ServerKey).
    init(hash: ScramHash, password: [UInt8], salt: [UInt8], iterations: Int) {
        let salted = hash.hi(password: password, salt: salt, iterations: iterations)
        let clientKey = hash.hmac(key: salted, Array("Client Key".utf8))
        self.salt = salt
        self.iterations = iterations
        self.storedKey = hash.hash(clientKey)
        self.serverKey = hash.hmac(key: salted, Array("Server Key".utf8))
    }

    init(salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8]) {
        (self.salt, self.iterations, self.storedKey, self.serverKey) = (salt, iterations, storedKey, serverKey)
    }

    /// True when `password` derives this credential (PLAIN's check), compared in constant time.
    func matches(password: [UInt8], hash: ScramHash) -> Bool {
        let derived = ScramCredential(hash: hash, password: password, salt: salt, iterations: iterations)
        return ConstantTime.equal(derived.storedKey, storedKey)
    }
}

enum ConstantTime {
    /// Equal contents, in time that depends only on the lengths.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}

/// The server side of one SCRAM exchange (RFC 5802 §3, RFC 7677): client-first →
/// server-first (nonce, salt, iterations), client-final (proof) → server-final (signature).
/// Any failure is one `ScramFailure` whose text never says which part was wrong.
struct ScramServer: Sendable {
    enum Step: Sendable {
        /// Send these bytes and wait for the client's next message.
        case challenge([UInt8])
        /// Send these bytes: the client is authenticated as `user`.
        case done(user: String, [UInt8])
    }

    struct Failure: Error, Sendable {
        /// A reason for the server's log; never a secret, and never sent to the client.
        var reason: String
    }

    let hash: ScramHash
    private let lookup: @Sendable (String) -> ScramCredential?
    private let serverNonce: String
    private var state: State = .start

    private enum State: Sendable {
        case start
        case sentFirst(user: String, clientFirstBare: String, serverFirst: String, nonce: String,
            gs2Header: String, credential: ScramCredential?)
        case finished
    }

    /// - Parameters:
    ///   - lookup: a user's credential for this hash, nil for an unknown user.
    ///   - serverNonce: the server's share of the nonce (random in the server, fixed in tests).
    init(hash: ScramHash, serverNonce: String, lookup: @escaping @Sendable (String) -> ScramCredential?) {
        (self.hash, self.serverNonce, self.lookup) = (hash, serverNonce, lookup)
    }

    /// A fresh random server nonce: 24 bytes as base64 (printable, no comma).
    static func randomNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0 ..< 24).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }).base64EncodedString()
    }

    /// Takes the client's next message.
    mutating func step(_ message: [UInt8]) throws(Failure) -> Step {
        guard let text = String(validating: message, as: UTF8.self) else { throw Failure(reason: "not UTF-8") }
        switch state {
        case .start: return try clientFirst(text)
        case .sentFirst(let user, let bare, let serverFirst, let nonce, let gs2, let credential):
            state = .finished
            return try clientFinal(
                text, user: user, clientFirstBare: bare, serverFirst: serverFirst, nonce: nonce, gs2Header: gs2,
                credential: credential)
        case .finished: throw Failure(reason: "message after the exchange ended")
        }
    }

    private mutating func clientFirst(_ text: String) throws(Failure) -> Step {
        // gs2-header: "n,," or "y,," (no channel binding), optionally "a=authzid"; "p=" is refused.
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "n" || parts[0] == "y" else {
            throw Failure(reason: "client-first-message without a gs2 header this server accepts (n or y)")
        }
        let gs2Header = "\(parts[0]),\(parts[1]),"
        let bare = String(parts[2])
        let attributes = Self.attributes(bare)
        guard let encodedUser = attributes.first(where: { $0.key == "n" })?.value,
            let clientNonce = attributes.first(where: { $0.key == "r" })?.value, !clientNonce.isEmpty,
            let user = Self.decodeSaslName(encodedUser), !user.isEmpty
        else { throw Failure(reason: "client-first-message without n= and r=") }
        if !parts[1].isEmpty, parts[1] != "a=\(encodedUser)" {
            throw Failure(reason: "authorization identity differs from the user")
        }
        // An unknown user goes through the whole exchange with a made-up salt, so the answer to
        // the client-first message does not tell which users exist.
        let credential = lookup(user)
        let salt = credential?.salt ?? hash.hash(Array("strata-unknown-user:\(user)".utf8)).prefix(16).map { $0 }
        let iterations = credential?.iterations ?? ScramCredential.iterationsMin
        let nonce = clientNonce + serverNonce
        let serverFirst = "r=\(nonce),s=\(Data(salt).base64EncodedString()),i=\(iterations)"
        state = .sentFirst(
            user: user, clientFirstBare: bare, serverFirst: serverFirst, nonce: nonce, gs2Header: gs2Header,
            credential: credential)
        return .challenge(Array(serverFirst.utf8))
    }

    private func clientFinal(
        _ text: String, user: String, clientFirstBare: String, serverFirst: String, nonce: String, gs2Header: String,
        credential: ScramCredential?
    ) throws(Failure) -> Step {
        guard let proofRange = text.range(of: ",p=", options: .backwards) else {
            throw Failure(reason: "client-final-message without a proof")
        }
        let withoutProof = String(text[..<proofRange.lowerBound])
        let attributes = Self.attributes(withoutProof)
        guard attributes.first(where: { $0.key == "c" })?.value == Data(gs2Header.utf8).base64EncodedString() else {
            throw Failure(reason: "channel binding differs from the gs2 header")
        }
        guard attributes.first(where: { $0.key == "r" })?.value == nonce else {
            throw Failure(reason: "nonce differs from the server's")
        }
        guard let proof = Data(base64Encoded: String(text[proofRange.upperBound...])).map(Array.init),
            let credential, proof.count == credential.storedKey.count
        else { throw Failure(reason: "invalid credentials") }
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = hash.hmac(key: credential.storedKey, authMessage)
        let clientKey = zip(proof, clientSignature).map { $0 ^ $1 }
        guard ConstantTime.equal(hash.hash(clientKey), credential.storedKey) else {
            throw Failure(reason: "invalid credentials")
        }
        let serverSignature = hash.hmac(key: credential.serverKey, authMessage)
        return .done(user: user, Array("v=\(Data(serverSignature).base64EncodedString())".utf8))
    }

    /// `k=v` attributes separated by commas.
    static func attributes(_ text: String) -> [(key: String, value: String)] {
        text.split(separator: ",", omittingEmptySubsequences: false).compactMap { part in
            guard part.count >= 2, part[part.index(after: part.startIndex)] == "=" else { return nil }
            return (String(part.prefix(1)), String(part.dropFirst(2)))
        }
    }

    /// A saslname: "=2C" is a comma, "=3D" an equals sign; any other "=" is malformed (nil).
    static func decodeSaslName(_ name: String) -> String? {
        var result = ""
        var rest = Substring(name)
        while let equals = rest.firstIndex(of: "=") {
            result += rest[..<equals]
            let code = rest[rest.index(after: equals)...].prefix(2)
            switch code {
            case "2C": result += ","
            case "3D": result += "="
            default: return nil
            }
            rest = rest[rest.index(equals, offsetBy: 3)...]
        }
        return result + rest
    }
}
