import Foundation
import Strata
import StrataKafka
import Testing

@testable import StrataServer

/// Issue 18's security of the front door: SCRAM against the RFCs' vectors, the users and ACL
/// files' parsers, and a real server gating requests on SASL and ACLs.
@Suite
struct ServerSecurityTests {
    // MARK: SCRAM

    /// RFC 7677 §3: SCRAM-SHA-256, user "user", password "pencil".
    @Test func scramSha256MatchesRfc7677() throws {
        let salt = try #require(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")).map { $0 }
        let credential = ScramCredential(hash: .sha256, password: Array("pencil".utf8), salt: salt, iterations: 4096)
        var server = ScramServer(hash: .sha256, serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0") { user in
            user == "user" ? credential : nil
        }
        let first = try server.step(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        guard case .challenge(let serverFirst) = first else { Issue.record("no challenge"); return }
        #expect(
            String(decoding: serverFirst, as: UTF8.self)
                == "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        let final = try server.step(
            Array(
                "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                    .utf8))
        guard case .done(let user, let serverFinal) = final else { Issue.record("not done"); return }
        #expect(user == "user")
        #expect(String(decoding: serverFinal, as: UTF8.self) == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    }

    /// RFC 5802 §5: the same exchange over SHA-1 (Hi, the proof and the signature logic).
    @Test func scramSha1MatchesRfc5802() throws {
        let salt = try #require(Data(base64Encoded: "QSXCR+Q6sek8bf92")).map { $0 }
        let credential = ScramCredential(hash: .sha1, password: Array("pencil".utf8), salt: salt, iterations: 4096)
        var server = ScramServer(hash: .sha1, serverNonce: "3rfcNHYJY1ZVvWVs7j") { _ in credential }
        _ = try server.step(Array("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL".utf8))
        let final = try server.step(
            Array("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=".utf8))
        guard case .done(_, let serverFinal) = final else { Issue.record("not done"); return }
        #expect(String(decoding: serverFinal, as: UTF8.self) == "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
    }

    /// A wrong proof, a changed nonce and an unknown user all fail; an unknown user still gets
    /// a server-first message of the same shape (which users exist is not told).
    @Test func scramRefusesWrongProofNonceAndUnknownUser() throws {
        let salt = try #require(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")).map { $0 }
        let credential = ScramCredential(hash: .sha256, password: Array("pencil".utf8), salt: salt, iterations: 4096)
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        func server() -> ScramServer {
            ScramServer(hash: .sha256, serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0") { $0 == "user" ? credential : nil }
        }
        var wrongProof = server()
        _ = try wrongProof.step(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        #expect(throws: ScramServer.Failure.self) {
            _ = try wrongProof.step(Array("c=biws,r=\(nonce),p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".utf8))
        }
        var wrongNonce = server()
        _ = try wrongNonce.step(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        #expect(throws: ScramServer.Failure.self) {
            _ = try wrongNonce.step(Array("c=biws,r=\(nonce)X,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".utf8))
        }
        var unknown = server()
        let first = try unknown.step(Array("n,,n=nobody,r=rOprNGfwEbeRWgbNEkqO".utf8))
        guard case .challenge(let bytes) = first else { Issue.record("no challenge"); return }
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("r=\(nonce),s="))
        #expect(throws: ScramServer.Failure.self) {
            _ = try unknown.step(Array("c=biws,r=\(nonce),p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".utf8))
        }
        var channelBinding = server()
        #expect(throws: ScramServer.Failure.self) {
            _ = try channelBinding.step(Array("p=tls-unique,,n=user,r=abc".utf8))
        }
    }

    @Test func saslNamesDecode() {
        #expect(ScramServer.decodeSaslName("a=2Cb=3Dc") == "a,b=c")
        #expect(ScramServer.decodeSaslName("a=2") == nil)
        #expect(ScramServer.decodeSaslName("a=41") == nil)
    }

    // MARK: users file

    @Test func usersFileRoundTripsAndChecksPlain() throws {
        var users = SaslUsers()
        try users.add(user: "alice", mechanism: .scramSha256, password: Array("s3cret".utf8), replace: false, path: "f")
        try users.add(user: "alice", mechanism: .scramSha512, password: Array("s3cret".utf8), replace: false, path: "f")
        #expect(throws: SaslUsersError.self) {
            try users.add(user: "alice", mechanism: .scramSha256, password: Array("x".utf8), replace: false, path: "f")
        }
        let text = users.encoded()
        #expect(!text.contains("s3cret"))
        let parsed = try SaslUsers.parse(text, path: "f")
        #expect(parsed == users)
        #expect(parsed.plainMatches(user: "alice", password: Array("s3cret".utf8)))
        #expect(!parsed.plainMatches(user: "alice", password: Array("s3cret!".utf8)))
        #expect(!parsed.plainMatches(user: "bob", password: Array("s3cret".utf8)))
        #expect(parsed.mechanisms == [.plain, .scramSha256, .scramSha512])
    }

