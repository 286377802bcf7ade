import Foundation
import Testing

@testable import StrataBlob

/// The test server's coordinates, from `tools/s3-server` (via `tools/test-s3`).
enum S3TestServer {
    static let environment = ProcessInfo.processInfo.environment
    static var isConfigured: Bool { environment["STRATA_S3_TEST_ENDPOINT"] != nil }
    static var isBigEnabled: Bool { isConfigured && environment["STRATA_S3_BIG"] == "1" }

    /// A config for a fresh, unique prefix so runs never see each other's keys.
    static func config(_ name: String, secret: String? = nil, partSizeBytes: Int? = nil) throws -> S3Config {
        let endpoint = try #require(environment["STRATA_S3_TEST_ENDPOINT"].flatMap(URL.init(string:)))
        let credentials = S3Credentials(
            accessKeyId: environment["STRATA_S3_TEST_ACCESS_KEY"] ?? "",
            secretAccessKey: secret ?? environment["STRATA_S3_TEST_SECRET_KEY"] ?? "")
        var config = S3Config(
            endpoint: endpoint, region: environment["STRATA_S3_TEST_REGION"] ?? "us-east-1",
            bucket: environment["STRATA_S3_TEST_BUCKET"] ?? "strata-test",
            prefix: "tests/\(name)-\(UUID().uuidString.prefix(8))/", addressing: .pathStyle, credentials: credentials)
        if let partSizeBytes { config.partSizeBytes = partSizeBytes }
        return config
    }

