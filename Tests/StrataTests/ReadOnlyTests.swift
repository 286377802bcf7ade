import Foundation
import Glibc
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// Helpers of the read-only tests.
enum ReadOnlyFixture {
    /// Every file and directory under `root` (recursively) with its size, mtime (ns) and CRC32C:
    /// equal snapshots mean nothing was created, removed, written or touched.
    static func snapshot(_ root: String) -> [String: String] {
        var snapshot: [String: String] = [:]
        guard let walker = FileManager.default.enumerator(atPath: root) else { return snapshot }
        while let relative = walker.nextObject() as? String {
            let path = root + "/" + relative
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            let mtime = "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
            if (info.st_mode & S_IFMT) == S_IFDIR {
                snapshot[relative + "/"] = "dir mtime=\(mtime)"
            } else {
                let crc = (try? FileIO.readWholeFile(path)).map { CRC32C.checksum($0) } ?? 0
                snapshot[relative] = "size=\(info.st_size) mtime=\(mtime) crc=\(crc)"
            }
        }
        return snapshot
    }

    /// A cold store that fails every call and counts them (a cold-store outage).
    static func unreachableStore() -> FaultyBlobStore {
        FaultyBlobStore(wrapping: MemoryBlobStore(), plan: FaultPlan(unavailableFraction: 1), seed: 1)
    }
}

/// `Lake.openReadOnly` (issue 11 item 3, issue 12 items 4 and 9; ARCHITECTURE.md invariant 11).
@Suite struct ReadOnlyTests {
    static func options(store: (any BlobStore)? = nil) -> LakeOptions {
        var options = lakeOptions()
        options.backgroundOffload = false
        options.coldStore = store
        options.blobRetry = RetryPolicy(attemptsMax: 2, baseDelayMs: 1, delayMaxMs: 1)
        return options
    }

    /// All records of a read-only topic from `offset`, through a cursor (both tiers).
    static func consume(_ topic: Topic, from start: StartPosition = .earliest) async throws -> [Record] {
        var cursor = try await Cursor(topic: topic, start: start)
        var records: [Record] = []
        while true {
            let batch = try await cursor.next()
            if batch.isEmpty { return records }
            records += batch
        }
    }

