import Strata
import StrataKafka

/// What a connection does with one request frame.
enum Reply: Sendable {
    /// Send these bytes (a framed response).
    case send([UInt8])
    /// Send nothing (Produce with acks 0).
    case none
    /// Close the connection; the reason is logged.
    case close(String)
    /// Send these bytes, then close the connection (a failed SASL authentication).
    case sendThenClose([UInt8], String)
}

/// Decodes a request frame, hands it to its API's handler and encodes the answer. Handlers live
/// one file per API group (`*Handlers.swift`).
final class RequestDispatcher: Sendable {
    let lake: Lake
    let options: KafkaServerOptions
    let clusterId: String
    /// The group coordinator of this node (the group APIs, GroupHandlers.swift).
    let groups: GroupCoordinator
    /// SASL users and ACLs (Security/).
    let security: ServerSecurity

    init(
        lake: Lake, options: KafkaServerOptions, clusterId: String, groups: GroupCoordinator, security: ServerSecurity
    ) {
        self.lake = lake
        self.security = security
        self.groups = groups
        self.options = options
        self.clusterId = clusterId
    }

    var log: @Sendable (String) -> Void { options.log }

    /// The reply to one request frame (the bytes after its size) on the connection of `session`.
    func respond(to frame: [UInt8], session: ConnectionSession) async -> Reply {
        if session.expectsRawToken { return saslRawToken(frame, session: session) }
        let peer = session.peer
        let request: KafkaRequest
        do throws(KafkaDecodeError) { request = try Self.decode(frame) } catch {
            return decodeFailure(error, peer: peer)
        }
        // As Kafka does: anything but ApiVersions and SASL before authentication closes the connection.
        if security.saslRequired, !session.isAuthenticated,
            ![.apiVersions, .saslHandshake, .saslAuthenticate].contains(request.api.key)
        {
            return .close("\(request.api.name) request before SASL authentication")
        }
        let started = monotonicNanoseconds()
        defer { metrics.answered(request.api.key, nanoseconds: monotonicNanoseconds() &- started) }
        do throws(KafkaDecodeError) {
            var body: KafkaStruct
            var closing: String? = nil
            switch try await handle(request, session: session) {
            case .body(let answer): body = answer
            case .bodyThenClose(let answer, let why): (body, closing) = (answer, why)
            case .none:
                _ = throttle(request, frame: frame, responseBytes: 0, session: session)
                return .none
            case .close(let why): return .close(why)
            }
            var bytes = try KafkaResponse.encode(
                request.api, version: request.version, correlationId: request.header.correlationId, body: body,
                framed: true)
            let throttleMs = throttle(request, frame: frame, responseBytes: bytes.count - 4, session: session)
            if throttleMs > 0, Self.hasThrottleField(request.api, version: request.version) {
                // ThrottleTimeMs is fixed-width: the answer is the same size with the throttle in it.
                body["ThrottleTimeMs"] = .int(Int64(throttleMs))
                bytes = try KafkaResponse.encode(
                    request.api, version: request.version, correlationId: request.header.correlationId, body: body,
                    framed: true)
            }
            if let closing { return .sendThenClose(bytes, closing) }
            return .send(bytes)
        } catch {
            return .close("cannot answer \(request.api.name) v\(request.version): \(error)")
        }
    }

    /// Charges the request to the quotas; the throttle it earned is left on the session (the
    /// connection then reads nothing more until it has passed, as KIP-219's brokers mute the
    /// channel) and counted.
    private func throttle(_ request: KafkaRequest, frame: [UInt8], responseBytes: Int, session: ConnectionSession) -> Int {
        let usage = QuotaUsage(api: request.api.key, requestBytes: frame.count, responseBytes: responseBytes)
        let throttleMs = security.quotas.record(usage, session: session)
        if throttleMs > 0 {
            session.setThrottleMs(throttleMs)
            metrics.throttled(request.api.key, milliseconds: throttleMs)
        }
        return throttleMs
    }

    /// True when `api`'s response has ThrottleTimeMs at `version` (Produce v0 and a few others do not).
    static func hasThrottleField(_ api: KafkaApi, version: Int16) -> Bool {
        api.response.fields.contains { $0.name == "ThrottleTimeMs" && $0.versions.contains(version) }
    }

    /// Decodes a request. Bytes after a complete body are ignored, as Kafka's brokers ignore
    /// them: librdkafka 2.x sends three after its Metadata v12 request for every topic.
    static func decode(_ frame: [UInt8]) throws(KafkaDecodeError) -> KafkaRequest {
        do throws(KafkaDecodeError) {
            return try KafkaRequest.decode(frame)
        } catch
            where error.code == .trailingBytes
            && error.requestHeader.flatMap({ KafkaApis.api(rawKey: $0.apiKey) })?.request.name == error.field
        {
            return try KafkaRequest.decode(Array(frame[..<min(error.position, frame.count)]))
        }
    }

