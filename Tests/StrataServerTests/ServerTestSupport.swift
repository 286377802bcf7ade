import Foundation
import Glibc
import Strata
import StrataKafka
import Synchronization
import Testing

@testable import StrataServer

/// Log lines a test server wrote, for assertions on what was logged.
final class ServerLog: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }
}

/// A server on a free loopback port over a lake in a temp directory.
struct TestServer {
    let lake: Lake
    let server: KafkaServer
    let port: Int
    let log: ServerLog
    let path: String

    static func start(
        path: String, configure: (inout KafkaServerOptions) -> Void = { _ in }
    ) async throws -> TestServer {
        var lakeOptions = LakeOptions()
        lakeOptions.backgroundOffload = false
        let lake = try Lake.open(path, options: lakeOptions)
        let log = ServerLog()
        var options = KafkaServerOptions()
        options.listenPort = 0
        options.log = { log.append($0) }
        configure(&options)
        let server = KafkaServer(lake: lake, options: options)
        let (_, port) = try await server.start()
        return TestServer(lake: lake, server: server, port: port, log: log, path: path)
    }

    func connect() throws -> KafkaTestClient { try KafkaTestClient(port: port) }

    /// Graceful shutdown, then the lake closes (as `strata serve` does on SIGTERM).
    func stop() async throws {
        await server.shutdown()
        try await lake.close()
    }
}

/// Runs `body` with a started server; stops it afterwards whatever happens.
func withServer<T>(
    configure: (inout KafkaServerOptions) -> Void = { _ in }, _ body: (TestServer) async throws -> T
) async throws -> T {
    let path = NSTemporaryDirectory() + "strata-serve-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let server = try await TestServer.start(path: path, configure: configure)
    do {
        let result = try await body(server)
        try await server.stop()
        return result
    } catch {
        try? await server.stop()
        throw error
    }
}

struct SocketError: Error, CustomStringConvertible {
    var description: String
}

/// Runs blocking socket calls on a thread of their own: the test and the server share Swift's
/// small cooperative pool (2 threads here), and a blocked `recv` there would starve the server.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

/// A TCP socket connected to 127.0.0.1:`port`, whose reads time out after 20 s.
func loopbackSocket(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SocketError(description: "socket: errno \(errno)") }
    var timeout = timeval(tv_sec: 20, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else {
        let error = errno
        close(fd)
        throw SocketError(description: "connect: errno \(error)")
    }
    return fd
}

/// A POSIX socket speaking raw Kafka frames, encoded with StrataKafka's encoders. Every read
/// has a 20 s timeout, so a server that never answers fails the test instead of hanging it.
final class KafkaTestClient: Sendable {
    let fd: Int32
    private let nextCorrelationId = Mutex<Int32>(1)

    init(port: Int) throws { fd = try loopbackSocket(port: port) }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) async throws {
        let fd = self.fd
        try await offPool {
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes {
                    Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                guard n > 0 else { throw SocketError(description: "send: errno \(errno)") }
                sent += n
            }
        }
    }

    /// Exactly `count` bytes, or nil when the server closed the connection first.
    func receive(_ count: Int) async throws -> [UInt8]? {
        let fd = self.fd
        return try await offPool { () throws -> [UInt8]? in
            var buffer = [UInt8](repeating: 0, count: count)
            var got = 0
            while got < count {
                let n = buffer[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n == 0 { return nil }
                if n < 0 {
                    if errno == ECONNRESET { return nil }
                    throw SocketError(description: "recv: errno \(errno) (timed out waiting for the server?)")
                }
                got += n
            }
            return buffer
        }
    }

    /// One response frame (without its size), or nil when the server closed the connection.
    func receiveFrame() async throws -> [UInt8]? {
        guard let size = try await receive(4) else { return nil }
        let length = Int(Int32(bigEndian: size.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }))
        return try await receive(length)
    }

    /// True when the server closes the connection (reads EOF) before sending anything more.
    func isClosedByServer() async throws -> Bool { try await receive(1) == nil }

    /// A framed request of `api` at `version`; returns it and its correlation id.
    func frame(_ key: KafkaApiKey, version: Int16, _ body: KafkaStruct) throws -> (bytes: [UInt8], id: Int32) {
        let id = nextCorrelationId.withLock { next in
            defer { next += 1 }
            return next
        }
        let header = KafkaRequestHeader(apiKey: key.rawValue, apiVersion: version, correlationId: id, clientId: "test")
        return (KafkaResponse.framed(try KafkaRequest.encode(header, body: body)), id)
    }

    /// Sends one request and decodes its response.
    func call(_ key: KafkaApiKey, version: Int16, _ body: KafkaStruct) async throws -> KafkaStruct {
        let (bytes, id) = try frame(key, version: version, body)
        try await send(bytes)
        let response = try #require(try await receiveFrame(), "the server closed the connection instead of answering")
        let api = try #require(KafkaApis.api(key))
        let (correlationId, decoded) = try KafkaResponse.decode(response, api: api, version: version)
        #expect(correlationId == id)
        return decoded
    }
}

