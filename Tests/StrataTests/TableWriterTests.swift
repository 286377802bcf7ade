import Foundation
import StrataBlob
import StrataFormat
import StrataIceberg
import StrataParquet
import StrataTesting
import Testing

@testable import Strata

/// The engine's table writer (issue 15): tables follow the committed cold manifests, never run
/// ahead of them, expire what retention removes, rebuild from the cold objects alone, and never
/// overwrite a commit.
@Suite struct TableWriterTests {
    typealias F = TableFixture

    /// A lake with topic `orders` of `partitions` partitions, each holding `count` records
    /// offloaded (and synced by `offload`).
    static func offloadedTopic(
        _ dir: String, store: any BlobStore, clock: ManualClock, partitions: Int32 = 3, count: Int = 700,
        tables: Bool = true, log: LogSink = LogSink()
    ) async throws -> Lake {
        var options = F.options(store: store, clock: clock, log: log)
        options.tables = tables
        let lake = try Lake.open(dir, options: options)
        _ = try await lake.createTopic(F.topicName, config: F.config(), partitions: partitions)
        for p in 0 ..< partitions {
            try await F.produce(try lake.partition(F.topicName, p), 0 ..< count, partition: p)
        }
        _ = try await lake.offload(topic: F.topicName)
        return lake
    }

    @Test func tableRowsAreExactlyTheManifestRecordsForEveryPartitionAndDay() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let lake = try await Self.offloadedTopic(dir, store: store, clock: ManualClock())
            // Appended but not offloaded: the table must not show them (invariant 14).
            for p: Int32 in 0 ..< 3 {
                try await F.produce(try lake.partition(F.topicName, p), 700 ..< 760, partition: p)
            }
            let report = try await lake.syncTable(F.topicName)
            #expect(report.snapshotsCommitted == 0, "nothing new was committed to the cold tier")

