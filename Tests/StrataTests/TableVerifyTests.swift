import Foundation
import StrataBlob
import StrataFormat
import StrataIceberg
import StrataParquet
import Testing

@testable import Strata

/// `verify` and `scrub` of topic tables (issue 15), on tables these tests write themselves with
/// StrataParquet and StrataIceberg into the lake's file cold store, beside a real offloaded topic
/// (its config has table=false, so no table writer ever touches what the test wrote).
@Suite struct TableVerifyTests {
    @Test func verifyIsCleanOnAWellFormedTableAndReadsEveryRow() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        try fixture.commit(fixture.dataFiles())
        let report = try await fixture.lake.verify()
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(report.tableRowsChecked == Int64(fixture.recordCount))
        // v1 metadata, one manifest and the two data files.
        #expect(report.tableFilesChecked == 4)
    }

    @Test func verifyNamesTheDataFileWithAFlippedByte() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        let files = try fixture.dataFiles()
        try fixture.commit(files)
        let damaged = try #require(files.first { $0.partition == 1 })
        let key = fixture.key(damaged)
        // Inside the pages (zstd frames with content checksums), well before the footer.
        try flipTableByte(fixture.coldRoot + "/" + key, at: Int(damaged.fileSizeInBytes) / 3)
        let report = try await fixture.lake.verify()
        let problems = report.problems.filter { $0.location == key }
        #expect(problems.map(\.kind) == [.corruptTableFile], "\(report.problems)")
        #expect(report.errors.count == 1, "\(report.problems)")
        #expect(!report.isClean)
    }

    @Test func verifyReportsAMissingDataFileAndAMissingManifest() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        let files = try fixture.dataFiles()
        let commit = try fixture.commit(files)
        let gone = fixture.key(files[0])
        try FileManager.default.removeItem(atPath: fixture.coldRoot + "/" + gone)
        var report = try await fixture.lake.verify()
        #expect(report.errors.map(\.kind) == [.missingTableFile], "\(report.problems)")
        #expect(report.errors.first?.location == gone)

        let manifest = try #require(commit.files.first { $0.path.hasSuffix("-m0.avro") })
        let manifestKey = fixture.tablePrefix + manifest.path
        try FileManager.default.removeItem(atPath: fixture.coldRoot + "/" + manifestKey)
        report = try await fixture.lake.verify()
        #expect(report.errors.map(\.kind) == [.missingTableFile], "\(report.problems)")
        #expect(report.errors.first?.location == manifestKey)
    }

    @Test func verifyReportsATableThatRunsAheadOfTheManifest() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        var extra = fixture.records[0]!
        let last = extra.last!
        for i in 1 ... 3 {
            extra.append(Record(offset: last.offset + Int64(i), timestamp: last.timestamp, value: bytes("ahead")))
        }
        try fixture.commit(try fixture.dataFiles(override: [0: extra]))
        let report = try await fixture.lake.verify()
        let end = last.offset + 1
        let ahead = report.errors.filter { $0.kind == .tableInconsistent && $0.what.contains("past the committed") }
        #expect(ahead.count == 1, "\(report.problems)")
        #expect(ahead.first?.what.contains("ends at offset \(end + 3)") == true)
        #expect(ahead.first?.what.contains("end \(end)") == true)
        #expect(ahead.first?.location == fixture.tablePrefix + "metadata/v1.metadata.json")
    }

    @Test func verifyReportsRowsMissingFromTheCoveredRange() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        var holed = fixture.records[1]!
        holed.remove(at: 10)
        try fixture.commit(try fixture.dataFiles(override: [1: holed]))
        let report = try await fixture.lake.verify()
        #expect(report.errors.map(\.kind) == [.tableInconsistent], "\(report.problems)")
        let count = fixture.records[1]!.count
        #expect(report.errors.first?.what.contains("holds \(count - 1) rows") == true, "\(report.problems)")
        #expect(report.errors.first?.what.contains("\(count) records") == true)
    }

    @Test func verifyReportsARowCountOrLengthOtherThanTheManifestEntry() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        var files = try fixture.dataFiles()
        files[0].recordCount += 1
        files[1].fileSizeInBytes += 7
        try fixture.commit(files)
        let report = try await fixture.lake.verify()
        let byKey = Dictionary(grouping: report.errors, by: \.location)
        #expect(byKey[fixture.key(files[0])]?.map(\.kind) == [.tableInconsistent], "\(report.problems)")
        #expect(byKey[fixture.key(files[0])]?.first?.what.contains("footer holds") == true)
        #expect(byKey[fixture.key(files[1])]?.first?.what.contains("the manifest entry records") == true)
    }

    @Test func verifyOfAnUndecodableMetadataFileNamesIt() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        try fixture.commit(fixture.dataFiles())
        let key = fixture.tablePrefix + "metadata/v2.metadata.json"
        try Data("{\"format-version\": 2,".utf8).write(to: URL(fileURLWithPath: fixture.coldRoot + "/" + key))
        let report = try await fixture.lake.verify()
        #expect(report.errors.map(\.kind) == [.corruptTableFile], "\(report.problems)")
        #expect(report.errors.first?.location == key)
    }

    // MARK: - scrub

    @Test func scrubFindsPlantedTableOrphansAndDeletesOnlyOldEnoughOnes() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        let files = try fixture.dataFiles()
        try fixture.commit(files)
        // Snapshot 2 replaces partition 1's file: snapshot 1, retained, still reads the old one.
        let replacement = try fixture.dataFiles(uuidBase: 100, partitions: [1])
        try fixture.commit(replacement, removing: files.filter { $0.partition == 1 }.map(\.path), snapshot: 2)
        let orphanData = fixture.tablePrefix + "data/partition=0/timestamp_day=2026-01-01/lost.parquet"
        let orphanManifest = fixture.tablePrefix + "metadata/0000dead-0000-4000-8000-000000000000-m0.avro"
        for key in [orphanData, orphanManifest] { try fixture.plant(key) }

        var report = try await fixture.lake.scrub(deleteOrphans: false)
        let tableFindings = report.findings.filter { $0.key.hasPrefix("tables/") }
        #expect(tableFindings.map(\.kind) == [.orphanTableFile, .orphanTableFile], "\(tableFindings)")
        #expect(Set(tableFindings.map(\.key)) == [orphanData, orphanManifest])
        // Table files are never cold-object orphans.
        #expect(!report.findings.contains { $0.kind == .orphanObject || $0.kind == .orphanArchive })

        report = try await fixture.lake.scrub(deleteOrphans: true, graceMs: 3_600_000)
        #expect(report.deleted.isEmpty)
        #expect(Set(report.kept) == [orphanData, orphanManifest])

        report = try await fixture.lake.scrub(deleteOrphans: true, graceMs: 0)
        #expect(Set(report.deleted) == [orphanData, orphanManifest])
        #expect(report.remainingProblems.isEmpty, "\(report.remainingProblems)")
        for key in [orphanData, orphanManifest] {
            #expect(!FileManager.default.fileExists(atPath: fixture.coldRoot + "/" + key))
        }
        // Everything the table references is still there, the replaced file of snapshot 1 included.
        #expect(FileManager.default.fileExists(atPath: fixture.coldRoot + "/" + fixture.key(files[1])))
        let verified = try await fixture.lake.verify()
        #expect(verified.problems.isEmpty, "\(verified.problems)")
    }

    @Test func scrubListsATableWhoseTopicIsGoneAndDeletesNothingOfIt() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        let ghost = "tables/ghost/metadata/v1.metadata.json"
        try fixture.plant(ghost)
        let report = try await fixture.lake.scrub(deleteOrphans: true, graceMs: 0)
        let found = report.findings.filter { $0.topic == "ghost" }
        #expect(found.map(\.kind) == [.orphanTable], "\(report.findings)")
        #expect(found.first?.key == "tables/ghost/")
        #expect(report.remainingProblems.map(\.kind) == [.orphanTable])
        #expect(FileManager.default.fileExists(atPath: fixture.coldRoot + "/" + ghost))
    }

    @Test func scrubOfATableWithAnUnreadableManifestDeletesNothing() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        let commit = try fixture.commit(fixture.dataFiles())
        let manifest = try #require(commit.files.first { $0.path.hasSuffix("-m0.avro") })
        let manifestKey = fixture.tablePrefix + manifest.path
        try Data("not avro".utf8).write(to: URL(fileURLWithPath: fixture.coldRoot + "/" + manifestKey))
        let orphan = fixture.tablePrefix + "data/partition=0/timestamp_day=2026-01-01/lost.parquet"
        try fixture.plant(orphan)
        let report = try await fixture.lake.scrub(deleteOrphans: true, graceMs: 0)
        let tableFindings = report.findings.filter { $0.key.hasPrefix("tables/") }
        #expect(tableFindings.map(\.kind) == [.badTable], "\(tableFindings)")
        #expect(tableFindings.first?.key == fixture.tablePrefix + "metadata/v1.metadata.json")
        #expect(report.deleted.isEmpty)
        #expect(FileManager.default.fileExists(atPath: fixture.coldRoot + "/" + orphan))
    }

    @Test func scrubReportsADataFileTheTableReferencesAndTheStoreLacks() async throws {
        let fixture = try await HandTable.make()
        defer { fixture.remove() }
        let files = try fixture.dataFiles()
        try fixture.commit(files)
        try FileManager.default.removeItem(atPath: fixture.coldRoot + "/" + fixture.key(files[1]))
        let report = try await fixture.lake.scrub(deleteOrphans: false)
        let tableFindings = report.findings.filter { $0.key.hasPrefix("tables/") }
        #expect(tableFindings.map(\.kind) == [.missingObject], "\(tableFindings)")
        #expect(tableFindings.first?.key == fixture.key(files[1]))
    }
}

