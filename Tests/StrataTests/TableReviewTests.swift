import Foundation
import StrataBlob
import StrataFormat
import StrataIceberg
import StrataParquet
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// A store whose puts under `tables/` wait while the gate is closed (a slow or hung table upload).
final class TableGatedStore: BlobStore {
    let inner: MemoryBlobStore
    private let closed = Mutex(false)
    private let parked = Mutex(0)
    init(_ inner: MemoryBlobStore) { self.inner = inner }
    var location: String { inner.location }
    func close() { closed.withLock { $0 = true } }
    func open() { closed.withLock { $0 = false } }
    var waiting: Int { parked.withLock { $0 } }

    func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
        if key.hasPrefix("tables/") {
            parked.withLock { $0 += 1 }
            while closed.withLock({ $0 }) { try await Task.sleep(nanoseconds: 10_000_000) }
            parked.withLock { $0 -= 1 }
        }
        try await inner.put(key, bytes, mode: mode)
    }
    func get(_ key: String, range: ByteRange) async throws -> BlobData { try await inner.get(key, range: range) }
    func head(_ key: String) async throws -> BlobInfo { try await inner.head(key) }
    func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage {
        try await inner.list(prefix: prefix, continuation: continuation, limit: limit)
    }
    func delete(_ keys: [String]) async throws { try await inner.delete(keys) }
}

/// Review of the table writer (issue 15): tests that show defects.
@Suite(.serialized) struct TableReviewTests {
    typealias F = TableFixture