    static func store(_ name: String, partSizeBytes: Int? = nil) throws -> S3BlobStore {
        try S3BlobStore(config: config(name, partSizeBytes: partSizeBytes))
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), fast enough for 200 MiB in debug builds.
func s3TestBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        var index = 0
        while index < count {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            var word = state &* 0x2545_F491_4F6C_DD1D
            for _ in 0 ..< min(8, count - index) {
                buffer[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        initialized = count
    }
}

func expectS3Error(_ code: BlobError.Code, _ body: () async throws -> Void) async -> BlobError? {
    do {
        try await body()
        Issue.record("expected BlobError.\(code), got success")
    } catch let error as BlobError {
        #expect(error.code == code, "\(error)")
        return error
    } catch {
        Issue.record("expected BlobError.\(code), got \(error)")
    }
    return nil
}

/// The BlobStore contract on a real S3 server (SeaweedFS checks signatures and dates).
@Suite(.enabled(if: S3TestServer.isConfigured, "set STRATA_S3_TEST_ENDPOINT (run tools/test-s3)"))
struct S3BlobStoreTests {
    @Test func roundTripOverwriteAndEmpty() async throws {
        let store = try S3TestServer.store("roundtrip")
        let bytes = s3TestBytes(count: 70_000, seed: 1)
        try await store.put("a/b/seg 1.zst", bytes, mode: .overwrite)
        #expect(
            try await store.get("a/b/seg 1.zst", range: .whole) == BlobData(bytes: bytes, offset: 0, objectSize: 70_000)
        )
        try await store.put("a/b/seg 1.zst", [1, 2, 3], mode: .overwrite)
        #expect(try await store.get("a/b/seg 1.zst", range: .whole).bytes == [1, 2, 3])
        try await store.put("empty", [], mode: .overwrite)
        #expect(try await store.get("empty", range: .whole) == BlobData(bytes: [], offset: 0, objectSize: 0))
        try await store.put("ünï cödé/a+b=c&d", [9], mode: .overwrite)
        #expect(try await store.get("ünï cödé/a+b=c&d", range: .whole).bytes == [9])
    }

    @Test func rangedAndSuffixReads() async throws {
        let store = try S3TestServer.store("ranges")
        let bytes = s3TestBytes(count: 1_000, seed: 2)
        try await store.put("obj", bytes, mode: .overwrite)
        let middle = try await store.get("obj", range: .range(offset: 100, length: 50))
        #expect(middle == BlobData(bytes: Array(bytes[100 ..< 150]), offset: 100, objectSize: 1_000))
        let cut = try await store.get("obj", range: .range(offset: 990, length: 100))
        #expect(cut == BlobData(bytes: Array(bytes[990...]), offset: 990, objectSize: 1_000))
        #expect(try await store.get("obj", range: .range(offset: 1_000, length: 5)).bytes.isEmpty)
        #expect(
            try await store.get("obj", range: .suffix(length: 10))
                == BlobData(bytes: Array(bytes[990...]), offset: 990, objectSize: 1_000))
        #expect(
            try await store.get("obj", range: .suffix(length: 5_000))
                == BlobData(bytes: bytes, offset: 0, objectSize: 1_000))
        _ = await expectS3Error(.invalid) { _ = try await store.get("obj", range: .range(offset: 1_001, length: 1)) }
        _ = await expectS3Error(.notFound) { _ = try await store.get("missing", range: .range(offset: 0, length: 1)) }
        try await store.put("empty", [], mode: .overwrite)
        #expect(
            try await store.get("empty", range: .suffix(length: 4)) == BlobData(bytes: [], offset: 0, objectSize: 0))
    }

    @Test func headReportsSizeAndTime() async throws {
        let store = try S3TestServer.store("head")
        try await store.put("k", [UInt8](repeating: 7, count: 1234), mode: .overwrite)
        let info = try await store.head("k")
        #expect(info.key == "k" && info.size == 1234)
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(abs(info.modifiedMs - nowMs) < 600_000)
        _ = await expectS3Error(.notFound) { _ = try await store.head("missing") }
        _ = await expectS3Error(.notFound) { _ = try await store.get("missing", range: .whole) }
    }

    @Test func listsThousandsOfKeysAcrossPagesThenBatchDeletes() async throws {
        let store = try S3TestServer.store("list")
        let keys = (0 ..< 2_500).map { String(format: "seg/%05d.zst", $0) }
        try await putAll(store, keys)
        try await store.put("other/x", [1], mode: .overwrite)
        var pages = 0
        var listed: [BlobInfo] = []
        var token: String? = nil
        repeat {
            let page = try await store.list(prefix: "seg/", continuation: token, limit: 1_000)
            listed += page.objects
            token = page.continuation
            pages += 1
        } while token != nil
        #expect(pages == 3)
        #expect(listed.map(\.key) == keys)
        #expect(listed.allSatisfy { $0.size == 3 })
        try await store.delete(keys + ["never-existed"])
        #expect(try await store.listAll(prefix: "").map(\.key) == ["other/x"])
    }

    private func putAll(_ store: S3BlobStore, _ keys: [String]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, key) in keys.enumerated() {
                if index >= 16 { try await group.next() }
                group.addTask { try await store.put(key, [1, 2, 3], mode: .overwrite) }
            }
            try await group.waitForAll()
        }
    }

    @Test func conditionalPutLosesWithPreconditionFailed() async throws {
        let store = try S3TestServer.store("ifabsent")
        try await store.put("manifest/1", [1], mode: .ifAbsent)
        _ = await expectS3Error(.preconditionFailed) { try await store.put("manifest/1", [2], mode: .ifAbsent) }
        #expect(try await store.get("manifest/1", range: .whole).bytes == [1])
    }

    @Test func multipartUploadAboveThePartSize() async throws {
        let store = try S3TestServer.store("multipart", partSizeBytes: S3Config.partSizeBytesMin)
        let bytes = s3TestBytes(count: 2 * S3Config.partSizeBytesMin + 3, seed: 3)
        try await store.put("big", bytes, mode: .overwrite)
        let back = try await store.get("big", range: .whole)
        #expect(back.objectSize == Int64(bytes.count))
        #expect(SigV4Signer.sha256Hex(back.bytes) == SigV4Signer.sha256Hex(bytes))
        let boundary = Int64(S3Config.partSizeBytesMin) - 10
        let across = try await store.get("big", range: .range(offset: boundary, length: 20))
        #expect(across.bytes == Array(bytes[Int(boundary) ..< Int(boundary) + 20]))
        _ = await expectS3Error(.preconditionFailed) { try await store.put("big", bytes, mode: .ifAbsent) }
        #expect(try await store.head("big").size == Int64(bytes.count))
    }

    @Test(.enabled(if: S3TestServer.isBigEnabled, "set STRATA_S3_BIG=1"))
    func twoHundredMiBObject() async throws {
        let store = try S3TestServer.store("big200")
        let bytes = s3TestBytes(count: 200 << 20, seed: 4)
        let started = Date()
        try await store.put("big", bytes, mode: .overwrite)
        let uploaded = Date()
        let back = try await store.get("big", range: .whole)
        let downloaded = Date()
        #expect(SigV4Signer.sha256Hex(back.bytes) == SigV4Signer.sha256Hex(bytes))
        let upSeconds = uploaded.timeIntervalSince(started)
        let downSeconds = downloaded.timeIntervalSince(uploaded)
        print(
            "200 MiB: upload \(String(format: "%.2f", upSeconds)) s, download \(String(format: "%.2f", downSeconds)) s")
        try await store.delete(["big"])
    }

    @Test func wrongSecretIsDeniedNamingEndpointAndBucket() async throws {
        let good = try S3TestServer.store("denied")
        let wrongSecret = "definitely-not-the-secret-123"
        var config = good.config
        config.credentials.secretAccessKey = wrongSecret
        let bad = try S3BlobStore(config: config)
        let error = await expectS3Error(.denied) { try await bad.put("k", [1], mode: .overwrite) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains(config.endpoint.absoluteString) && text.contains(config.bucket), "\(text)")
        #expect(!text.contains(wrongSecret))
        _ = await expectS3Error(.notFound) { _ = try await good.head("k") }
        _ = await expectS3Error(.denied) { _ = try await bad.list(prefix: "", continuation: nil, limit: 10) }
    }

    @Test func missingBucketIsInvalidNamingIt() async throws {
        var config = try S3TestServer.config("nobucket")
        config.bucket = "strata-no-such-bucket-\(UUID().uuidString.prefix(8).lowercased())"
        let store = try S3BlobStore(config: config)
        let error = await expectS3Error(.invalid) { _ = try await store.list(prefix: "", continuation: nil, limit: 1) }
        #expect(error?.message.contains(config.bucket) == true)
    }
}

/// Objects cross between Strata and boto3 (tools/test-s3 writes and checks the boto3 side).
@Suite(
    .enabled(
        if: S3TestServer.isConfigured && S3TestServer.environment["STRATA_S3_INTEROP_SHA256"] != nil,
        "run tools/test-s3"))
struct S3InteropTests {
    @Test func readsBoto3ObjectAndWritesOneForBoto3() async throws {
        var config = try S3TestServer.config("interop")
        config.prefix = "interop/"
        config.partSizeBytes = S3Config.partSizeBytesMin
        let store = try S3BlobStore(config: config)
        let fromBoto = try await store.get("boto3/multipart.bin", range: .whole)
        #expect(SigV4Signer.sha256Hex(fromBoto.bytes) == S3TestServer.environment["STRATA_S3_INTEROP_SHA256"])
        #expect(try await store.listAll(prefix: "boto3/").map(\.key) == ["boto3/multipart.bin"])
        let bytes = s3TestBytes(count: 12 << 20, seed: 6)
        try await store.put("strata/seg-0.bin", bytes, mode: .overwrite)
        try await store.put("strata/seg-0.sha256", Array(SigV4Signer.sha256Hex(bytes).utf8), mode: .overwrite)
    }
}