/// A lake with topic `orders` (two partitions, several cold segments each, table=false) and the
/// means to write its table by hand into the lake's file cold store.
struct HandTable {
    static let topic = "orders"
    /// 2026-01-01T00:00:00Z: every record falls on that UTC day.
    static let dayMs: Int64 = 1_767_225_600_000
    let dir: String
    let lake: Lake
    let coldRoot: String
    /// The committed cold records per partition.
    let records: [Int32: [Record]]
    var tablePrefix: String { "tables/\(Self.topic)/" }
    var location: String { coldRoot + "/tables/\(Self.topic)" }
    var recordCount: Int { records.values.reduce(0) { $0 + $1.count } }
    /// The table as the last `commit` left it.
    private let state: TableState

    final class TableState: @unchecked Sendable {
        var table: IcebergTable?
    }

    static func make(recordsPerPartition: Int = 60) async throws -> HandTable {
        let dir = FileManager.default.temporaryDirectory.path + "/strata-tableverify-" + UUID().uuidString
        var options = LakeOptions()
        options.backgroundOffload = false
        options.log = { _ in }
        let lake = try Lake.open(dir, options: options)
        var config = Strata.TopicConfig()
        config.segmentBytes = 1024  // several segments per partition
        config.durability = .async
        config.table = false  // the tests write the table; no writer may
        _ = try lake.topic(topic, creatingWith: config, partitions: 2)
        var records: [Int32: [Record]] = [:]
        for partition: Int32 in 0 ..< 2 {
            let handle = try lake.partition(topic, partition)
            for start in stride(from: 0, to: recordsPerPartition, by: 5) {
                let batch = (start ..< min(start + 5, recordsPerPartition)).map { record($0, partition: partition) }
                _ = try await handle.append(batch)
            }
        }
        _ = try await lake.offload(topic: topic, seal: true, evict: false)
        for partition: Int32 in 0 ..< 2 {
            let handle = try lake.partition(topic, partition)
            records[partition] = try readAll(handle)
            try #require(try await handle.coldSegments().count >= 3)
        }
        let coldRoot = String(lake.coldURL.dropFirst("file://".count))
        return HandTable(dir: dir, lake: lake, coldRoot: coldRoot, records: records, state: TableState())
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }

    static func record(_ i: Int, partition: Int32) -> ProducerRecord {
        let key: [UInt8]? = i % 4 == 0 ? nil : bytes("k\(i)")
        let headers: [RecordHeader] = i % 3 == 0 ? [RecordHeader(key: "h", value: [0xFF, UInt8(i)])] : []
        let value = bytes("{\"p\":\(partition),\"n\":\(i)}")
        return ProducerRecord(key: key, value: value, headers: headers, timestamp: dayMs + Int64(i) * 1000)
    }

    static func uuid(_ n: Int) -> String { String(format: "%08x-0000-4000-8000-000000000000", n) }

    /// The store key of a data file.
    func key(_ file: IcebergDataFile) -> String { tablePrefix + file.path.dropFirst(location.count + 1) }

    /// One data file per partition holding `override[p]` or the partition's cold records,
    /// written to the store; the manifest entries to commit.
    func dataFiles(
        override: [Int32: [Record]] = [:], uuidBase: Int = 1, partitions: Set<Int32> = [0, 1]
    ) throws -> [IcebergDataFile] {
        var files: [IcebergDataFile] = []
        for (partition, cold) in records.sorted(by: { $0.key < $1.key }) where partitions.contains(partition) {
            let rows = override[partition] ?? cold
            let writer = try RecordTableWriter(partition: partition)
            for record in rows { try writer.append(record) }
            var bytes = writer.takeBytes()
            bytes += try writer.finish()
            let relative = IcebergTable.dataFilePath(
                partition: partition, day: IcebergDataFile.day(ofMilliseconds: rows[0].timestamp),
                firstOffset: rows[0].offset, uuid: Self.uuid(uuidBase + Int(partition)))
            try write(tablePrefix + relative, bytes)
            files.append(try IcebergDataFile(path: location + "/" + relative, parquet: bytes))
        }
        return files
    }

    /// Commits `adding` (and `removing`) as the next snapshot and writes its files.
    @discardableResult
    func commit(_ adding: [IcebergDataFile], removing: [String] = [], snapshot: Int64 = 1) throws -> IcebergCommit {
        let table = try state.table ?? IcebergTable(uuid: Self.uuid(0xABC), location: location, createdMs: Self.dayMs)
        let commit = try table.committing(
            adding: adding, removing: removing,
            ids: IcebergCommitIds(
                snapshotId: snapshot, uuid: Self.uuid(0x1000 + Int(snapshot)), timestampMs: Self.dayMs + snapshot))
        for file in commit.files { try write(tablePrefix + file.path, file.bytes) }
        state.table = commit.table
        return commit
    }

    func write(_ key: String, _ bytes: [UInt8]) throws {
        let path = coldRoot + "/" + key
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// A file the table does not reference.
    func plant(_ key: String) throws { try write(key, Array("planted".utf8)) }
}

func flipTableByte(_ path: String, at position: Int) throws {
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(position))
    let old = try #require(try handle.read(upToCount: 1)?.first)
    try handle.seek(toOffset: UInt64(position))
    try handle.write(contentsOf: Data([old ^ 0x5A]))
}