    @Test func missingLakeIsNotFoundAndNothingIsCreated() async throws {
        try await withTempDirectory { dir in
            let missing = dir + "/no/such/lake"
            let error = strataError { _ = try Lake.openReadOnly(missing) }
            #expect(error?.code == .notFound)
            #expect(error?.message.contains("no lake at \(missing)") == true)
            #expect(!FileManager.default.fileExists(atPath: dir + "/no"))

            // A directory without lake.json is no lake either, and stays as it is.
            try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: false)
            let before = ReadOnlyFixture.snapshot(dir)
            let noConfig = strataError { _ = try Lake.openReadOnly(dir + "/empty") }
            #expect(noConfig?.code == .notFound)
            #expect(noConfig?.message.contains("no lake.json") == true)
            #expect(ReadOnlyFixture.snapshot(dir) == before)
        }
    }

    @Test func readsBesideARunningWriterChangeNothingAndSeeLaterAppends() async throws {
        try await withTempDirectory { dir in
            let writer = try Lake.open(dir, options: Self.options(store: MemoryBlobStore()))
            let topic = try writer.topic("t", creatingWith: topicConfig(segmentBytes: 1024))
            for i in 0 ..< 20 { try await topic.append(offsetRecords(from: Int64(i * 10), count: 10)) }
            #expect(topic.segments().count > 2)
            let before = ReadOnlyFixture.snapshot(dir)

            let reader = try Lake.openReadOnly(dir, options: Self.options(store: MemoryBlobStore()))
            #expect(reader.isReadOnly)
            #expect(try reader.topicNames() == ["t"])
            let view = try reader.topic("t")
            #expect(view.damage.isEmpty)
            #expect(view.segments().map(\.baseOffset) == topic.segments().map(\.baseOffset))
            let records = try await Self.consume(view)
            #expect(records.map(\.offset) == Array(0 ..< 200))
            #expect(records.map { string($0.value) } == (0 ..< 200).map { "v\($0)" })
            let report = try await reader.verify()
            #expect(report.isClean, "\(report.problems)")
            #expect(report.segmentsChecked == topic.segments().count)
            #expect(ReadOnlyFixture.snapshot(dir) == before, "a read-only open changed the lake directory")

            // The writer goes on (and rolls); a cursor that caught up sees it.
            var cursor = try await Cursor(topic: view, start: .offset(200))
            #expect(try await cursor.next().isEmpty)
            for i in 20 ..< 30 { try await topic.append(offsetRecords(from: Int64(i * 10), count: 10)) }
            let afterWrites = ReadOnlyFixture.snapshot(dir)
            var later: [Record] = []
            while true {
                let batch = try await cursor.next()
                if batch.isEmpty { break }
                later += batch
            }
            #expect(later.map(\.offset) == Array(200 ..< 300))
            #expect(view.highWatermark == 300)
            #expect(ReadOnlyFixture.snapshot(dir) == afterWrites)
            try await reader.close()
            try await writer.close()
        }
    }

    @Test func everyWriteIsRefusedWithReadOnly() async throws {
        try await withTempDirectory { dir in
            let writer = try Lake.open(dir, options: Self.options(store: MemoryBlobStore()))
            try await writer.topic("t", creatingWith: topicConfig(segmentBytes: 1024))
                .append(offsetRecords(from: 0, count: 50))
            try await writer.close()
            let before = ReadOnlyFixture.snapshot(dir)
            let lake = try Lake.openReadOnly(dir, options: Self.options(store: MemoryBlobStore()))
            let topic = try lake.topic("t")
            let refusals: [(String, () async throws -> Void)] = [
                ("append", { try await topic.append(offsetRecords(from: 0, count: 1)) }),
                ("seal", { try topic.sealActiveSegment() }),
                ("offload", { try await topic.offloadSealed() }),
                ("retention", { try await topic.applyRetention() }),
                ("evict", { try await topic.evictCommitted() }),
                ("lake offload", { _ = try await lake.offload(evict: true) }),
                ("create topic", { _ = try lake.topic("new", creatingWith: nil) }),
                ("delete orphans", { _ = try await lake.scrub(deleteOrphans: true) }),
                ("recover", { _ = try await lake.recover(topics: ["gone"]) }),
                ("repair", { _ = try await topic.repairQuarantine() }),
                ("delete records", { _ = try await topic.deleteRecords(before: 10) }),
                ("alter config", { _ = try await lake.alterTopicConfig("t", set: [("segmentMs", "1000")]) }),
                ("delete topic", { _ = try await lake.deleteTopic("t") }),
            ]
            for (what, body) in refusals {
                let error = await strataError(body)
                #expect(error?.code == .readOnly, "\(what): \(String(describing: error))")
            }
            #expect(ReadOnlyFixture.snapshot(dir) == before)
            try await lake.close()
        }
    }

    @Test func tornTailIsReportedAndLeftInPlace() async throws {
        try await withTempDirectory { dir in
            let writer = try Lake.open(dir, options: Self.options(store: MemoryBlobStore()))
            let topic = try writer.topic("t", creatingWith: topicConfig())
            for i in 0 ..< 3 { try await topic.append(offsetRecords(from: Int64(i * 5), count: 5)) }
            let path = topic.segments()[0].path
            try await writer.close()
            let validBytes = FileIO.fileSize(atPath: path) ?? 0
            // Half a batch at the end: what a crash mid-write leaves.
            let next = BatchCodec.encode(baseOffset: 15, records: [Record(timestamp: 1, key: nil, value: bytes("x"))])
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(next.prefix(next.count / 2)))
            try handle.close()
            let before = ReadOnlyFixture.snapshot(dir)

            let lake = try Lake.openReadOnly(dir, options: Self.options(store: MemoryBlobStore()))
            let view = try lake.topic("t")
            let damage = try #require(view.damage.first)
            #expect(damage.kind == .tornTail)
            #expect(damage.position == validBytes)
            #expect(damage.bytes == next.count / 2)
            #expect(view.highWatermark == 15)
            #expect(try await Self.consume(view).map(\.offset) == Array(0 ..< 15))
            let report = try await lake.verify()
            #expect(report.problems.map(\.kind) == [.tornTail])
            try await lake.close()
            #expect(ReadOnlyFixture.snapshot(dir) == before, "the torn tail was cut or the lake touched")
        }
    }

    @Test func aPartialBatchThatBecomesWholeIsReadAfterRefresh() async throws {
        try await withTempDirectory { dir in
            let writer = try Lake.open(dir, options: Self.options(store: MemoryBlobStore()))
            let topic = try writer.topic("t", creatingWith: topicConfig())
            try await topic.append(offsetRecords(from: 0, count: 5))
            let path = topic.segments()[0].path
            try await writer.close()
            // A batch caught half-written by the reader, then finished by the writer.
            let batch = BatchCodec.encode(baseOffset: 5, records: [Record(timestamp: 1, key: nil, value: bytes("v5"))])
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(batch.prefix(10)))

            let lake = try Lake.openReadOnly(dir, options: Self.options(store: MemoryBlobStore()))
            let view = try lake.topic("t")
            #expect(view.damage.map(\.kind) == [.tornTail])
            #expect(view.highWatermark == 5)
            try handle.write(contentsOf: Data(batch.dropFirst(10)))
            try handle.close()
            #expect(try view.refresh())
            #expect(view.damage.isEmpty)
            #expect(try await Self.consume(view).map { string($0.value) } == (0 ..< 6).map { "v\($0)" })
            try await lake.close()
        }
    }

    @Test func corruptionFollowedByValidBatchesIsCorruptNotTorn() async throws {
        try await withTempDirectory { dir in
            let writer = try Lake.open(dir, options: Self.options(store: MemoryBlobStore()))
            let topic = try writer.topic("t", creatingWith: topicConfig())
            for i in 0 ..< 4 { try await topic.append(offsetRecords(from: Int64(i * 5), count: 5)) }
            let path = topic.segments()[0].path
            try await writer.close()
            let scan = try scanSegment(path).1
            let second = scan.batches[1].position
            try flipByte(path, at: second + BatchHeader.size + 2)
            let before = ReadOnlyFixture.snapshot(dir)

            let lake = try Lake.openReadOnly(dir, options: Self.options(store: MemoryBlobStore()))
            let view = try lake.topic("t")
            let damage = try #require(view.damage.first)
            #expect(damage.kind == .corrupt)
            #expect(damage.position == second)
            #expect(damage.what.contains("valid batches follow"))
            // The records before the damage, then the typed error at it (as through a writer's lake).
            var cursor = try await Cursor(topic: view, start: .earliest)
            #expect(try await cursor.next().map(\.offset) == Array(0 ..< 5))
            let error = await strataError { _ = try await cursor.next() }
            #expect(error?.code == .corrupt && error?.position == second && error?.file == path)
            try await lake.close()
            #expect(ReadOnlyFixture.snapshot(dir) == before)
        }
    }

    /// Issue 12 item 4: a read the hot tier serves makes no blob request, through a writer's
    /// lake and through a read-only one.
    @Test(arguments: [false, true])
    func hotReadsNeverTouchTheColdStore(readOnly: Bool) async throws {
        try await withTempDirectory { dir in
            let seed = try Lake.open(dir, options: Self.options(store: MemoryBlobStore()))
            try await seed.topic("t", creatingWith: topicConfig(segmentBytes: 1024))
                .append(offsetRecords(from: 0, count: 40, timestamp: { 1000 + $0 }))
            try await seed.close()

            let store = ReadOnlyFixture.unreachableStore()
            let lake =
                readOnly
                ? try Lake.openReadOnly(dir, options: Self.options(store: store))
                : try Lake.open(dir, options: Self.options(store: store))
            let topic = try lake.topic("t")
            #expect(try await Self.consume(topic).count == 40)
            #expect(try await Self.consume(topic, from: .offset(17)).first?.offset == 17)
            #expect(try await Self.consume(topic, from: .timestamp(1020)).first?.offset == 20)
            #expect(try await topic.read(from: 5).records.first?.offset == 5)
            #expect(try await topic.logStartOffset() == 0)
            #expect(store.counters.calls == 0, "hot reads asked the cold store \(store.counters.calls) times")
            try await lake.close()
        }
    }

    @Test func verifyChecksTheHotTierWhenTheColdStoreIsUnreachable() async throws {
        try await withTempDirectory { dir in
            let seed = try Lake.open(dir, options: Self.options(store: MemoryBlobStore()))
            let topic = try seed.topic("t", creatingWith: topicConfig(segmentBytes: 1024))
            try await topic.append(offsetRecords(from: 0, count: 40))
            let segmentCount = topic.segments().count
            try await seed.close()

            let lake = try Lake.openReadOnly(dir, options: Self.options(store: ReadOnlyFixture.unreachableStore()))
            let report = try await lake.verify()
            #expect(report.segmentsChecked == segmentCount)
            #expect(report.recordsChecked == 40)
            #expect(report.errors.map(\.kind) == [.coldUnreachable])
            let one = try await lake.verify(topic: "t")
            #expect(one.segmentsChecked == segmentCount)
            #expect(one.errors.map(\.kind) == [.coldUnreachable])
            try await lake.close()
        }
    }

    @Test func evictedSegmentsAreReadFromTheColdTierAfterRefresh() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let writer = try Lake.open(dir, options: Self.options(store: store))
            let topic = try writer.topic("t", creatingWith: topicConfig(segmentBytes: 1024))
            try await topic.append(offsetRecords(from: 0, count: 60))
            let reader = try Lake.openReadOnly(dir, options: Self.options(store: store))
            let view = try reader.topic("t")
            #expect(view.localStartOffset == 0)

            _ = try await writer.offload(evict: true)
            #expect(topic.localStartOffset == 60)
            // The reader still lists the evicted files: its read finds them gone and goes cold.
            let records = try await Self.consume(view)
            #expect(records.map(\.offset) == Array(0 ..< 60))
            #expect(view.localStartOffset == 60)
            try await reader.close()
            try await writer.close()
        }
    }
}

/// Flips one byte of `path` at `position`.
private func flipByte(_ path: String, at position: Int) throws {
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(position))
    let old = try #require(try handle.read(upToCount: 1)?.first)
    try handle.seek(toOffset: UInt64(position))
    try handle.write(contentsOf: Data([old ^ 0x5A]))
}
