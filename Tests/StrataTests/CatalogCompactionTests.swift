import Foundation
import Glibc
import StrataFormat
import Synchronization
import Testing

@testable import Strata

/// A compaction writes its snapshot without the catalog's locks (formats/catalog.md
/// "Compaction"): writes made meanwhile go to the old file and follow the snapshot in the new one.
@Suite struct CatalogCompactionTests {
    static func newCatalogDirectory(_ label: String) throws -> LakePaths {
        let paths = LakePaths(root: "/tmp/strata-catalog-\(label)-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        try FileIO.makeDirectories(paths.topicsDirectory)
        return paths
    }

    /// Creates (durable and not), a delete, a grown partition count and a config pruned from the
    /// snapshot used again, all made while the snapshot is being written: the new file is the one
    /// in use afterwards, the old one is gone, and a reopen after a crash (no close) sees them all.
    @Test func writesDuringACompactionLandInTheNewFile() async throws {
        let paths = try Self.newCatalogDirectory("tail")
        defer { try? FileManager.default.removeItem(atPath: paths.root) }
        let catalog = try Catalog.openWriter(paths, log: { _ in })
        let rare = {
            var config = topicConfig()
            config.retentionMs = 4321
            return config
        }()
        for i in 0 ..< 50 {
            _ = try catalog.create("a\(i)", config: topicConfig(), partitions: 1, durable: false, madeDirectory: false)
        }
        _ = try catalog.create("rare", config: rare, partitions: 1, durable: false, madeDirectory: false)
        try catalog.beginDelete("rare")
        try catalog.finishDelete("rare")
        let ran = Atomic<Int>(0)
        catalog.snapshotWritten.withLock {
            $0 = {
                ran.add(1, ordering: .relaxed)
                do {
                    // Durable: its fdatasync of the old file must not wait for the compaction.
                    for i in 0 ..< 20 {
                        _ = try catalog.create(
                            "during-\(i)", config: topicConfig(), partitions: 2, durable: i % 5 == 0, madeDirectory: false)
                    }
                    try catalog.beginDelete("a0")
                    try catalog.finishDelete("a0")
                    try catalog.setPartitions("a1", 4)
                    _ = try catalog.create("again", config: rare, partitions: 1, durable: true, madeDirectory: false)
                    // A write past the threshold during a compaction does not start another.
                    try catalog.compactNow()
                } catch {
                    Issue.record("write during the compaction: \(error)")
                }
            }
        }
        try await offPool { try catalog.compactNow() }
        #expect(ran.load(ordering: .relaxed) == 1)
        catalog.snapshotWritten.withLock { $0 = nil }
        #expect(catalog.snapshotState().sequence == 1)
        #expect(CatalogTests.catalogFiles(paths.root) == [Self.fileName(paths, 1)])
        #expect(!catalog.hasPendingWrites, "the switch made every write durable in the new file")
        let expected = Set((1 ..< 50).map { "a\($0)" } + (0 ..< 20).map { "during-\($0)" } + ["again"])
        #expect(Set(catalog.topicNames()) == expected)
        catalog.abandon()  // a crash: nothing more is synced
        let reopened = try Catalog.openWriter(paths, log: { _ in })
        #expect(Set(reopened.topicNames()) == expected)
        #expect(reopened.partitionCount("a1") == 4)
        #expect(reopened.partitionCount("during-7") == 2)
        #expect(reopened.config("again") == rare)
        #expect(reopened.snapshotState().sequence == 1)
        try reopened.close()
    }

    /// The lake closes while the snapshot is being written: the compaction gives up and removes
    /// its new file; the old file holds every write, the one made during the compaction too.
    @Test func aCloseDuringACompactionKeepsTheOldFile() async throws {
        let paths = try Self.newCatalogDirectory("close")
        defer { try? FileManager.default.removeItem(atPath: paths.root) }
        let catalog = try Catalog.openWriter(paths, log: { _ in })
        for i in 0 ..< 10 {
            _ = try catalog.create("t\(i)", config: topicConfig(), partitions: 1, durable: false, madeDirectory: false)
        }
        catalog.snapshotWritten.withLock {
            $0 = {
                do {
                    _ = try catalog.create("late", config: topicConfig(), partitions: 3, durable: true, madeDirectory: false)
                    try catalog.close()
                } catch {
                    Issue.record("write or close during the compaction: \(error)")
                }
            }
        }
        await #expect(throws: StrataError.self) { try await offPool { try catalog.compactNow() } }
        #expect(CatalogTests.catalogFiles(paths.root) == [Self.fileName(paths, 0)])
        let reopened = try Catalog.openWriter(paths, log: { _ in })
        #expect(Set(reopened.topicNames()) == Set((0 ..< 10).map { "t\($0)" } + ["late"]))
        #expect(reopened.partitionCount("late") == 3)
        #expect(reopened.snapshotState().sequence == 0)
        try reopened.close()
    }

    static func fileName(_ paths: LakePaths, _ sequence: UInt64) -> String {
        String(paths.catalogFile(sequence: sequence).split(separator: "/").last!)
    }
}