            let read = try #require(try await F.read(store))
            for p: Int32 in 0 ..< 3 {
                let manifest = try #require(
                    try await lake.cold.latestManifest(LogName(validated: F.topicName, partition: p).description))
                #expect(manifest.nextOffset == 700)
                #expect(read.rows[p] == (0 ..< 700).map { F.expected($0, partition: p) })
                #expect(read.table.properties["strata.partition.\(p).end"] == "700")
            }
            // One UTC day per file, several days, files cut near the target.
            for file in read.files {
                #expect(file.records.allSatisfy { IcebergDataFile.day(ofMilliseconds: $0.timestamp) == file.day })
            }
            #expect(Set(read.files.map(\.day)).count >= 3)
            #expect(read.files.count > 3 * 3, "6 KiB files: several per partition and day")
            #expect(read.table.snapshots.count == 1)
            #expect(read.table.currentSnapshot?.summary.contains("strata.value-mismatches") == true)
            try await lake.close()
        }
    }

    @Test func aPassAfterMoreOffloadsAppendsOnlyTheNewRecords() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let lake = try await Self.offloadedTopic(dir, store: store, clock: ManualClock(), partitions: 2, count: 300)
            let first = try #require(try await F.read(store))
            try await F.produce(try lake.partition(F.topicName, 1), 300 ..< 500, partition: 1)
            _ = try await lake.offload(topic: F.topicName)
            let second = try #require(try await F.read(store))
            #expect(second.version == first.version + 1)
            #expect(second.rows[0] == (0 ..< 300).map { F.expected($0, partition: 0) })
            #expect(second.rows[1] == (0 ..< 500).map { F.expected($0, partition: 1) })
            // The earlier files are kept as they were: only new ones were added.
            #expect(Set(first.files.map(\.path)).isSubset(of: Set(second.files.map(\.path))))
            let idle = try await lake.syncTable(F.topicName)
            #expect(idle == TableSyncReport())
            try await lake.close()
        }
    }

    @Test func retentionExpiresWholeFilesAndRewritesTheOneStraddlingTheLogStart() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let lake = try await Self.offloadedTopic(dir, store: store, clock: ManualClock(), partitions: 1)
            let before = try #require(try await F.read(store))
            // A start inside a file: the files wholly below go, the straddling one is rewritten.
            let straddled = try #require(before.files.first { f in f.records.count > 2 })
            let start = straddled.records[1].offset
            _ = try await lake.topic(F.topicName).deleteRecords(before: start)
            let report = try await lake.syncTable(F.topicName)
            #expect(report.snapshotsCommitted == 1)
            #expect(report.filesRemoved >= 1)

            let after = try #require(try await F.read(store))
            #expect(after.rows[0] == (Int(start) ..< 700).map { F.expected($0, partition: 0) })
            #expect(after.table.snapshots.count == 1, "a retention commit expires earlier snapshots")
            // Expired and rewritten files are gone from the store; every live one is there.
            let keys = try await F.dataKeys(store)
            #expect(keys.count == after.files.count)
            #expect(!after.files.contains { $0.path == straddled.path })
            let old = try await store.listAll(prefix: "tables/\(F.topicName)/metadata/v1.metadata.json")
            #expect(old.isEmpty, "earlier metadata files are deleted once unreferenced")
            try await lake.close()
        }
    }

    @Test func totalRetentionByAgeRemovesTheExpiredFiles() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let clock = ManualClock(startMs: F.baseMs)
            var options = F.options(store: store, clock: clock)
            options.tables = true
            let lake = try Lake.open(dir, options: options)
            var config = F.config()
            config.retentionMs = F.dayMs
            let topic = try await lake.createTopic(F.topicName, config: config)
            try await F.produce(topic, 0 ..< 700, partition: 0)
            _ = try await lake.offload(topic: F.topicName)
            clock.advance(ms: 3 * F.dayMs)
            _ = try await lake.offload(topic: F.topicName)  // retention, then the table pass
            let manifest = try #require(try await lake.cold.latestManifest(F.topicName))
            #expect(manifest.logStartOffset > 0)
            let read = try #require(try await F.read(store))
            #expect(read.rows[0] == (Int(manifest.logStartOffset) ..< 700).map { F.expected($0, partition: 0) })
            try await lake.close()
        }
    }

    @Test func rebuildWritesTheTableAgainWhenItIsMissingOrDamaged() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let lake = try await Self.offloadedTopic(dir, store: store, clock: ManualClock(), partitions: 2, count: 300)
            let expected = [Int32(0), 1].map { p in (0 ..< 300).map { F.expected($0, partition: p) } }

            // Deleted: rebuilt from the cold objects alone.
            for key in try await store.listAll(prefix: "tables/").map(\.key) { try await store.delete([key]) }
            let rebuilt = try await lake.rebuildTable(F.topicName)
            #expect(rebuilt.rowsAdded == 600)
            let fresh = try #require(try await F.read(store))
            #expect(fresh.rows[0] == expected[0] && fresh.rows[1] == expected[1])

            // Damaged: a metadata file that does not parse is reported, kept, and built past.
            let damagedKey = "tables/\(F.topicName)/metadata/v\(fresh.version).metadata.json"
            store.setRaw(damagedKey, Array("{\"format-version\": 2, broken".utf8))
            lake.tables.remember(F.topicName, nil)
            await #expect(throws: StrataError.self) { _ = try await lake.syncTable(F.topicName) }
            let status = await #expect(throws: StrataError.self) { _ = try await lake.tableStatus(F.topicName) }
            #expect(status?.code == .corrupt)
            _ = try await lake.rebuildTable(F.topicName)
            let again = try #require(try await F.read(store))
            #expect(again.version == fresh.version + 1)
            #expect(again.rows[0] == expected[0] && again.rows[1] == expected[1])
            let kept = try await store.get(damagedKey, range: .whole).bytes
            #expect(
                kept == Array("{\"format-version\": 2, broken".utf8), "a damaged metadata file is never overwritten")
            try await lake.close()
        }
    }

    @Test func twoWritersRacingNeverOverwriteACommitAndBothEndConsistent() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let lake = try await Self.offloadedTopic(
                dir, store: store, clock: ManualClock(), partitions: 2, count: 200, tables: false)
            let config = F.config()
            func writer() -> TableWriter {
                TableWriter(cold: lake.cold, paths: lake.paths, coldURL: lake.coldURL, options: lake.options)
            }
            let (a, b) = (writer(), writer())
            _ = try await a.sync(F.topicName, config: config, partitions: 2)
            _ = try await b.sync(F.topicName, config: config, partitions: 2)  // knows v1 now
            let v1 = try #require(try await F.read(store))

            try await F.produce(try lake.partition(F.topicName, 0), 200 ..< 400, partition: 0)
            _ = try await lake.offload(topic: F.topicName)
            _ = try await b.sync(F.topicName, config: config, partitions: 2)
            let v2Key = "tables/\(F.topicName)/metadata/v\(v1.version + 1).metadata.json"
            let v2 = try await store.get(v2Key, range: .whole).bytes
            // `a` still believes in v1: its commit of v2 loses, it reads v2 and finds nothing to do.
            let late = try await a.sync(F.topicName, config: config, partitions: 2)
            #expect(late.snapshotsCommitted == 0)
            #expect(try await store.get(v2Key, range: .whole).bytes == v2, "the winner's commit is never overwritten")

            // Both at once, with more records: one commits, the other retries or finds it done.
            try await F.produce(try lake.partition(F.topicName, 1), 200 ..< 500, partition: 1)
            _ = try await lake.offload(topic: F.topicName)
            async let x = a.sync(F.topicName, config: config, partitions: 2)
            async let y = b.sync(F.topicName, config: config, partitions: 2)
            let (rx, ry) = try await (x, y)
            #expect(rx.rowsAdded + ry.rowsAdded == 300)
            let read = try #require(try await F.read(store))
            #expect(read.rows[0] == (0 ..< 400).map { F.expected($0, partition: 0) })
            #expect(read.rows[1] == (0 ..< 500).map { F.expected($0, partition: 1) })
            // The losers' data files were deleted: every data file is one a snapshot reads.
            let referenced = Set(
                read.files.map { "tables/\(F.topicName)/" + $0.path.split(separator: "/tables/\(F.topicName)/").last! })
            #expect(try await F.dataKeys(store) == referenced)
            try await lake.close()
        }
    }

    @Test func blobFaultsDuringAPassLeaveTheLastSnapshotAndTheNextPassCatchesUp() async throws {
        try await withTempDirectory { dir in
            let faulty = FaultyBlobStore(wrapping: MemoryBlobStore(), plan: .none, seed: 7)
            let lake = try await Self.offloadedTopic(
                dir, store: faulty, clock: ManualClock(), partitions: 2, count: 300, tables: false)
            _ = try await lake.syncTable(F.topicName)
            let before = try #require(try await F.read(faulty.inner))
            for p: Int32 in 0 ..< 2 {
                try await F.produce(try lake.partition(F.topicName, p), 300 ..< 450, partition: p)
            }
            _ = try await lake.offload(topic: F.topicName)
            faulty.setPlan(FaultPlan(unavailableFraction: 1, unavailableOperations: [.put]))
            let error = await #expect(throws: StrataError.self) { _ = try await lake.syncTable(F.topicName) }
            #expect(error?.code == .io)
            faulty.setPlan(.none)
            let still = try #require(try await F.read(faulty.inner))
            #expect(still.version == before.version, "a failed pass commits nothing")
            #expect(still.rows == before.rows)

            // Flaky (some calls fail, some puts land and then fail): retries make it through.
            faulty.setPlan(FaultPlan(unavailableFraction: 0.2, failAfterPutFraction: 0.2))
            var caughtUp = false
            for _ in 0 ..< 20 where !caughtUp {
                if let report = try? await lake.syncTable(F.topicName) { caughtUp = report.snapshotsCommitted == 0 }
            }
            faulty.setPlan(.none)
            _ = try await lake.syncTable(F.topicName)
            let after = try #require(try await F.read(faulty.inner))
            for p: Int32 in 0 ..< 2 { #expect(after.rows[p] == (0 ..< 450).map { F.expected($0, partition: p) }) }
            try await lake.close()
        }
    }

    @Test func aFailingTablePassNeverStopsOffloadOrEviction() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let log = LogSink()
            let lake = try Lake.open(dir, options: F.options(store: store, clock: ManualClock(), log: log))
            // A damaged metadata file fails every table pass (TopicConfig.validate now refuses the
            // unusable value schema this test first used to make the pass fail).
            try await store.put("tables/\(F.topicName)/metadata/v1.metadata.json", Array("{".utf8), mode: .overwrite)
            let topic = try await lake.createTopic(F.topicName, config: F.config())
            try await F.produce(topic, 0 ..< 400, partition: 0)
            let report = try await lake.offload(topic: F.topicName, evict: true)
            #expect(report.segmentsOffloaded > 0)
            #expect(report.segmentsEvicted > 0)
            #expect(try await lake.cold.latestManifest(F.topicName)?.nextOffset == 400)
            #expect(log.contains("table pass topic=\(F.topicName) failed"))
            #expect(try await F.dataKeys(store).isEmpty)
            try await lake.close()
        }
    }

    @Test func statusOnAReadOnlyLakeShowsTheLagAndThenNone() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let lake = try await Self.offloadedTopic(
                dir, store: store, clock: ManualClock(), partitions: 2, count: 300, tables: false)
            let reader = try Lake.openReadOnly(dir, options: F.options(store: store, clock: ManualClock()))
            let lagging = try await reader.tableStatus(F.topicName)
            #expect(lagging.metadataVersion == 0 && lagging.dataFiles == 0)
            #expect(lagging.partitions.map(\.lagOffsets) == [300, 300])
            #expect(lagging.partitions.allSatisfy { $0.lagSegments > 0 })

            _ = try await lake.syncTable(F.topicName)
            let synced = try await reader.tableStatus(F.topicName)
            #expect(synced.metadataVersion == 1 && synced.snapshots == 1)
            #expect(synced.partitions.map(\.lagOffsets) == [0, 0])
            #expect(synced.partitions.map(\.lagSegments) == [0, 0])
            #expect(synced.rows == 600)
            #expect(synced.partitions.map(\.rows) == [300, 300])
            #expect(synced.dataFiles == synced.partitions.reduce(0) { $0 + $1.dataFiles })
            #expect(synced.location.hasSuffix("/cold/tables/\(F.topicName)"))
            await #expect(throws: StrataError.self) { _ = try await reader.syncTable(F.topicName) }
            try await reader.close()
            try await lake.close()
        }
    }

    @Test func aStaleVersionHintIsNotTrusted() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let lake = try await Self.offloadedTopic(dir, store: store, clock: ManualClock(), partitions: 1, count: 200)
            try await F.produce(try lake.topic(F.topicName), 200 ..< 300, partition: 0)
            _ = try await lake.offload(topic: F.topicName)
            store.setRaw("tables/\(F.topicName)/metadata/version-hint.text", Array("1".utf8))
            lake.tables.remember(F.topicName, nil)
            let status = try await lake.tableStatus(F.topicName)
            #expect(status.metadataVersion == 2)
            #expect(status.rows == 300)
            try await lake.close()
        }
    }

    @Test func deletingATopicDeletesItsTable() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let lake = try await Self.offloadedTopic(dir, store: store, clock: ManualClock(), partitions: 2, count: 200)
            let files = try await store.listAll(prefix: "tables/\(F.topicName)/").count
            #expect(files > 0)
            let deletion = try await lake.deleteTopic(F.topicName)
            #expect(deletion.tableFilesDeleted == files)
            #expect(try await store.listAll(prefix: "tables/").isEmpty)
            try await lake.close()
        }
    }

    @Test func theBackgroundPassSyncsTheTableAfterOffload() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let log = LogSink()
            var options = F.options(store: store, clock: ManualClock(), log: log)
            options.backgroundOffload = true  // the loop itself sleeps on the manual clock: ticks are driven here
            let lake = try Lake.open(dir, options: options)
            let topic = try await lake.createTopic(F.topicName, config: F.config(), partitions: 1)
            try await F.produce(topic, 0 ..< 1000, partition: 0)
            await lake.backgroundTick()  // sealed segments go to the cold tier, then into the table
            let manifest = try #require(try await lake.cold.latestManifest(F.topicName), "\(log.messages)")
            #expect(manifest.nextOffset > 0)
            let read = try #require(try await F.read(store))
            #expect(read.rows[0] == (0 ..< Int(manifest.nextOffset)).map { F.expected($0, partition: 0) })
            let versions = read.version
            await lake.backgroundTick()  // nothing new: no commit
            #expect(try #require(try await F.read(store)).version == versions)
            try await lake.close()
        }
    }

    @Test func aTopicWithoutATableGetsNone() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let lake = try Lake.open(dir, options: F.options(store: store, clock: ManualClock()))
            var config = F.config()
            config.table = false
            let topic = try await lake.createTopic(F.topicName, config: config)
            try await F.produce(topic, 0 ..< 300, partition: 0)
            _ = try await lake.offload(topic: F.topicName)
            let error = await #expect(throws: StrataError.self) { _ = try await lake.syncTable(F.topicName) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("table = false") == true)
            #expect(try await store.listAll(prefix: "tables/").isEmpty)
            #expect(try await lake.tableStatus(F.topicName).enabled == false)
            try await lake.close()
        }
    }

    @Test func smallFilesOfASlowTopicAreMergedAsPassesAddRecords() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            var options = F.options(store: store, clock: ManualClock())
            options.tableFileBytesTarget = 256 * 1024  // files under 64 KiB merge
            let lake = try Lake.open(dir, options: options)
            let topic = try await lake.createTopic(F.topicName, config: F.config(), partitions: 1)
            var merged = 0
            for pass in 0 ..< 8 {
                try await F.produce(topic, pass * 60 ..< (pass + 1) * 60, partition: 0)
                _ = try topic.sealActiveSegment()
                _ = try await lake.offload(topic: F.topicName)
                let read = try #require(try await F.read(store))
                #expect(read.rows[0] == (0 ..< (pass + 1) * 60).map { F.expected($0, partition: 0) })
                // A merge does not expire snapshots: the files it replaced stay while a retained
                // snapshot reads them (a reader's planned scan never loses its files to a merge),
                // and the store never holds a data file no retained snapshot reads.
                let stored = try await F.dataKeys(store).count
                #expect(stored == read.files.count + read.table.removedButReferenced.count)
                merged = read.files.count
            }
            let days = Set(
                (0 ..< 480).map { IcebergDataFile.day(ofMilliseconds: F.expected($0, partition: 0).timestamp) })
            #expect(merged <= days.count, "8 passes over \(days.count) days left \(merged) files")
            try await lake.close()
        }
    }

    @Test func smallFilesAreMergedOnlyFromAnOffsetNoOtherFileReaches() throws {
        func file(_ name: String, _ first: Int64, _ last: Int64, bytes: Int64 = 10) -> IcebergDataFile {
            IcebergDataFile(
                path: name, partition: 0, day: 0, recordCount: last - first + 1, fileSizeInBytes: bytes,
                lowerBounds: [2: IcebergValue.long(first)], upperBounds: [2: IcebergValue.long(last)])
        }
        // A big file of another day interleaves with the small ones up to offset 50.
        let files = [file("big", 0, 50, bytes: 10_000), file("a", 10, 40), file("b", 41, 60), file("c", 61, 70)]
        let (cut, small) = try #require(TableWriter.smallFiles(files, target: 400))
        #expect(cut == 61)
        #expect(small.map(\.path) == ["c"])
        #expect(TableWriter.smallFiles([file("big", 0, 50, bytes: 10_000)], target: 400) == nil)
        let all = TableWriter.smallFiles([file("a", 0, 9), file("b", 10, 19)], target: 400)
        #expect(all?.0 == 0 && all?.1.count == 2)
    }
}
