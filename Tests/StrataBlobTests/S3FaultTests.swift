import Foundation
import StrataTesting
import Testing

@testable import StrataBlob

/// Transient failures seen through real HTTP: 5xx/SlowDown and resets retried, 4xx not.
@Suite struct S3FaultTests {
    static func store(port: Int, attempts: Int = 4, waits: RecordedWaits = RecordedWaits()) throws -> S3BlobStore {
        var config = S3Config(
            endpoint: try #require(URL(string: "http://127.0.0.1:\(port)")), region: "us-east-1", bucket: "b",
            credentials: S3Credentials(accessKeyId: "AKID", secretAccessKey: "secret-never-shown"))
        config.retry = RetryPolicy(attemptsMax: attempts, baseDelayMs: 1, delayMaxMs: 5)
        return try S3BlobStore(config: config, retryEnvironment: waits.environment())
    }

    static let slowDown =
        "<Error><Code>SlowDown</Code><Message>Reduce your rate</Message><RequestId>r1</RequestId></Error>"

    @Test func slowDownAndResetAreRetriedUntilSuccess() async throws {
        let server = try ScriptedHTTPServer { index in
            switch index {
            case 0: return (503, Self.slowDown)
            case 1: return nil  // connection dropped without an answer
            case 2: return (500, "")
            default: return (200, "")
            }
        }
        defer { server.stop() }
        try await Self.store(port: server.port).put("k", Array(repeating: 1, count: 10_000), mode: .overwrite)
        #expect(server.requests == Array(repeating: "PUT /b/k HTTP/1.1", count: 4))
    }

    @Test func persistentSlowDownGivesUpWithTheS3Code() async throws {
        let server = try ScriptedHTTPServer { _ in (503, Self.slowDown) }
        defer { server.stop() }
        let error = await expectS3Error(.unavailable) {
            _ = try await Self.store(port: server.port, attempts: 3).get("k", range: .whole)
        }
        #expect(server.requests.count == 3)
        #expect(error?.cause?.contains("SlowDown") == true)
        #expect(error?.message.contains("gave up after 3 attempts") == true)
    }

    @Test func clientErrorsAreNotRetried() async throws {
        let denied = "<Error><Code>AccessDenied</Code><Message>no</Message></Error>"
        let server = try ScriptedHTTPServer { _ in (403, denied) }
        defer { server.stop() }
        let error = await expectS3Error(.denied) { _ = try await Self.store(port: server.port).head("k") }
        #expect(server.requests.count == 1)
        #expect(error.map { "\($0)" }?.contains("secret-never-shown") == false)
    }
}

extension S3FaultTests {
    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        let server = try ScriptedHTTPServer { _ in
            Thread.sleep(forTimeInterval: 5)  // a server that hangs
            return (200, "")
        }
        defer { server.stop() }
        let store = try Self.store(port: server.port)
        let task = Task { try await store.get("k", range: .whole) }
        try await Task.sleep(nanoseconds: 200_000_000)
        task.cancel()
        let result = await task.result
        // A finished transfer would have succeeded (200) and a stalled one failed as unavailable:
        // only the abort gives CancellationError. No timing asserted (the suite runs loaded).
        #expect(throws: CancellationError.self) { try result.get() }
    }
}
