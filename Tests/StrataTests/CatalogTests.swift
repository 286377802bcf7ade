import Foundation
import Glibc
import StrataFormat
import Testing

@testable import Strata

/// The lake-level topic catalog (ARCHITECTURE.md §2i, formats/catalog.md).
/// Runs blocking work (fdatasync, a large load) on a Dispatch thread, off the cooperative pool.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}

func offPool(_ body: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            body()
            continuation.resume()
        }
    }
}

@Suite struct CatalogTests {
    static func catalogFiles(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/catalog")) ?? []).sorted()
    }

    @Test func reopenSeesEveryKindOfChange() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            var small = topicConfig()
            small.segmentBytes = 4096
            _ = try await lake?.createTopic("orders", config: small, partitions: 2)
            _ = try lake?.topic("auto", creatingWith: nil)
            let gone = try #require(try lake?.topic("gone", creatingWith: small))
            try await gone.append(offsetRecords(from: 0, count: 2))
            try await lake?.createPartitions("orders", count: 5)
            _ = try await lake?.alterTopicConfig("auto", set: [("retentionMs", "60000")])
            let orders = try #require(try lake?.topic("orders"))
            try await orders.append(offsetRecords(from: 0, count: 4))
            _ = try await orders.deleteRecords(before: 3)
            _ = try await lake?.deleteTopic("gone")
            try await lake?.close()
            lake = nil

