import Foundation
import StrataFormat
import Testing

@testable import Strata

/// Lakes written before the catalog (per-topic `topic.json`, `partitions`, `start-offset`,
/// `log-start-offset`, `DELETING`): a writer imports them, makes the catalog durable, then
/// removes them; an interrupted migration finishes on the next open; a reader reads them as
/// they are (README "Upgrading a lake", ARCHITECTURE §2i).
@Suite struct CatalogMigrationTests {
    static func small() -> TopicConfig {
        var config = topicConfig(segmentBytes: 4096)
        config.retentionMs = 3_600_000
        return config
    }

    static func write(_ text: String, _ path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// A lake in the old layout: topics with records written by today's engine, then the catalog
    /// replaced by the files an old lake had.
    static func oldLayoutLake(_ dir: String) async throws {
        do {
            let lake = try Lake.open(dir, options: lakeOptions())
            _ = try await lake.createTopic("orders", config: small(), partitions: 3)
            _ = try await lake.partition("orders", 0).append(offsetRecords(from: 0, count: 3))
            _ = try await lake.partition("orders", 2).append(offsetRecords(from: 0, count: 4))
            _ = try await lake.createTopic("half", config: topicConfig())
            _ = try await lake.topic("half").append(offsetRecords(from: 0, count: 1))
            try await lake.close()
        }
        try FileManager.default.removeItem(atPath: dir + "/catalog")
        let json = String(decoding: try encodeJSON(small()), as: UTF8.self)
        try write(json, dir + "/topics/orders/topic.json")
        try write("3\n", dir + "/topics/orders/partitions")
        try write("2\n", dir + "/topics/orders/2/log-start-offset")
        try write(String(decoding: try encodeJSON(topicConfig()), as: UTF8.self), dir + "/topics/recovered/topic.json")
        try write("50\n", dir + "/topics/recovered/start-offset")
        // A delete that began (topic.json renamed) and did not finish.
        try write(String(decoding: try encodeJSON(topicConfig()), as: UTF8.self), dir + "/topics/half/DELETING")
    }

    static func oldFiles(_ dir: String) -> [String] {
        fileTree(dir + "/topics").keys.filter { path in
            ["topic.json", "partitions", "start-offset", "log-start-offset", "DELETING"].contains {
                path.hasSuffix("/" + $0)
            }
        }.sorted()
    }

    static func expectImported(_ lake: Lake, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(try lake.topicNames() == ["orders", "recovered"], sourceLocation: sourceLocation)
        #expect(try lake.partitionCount("orders") == 3, sourceLocation: sourceLocation)
        #expect(try lake.topic("orders").config == small(), sourceLocation: sourceLocation)
        #expect(try readAll(try lake.partition("orders", 0)).count == 3, sourceLocation: sourceLocation)
        #expect(try await lake.partition("orders", 2).logStartOffset() == 2, sourceLocation: sourceLocation)
        #expect(try lake.topic("recovered").highWatermark == 50, sourceLocation: sourceLocation)
        #expect(lake.catalog.isDeleting("half"), sourceLocation: sourceLocation)
    }

    @Test func aWriterImportsTheOldFilesThenRemovesThem() async throws {
        try await withTempDirectory { dir in
            try await Self.oldLayoutLake(dir)
            let log = LogSink()
            let lake = try Lake.open(dir, options: lakeOptions(log: log))
            try await Self.expectImported(lake)
            #expect(Self.oldFiles(dir).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: dir + "/catalog/MIGRATING"))
            #expect(log.contains("imported 3 topics") && log.contains("migration finished"))
            // The half-done delete is finished by running it again.
            let deleted = try await lake.deleteTopic("half")
            #expect(deleted.localFilesDeleted > 0)
            #expect(lake.catalog.entry("half") == nil)
            try await lake.close()
            let reopened = try Lake.open(dir, options: lakeOptions())
            #expect(try reopened.topicNames() == ["orders", "recovered"])
            #expect(try await reopened.partition("orders", 2).logStartOffset() == 2)
            try await reopened.close()
        }
    }

    /// Crash after the marker, before the catalog's end-of-snapshot record: every old file is
    /// still there, so the next open migrates again from them.
    @Test func aMigrationStoppedBeforeTheCatalogWasDurableStartsAgain() async throws {
        try await withTempDirectory { dir in
            try await Self.oldLayoutLake(dir)
            try Self.write("migrating\n", dir + "/catalog/MIGRATING")
            let unfinished = CatalogFormat.encodeFileHeader(sequence: 0)
                + CatalogFormat.encode(.config(id: 1, json: try encodeJSON(topicConfig())))
            try Data(unfinished).write(to: URL(fileURLWithPath: dir + "/catalog/00000000000000000000.log"))
            let lake = try Lake.open(dir, options: lakeOptions())
            try await Self.expectImported(lake)
            #expect(Self.oldFiles(dir).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: dir + "/catalog/MIGRATING"))
            #expect(FileManager.default.fileExists(atPath: dir + "/quarantine/00000000000000000000.log"))
            try await lake.close()
        }
    }

    /// Crash after the catalog was durable, while the old files were being removed: the catalog
    /// is what holds, and the next open removes what is left.
    @Test func aMigrationStoppedWhileRemovingFinishesOnTheNextOpen() async throws {
        try await withTempDirectory { dir in
            try await Self.oldLayoutLake(dir)
            try await Lake.open(dir, options: lakeOptions()).close()
            // Left behind by the stopped removal (one file changed: the catalog must win).
            try Self.write("migrating\n", dir + "/catalog/MIGRATING")
            try Self.write("7\n", dir + "/topics/orders/partitions")
            try Self.write(String(decoding: try encodeJSON(topicConfig()), as: UTF8.self), dir + "/topics/orders/topic.json")
            let reader = try Lake.openReadOnly(dir, options: lakeOptions())
            #expect(try reader.partitionCount("orders") == 3, "a reader uses the catalog once there is one")
            try await reader.close()
            let lake = try Lake.open(dir, options: lakeOptions())
            try await Self.expectImported(lake)
            #expect(Self.oldFiles(dir).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: dir + "/catalog/MIGRATING"))
            try await lake.close()
        }
    }

    /// Read-only commands never write: a lake not yet migrated is read from its old files.
    @Test func aReaderReadsALakeNotYetMigratedAndChangesNothing() async throws {
        try await withTempDirectory { dir in
            try await Self.oldLayoutLake(dir)
            let before = fileTree(dir)
            let reader = try Lake.openReadOnly(dir, options: lakeOptions())
            try await Self.expectImported(reader)
            #expect(try reader.logNames() == ["orders", "orders/2", "recovered"])
            try await reader.close()
            #expect(fileTree(dir) == before)
            #expect(!FileManager.default.fileExists(atPath: dir + "/catalog"))
        }
    }

    @Test func aDamagedOldFileRefusesTheMigrationAndChangesNothing() async throws {
        try await withTempDirectory { dir in
            try await Self.oldLayoutLake(dir)
            try Self.write("three\n", dir + "/topics/orders/partitions")
            let before = fileTree(dir)
            let error = strataError { _ = try Lake.open(dir, options: lakeOptions()) }
            #expect(error?.code == .corrupt && error?.file?.hasSuffix("topics/orders/partitions") == true)
            var after = fileTree(dir)
            after["catalog"] = nil  // the (empty) catalog directory the open made
            #expect(after == before)
            #expect(Self.catalogFiles(dir).isEmpty)
        }
    }

    static func catalogFiles(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/catalog")) ?? []).sorted()
    }
}
