import Foundation
import StrataBlob
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// Shared fixtures of the cold-tier tests (names kept under `ColdFixture` so they never collide
/// with the hot-tier tests' helpers).
enum ColdFixture {
    static let topicName = "events"
    static let timestampBaseMs: Int64 = 1_700_000_000_000

    /// A fresh directory under the system temp dir; the caller removes it with `remove`.
    static func makeDirectory(_ label: String = #function) throws -> String {
        let safe = label.filter { $0.isLetter || $0.isNumber }
        let path = NSTemporaryDirectory() + "strata-cold-\(safe)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    /// A lake on `store` (a fresh memory store by default) in a fresh directory, closed and
    /// removed afterwards.
    static func withLake<T>(
        store: any BlobStore = MemoryBlobStore(), clock: (any StrataClock)? = nil, _ label: String = #function,
        _ body: (Lake, String) async throws -> T
    ) async throws -> T {
        let dir = try makeDirectory(label)
        defer { remove(dir) }
        let lake = try Lake.open(dir, options: options(store: store, clock: clock))
        do {
            let result = try await body(lake, dir)
            try await lake.close()
            return result
        } catch {
            try? await lake.close()
            throw error
        }
    }

    /// Deterministic options: no background work, retries that never sleep.
    static func options(
        store: (any BlobStore)? = nil, clock: (any StrataClock)? = nil,
        background: Bool = false
    ) -> LakeOptions {
        var options = LakeOptions()
        options.backgroundOffload = background
        options.coldStore = store
        options.blobRetry = RetryPolicy(attemptsMax: 8, baseDelayMs: 1, delayMaxMs: 5)
        options.blobRetryEnvironment = .seeded(1) { _ in }
        options.log = { _ in }
        // These suites pin the standalone object path (one object per segment, deleted by
        // retention); packed objects have their own suite (PackedOffloadTests).
        options.packSegmentBytesMax = 0
        if let clock { options.clock = clock }
        return options
    }

    /// Small segments and frames, so a few thousand records make many objects of several frames.
    static func smallSegments(segmentBytes: Int = 64 * 1024, frameBytes: Int = 16 * 1024) -> TopicConfig {
        var config = TopicConfig()
        config.segmentBytes = segmentBytes
        config.coldFrameRawBytes = frameBytes
        config.durability = .async
        return config
    }

    /// Record `i` of the test stream: keys, values and headers sometimes absent, sizes varying,
    /// timestamps mostly rising but with regular steps back (not monotonic).
    static func record(_ i: Int) -> ProducerRecord {
        let key: [UInt8]? = i % 5 == 0 ? nil : Array("key-\(i % 1000)".utf8)
        let value: [UInt8]? = i % 97 == 0 ? nil : (0 ..< (8 + i % 41)).map { UInt8(truncatingIfNeeded: i &* 31 &+ $0) }
        let headers = i % 3 == 0 ? [RecordHeader(key: "h\(i % 7)", value: i % 2 == 0 ? nil : [UInt8(i & 0xFF)])] : []
        let timestamp = timestampBaseMs + Int64(i / 4) - (i % 11 == 0 ? 700 : 0)
        return ProducerRecord(key: key, value: value, headers: headers, timestamp: timestamp)
    }

    /// What reading record `i` must return.
    static func expected(_ i: Int) -> Record {
        let p = record(i)
        return Record(offset: Int64(i), timestamp: p.timestamp ?? 0, key: p.key, value: p.value, headers: p.headers)
    }

    /// Appends records `range` in batches of `batch`.
    static func produce(_ topic: Topic, _ range: Range<Int>, batch: Int = 500) async throws {
        var i = range.lowerBound
        while i < range.upperBound {
            let end = min(range.upperBound, i + batch)
            let result = try await topic.append((i ..< end).map(record))
            #expect(result.firstOffset == Int64(i))
            i = end
        }
    }

    /// Reads with a cursor until it reaches `end` (or `readsMax` reads pass).
    static func readAll(_ cursor: inout Cursor, until end: Int64, readsMax: Int = 1_000_000) async throws -> [Record] {
        var records: [Record] = []
        var reads = 0
        while cursor.nextOffset < end, reads < readsMax {
            records += try await cursor.next()
            reads += 1
        }
        return records
    }

    /// Index of the first record that differs from `expected(range)`, nil when all match.
    static func firstMismatch(_ records: [Record], _ range: Range<Int>) -> Int? {
        if records.count != range.count {
            let common = min(records.count, range.count)
            return (0 ..< common).first { records[$0] != expected(range.lowerBound + $0) } ?? common
        }
        return records.indices.first { records[$0] != expected(range.lowerBound + $0) }
    }

    /// Keys under `prefix` in a store.
    static func keys(_ store: any BlobStore, prefix: String) async throws -> [String] {
        try await store.listAll(prefix: prefix).map(\.key)
    }
}

/// Wraps a store and records every mutating call, in order (which key, how many bytes), so a
/// test can check what was written and in which order.
final class RecordingBlobStore: BlobStore {
    enum Call: Equatable, Sendable {
        case put(key: String, bytes: Int)
        case delete(keys: [String])
    }

    let inner: any BlobStore
    private let calls = Mutex<[Call]>([])

    init(_ inner: any BlobStore) { self.inner = inner }

    var location: String { inner.location }
    var log: [Call] { calls.withLock { $0 } }

    func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
        try await inner.put(key, bytes, mode: mode)
        calls.withLock { $0.append(.put(key: key, bytes: bytes.count)) }
    }

    func get(_ key: String, range: ByteRange) async throws -> BlobData { try await inner.get(key, range: range) }
    func head(_ key: String) async throws -> BlobInfo { try await inner.head(key) }
    func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage {
        try await inner.list(prefix: prefix, continuation: continuation, limit: limit)
    }

    func delete(_ keys: [String]) async throws {
        try await inner.delete(keys)
        calls.withLock { $0.append(.delete(keys: keys)) }
    }
}

extension ColdFixture {
    /// The newest manifest stored for `topic`, read straight from `store` (not through a lake),
    /// decoded and validated.
    static func storedManifest(_ store: any BlobStore, topic: String = topicName) async throws -> Manifest? {
        let layout = BucketLayout(prefix: "")
        var newest: (UInt64, String)? = nil
        for key in try await keys(store, prefix: layout.manifestPrefix(topic: topic)) {
            let version = try layout.parseManifestKey(key, topic: topic)
            if version > (newest?.0 ?? 0) { newest = (version, key) }
        }
        guard let (version, key) = newest else { return nil }
        let bytes = try await store.get(key, range: .whole).bytes
        return try Manifest.decode(bytes, expectedTopic: topic, expectedVersion: version)
    }

    /// Every segment entry a manifest reaches, archived ones included, oldest first.
    static func allSegments(_ manifest: Manifest, store: any BlobStore) async throws -> [ManifestSegment] {
        var segments: [ManifestSegment] = []
        for reference in manifest.archives {
            let bytes = try await store.get(reference.key, range: .whole).bytes
            segments += try ArchiveManifest.decode(bytes, topic: manifest.topic, reference: reference).segments
        }
        return segments + manifest.segments
    }
}