    @Test(arguments: [
        ("alice scram-sha-256 4096 AAAA", 2, "4 fields"),
        ("alice scram-sha-1 4096 AAAA AAAA AAAA", 2, "mechanism 'scram-sha-1'"),
        ("alice scram-sha-256 100 AAAA AAAA AAAA", 2, "iterations '100'"),
        ("alice scram-sha-256 4096 !!!! AAAA AAAA", 2, "salt is not base64"),
        ("alice scram-sha-256 4096 AAAA AAAA AAAA", 2, "stored-key has 3 bytes; scram-sha-256 has 32"),
    ])
    func usersFileErrorsNameTheLine(line: String, number: Int, message: String) {
        let text = "# strata sasl-users 1\n" + line + "\n"
        #expect {
            _ = try SaslUsers.parse(text, path: "users.txt")
        } throws: { error in
            guard let error = error as? SaslUsersError else { return false }
            return error.line == number && error.description.hasPrefix("users.txt:\(number): ")
                && error.message.contains(message)
        }
    }

    @Test func usersFileRefusesASecondEntry() throws {
        var users = SaslUsers()
        try users.add(user: "a", mechanism: .scramSha256, password: Array("p".utf8), replace: false, path: "f")
        let line = users.encoded().split(separator: "\n").last.map(String.init) ?? ""
        #expect(throws: SaslUsersError.self) { _ = try SaslUsers.parse(line + "\n" + line + "\n", path: "f") }
    }

    // MARK: ACL file

    @Test func aclRulesAllowWhatTheyName() throws {
        let acl = try AclRules.parse(
            """
            # orders for alice, everything public to all
            allow User:alice topic orders- read,write
            allow * topic public describe
            allow User:alice group app- read
            allow User:admin topic * all
            """, path: "acl.txt")
        #expect(acl.allows("User:alice", .write, .topic, "orders-eu"))
        #expect(acl.allows("User:alice", .describe, .topic, "orders-eu"))  // read implies describe
        #expect(!acl.allows("User:alice", .create, .topic, "orders-eu"))
        #expect(!acl.allows("User:alice", .write, .topic, "billing"))
        #expect(!acl.allows("User:bob", .read, .topic, "orders-eu"))
        #expect(acl.allows("User:ANONYMOUS", .describe, .topic, "public-x"))
        #expect(!acl.allows("User:ANONYMOUS", .read, .topic, "public-x"))
        #expect(acl.allows("User:alice", .read, .group, "app-1"))
        #expect(!acl.allows("User:alice", .read, .topic, "app-1"))
        #expect(acl.allows("User:admin", .delete, .topic, "anything"))
    }

    @Test(arguments: [
        ("allow User:a topic x", "4 fields"),
        ("deny User:a topic x read", "'deny' is not 'allow'"),
        ("allow alice topic x read", "principal 'alice'"),
        ("allow User:a cluster x read", "resource 'cluster'"),
        ("allow User:a topic x read,alter", "operation 'alter'"),
        ("allow User:a topic x* read", "'*' stands alone"),
    ])
    func aclErrorsNameTheLine(line: String, message: String) {
        #expect {
            _ = try AclRules.parse("allow * topic ok read\n\n" + line, path: "acl.txt")
        } throws: { error in
            guard let error = error as? AclError else { return false }
            return error.line == 3 && error.description.hasPrefix("acl.txt:3: ") && error.message.contains(message)
        }
    }

    // MARK: options and files at start

    @Test func badTlsFilesAreTypedErrorsNamingTheFileAndBindNothing() async throws {
        let directory = NSTemporaryDirectory() + "strata-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cert = directory + "/cert.pem"
        try "not a certificate\n".write(toFile: cert, atomically: true, encoding: .utf8)
        var options = SecurityOptions()
        options.tlsCertPath = cert
        options.tlsKeyPath = directory + "/missing-key.pem"
        #expect {
            _ = try ServerSecurity(options)
        } throws: { error in
            guard case .tls(let why) = error as? KafkaServerError else { return false }
            return why.contains(cert)
        }
        let lakePath = directory + "/lake"
        let lake = try Lake.open(lakePath, options: { var o = LakeOptions(); o.backgroundOffload = false; return o }())
        var serverOptions = KafkaServerOptions()
        serverOptions.listenPort = 0
        serverOptions.security = options
        serverOptions.log = { _ in }
        let server = KafkaServer(lake: lake, options: serverOptions)
        await #expect(throws: KafkaServerError.self) { _ = try await server.start() }
        #expect(server.listeners.isEmpty)
        try await lake.close()
    }

    @Test func saslOnAPublicPlaintextListenerNeedsTheFlag() throws {
        var options = KafkaServerOptions()
        options.listenHost = "0.0.0.0"
        options.security.saslUsersPath = "/nonexistent"
        #expect(throws: KafkaServerError.self) { try options.validate() }
        options.security.saslPlaintextAllowed = true
        try options.validate()
        options.listenHost = "127.0.0.1"
        options.security.saslPlaintextAllowed = false
        try options.validate()
        options.security.plaintextEnabled = false
        #expect(throws: KafkaServerError.self) { try options.validate() }  // no listener at all
    }

    // MARK: a real server

    static let password = "correct-horse-battery"

    /// A users file with alice (both SCRAM mechanisms) and an ACL file, in a fresh directory.
    static func securityFiles(acl: String) throws -> (directory: String, users: String, acl: String) {
        let directory = NSTemporaryDirectory() + "strata-sec-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var users = SaslUsers()
        for mechanism in SaslMechanism.scram {
            try users.add(
                user: "alice", mechanism: mechanism, password: Array(password.utf8), iterations: 4096, replace: false,
                path: "users")
        }
        let (usersPath, aclPath) = (directory + "/users.txt", directory + "/acl.txt")
        try users.encoded().write(toFile: usersPath, atomically: true, encoding: .utf8)
        try acl.write(toFile: aclPath, atomically: true, encoding: .utf8)
        return (directory, usersPath, aclPath)
    }

    static func plainLogin(_ client: KafkaTestClient, user: String = "alice", password: String) async throws
        -> KafkaStruct?
    {
        let handshake = try await client.call(.saslHandshake, version: 1, ["Mechanism": .string("PLAIN")])
        #expect(try handshake.int16("ErrorCode") == 0)
        let token = Array("\0\(user)\0\(password)".utf8)
        let (bytes, _) = try client.frame(.saslAuthenticate, version: 2, ["AuthBytes": .bytes(token)])
        try await client.send(bytes)
        guard let frame = try await client.receiveFrame() else { return nil }
        let api = try #require(KafkaApis.api(.saslAuthenticate))
        return try KafkaResponse.decode(frame, api: api, version: 2).1
    }

    @Test func requestsBeforeSaslCloseTheConnectionAndWrongPasswordsAreRefused() async throws {
        let files = try Self.securityFiles(acl: "")
        defer { try? FileManager.default.removeItem(atPath: files.directory) }
        try await withServer(configure: { $0.security.saslUsersPath = files.users }) { server in
            // ApiVersions is answered; Metadata before authentication closes the connection.
            let early = try server.connect()
            let versions = try await early.call(.apiVersions, version: 3, [:])
            let keys = try #require(try versions.structs("ApiKeys")).map { try $0.int16("ApiKey") }
            #expect(keys.contains(17) && keys.contains(36))
            try await early.send(try early.frame(.metadata, version: 12, Requests.metadata(nil)).bytes)
            #expect(try await early.isClosedByServer())

            // A wrong password: SASL_AUTHENTICATION_FAILED with one message, then closed.
            let wrong = try server.connect()
            let refused = try #require(try await Self.plainLogin(wrong, password: "wrong-password"))
            #expect(try refused.int16("ErrorCode") == KafkaErrorCode.saslAuthenticationFailed.rawValue)
            #expect(try refused.string("ErrorMessage") == RequestDispatcher.authenticationFailed(.plain))
            #expect(try await wrong.isClosedByServer())

            // The right one: authenticated, Metadata answered.
            let good = try server.connect()
            let accepted = try #require(try await Self.plainLogin(good, password: Self.password))
            #expect(try accepted.int16("ErrorCode") == 0)
            let metadata = try await good.call(.metadata, version: 12, Requests.metadata(nil))
            #expect(try metadata.structs("Brokers")?.count == 1)

            // An unknown mechanism is UNSUPPORTED_SASL_MECHANISM, listing the enabled ones.
            let other = try server.connect()
            let handshake = try await other.call(.saslHandshake, version: 1, ["Mechanism": .string("GSSAPI")])
            #expect(try handshake.int16("ErrorCode") == KafkaErrorCode.unsupportedSaslMechanism.rawValue)
            #expect(try handshake.strings("Mechanisms") == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])

            #expect(!server.log.all.contains { $0.contains(Self.password) || $0.contains("wrong-password") })
            #expect(server.log.contains("SASL PLAIN authentication failed"))
            #expect(server.log.contains("authenticated as User:alice"))
        }
    }

    /// A full SCRAM-SHA-512 exchange through SaslAuthenticate, the client's side computed here.
    @Test func scramSha512LoginThroughSaslAuthenticate() async throws {
        let files = try Self.securityFiles(acl: "")
        defer { try? FileManager.default.removeItem(atPath: files.directory) }
        try await withServer(configure: { $0.security.saslUsersPath = files.users }) { server in
            let client = try server.connect()
            let handshake = try await client.call(.saslHandshake, version: 1, ["Mechanism": .string("SCRAM-SHA-512")])
            #expect(try handshake.int16("ErrorCode") == 0)
            let clientFirstBare = "n=alice,r=clientnonce123"
            let first = try await client.call(
                .saslAuthenticate, version: 1, ["AuthBytes": .bytes(Array("n,,\(clientFirstBare)".utf8))])
            #expect(try first.int16("ErrorCode") == 0)
            let serverFirst = String(decoding: try #require(try first.bytes("AuthBytes")), as: UTF8.self)
            let attributes = Dictionary(uniqueKeysWithValues: ScramServer.attributes(serverFirst).map { ($0.key, $0.value) })
            let nonce = try #require(attributes["r"])
            #expect(nonce.hasPrefix("clientnonce123") && nonce.count > "clientnonce123".count)
            let saltText = try #require(attributes["s"])
            let salt = try #require(Data(base64Encoded: saltText)).map { $0 }
            let iterationsText = try #require(attributes["i"])
            let iterations = try #require(Int(iterationsText))
            let hash = ScramHash.sha512
            let salted = hash.hi(password: Array(Self.password.utf8), salt: salt, iterations: iterations)
            let clientKey = hash.hmac(key: salted, Array("Client Key".utf8))
            let withoutProof = "c=biws,r=\(nonce)"
            let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
            let signature = hash.hmac(key: hash.hash(clientKey), authMessage)
            let proof = Data(zip(clientKey, signature).map { $0 ^ $1 }).base64EncodedString()
            let final = try await client.call(
                .saslAuthenticate, version: 1, ["AuthBytes": .bytes(Array("\(withoutProof),p=\(proof)".utf8))])
            #expect(try final.int16("ErrorCode") == 0)
            let serverKey = hash.hmac(key: salted, Array("Server Key".utf8))
            let expected = "v=" + Data(hash.hmac(key: serverKey, authMessage)).base64EncodedString()
            #expect(String(decoding: try #require(try final.bytes("AuthBytes")), as: UTF8.self) == expected)
            let metadata = try await client.call(.metadata, version: 12, Requests.metadata(nil))
            #expect(try metadata.structs("Brokers")?.count == 1)
        }
    }

    /// ACLs: a denied produce gets TOPIC_AUTHORIZATION_FAILED and stores nothing; Metadata lists
    /// only describable topics and does not auto-create without create; a bad reload keeps the rules.
    @Test func aclsDenyProduceFilterMetadataAndSurviveABadReload() async throws {
        let files = try Self.securityFiles(acl: "allow User:ANONYMOUS topic open- all\n")
        defer { try? FileManager.default.removeItem(atPath: files.directory) }
        try await withServer(configure: { $0.security.aclPath = files.acl }) { server in
            _ = try await server.lake.createTopic("secret", config: TopicConfig())
            _ = try await server.lake.createTopic("open-1", config: TopicConfig())
            let client = try server.connect()
            let produced = try await client.call(
                .produce, version: 9, Requests.produce("secret", records: kafkaBatch(["x"])))
            let part = try firstPartition(produced, topics: "Responses", partitions: "PartitionResponses")
            #expect(try part.int16("ErrorCode") == KafkaErrorCode.topicAuthorizationFailed.rawValue)
            #expect(try server.lake.topic("secret").highWatermark == 0)
            let allowed = try await client.call(
                .produce, version: 9, Requests.produce("open-1", records: kafkaBatch(["y"])))
            #expect(try firstPartition(allowed, topics: "Responses", partitions: "PartitionResponses").int16("ErrorCode") == 0)

            let fetched = try await client.call(.fetch, version: 12, Requests.fetch("secret", offset: 0))
            #expect(
                try firstPartition(fetched, topics: "Responses", partitions: "Partitions").int16("ErrorCode")
                    == KafkaErrorCode.topicAuthorizationFailed.rawValue)

            let listed = try await client.call(.metadata, version: 12, Requests.metadata(nil))
            #expect(try (listed.structs("Topics") ?? []).map { try $0.string("Name") } == ["open-1"])
            let asked = try await client.call(.metadata, version: 12, Requests.metadata(["secret", "never-made"]))
            let codes = try (asked.structs("Topics") ?? []).map { try $0.int16("ErrorCode") }
            #expect(codes == [KafkaErrorCode.topicAuthorizationFailed.rawValue, KafkaErrorCode.topicAuthorizationFailed.rawValue])
            #expect(!(try server.lake.topicNames()).contains("never-made"))

            // A bad file on reload is logged; the old rules stay.
            try "allow nobody\n".write(toFile: files.acl, atomically: true, encoding: .utf8)
            server.server.reloadSecurityFiles()
            #expect(server.log.contains("the previous rules stay in force"))
            let still = try await client.call(.metadata, version: 12, Requests.metadata(nil))
            #expect(try (still.structs("Topics") ?? []).map { try $0.string("Name") } == ["open-1"])
            // A good one replaces them.
            try "allow * topic * describe\n".write(toFile: files.acl, atomically: true, encoding: .utf8)
            server.server.reloadSecurityFiles()
            let all = try await client.call(.metadata, version: 12, Requests.metadata(nil))
            #expect(Set(try (all.structs("Topics") ?? []).compactMap { try $0.string("Name") }) == ["open-1", "secret"])
        }
    }
}

