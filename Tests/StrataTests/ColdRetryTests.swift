import Foundation
import StrataBlob
import StrataFormat
import StrataTesting
import Testing

@testable import Strata

/// One retry loop per request: the cold tier retries a plain store exactly `attemptsMax` times,
/// and does not retry an S3 store, which retries each HTTP request itself. No test here sleeps:
/// the waits are recorded (`RecordedWaits`).
@Suite struct ColdRetryTests {
    static let slowDown = "<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"

    /// A read-only view of `store` that retries with `policy` and records its waits.
    static func coldLog(_ store: any BlobStore, policy: RetryPolicy, waits: RecordedWaits) throws -> ColdLog {
        var options = ColdLogOptions()
        options.store = store
        options.retry = policy
        options.retryEnvironment = waits.environment()
        return try ColdLog.open("file:///unused-the-store-is-injected", options: options)
    }

    /// An S3 store on `server` whose requests retry with `policy`, recording their waits.
    static func s3Store(_ server: ScriptedHTTPServer, policy: RetryPolicy, waits: RecordedWaits) throws -> S3BlobStore {
        var config = S3Config(
            endpoint: try #require(URL(string: "http://127.0.0.1:\(server.port)")), region: "us-east-1", bucket: "b",
            credentials: S3Credentials(accessKeyId: "AKID", secretAccessKey: "secret"))
        config.retry = policy
        return try S3BlobStore(config: config, retryEnvironment: waits.environment())
    }

    /// A store whose first `count` calls fail as unavailable.
    static func failing(_ count: Int, inner: any BlobStore = MemoryBlobStore()) -> FaultyBlobStore {
        let plan = FaultPlan(failCalls: (1 ... count).map { FaultPlan.FailCall(callNumber: $0) })
        return FaultyBlobStore(wrapping: inner, plan: plan, seed: 1)
    }

    @Test func aPlainStoreIsCalledExactlyThePolicysAttemptsThenTheCallFails() async throws {
        let store = Self.failing(10)
        let waits = RecordedWaits()
        let log = try Self.coldLog(store, policy: RetryPolicy(attemptsMax: 4, baseDelayMs: 100), waits: waits)
        let error = await #expect(throws: StrataError.self) { _ = try await log.topicNames() }
        #expect(error?.code == .io)
        #expect(error?.message.contains("gave up after 4 attempts") == true, "\(String(describing: error))")
        #expect(store.counters.calls == 4)
        #expect(waits.recorded.count == 3)
    }

    @Test func aPlainStoreThatRecoversWithinTheAttemptsServesTheCall() async throws {
        let inner = MemoryBlobStore()
        let descriptor = try LakeDescriptor(createdMs: 1).encode()
        try await inner.put(BucketLayout(prefix: "").lakeKey, descriptor, mode: .ifAbsent)
        let store = Self.failing(3, inner: inner)
        let waits = RecordedWaits()
        let log = try Self.coldLog(store, policy: RetryPolicy(attemptsMax: 4), waits: waits)
        #expect(try await log.topicNames() == [])
        // Three failed gets of lake.json, the fourth served, then one listing.
        #expect(store.counters.callsByOperation[.get] == 4)
        #expect(store.counters.callsByOperation[.list] == 1)
        #expect(waits.recorded.count == 3)
    }

    /// Before: the cold tier's 4 attempts × the S3 client's 3 = 12 HTTP requests for one call.
    @Test func anS3StoreUnderTheColdTierMakesOnlyItsOwnAttempts() async throws {
        let server = try ScriptedHTTPServer { _ in (503, Self.slowDown) }
        defer { server.stop() }
        let httpWaits = RecordedWaits()
        let store = try Self.s3Store(server, policy: RetryPolicy(attemptsMax: 3, baseDelayMs: 100), waits: httpWaits)
        let coldWaits = RecordedWaits()
        let log = try Self.coldLog(store, policy: RetryPolicy(attemptsMax: 4), waits: coldWaits)
        let error = await #expect(throws: StrataError.self) { _ = try await log.topicNames() }
        #expect(error?.message.contains("gave up after 3 attempts") == true, "\(String(describing: error))")
        #expect(server.requests == Array(repeating: "GET /b/lake.json HTTP/1.1", count: 3))
        #expect(httpWaits.recorded.count == 2)
        #expect(coldWaits.recorded.isEmpty)
    }

    /// The same through a lake's offload: the first write (the lake descriptor) is one logical
    /// put, and the store sees the S3 policy's attempts, not the lake's times the store's.
    @Test func aLakeOffloadingToS3RetriesEachRequestOnce() async throws {
        let server = try ScriptedHTTPServer { _ in (503, Self.slowDown) }
        defer { server.stop() }
        let httpWaits = RecordedWaits()
        let store = try Self.s3Store(server, policy: RetryPolicy(attemptsMax: 2), waits: httpWaits)
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        var options = ColdFixture.options(store: store)
        let lakeWaits = RecordedWaits()
        options.blobRetry = RetryPolicy(attemptsMax: 5)
        options.blobRetryEnvironment = lakeWaits.environment()
        let lake = try Lake.open(dir, options: options)
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< 10)
        await #expect(throws: StrataError.self) { _ = try await lake.offload() }
        #expect(server.requests == Array(repeating: "PUT /b/lake.json HTTP/1.1", count: 2))
        #expect(httpWaits.recorded.count == 1)
        #expect(lakeWaits.recorded.isEmpty)
        try await lake.close()
    }
}