            let reopened = try Lake.open(dir, options: lakeOptions())
            #expect(try reopened.topicNames() == ["auto", "orders"])
            #expect(try reopened.partitionCount("orders") == 5)
            #expect(try reopened.topic("orders").config.segmentBytes == 4096)
            #expect(try reopened.topic("auto").config.retentionMs == 60000)
            #expect(try await reopened.topic("orders").logStartOffset() == 3)
            #expect(strataError { _ = try reopened.topic("gone") }?.code == .notFound)
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/gone"))
            // No per-topic metadata file anywhere.
            let tree = fileTree(dir + "/topics").keys
            #expect(!tree.contains { $0.hasSuffix("topic.json") || $0.hasSuffix("/partitions") })
            #expect(!tree.contains { $0.hasSuffix("start-offset") || $0.hasSuffix("DELETING") })
            try await reopened.close()
        }
    }

    @Test func aThousandTopicsShareOneStoredConfig() throws {
        let dir = "/tmp/strata-catalog-intern-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = LakePaths(root: dir)
        try FileIO.makeDirectories(paths.topicsDirectory)
        let catalog = try Catalog.openWriter(paths, log: { _ in })
        for i in 0 ..< 1000 {
            #expect(try catalog.create("t\(i)", config: topicConfig(), partitions: 1, durable: false, madeDirectory: false))
        }
        #expect(try !catalog.create("t7", config: topicConfig(), partitions: 3, durable: false, madeDirectory: false))
        try catalog.close()
        let bytes = try FileIO.readWholeFile(paths.catalogFile(sequence: 0))
        var configs = 0
        var created = 0
        _ = bytes.withUnsafeBytes { raw in
            CatalogFormat.scan(raw) { record, _ in
                if case .config = record { configs += 1 }
                if case .topicCreated = record { created += 1 }
            }
        }
        #expect(configs == 1 && created == 1000)
        let reader = try Catalog.openReader(paths, log: { _ in })
        #expect(reader.topicNames().count == 1000 && reader.partitionCount("t7") == 1)
    }

    /// A topic created on first use is written, not synced; the first fsync of one of its
    /// records makes it durable first (the metadata barrier), so a power loss never keeps a
    /// record whose topic is gone.
    @Test func firstUseCreateIsDurableBeforeItsFirstRecord() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let before = lake.catalog.syncCount.load(ordering: .relaxed)
            let topic = try lake.topic("lazy", creatingWith: topicConfig(durability: .sync))
            #expect(lake.catalog.hasPendingWrites)
            #expect(lake.catalog.syncCount.load(ordering: .relaxed) == before)
            _ = try await topic.append(offsetRecords(from: 0, count: 1))
            #expect(!lake.catalog.hasPendingWrites)
            #expect(lake.catalog.syncCount.load(ordering: .relaxed) == before + 1)
            // Nothing pending: the barrier is one compare, no fsync.
            _ = try await topic.append(offsetRecords(from: 1, count: 1))
            #expect(lake.catalog.syncCount.load(ordering: .relaxed) == before + 1)
            // An admin create is durable when it returns.
            _ = try await lake.createTopic("admin", config: topicConfig())
            #expect(!lake.catalog.hasPendingWrites)
            try await lake.close()
        }
    }

    @Test func asyncTopicsSyncTheCatalogBeforeTheirFlush() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("a", creatingWith: topicConfig(durability: .async))
            _ = try await topic.append(offsetRecords(from: 0, count: 3))
            #expect(lake.catalog.hasPendingWrites || lake.catalog.syncCount.load(ordering: .relaxed) > 0)
            try await topic.flush()
            #expect(!lake.catalog.hasPendingWrites)
            try await lake.close()
        }
    }

    @Test func tornTailIsQuarantinedAndCut() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            _ = try await lake?.createTopic("kept", config: topicConfig())
            try await lake?.close()
            lake = nil
            let file = dir + "/catalog/" + (Self.catalogFiles(dir).first ?? "")
            let size = try #require(FileIO.fileSize(atPath: file))
            let partial = Array(CatalogFormat.encode(.topicCreated(name: "lost", configID: 1, partitions: 1)).prefix(11))
            let handle = try #require(FileHandle(forWritingAtPath: file))
            handle.seekToEndOfFile()
            handle.write(Data(partial))
            try handle.close()

            let log = LogSink()
            let reopened = try Lake.open(dir, options: lakeOptions(log: log))
            #expect(try reopened.topicNames() == ["kept"])
            #expect(FileIO.fileSize(atPath: file) == size)
            let kept = dir + "/quarantine/catalog-0.torn-\(size)"
            #expect(try FileIO.readWholeFile(kept) == partial)
            #expect(log.contains("catalog recovery: torn tail") && log.contains("bytes=\(partial.count)"))
            // Still appendable after the cut.
            _ = try await reopened.createTopic("next", config: topicConfig())
            try await reopened.close()
            let again = try Lake.open(dir, options: lakeOptions())
            #expect(try again.topicNames() == ["kept", "next"])
            try await again.close()
        }
    }

    @Test func damageFollowedByAValidRecordRefusesTheOpen() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            for name in ["a", "b", "c"] { _ = try await lake?.createTopic(name, config: topicConfig()) }
            try await lake?.close()
            lake = nil
            let file = dir + "/catalog/" + (Self.catalogFiles(dir).first ?? "")
            var bytes = try FileIO.readWholeFile(file)
            let record = CatalogFormat.encode(.topicCreated(name: "c", configID: 1, partitions: 1))
            let damagedAt = bytes.count - 2 * record.count  // inside "b"'s record; "c"'s follows
            bytes[damagedAt + 3] ^= 0x10
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            let before = fileTree(dir)
            let error = strataError { _ = try Lake.open(dir, options: lakeOptions()) }
            #expect(error?.code == .corrupt)
            #expect(error?.file == file)
            #expect(error?.position == damagedAt)
            #expect(fileTree(dir) == before, "a refused open changes nothing")
            // A reader refuses it too (no record is skipped silently), naming the same byte.
            let reader = strataError { _ = try Lake.openReadOnly(dir, options: lakeOptions()) }
            #expect(reader?.code == .corrupt && reader?.position == damagedAt)
        }
    }

    @Test func compactionUnderConcurrentCreatesKeepsEverything() async throws {
        let dir = "/tmp/strata-catalog-compact-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = LakePaths(root: dir)
        try FileIO.makeDirectories(paths.topicsDirectory)
        let catalog = try Catalog.openWriter(paths, log: { _ in }, compactionBytesMin: 2048)
        // On Dispatch threads: the durable writes block in fdatasync, which must never hold the
        // two threads of the cooperative pool the rest of the suite runs on.
        await offPool {
            DispatchQueue.concurrentPerform(iterations: 4) { worker in
                    for i in 0 ..< 300 {
                        let name = "w\(worker)-\(i)"
                        do {
                            _ = try catalog.create(
                                name, config: topicConfig(), partitions: Int32(1 + i % 3), durable: i % 7 == 0,
                                madeDirectory: false)
                            if i % 2 == 1 {  // churn, so the file outgrows the live state
                                try catalog.beginDelete(name)
                                try catalog.finishDelete(name)
                            }
                        } catch {
                            Issue.record("worker \(worker) topic \(i): \(error)")
                        }
                    }
            }
        }
        let live = catalog.topicNames()
        #expect(live.count == 4 * 150)
        let (state, sequence, _, _) = catalog.snapshotState()
        #expect(sequence > 0, "the churn compacted the file")
        try catalog.close()
        #expect(Self.catalogFiles(dir) == [String(paths.catalogFile(sequence: sequence).split(separator: "/").last!)])
        let reopened = try Catalog.openWriter(paths, log: { _ in })
        #expect(reopened.topicNames() == live)
        for name in live { #expect(reopened.partitionCount(name) == state.topics[name]?.partitions) }
        try reopened.close()
    }

    /// A config no topic used at a compaction is left out of the new file; a topic created with
    /// it afterwards defines it again, so the reopened catalog is whole.
    @Test func aConfigUnusedAtACompactionIsDefinedAgainWhenUsedAgain() throws {
        let dir = "/tmp/strata-catalog-prune-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = LakePaths(root: dir)
        try FileIO.makeDirectories(paths.topicsDirectory)
        let catalog = try Catalog.openWriter(paths, log: { _ in })
        var rare = topicConfig()
        rare.retentionMs = 1234
        _ = try catalog.create("keep", config: topicConfig(), partitions: 1, durable: true, madeDirectory: false)
        _ = try catalog.create("rare", config: rare, partitions: 1, durable: true, madeDirectory: false)
        try catalog.beginDelete("rare")
        try catalog.finishDelete("rare")
        try catalog.compactNow()
        _ = try catalog.create("again", config: rare, partitions: 2, durable: true, madeDirectory: false)
        try catalog.close()
        let reopened = try Catalog.openWriter(paths, log: { _ in })
        #expect(reopened.topicNames() == ["again", "keep"])
        #expect(reopened.config("again") == rare)
        try reopened.close()
    }

    /// A compaction that stopped before its end-of-snapshot record: the previous file is used,
    /// the unfinished one kept in quarantine.
    @Test func anUnfinishedCompactionFallsBackToThePreviousFile() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            _ = try await lake?.createTopic("x", config: topicConfig(), partitions: 2)
            try await lake?.close()
            lake = nil
            let paths = LakePaths(root: dir)
            let unfinished = CatalogFormat.encodeFileHeader(sequence: 1)
                + CatalogFormat.encode(.config(id: 1, json: Array("{}".utf8)))
            try Data(unfinished).write(to: URL(fileURLWithPath: paths.catalogFile(sequence: 1)))
            let reader = try Lake.openReadOnly(dir, options: lakeOptions())
            #expect(try reader.topicNames() == ["x"])
            try await reader.close()
            let log = LogSink()
            let reopened = try Lake.open(dir, options: lakeOptions(log: log))
            #expect(try reopened.partitionCount("x") == 2)
            #expect(log.contains("has no end-of-snapshot record"))
            #expect(FileManager.default.fileExists(atPath: dir + "/quarantine/00000000000000000001.log"))
            try await reopened.close()
        }
    }

    /// A reader beside a running writer: a topic created after the reader opened is found (it
    /// re-reads), and a record the writer is still writing (a partial last one) is not damage.
    @Test func aReaderSeesTheWritersNewTopicsAndSkipsAPartialRecord() async throws {
        try await withTempDirectory { dir in
            let writer = try Lake.open(dir, options: lakeOptions())
            _ = try await writer.createTopic("first", config: topicConfig())
            let reader = try Lake.openReadOnly(dir, options: lakeOptions())
            #expect(try reader.topicNames() == ["first"])
            let later = try writer.topic("later", creatingWith: topicConfig(), partitions: 3)
            _ = try await later.append(offsetRecords(from: 0, count: 2))
            #expect(try reader.partitionCount("later") == 3)
            #expect(try reader.topic("later").highWatermark == 2)
            try await writer.createPartitions("later", count: 4)
            #expect(try reader.partitionCount("later") == 4)
            // Half a record at the end, as a writer's pwrite in progress leaves it.
            let file = dir + "/catalog/" + (Self.catalogFiles(dir).first ?? "")
            let half = Array(CatalogFormat.encode(.deleteBegun(name: "first")).prefix(6))
            let handle = try #require(FileHandle(forWritingAtPath: file))
            handle.seekToEndOfFile()
            handle.write(Data(half))
            try handle.close()
            #expect(try reader.topicNames() == ["first", "later"])
            #expect(try reader.topic("first").name == "first")
            try await reader.close()
            writer.catalog.abandon()  // its file now ends in the half record: a writer's open cuts it
            try? await writer.close()
        }
    }

    /// A delete that stopped after it began leaves the topic gone but its name taken; the
    /// delete run again finishes it, and the name is free afterwards.
    @Test func anInterruptedDeleteStaysHalfDoneUntilRunAgain() async throws {
        try await withTempDirectory { dir in
            var lake: Lake? = try Lake.open(dir, options: lakeOptions())
            let topic = try #require(try await lake?.createTopic("half", config: topicConfig()))
            _ = try await topic.append(offsetRecords(from: 0, count: 2))
            try lake?.catalog.beginDelete("half")  // what deleteTopic does first
            lake = nil  // a crash: no close
            let reopened = try Lake.open(dir, options: lakeOptions())
            #expect(try reopened.topicNames().isEmpty)
            #expect(strataError { _ = try reopened.topic("half") }?.code == .notFound)
            let refused = await strataError { _ = try await reopened.createTopic("half", config: topicConfig()) }
            #expect(refused?.message.contains("is being deleted") == true)
            _ = try await reopened.deleteTopic("half")
            #expect(reopened.catalog.entry("half") == nil)
            #expect(!FileManager.default.fileExists(atPath: dir + "/topics/half"))
            _ = try await reopened.createTopic("half", config: topicConfig())
            try await reopened.close()
        }
    }

    /// 20,000 topics written and loaded again (the 1M-topic load is measured by hand in release:
    /// BENCHMARKS.md); the memory and speed are not asserted, what is loaded is.
    @Test func manyTopicsLoadAgain() async throws {
        try await offPool { try Self.manyTopics() }
    }

    static func manyTopics() throws {
        let dir = "/tmp/strata-catalog-many-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = LakePaths(root: dir)
        try FileIO.makeDirectories(paths.topicsDirectory)
        let catalog = try Catalog.openWriter(paths, log: { _ in })
        let config = topicConfig()
        for i in 0 ..< 20_000 {
            _ = try catalog.create("user-\(i)", config: config, partitions: 1, durable: false, madeDirectory: false)
        }
        try catalog.close()
        let loaded = try Catalog.openWriter(paths, log: { _ in })
        #expect(loaded.topicNames().count == 20_000)
        #expect(loaded.config("user-19999") == topicConfig())
        try loaded.close()
    }
}