/// The group APIs under ACLs (formats/acl.md, "What each request needs"), and SIGHUP's reload
/// of the users file.
@Suite
struct ServerGroupAclTests {
    static func noDelay(_ options: inout KafkaServerOptions) { options.groupInitialRebalanceDelayMs = 0 }

    /// Joins and syncs `group` alone, commits offset 5 of partition 0 of each topic, and leaves.
    static func commitAndLeave(_ client: KafkaTestClient, group: String, topics: [String]) async throws {
        let first = try await client.call(.joinGroup, version: 9, GroupRequests.join(group))
        let memberId = try #require(try first.string("MemberId"))
        let join = try await client.call(.joinGroup, version: 9, GroupRequests.join(group, memberId: memberId))
        let generation = try join.int32("GenerationId")
        let sync = try await client.call(
            .syncGroup, version: 5,
            GroupRequests.sync(group, generation: generation, memberId: memberId, assignments: [(memberId, [1])]))
        #expect(try sync.int16("ErrorCode") == 0)
        let commit = try await client.call(
            .offsetCommit, version: 8,
            GroupRequests.commit(group, generation: generation, memberId: memberId, topics.map { ($0, 0, 5, nil) }))
        #expect(try partitionErrors(commit) == topics.map { _ in 0 })
        let leave = try await client.call(
            .leaveGroup, version: 5, ["GroupId": .string(group), "Members": .structs([["MemberId": .string(memberId)]])])
        #expect(try leave.int16("ErrorCode") == 0)
    }