    /// The background loop awaits the table pass inside its tick (Lake.swift backgroundTick:
    /// `await tables.syncAfterBackgroundPass(open)`), so while one table pass is slow (a big
    /// backlog, a hung table upload) no later tick runs: no offload, retention, async flush or
    /// segment roll for any topic of the lake.
    @Test func aStuckTablePassStopsLaterBackgroundOffloads() async throws {
        try await withTempDirectory { dir in
            let store = TableGatedStore(MemoryBlobStore())
            let clock = ManualClock()
            var options = F.options(store: store, clock: clock)
            options.backgroundOffload = true
            let lake = try Lake.open(dir, options: options)
            let topic = try await lake.createTopic(F.topicName, config: F.config(), partitions: 1)
            try await F.produce(topic, 0 ..< 1000, partition: 0)
            store.close()
            for _ in 0 ..< 200 where store.waiting == 0 {
                clock.advance(ms: options.backgroundIntervalMs)
                try await Task.sleep(nanoseconds: 20_000_000)
            }
            #expect(store.waiting > 0, "the first tick's table pass is parked on a table put")
            let first = try #require(try await lake.cold.latestManifest(F.topicName)).nextOffset
            try await F.produce(topic, 1000 ..< 2000, partition: 0)
            for _ in 0 ..< 20 {
                clock.advance(ms: options.backgroundIntervalMs)
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            let later = try #require(try await lake.cold.latestManifest(F.topicName, refresh: true)).nextOffset
            #expect(later > first, "20 ticks later the offload has not moved: \(first) → \(later)")
            store.open()
            for _ in 0 ..< 20 {
                clock.advance(ms: options.backgroundIntervalMs)
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            let released = try #require(try await lake.cold.latestManifest(F.topicName, refresh: true)).nextOffset
            #expect(released > first, "control: once the table put is released the offload moves on")
            try await lake.close()
        }
    }

    /// A timestamp the hot and cold tiers accept (any Int64 ms, as Kafka) but the table refuses
    /// (|ms| > 9.2·10¹⁵ overflows µs) fails every pass of the topic: no partition's records ever
    /// reach the table again (one commit per topic), and `rebuild` fails the same way.
    /// Fixed: the refusal stays within its partition (the sync reports it); a rebuild, which
    /// must write every partition, fails naming the record.
    @Test func oneRecordWithAHugeTimestampStopsTheTableOfEveryPartition() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let lake = try Lake.open(dir, options: F.options(store: store, clock: ManualClock()))
            _ = try await lake.createTopic(F.topicName, config: F.config(), partitions: 2)
            try await F.produce(try lake.partition(F.topicName, 0), 0 ..< 300, partition: 0)
            let p1 = try lake.partition(F.topicName, 1)
            _ = try await p1.append([ProducerRecord(key: nil, value: [1], headers: [], timestamp: Int64.max / 2)])
            _ = try await lake.offload(topic: F.topicName)
            #expect(
                try await lake.cold.latestManifest(LogName(validated: F.topicName, partition: 1).description)?
                    .nextOffset == 1)
            var failure: StrataError? = nil
            var report = TableSyncReport()
            do throws(StrataError) { report = try await lake.syncTable(F.topicName) } catch { failure = error }
            #expect(failure == nil, "sync: \(String(describing: failure))")
            #expect(report.partitionsRefused == [1])
            let read = try await F.read(store)
            #expect(read?.rows[0]?.count == 300, "partition 0's 300 records are not in the table")
            #expect(read?.rows[1] == nil, "partition 1's table stops before its record")
            let status = try await lake.tableStatus(F.topicName)
            #expect(status.partitions.first { $0.partition == 1 }?.lagOffsets == 1)
            failure = nil
            do throws(StrataError) { _ = try await lake.rebuildTable(F.topicName) } catch { failure = error }
            #expect(failure?.code == .invalidArgument && failure?.message.contains("partition 1 offset 0") == true)
            #expect(try await F.read(store)?.rows[0]?.count == 300, "a failed rebuild changes nothing")
            try await lake.close()
        }
    }

    /// An idle topic should cost no blob request per tick once its table is known (as the
    /// writer's own doc says), but a partition with a directory and no cold data yet has no
    /// manifest, `ColdTier.latestManifest` caches no nil, so `TableWriter.plan` LISTs its manifest
    /// prefix on every background tick, for every such partition, forever. (The cold tier alone
    /// also makes requests on idle ticks here: the control; the table writer should add none.)
    @Test func idleTicksListTheManifestsOfEveryPartitionWithoutColdData() async throws {
        func idleRequests(tables: Bool) async throws -> Int {
            try await withTempDirectory { dir in
                let store = MemoryBlobStore()
                var options = F.options(store: store, clock: ManualClock())
                options.backgroundOffload = true
                options.tables = tables
                let lake = try Lake.open(dir, options: options)
                _ = try await lake.createTopic(F.topicName, config: F.config(), partitions: 16)
                try await F.produce(try lake.partition(F.topicName, 0), 0 ..< 1000, partition: 0)
                for p: Int32 in 1 ..< 16 { _ = try lake.partition(F.topicName, p) }  // open, empty
                await lake.backgroundTick()
                await lake.backgroundTick()
                let before = lake.coldStats.blob.requests
                for _ in 0 ..< 5 { await lake.backgroundTick() }
                let idle = lake.coldStats.blob.requests - before
                try await lake.close()
                return idle
            }
        }
        let without = try await idleRequests(tables: false)
        let with = try await idleRequests(tables: true)
        #expect(with == without, "5 idle ticks: \(without) blob requests without tables, \(with) with")
    }

    /// A pass keeps the bytes of every data file it uploaded until its one commit
    /// (`TableFiles.swift` write/finish: `uploaded.append(file)` with `BuiltDataFile.bytes`;
    /// `TableSync.pass` holds `writes.dataFiles` to the end): memory grows with the backlog, not
    /// with `tableFileBytesTarget`. Here: 48 MiB of incompressible values, files of 256 KiB, the
    /// table store keeping no data bytes (so the store itself adds nothing): the pass's peak RSS
    /// should stay a few MiB above where it started.
    @Test func aPassOverABacklogHoldsEveryDataFileInMemory() async throws {
        try await withTempDirectory { dir in
            let store = DataDroppingStore(MemoryBlobStore())
            var options = F.options(store: store, clock: ManualClock())
            options.tables = false
            options.tableFileBytesTarget = 256 << 10
            let lake = try Lake.open(dir, options: options)
            var config = ColdFixture.smallSegments(segmentBytes: 1 << 20, frameBytes: 256 << 10)
            config.localRetentionMs = nil
            let topic = try await lake.createTopic(F.topicName, config: config)
            let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
            for batch in 0 ..< 48 {
                let records = (0 ..< 16).map { i in
                    ProducerRecord(
                        key: Array("k\(batch)-\(i)".utf8), value: [UInt8](random.readData(ofLength: 64 << 10)),
                        headers: [], timestamp: F.baseMs + Int64(batch * 16 + i))
                }
                _ = try await topic.append(records)
            }
            _ = try await lake.offload(topic: F.topicName, evict: true)
            // What a pass holds for its commit: every uploaded file without its bytes. (Peak RSS
            // was the first proof; it is process-wide, so other suites running at once move it.)
            let manifest = try #require(try await lake.cold.latestManifest(F.topicName))
            let builder = TableFileBuilder(
                topic: F.topicName, partition: 0, location: lake.tables.location(F.topicName),
                fileBytesTarget: options.tableFileBytesTarget, valueSchema: nil)
            var uploaded: [BuiltDataFile] = []
            _ = try await lake.tables.write(
                F.topicName, manifest: manifest, range: manifest.logStartOffset ..< manifest.nextOffset,
                into: builder, uploaded: &uploaded)
            try await lake.tables.finish(builder, uploaded: &uploaded)
            #expect(uploaded.count > 100, "\(uploaded.count) files of 256 KiB for 48 MiB")
            #expect(uploaded.reduce(Int64(0)) { $0 + $1.byteCount } > 40 << 20)
            #expect(uploaded.allSatisfy { $0.bytes.isEmpty }, "an uploaded file's bytes are dropped")
            let report = try await lake.syncTable(F.topicName)
            #expect(report.bytesAdded > 40 << 20)
            try await lake.close()
        }
    }

    /// A failed hint put is "only logged" (TableSync.write), but the same commit, when it expires
    /// (a merge, retention, the 16th snapshot), then deletes the metadata file the hint still
    /// names: readers that go by `version-hint.text` (DuckDB `iceberg_scan` on a directory, the
    /// catalog-less layout) find no metadata until some later commit rewrites the hint.
    @Test func aFailedHintPutAndAnExpiryLeaveTheHintNamingADeletedMetadataFile() async throws {
        try await withTempDirectory { dir in
            let store = HintFailingStore(MemoryBlobStore())
            var options = F.options(store: store, clock: ManualClock())
            options.tableFileBytesTarget = 128 << 20  // small files: the next pass merges (removes) them
            let lake = try Lake.open(dir, options: options)
            let topic = try await lake.createTopic(F.topicName, config: F.config(), partitions: 1)
            try await F.produce(topic, 0 ..< 300, partition: 0)
            _ = try await lake.offload(topic: F.topicName)
            store.failHint.withLock { $0 = true }
            try await F.produce(topic, 300 ..< 600, partition: 0)
            _ = try await lake.offload(topic: F.topicName)
            store.failHint.withLock { $0 = false }
            let hint = String(
                decoding: try await store.inner.get("tables/orders/metadata/version-hint.text", range: .whole).bytes,
                as: UTF8.self)
            let metadata = try await store.inner.listAll(prefix: "tables/orders/metadata/v").map(\.key)
            #expect(
                metadata.contains("tables/orders/metadata/v\(hint).metadata.json"),
                "the hint says \(hint), the store holds \(metadata)")
            try await lake.close()
        }
    }

    /// Random passes: produce (multi-day, steps back across midnight), offload, sometimes
    /// delete-records at a random offset, sync with several file targets; after every pass the
    /// table's rows are exactly the manifest's records [log start, next offset).
    @Test(arguments: [600, 3000, 20_000]) func randomPassesKeepTheRowsEqualToTheManifest(target: Int) async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            var options = F.options(store: store, clock: ManualClock())
            options.tables = false
            options.tableFileBytesTarget = target
            let lake = try Lake.open(dir, options: options)
            let topic = try await lake.createTopic(F.topicName, config: F.config(), partitions: 1)
            var rng = SplitMix64(seed: UInt64(target))
            var produced = 0
            var start: Int64 = 0
            for pass in 0 ..< 30 {
                let n = Int(rng.next() % 120) + 1
                try await F.produce(topic, produced ..< produced + n, partition: 0)
                produced += n
                _ = try await lake.offload(topic: F.topicName)
                if rng.next() % 4 == 0 {
                    let manifest = try #require(try await lake.cold.latestManifest(F.topicName))
                    let span = UInt64(manifest.nextOffset - start)
                    if span > 1 {
                        start += Int64(rng.next() % span)
                        _ = try await lake.topic(F.topicName).deleteRecords(before: start)
                    }
                }
                _ = try await lake.syncTable(F.topicName)
                let manifest = try #require(try await lake.cold.latestManifest(F.topicName))
                let read = try #require(try await F.read(store))
                let want = (Int(manifest.logStartOffset) ..< Int(manifest.nextOffset)).map {
                    F.expected($0, partition: 0)
                }
                let got = read.rows[0] ?? []
                #expect(
                    got == want, "pass \(pass): \(got.count) rows, want \(want.count) from \(manifest.logStartOffset)")
                if got != want { break }
                let keys = try await F.dataKeys(store)
                // Live files, plus those a small-file merge replaced that a retained snapshot reads.
                let referenced = read.files.count + read.table.removedButReferenced.count
                #expect(
                    keys.count == referenced, "pass \(pass): \(keys.count) data objects, \(referenced) referenced")
            }
            try await lake.close()
        }
    }

    /// kB of a /proc/self/status line, in bytes/1024 → returns kB.
    static func procStatus(_ field: String) throws -> Int {
        let text = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix(field + ":") })
        return try #require(Int(line.split(separator: " ").dropFirst().first ?? ""))
    }
}

