import Foundation

/// A SASL mechanism `strata serve` offers.
public enum SaslMechanism: String, Sendable, CaseIterable {
    case plain = "PLAIN"
    case scramSha256 = "SCRAM-SHA-256"
    case scramSha512 = "SCRAM-SHA-512"

    /// The SCRAM mechanisms, as a users file names them (lower case).
    public static let scram: [SaslMechanism] = [.scramSha256, .scramSha512]

    /// The name a users file and `strata users add --mechanism` use: `scram-sha-256`, `scram-sha-512`.
    public var fileName: String { rawValue.lowercased() }

    var scramHash: ScramHash? {
        switch self {
        case .plain: return nil
        case .scramSha256: return .sha256
        case .scramSha512: return .sha512
        }
    }
}

/// A `--sasl-users` file that cannot be used, with the file and line.
public struct SaslUsersError: Error, Sendable, CustomStringConvertible {
    public var path: String
    /// 1-based; 0 when the file as a whole is the problem (unreadable).
    public var line: Int
    public var message: String

    public init(path: String, line: Int, message: String) {
        (self.path, self.line, self.message) = (path, line, message)
    }

    public var description: String { line > 0 ? "\(path):\(line): \(message)" : "\(path): \(message)" }
}

/// The users `strata serve` authenticates (formats/sasl-users.md): per user and SCRAM mechanism
/// the salt, iterations, StoredKey and ServerKey; never a password.
public struct SaslUsers: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var user: String
        public var mechanism: SaslMechanism
        var credential: ScramCredential
    }

    public private(set) var entries: [Entry] = []

    public init() {}

    static let header = "# strata sasl-users 1"

    /// The credential of `user` for `mechanism`, or nil.
    func credential(_ user: String, _ mechanism: SaslMechanism) -> ScramCredential? {
        entries.first { $0.user == user && $0.mechanism == mechanism }?.credential
    }

    /// The mechanisms a client may use: PLAIN and each SCRAM mechanism some user has.
    var mechanisms: [SaslMechanism] {
        entries.isEmpty ? [] : [.plain] + SaslMechanism.scram.filter { m in entries.contains { $0.mechanism == m } }
    }

    /// PLAIN's check: the password derives one of the user's stored credentials (SHA-512 first).
    func plainMatches(user: String, password: [UInt8]) -> Bool {
        var matched = false
        for mechanism in [SaslMechanism.scramSha512, .scramSha256] {
            guard let credential = credential(user, mechanism), let hash = mechanism.scramHash else { continue }
            matched = credential.matches(password: password, hash: hash)
            break
        }
        return matched
    }

    /// A user name a file can hold: non-empty UTF-8 without whitespace or control characters.
    public static func isValidUser(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 256
            && !name.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }
    }

    /// Adds (or with `replace`, replaces) the entry of `user` and `mechanism`, derived from
    /// `password` with a fresh 16-byte salt.
    /// - Throws: `SaslUsersError` when the name is not valid, the mechanism is not SCRAM, the
    ///   iterations are out of range, or the entry exists and `replace` is false.
    public mutating func add(
        user: String, mechanism: SaslMechanism, password: [UInt8], iterations: Int = 8192, replace: Bool,
        path: String
    ) throws(SaslUsersError) {
        guard Self.isValidUser(user) else {
            throw SaslUsersError(path: path, line: 0, message: "user name '\(user)' is empty, too long or has spaces")
        }
        guard let hash = mechanism.scramHash else {
            throw SaslUsersError(path: path, line: 0, message: "mechanism \(mechanism.rawValue) stores nothing (PLAIN uses the SCRAM entries)")
        }
        guard (ScramCredential.iterationsMin ... ScramCredential.iterationsMax).contains(iterations) else {
            throw SaslUsersError(
                path: path, line: 0,
                message: "iterations \(iterations) is not in \(ScramCredential.iterationsMin)...\(ScramCredential.iterationsMax)")
        }
        let existing = entries.firstIndex { $0.user == user && $0.mechanism == mechanism }
        if existing != nil, !replace {
            throw SaslUsersError(
                path: path, line: 0, message: "user \(user) already has a \(mechanism.fileName) entry (--replace replaces it)")
        }
        var generator = SystemRandomNumberGenerator()
        let salt = (0 ..< 16).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
        let entry = Entry(
            user: user, mechanism: mechanism,
            credential: ScramCredential(hash: hash, password: password, salt: salt, iterations: iterations))
        if let existing { entries[existing] = entry } else { entries.append(entry) }
    }

    /// The file's text.
    public func encoded() -> String {
        var text = Self.header + "\n# user mechanism iterations salt stored-key server-key (base64)\n"
        for entry in entries {
            let c = entry.credential
            text += [
                entry.user, entry.mechanism.fileName, String(c.iterations), Data(c.salt).base64EncodedString(),
                Data(c.storedKey).base64EncodedString(), Data(c.serverKey).base64EncodedString(),
            ].joined(separator: " ") + "\n"
        }
        return text
    }

    /// Parses a users file's text. Blank lines and lines starting with `#` are skipped.
    /// - Throws: `SaslUsersError` naming the first bad line.
    public static func parse(_ text: String, path: String) throws(SaslUsersError) -> SaslUsers {
        var users = SaslUsers()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            func bad(_ message: String) -> SaslUsersError { SaslUsersError(path: path, line: index + 1, message: message) }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count == 6 else {
                throw bad("\(fields.count) fields; expected: user mechanism iterations salt stored-key server-key")
            }
            guard isValidUser(fields[0]) else { throw bad("user name is not valid") }
            guard let mechanism = SaslMechanism.scram.first(where: { $0.fileName == fields[1].lowercased() }),
                let hash = mechanism.scramHash
            else { throw bad("mechanism '\(fields[1])' is not scram-sha-256 or scram-sha-512") }
            guard let iterations = Int(fields[2]),
                (ScramCredential.iterationsMin ... ScramCredential.iterationsMax).contains(iterations)
            else {
                throw bad("iterations '\(fields[2])' is not in \(ScramCredential.iterationsMin)...\(ScramCredential.iterationsMax)")
            }
            let keyBytes = hash.hash([]).count
            func decoded(_ field: Int, _ name: String, count: Int?) throws(SaslUsersError) -> [UInt8] {
                guard let bytes = Data(base64Encoded: fields[field]).map(Array.init), !bytes.isEmpty else {
                    throw bad("\(name) is not base64")
                }
                if let count, bytes.count != count {
                    throw bad("\(name) has \(bytes.count) bytes; \(mechanism.fileName) has \(count)")
                }
                return bytes
            }
            let salt = try decoded(3, "salt", count: nil)
            let stored = try decoded(4, "stored-key", count: keyBytes)
            let server = try decoded(5, "server-key", count: keyBytes)
            guard users.credential(fields[0], mechanism) == nil else {
                throw bad("user \(fields[0]) has a second \(mechanism.fileName) entry")
            }
            users.entries.append(
                Entry(
                    user: fields[0], mechanism: mechanism,
                    credential: ScramCredential(salt: salt, iterations: iterations, storedKey: stored, serverKey: server)))
        }
        return users
    }

    /// Reads and parses a users file.
    public static func load(path: String) throws(SaslUsersError) -> SaslUsers {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SaslUsersError(path: path, line: 0, message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, path: path)
    }
}