    @Test func groupApisAnswerGroupAuthorizationFailedWhereTheAclsDeny() async throws {
        let files = try ServerSecurityTests.securityFiles(acl: "allow * topic * all\nallow * group * all\n")
        defer { try? FileManager.default.removeItem(atPath: files.directory) }
        let denied = KafkaErrorCode.groupAuthorizationFailed.rawValue
        try await withServer(configure: { Self.noDelay(&$0); $0.security.aclPath = files.acl }) { server in
            _ = try await server.lake.createTopic("orders", config: TopicConfig())
            _ = try await server.lake.createTopic("hidden", config: TopicConfig())
            let client = try server.connect()
            try await Self.commitAndLeave(client, group: "team-a", topics: ["orders", "hidden"])
            try await Self.commitAndLeave(client, group: "other-x", topics: ["orders"])

            // Now the anonymous principal may read and delete team-* groups and see only orders.
            try "allow * group team- read,delete\nallow * topic orders describe\n"
                .write(toFile: files.acl, atomically: true, encoding: .utf8)
            server.server.reloadSecurityFiles()

            let found = try await client.call(
                .findCoordinator, version: 4,
                ["KeyType": .int(0), "CoordinatorKeys": .strings(["team-a", "other-x"])])
            let coordinators = try #require(try found.structs("Coordinators"))
            #expect(try coordinators.map { try $0.int16("ErrorCode") } == [0, denied])
            #expect(try coordinators[0].int32("NodeId") == KafkaServerOptions.nodeId)
            let old = try await client.call(.findCoordinator, version: 3, ["Key": .string("other-x"), "KeyType": .int(0)])
            #expect(try old.int16("ErrorCode") == denied && old.int32("NodeId") == -1)

            let described = try await client.call(
                .describeGroups, version: 5,
                ["Groups": .strings(["other-x", "team-a"]), "IncludeAuthorizedOperations": .bool(true)])
            let groups = try #require(try described.structs("Groups"))
            #expect(try groups.map { try $0.int16("ErrorCode") } == [denied, 0])
            #expect(try groups.map { try $0.string("GroupId") } == ["other-x", "team-a"])
            #expect(try groups[1].string("GroupState") == "Empty")
            #expect(try groups[1].int32("AuthorizedOperations") == 1 << 3 | 1 << 6 | 1 << 8)

            let listed = try await client.call(.listGroups, version: 4, ["StatesFilter": .strings([])])
            #expect(try listed.structs("Groups")?.map { try $0.string("GroupId") } == ["team-a"])

            // OffsetFetch v8: other-x denied in its place; team-a's all-topics answer leaves hidden out.
            let grouped = try await client.call(
                .offsetFetch, version: 8,
                [
                    "Groups": .structs([
                        ["GroupId": .string("team-a"), "Topics": .array(nil)],
                        ["GroupId": .string("other-x"), "Topics": .array(nil)],
                    ]), "RequireStable": .bool(false),
                ])
            let fetchedGroups = try #require(try grouped.structs("Groups"))
            #expect(try fetchedGroups.map { try $0.int16("ErrorCode") } == [0, denied])
            #expect(try fetchedGroups[0].structs("Topics")?.map { try $0.string("Name") } == ["orders"])
            #expect(try fetchedGroups[1].structs("Topics")?.isEmpty == true)
            // v7 asking for hidden by name: TOPIC_AUTHORIZATION_FAILED and no offset.
            let named = try await client.call(
                .offsetFetch, version: 7, GroupRequests.fetch("team-a", ["hidden": [0], "orders": [0]]))
            let byTopic = try Dictionary(
                uniqueKeysWithValues: (named.structs("Topics") ?? []).map { topic in
                    (try topic.string("Name") ?? "", try #require(try topic.structs("Partitions")?.first))
                })
            #expect(try byTopic["hidden"]?.int16("ErrorCode") == KafkaErrorCode.topicAuthorizationFailed.rawValue)
            #expect(try byTopic["hidden"]?.int("CommittedOffset") == -1)
            #expect(try byTopic["orders"]?.int("CommittedOffset") == 5)

            // DeleteGroups: other-x denied and kept, team-a deleted.
            let deleted = try await client.call(.deleteGroups, version: 2, ["GroupsNames": .strings(["other-x", "team-a"])])
            #expect(try deleted.structs("Results")?.map { try $0.int16("ErrorCode") } == [denied, 0])
            try "allow * group * describe\n".write(toFile: files.acl, atomically: true, encoding: .utf8)
            server.server.reloadSecurityFiles()
            let after = try await client.call(.listGroups, version: 4, ["StatesFilter": .strings([])])
            #expect(try after.structs("Groups")?.map { try $0.string("GroupId") } == ["other-x"])
            #expect(server.log.contains("may not describe group=other-x"))
        }
    }

    /// SIGHUP rereads the users file: a user added later can log in; a bad file keeps the users.
    @Test func aReloadedUsersFileAddsUsersAndABadOneKeepsThem() async throws {
        let files = try ServerSecurityTests.securityFiles(acl: "")
        defer { try? FileManager.default.removeItem(atPath: files.directory) }
        try await withServer(configure: { $0.security.saslUsersPath = files.users }) { server in
            let before = try server.connect()
            let refused = try #require(try await ServerSecurityTests.plainLogin(before, user: "bob", password: "bob-pw"))
            #expect(try refused.int16("ErrorCode") == KafkaErrorCode.saslAuthenticationFailed.rawValue)

            var users = try SaslUsers.load(path: files.users)
            try users.add(
                user: "bob", mechanism: .scramSha256, password: Array("bob-pw".utf8), iterations: 4096, replace: false,
                path: files.users)
            try users.encoded().write(toFile: files.users, atomically: true, encoding: .utf8)
            server.server.reloadSecurityFiles()
            #expect(server.log.contains("reloaded \(files.users): 3 user credentials"))
            let bob = try server.connect()
            let accepted = try #require(try await ServerSecurityTests.plainLogin(bob, user: "bob", password: "bob-pw"))
            #expect(try accepted.int16("ErrorCode") == 0)

            for bad in ["garbage line\n", "# strata sasl-users 1\n"] {
                try bad.write(toFile: files.users, atomically: true, encoding: .utf8)
                server.server.reloadSecurityFiles()
                let again = try server.connect()
                let still = try #require(try await ServerSecurityTests.plainLogin(again, user: "bob", password: "bob-pw"))
                #expect(try still.int16("ErrorCode") == 0, "after reloading \(bad.debugDescription)")
            }
            #expect(server.log.all.filter { $0.contains("the previous users stay in force") }.count == 2)
            #expect(server.log.contains("no users: nobody could connect"))
            #expect(!server.log.all.contains { $0.contains("bob-pw") })
        }
    }
}