/// Requests the tests send, built from the schemas' field names.
enum Requests {
    static func metadata(_ topics: [String]?, allowAutoCreate: Bool = true) -> KafkaStruct {
        let list: KafkaValue =
            topics.map { names in
                .structs(names.map { ["Name": .string($0), "TopicId": .uuid(.zero)] })
            } ?? .array(nil)
        return ["Topics": list, "AllowAutoTopicCreation": .bool(allowAutoCreate)]
    }

    static func createTopic(
        _ name: String, partitions: Int32 = 1, replication: Int16 = 1, configs: [String: String?] = [:],
        validateOnly: Bool = false
    ) -> KafkaStruct {
        let entries: [KafkaStruct] = configs.sorted { $0.key < $1.key }.map {
            ["Name": .string($0.key), "Value": .string($0.value)]
        }
        let topic: KafkaStruct = [
            "Name": .string(name), "NumPartitions": .int(Int64(partitions)),
            "ReplicationFactor": .int(Int64(replication)), "Assignments": .structs([]), "Configs": .structs(entries),
        ]
        return ["Topics": .structs([topic]), "TimeoutMs": .int(5000), "ValidateOnly": .bool(validateOnly)]
    }

    static func produce(
        _ topic: String, partition: Int32 = 0, records: [UInt8]?, acks: Int16 = -1, transactionalId: String? = nil
    ) -> KafkaStruct {
        let data: KafkaStruct = ["Index": .int(Int64(partition)), "Records": .bytes(records)]
        return [
            "TransactionalId": .string(transactionalId), "Acks": .int(Int64(acks)), "TimeoutMs": .int(5000),
            "TopicData": .structs([["Name": .string(topic), "PartitionData": .structs([data])]]),
        ]
    }

    static func fetch(
        _ topic: String, partition: Int32 = 0, offset: Int64, maxWaitMs: Int32 = 0, minBytes: Int32 = 1,
        maxBytes: Int32 = 50 * 1024 * 1024, partitionMaxBytes: Int32 = 1024 * 1024
    ) -> KafkaStruct {
        let part: KafkaStruct = [
            "Partition": .int(Int64(partition)), "FetchOffset": .int(offset),
            "PartitionMaxBytes": .int(Int64(partitionMaxBytes)),
        ]
        return [
            "ReplicaId": .int(-1), "MaxWaitMs": .int(Int64(maxWaitMs)), "MinBytes": .int(Int64(minBytes)),
            "MaxBytes": .int(Int64(maxBytes)), "SessionEpoch": .int(-1),
            "Topics": .structs([["Topic": .string(topic), "Partitions": .structs([part])]]),
            "ForgottenTopicsData": .structs([]), "RackId": .string(""),
        ]
    }

    static func listOffsets(_ topic: String, timestamp: Int64, partition: Int32 = 0) -> KafkaStruct {
        let part: KafkaStruct = ["PartitionIndex": .int(Int64(partition)), "Timestamp": .int(timestamp)]
        return [
            "ReplicaId": .int(-1),
            "Topics": .structs([["Name": .string(topic), "Partitions": .structs([part])]]),
        ]
    }
}

/// A Kafka v2 batch as a producer sends it (base offset 0), made from records through
/// Strata's encoder and `KafkaBatch.fromStrata`.
func kafkaBatch(
    _ values: [String], timestamps: [Int64]? = nil, key: String? = nil,
    producer: (id: Int64, epoch: Int16, sequence: Int32)? = nil
) -> [UInt8] {
    let records = values.enumerated().map { index, value in
        Record(
            timestamp: timestamps?[index] ?? 1_700_000_000_000 + Int64(index), key: key.map { Array($0.utf8) },
            value: Array(value.utf8), headers: [RecordHeader(key: "h", value: [UInt8(index & 0xff)])])
    }
    let strata = BatchCodec.encode(
        baseOffset: 0, records: records, producerId: producer?.id ?? -1, producerEpoch: producer?.epoch ?? -1,
        baseSequence: producer?.sequence ?? -1)
    return try! KafkaBatch.fromStrata(strata)
}

/// The first partition of the first topic of a Produce/Fetch/ListOffsets response.
func firstPartition(_ response: KafkaStruct, topics: String, partitions: String) throws -> KafkaStruct {
    let topic = try #require(try response.structs(topics)?.first)
    return try #require(try topic.structs(partitions)?.first)
}