    /// What a handler answers.
    enum Answer {
        case body(KafkaStruct)
        /// No response (Produce with acks 0).
        case none
        /// Close the connection (Produce with acks 0 that failed: the producer learns of it so).
        case close(String)
        /// Answer, then close the connection (a failed SASL authentication).
        case bodyThenClose(KafkaStruct, String)
    }

    /// Routes a decoded request.
    private func handle(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError) -> Answer {
        if let denied = try groupDenied(request, session: session) { return .body(denied) }
        switch request.api.key {
        case .apiVersions: return .body(apiVersions(request))
        case .saslHandshake: return .body(try saslHandshake(request, session: session))
        case .saslAuthenticate: return try saslAuthenticate(request, session: session)
        case .metadata: return .body(try await metadata(request, session: session))
        case .createTopics: return .body(try await createTopics(request, session: session))
        case .deleteTopics: return .body(try await deleteTopics(request, session: session))
        case .describeConfigs: return .body(try await describeConfigs(request, session: session))
        case .produce: return try await produce(request, session: session)
        case .initProducerId: return .body(try await initProducerId(request))
        case .fetch: return .body(try await fetch(request, session: session))
        case .listOffsets: return .body(try await listOffsets(request, session: session))
        case .findCoordinator: return .body(try await findCoordinator(request, session: session))
        case .joinGroup: return .body(try await joinGroup(request, peer: session.peer))
        case .syncGroup: return .body(try await syncGroup(request))
        case .heartbeat: return .body(try await heartbeat(request))
        case .leaveGroup: return .body(try await leaveGroup(request))
        case .offsetCommit: return .body(try await offsetCommitAuthorized(request, session: session))
        case .offsetFetch: return .body(try await offsetFetch(request, session: session))
        case .describeGroups: return .body(try await describeGroups(request, session: session))
        case .listGroups: return .body(try await listGroups(request, session: session))
        case .deleteGroups: return .body(try await deleteGroups(request, session: session))
        }
    }

    /// An unsupported API or version gets ApiVersions' UNSUPPORTED_VERSION answer; a malformed
    /// body gets its API's top-level error when the API has one, else the connection closes.
    private func decodeFailure(_ error: KafkaDecodeError, peer: String) -> Reply {
        guard let header = error.requestHeader else { return .close("unreadable request header: \(error)") }
        if error.code == .unsupportedApi || error.code == .unsupportedVersion {
            log("connection \(peer): \(error.message); answered UNSUPPORTED_VERSION")
            return .send(KafkaResponse.framed(KafkaResponse.unsupportedVersion(correlationId: header.correlationId)))
        }
        guard let api = KafkaApis.api(rawKey: header.apiKey),
            let body = Self.topLevelError(api, version: header.apiVersion, code: .invalidRequest),
            let bytes = try? KafkaResponse.encode(
                api, version: header.apiVersion, correlationId: header.correlationId, body: body)
        else {
            let name = KafkaApis.api(rawKey: header.apiKey).map { "\($0.name) v\(header.apiVersion)" }
            return .close("malformed \(name ?? "request") request: \(error)")
        }
        log(
            "connection \(peer): malformed \(api.name) v\(header.apiVersion) request: \(error); answered INVALID_REQUEST"
        )
        return .send(KafkaResponse.framed(bytes))
    }

    /// A response carrying only a top-level error, for the APIs whose response has one.
    static func topLevelError(_ api: KafkaApi, version: Int16, code: KafkaErrorCode) -> KafkaStruct? {
        let error = KafkaValue.int(Int64(code.rawValue))
        switch api.key {
        case .apiVersions: return ["ErrorCode": error, "ApiKeys": advertisedApis]
        case .fetch where version >= 7: return ["ErrorCode": error, "SessionId": .int(0), "Responses": .structs([])]
        case .initProducerId: return ["ErrorCode": error, "ProducerId": .int(-1), "ProducerEpoch": .int(-1)]
        case .findCoordinator where version <= 3: return ["ErrorCode": error, "NodeId": .int(-1), "Port": .int(-1)]
        case .joinGroup, .syncGroup, .heartbeat, .leaveGroup, .listGroups: return ["ErrorCode": error]
        case .saslHandshake: return ["ErrorCode": error, "Mechanisms": .strings([])]
        case .saslAuthenticate: return ["ErrorCode": error, "AuthBytes": .bytes([])]
        case .offsetFetch where version >= 2 && version <= 7: return ["ErrorCode": error]
        default: return nil
        }
    }
}

extension KafkaErrorCode {
    /// The code as a field value.
    var value: KafkaValue { .int(Int64(rawValue)) }
}