/// Fails every put of a version hint while `failHint` is set.
final class HintFailingStore: BlobStore {
    let inner: MemoryBlobStore
    let failHint = Mutex(false)
    init(_ inner: MemoryBlobStore) { self.inner = inner }
    var location: String { inner.location }
    func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
        if key.hasSuffix("version-hint.text"), failHint.withLock({ $0 }) {
            throw BlobError(.unavailable, "injected: hint put fails", key: key, location: location)
        }
        try await inner.put(key, bytes, mode: mode)
    }
    func get(_ key: String, range: ByteRange) async throws -> BlobData { try await inner.get(key, range: range) }
    func head(_ key: String) async throws -> BlobInfo { try await inner.head(key) }
    func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage {
        try await inner.list(prefix: prefix, continuation: continuation, limit: limit)
    }
    func delete(_ keys: [String]) async throws { try await inner.delete(keys) }
}

/// Keeps table data files as empty objects (the writer never reads them back in one pass).
final class DataDroppingStore: BlobStore {
    let inner: MemoryBlobStore
    init(_ inner: MemoryBlobStore) { self.inner = inner }
    var location: String { inner.location }
    func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
        try await inner.put(key, key.hasPrefix("tables/") && key.contains("/data/") ? [] : bytes, mode: mode)
    }
    func get(_ key: String, range: ByteRange) async throws -> BlobData { try await inner.get(key, range: range) }
    func head(_ key: String) async throws -> BlobInfo { try await inner.head(key) }
    func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage {
        try await inner.list(prefix: prefix, continuation: continuation, limit: limit)
    }
    func delete(_ keys: [String]) async throws { try await inner.delete(keys) }
}
