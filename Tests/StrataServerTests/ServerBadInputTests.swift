import Foundation
import Strata
import StrataKafka
import Testing

@testable import StrataServer

/// Bad frames, limits and idle connections (issue 13 §3): each gets a Kafka error or a closed
/// connection and a log line, nothing is stored, and the server keeps serving.
@Suite
struct ServerBadInputTests {
    /// The server answers a fresh connection after the bad one.
    func stillServes(_ server: TestServer) async throws {
        let client = try server.connect()
        #expect(try await client.call(.apiVersions, version: 3, [:]).int16("ErrorCode") == 0)
    }

    @Test func negativeSizeClosesTheConnection() async throws {
        try await withServer { server in
            let client = try server.connect()
            try await client.send([0xff, 0xff, 0xff, 0xfe])
            #expect(try await client.isClosedByServer())
            #expect(server.log.contains("request size -2"))
            try await stillServes(server)
        }
    }

    /// A declared size over --max-request-bytes closes the connection before the body is sent.
    @Test func oversizedFrameIsRefusedBeforeItsBody() async throws {
        try await withServer(configure: { $0.maxRequestBytes = 1024 }) { server in
            let client = try server.connect()
            var w = KafkaWriter()
            w.int32(1025)
            try await client.send(w.bytes)
            #expect(try await client.isClosedByServer())
            #expect(server.log.contains("request size 1025 outside 0...1024"))
            try await stillServes(server)
        }
    }

    @Test func truncatedFrameIsDroppedWhenTheClientHangsUp() async throws {
        try await withServer { server in
            let client = try server.connect()
            let (frame, _) = try client.frame(.metadata, version: 12, Requests.metadata(["never"]))
            try await client.send(Array(frame.prefix(frame.count - 3)))
            shutdown(client.fd, Int32(SHUT_WR))
            #expect(try await client.isClosedByServer())
            #expect(try server.lake.topicNames().isEmpty)
            try await stillServes(server)
        }
    }

    /// A body that does not decode: the connection closes (or, for an API with a top-level
    /// error, that error), nothing is stored.
    @Test(arguments: [
        (KafkaApiKey.produce, Int16(9)), (.metadata, 12), (.createTopics, 5), (.fetch, 4),
    ])
    func garbageBodyClosesTheConnectionAndStoresNothing(_ api: (key: KafkaApiKey, version: Int16)) async throws {
        try await withServer { server in
            _ = try await server.connect().call(.metadata, version: 12, Requests.metadata(["t"]))
            let client = try server.connect()
            var w = KafkaWriter()
            w.int16(api.key.rawValue)
            w.int16(api.version)
            w.int32(9)
            try w.string("bad", compact: false)
            w.raw([0xff, 0xff, 0x00, 0x7f, 0x80, 0x01])
            try await client.send(KafkaResponse.framed(w.bytes))
            #expect(try await client.isClosedByServer())
            #expect(server.log.contains("malformed"))
            #expect(try server.lake.topicNames() == ["t"])
            #expect(try server.lake.topic("t").highWatermark == 0)
            try await stillServes(server)
        }
    }

    /// Fetch v7+ has a top-level error code: a malformed one is answered INVALID_REQUEST.
    @Test func malformedFetchWithATopLevelErrorIsAnswered() async throws {
        try await withServer { server in
            let client = try server.connect()
            var w = KafkaWriter()
            w.int16(KafkaApiKey.fetch.rawValue)
            w.int16(12)
            w.int32(5)
            try w.string("bad", compact: false)
            w.raw([0x00, 0x01, 0x02])
            try await client.send(KafkaResponse.framed(w.bytes))
            let frame = try #require(try await client.receiveFrame())
            let (id, body) = try KafkaResponse.decode(frame, api: try #require(KafkaApis.api(.fetch)), version: 12)
            #expect(id == 5)
            #expect(try body.int16("ErrorCode") == KafkaErrorCode.invalidRequest.rawValue)
        }
    }

    @Test func connectionsOverTheBoundAreClosed() async throws {
        try await withServer(configure: { $0.maxConnections = 2 }) { server in
            let first = try server.connect()
            let second = try server.connect()
            _ = try await first.call(.apiVersions, version: 3, [:])
            _ = try await second.call(.apiVersions, version: 3, [:])
            let third = try server.connect()
            #expect(try await third.isClosedByServer())
            #expect(server.log.contains("2 connections already open"))
            // The admitted ones still work, and a slot freed is a slot for the next.
            _ = try await first.call(.apiVersions, version: 3, [:])
            drop(second)
            var admitted = false
            for _ in 0 ..< 100 where !admitted {
                let next = try server.connect()
                let (frame, _) = try next.frame(.apiVersions, version: 3, [:])
                try await next.send(frame)
                admitted = try await next.receiveFrame() != nil
            }
            #expect(admitted)
        }
    }

    private func drop(_ client: KafkaTestClient) { shutdown(client.fd, Int32(SHUT_RDWR)) }

    @Test func idleConnectionIsClosedAfterTheTimeout() async throws {
        try await withServer(configure: { $0.idleTimeoutMs = 100 }) { server in
            let client = try server.connect()
            #expect(try await client.isClosedByServer())
            #expect(server.log.contains("idle for 100 ms"))
        }
    }

    /// A long poll reads and writes nothing while it waits, and a request queued behind another
    /// waits too: neither connection is idle. Both requests go in one write, so the connection
    /// always has a request waiting for its answer, whatever the machine's load.
    @Test func requestWaitingForItsAnswerIsNotIdle() async throws {
        try await withServer(configure: { $0.idleTimeoutMs = 100 }) { server in
            let client = try server.connect()
            let (metadata, metadataId) = try client.frame(.metadata, version: 12, Requests.metadata(["t"]))
            let (fetch, fetchId) = try client.frame(.fetch, version: 12, Requests.fetch("t", offset: 0, maxWaitMs: 500))
            try await client.send(metadata + fetch)
            for id in [metadataId, fetchId] {
                let frame = try #require(try await client.receiveFrame(), "closed before answering \(id)")
                #expect(Int32(bigEndian: frame.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }) == id)
            }
            // Nothing waits any more: now it is idle.
            #expect(try await client.isClosedByServer())
        }
    }
}
