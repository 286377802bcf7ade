import Strata
import StrataKafka

// Where the handlers ask the ACLs (formats/acl.md). A denied topic gets
// TOPIC_AUTHORIZATION_FAILED in its place in the answer and the engine is not called for it;
// a denied group gets GROUP_AUTHORIZATION_FAILED before the coordinator sees the request.
extension RequestDispatcher {
    /// True when the connection's principal may do `operation` to the topic.
    func allowed(_ session: ConnectionSession, _ operation: AclOperation, topic: String) -> Bool {
        let ok = security.allows(session.principal, operation, .topic, topic)
        if !ok { log("connection \(session.peer): \(session.principal) may not \(operation.rawValue) topic=\(topic)") }
        return ok
    }

    /// True when the connection's principal may do `operation` to the group.
    func allowed(_ session: ConnectionSession, _ operation: AclOperation, group: String) -> Bool {
        let ok = security.allows(session.principal, operation, .group, group)
        if !ok { log("connection \(session.peer): \(session.principal) may not \(operation.rawValue) group=\(group)") }
        return ok
    }

    /// The answer to a group request the ACLs deny (read for membership and commits, describe
    /// for OffsetFetch, as Kafka checks), or nil to go on. Topics of a commit need read too.
    func groupDenied(_ request: KafkaRequest, session: ConnectionSession) throws(KafkaDecodeError) -> KafkaStruct? {
        let denied = KafkaErrorCode.groupAuthorizationFailed
        switch request.api.key {
        case .joinGroup, .syncGroup, .heartbeat, .leaveGroup:
            let group = try request.body.string("GroupId") ?? ""
            guard !allowed(session, .read, group: group) else { return nil }
            return Self.topLevelError(request.api, version: request.version, code: denied)
        case .offsetFetch where request.version <= 7:
            let group = try request.body.string("GroupId") ?? ""
            guard !allowed(session, .describe, group: group) else { return nil }
            return Self.topLevelError(request.api, version: request.version, code: denied)
        case .offsetCommit:
            let group = try request.body.string("GroupId") ?? ""
            guard !allowed(session, .read, group: group) else { return nil }
            let topics = try (request.body.structs("Topics") ?? []).map { topic throws(KafkaDecodeError) in
                try Self.commitAnswer(topic, code: denied)
            }
            return ["ThrottleTimeMs": .int(0), "Topics": .structs(topics)]
        default:
            return nil
        }
    }

    /// OffsetCommit with the topics the principal may not read taken out (they get
    /// TOPIC_AUTHORIZATION_FAILED, nothing of theirs is committed) and the rest committed.
    func offsetCommitAuthorized(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError)
        -> KafkaStruct
    {
        var allowedTopics: [KafkaStruct] = []
        var deniedAnswers: [KafkaStruct] = []
        for topic in try request.body.structs("Topics") ?? [] {
            if allowed(session, .read, topic: try topic.string("Name") ?? "") {
                allowedTopics.append(topic)
            } else {
                deniedAnswers.append(try Self.commitAnswer(topic, code: .topicAuthorizationFailed))
            }
        }
        guard !deniedAnswers.isEmpty else { return try await offsetCommit(request) }
        var allowedRequest = request
        allowedRequest.body["Topics"] = .structs(allowedTopics)
        var answer = try await offsetCommit(allowedRequest)
        answer["Topics"] = .structs((try answer.structs("Topics") ?? []) + deniedAnswers)
        return answer
    }

    /// One topic's OffsetCommit answer with `code` for each of its partitions.
    static func commitAnswer(_ topic: KafkaStruct, code: KafkaErrorCode) throws(KafkaDecodeError) -> KafkaStruct {
        let partitions = try (topic.structs("Partitions") ?? []).map { p throws(KafkaDecodeError) -> KafkaStruct in
            ["PartitionIndex": .int(Int64(try p.int32("PartitionIndex"))), "ErrorCode": code.value]
        }
        return ["Name": .string(try topic.string("Name") ?? ""), "Partitions": .structs(partitions)]
    }

    /// The error a Fetch want carries for a topic the principal may not read (no engine call made).
    static func aclDenied(_ topic: String) -> StrataError {
        StrataError(.invalidArgument, aclDenialMessage, topic: topic)
    }

    static func isAclDenial(_ error: StrataError) -> Bool { error.message == aclDenialMessage }

    private static let aclDenialMessage = "not authorized to read this topic (--acl)"
}
