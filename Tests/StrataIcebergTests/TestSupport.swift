import Foundation
import StrataFormat
import StrataParquet
import Testing

@testable import StrataIceberg

/// The error a typed-throwing body threw, or nil when it returned.
func icebergError<T>(_ body: () throws(IcebergError) -> T) -> IcebergError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// The repository root, found from this file's path.
func repoRoot(_ file: String = #filePath) -> URL {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// Runs a program and returns its status and output (stdout and stderr together).
func run(_ program: String, _ arguments: [String]) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [program] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    do {
        try process.run()
    } catch {
        return (-1, "cannot run \(program): \(error)")
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A small fixed table: snapshot 1 appends two Parquet files (partitions 0 and 1), snapshot 2
/// appends partition 0's next records, snapshot 3 deletes the first file. With `retention`,
/// snapshot 4 deletes partition 1's file and expires snapshots 1–3, as total retention will.
struct FixtureTable {
    var table: IcebergTable
    var commits: [IcebergCommit] = []
    /// Relative path → bytes of every data file, in write order.
    var dataFiles: [(path: String, bytes: [UInt8], records: [Record], partition: Int32)] = []
    /// Per snapshot: the data file paths (relative) it reads.
    var snapshotFiles: [[String]] = []

    static let day0: Int64 = 1_700_000_000_000  // 2023-11-14T22:13:20Z

    static func records(offsets: Range<Int64>, startMs: Int64) -> [Record] {
        offsets.map { o in
            Record(
                offset: o, timestamp: startMs + (o - offsets.lowerBound) * 1000,
                key: o % 4 == 0 ? nil : Array("key-\(o)".utf8),
                value: o % 5 == 0 ? [] : Array("value \(o) ☃".utf8),
                headers: o % 3 == 0
                    ? [RecordHeader(key: "n", value: Array("\(o)".utf8)), RecordHeader(key: "n", value: nil)] : [])
        }
    }

    /// Absolute paths the last commit left unreferenced (deleted by `write(to:)`).
    var unreferenced: [String] = []

    init(location: String, retention: Bool = false) throws {
        table = try IcebergTable(
            uuid: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", location: location, createdMs: Self.day0,
            properties: ["write.format.default": "parquet", "strata.topic": "orders"])
        let first = [
            try dataFile(partition: 0, records: Self.records(offsets: 0 ..< 10, startMs: Self.day0)),
            try dataFile(partition: 1, records: Self.records(offsets: 0 ..< 6, startMs: Self.day0 + 500)),
        ]
        try commit(adding: first, removing: [], snapshotId: 3_051_729_675_574_597_004, n: 1)
        // Partition 0's next records land on the next UTC day: a file of their own.
        let second = [
            try dataFile(partition: 0, records: Self.records(offsets: 10 ..< 25, startMs: Self.day0 + 7_200_000))
        ]
        try commit(adding: second, removing: [], snapshotId: 7_012_345_678_901_234_567, n: 2)
        try commit(adding: [], removing: [first[0].path], snapshotId: 1_234_567_890_123_456_789, n: 3)
        if retention {
            try commit(adding: [], removing: [first[1].path], snapshotId: 4_444, n: 4, expiring: true)
        }
    }

    mutating func dataFile(partition: Int32, records: [Record]) throws -> IcebergDataFile {
        let writer = try RecordTableWriter(
            partition: partition,
            options: RecordTableOptions(rowGroupRawBytesTarget: 200, parquet: ParquetWriterOptions(pageRowCountMax: 4)))
        for r in records { try writer.append(r) }
        let bytes = try writer.finish()
        let day = IcebergDataFile.day(ofMilliseconds: records[0].timestamp)
        let relative = IcebergTable.dataFilePath(
            partition: partition, day: day, firstOffset: records[0].offset,
            uuid: "d0d0d0d0-0000-4000-8000-00000000000\(dataFiles.count)")
        dataFiles.append((relative, bytes, records, partition))
        return try IcebergDataFile(path: table.location + "/" + relative, parquet: bytes)
    }

    mutating func commit(
        adding: [IcebergDataFile], removing: [String], snapshotId: Int64, n: Int, expiring: Bool = false
    ) throws {
        let commit = try table.committing(
            adding: adding, removing: removing,
            ids: IcebergCommitIds(
                snapshotId: snapshotId, uuid: "c0ffee00-0000-4000-8000-00000000000\(n)",
                timestampMs: Self.day0 + Int64(n) * 3_600_000),
            expiringEarlierSnapshots: expiring)
        unreferenced = commit.unreferenced
        commits.append(commit)
        table = commit.table
        snapshotFiles.append(table.liveFiles.map { String($0.path.dropFirst(table.location.count + 1)) })
    }

    /// Writes the data files, then each commit's files in order, under `directory`.
    func write(to directory: URL) throws {
        for file in dataFiles {
            let url = directory.appendingPathComponent(file.path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(file.bytes).write(to: url)
        }
        for commit in commits {
            for file in commit.files {
                let url = directory.appendingPathComponent(file.path)
                try FileManager.default.createDirectory(
                    at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                if file.mode == .putIfAbsent {
                    #expect(!FileManager.default.fileExists(atPath: url.path), "\(file.path)")
                }
                try Data(file.bytes).write(to: url)
            }
        }
        for path in unreferenced {
            #expect(path.hasPrefix(table.location + "/"))
            try FileManager.default.removeItem(atPath: directory.path + path.dropFirst(table.location.count))
        }
    }

    /// What the readers must return, per snapshot (rows sorted by partition, then offset).
    var expectation: JSONValue {
        func bytes(_ b: [UInt8]?) -> JSONValue { b.map { .string(Data($0).base64EncodedString()) } ?? .null }
        let retained = Set(table.snapshots.map(\.id))
        let snapshots: [JSONValue] = zip(commits, snapshotFiles).enumerated().compactMap { i, pair in
            let (commit, paths) = pair
            guard retained.contains(commit.snapshot.id) else { return nil }
            let rows = dataFiles.filter { paths.contains($0.path) }.flatMap { f in f.records.map { (f.partition, $0) } }
                .sorted { ($0.0, $0.1.offset) < ($1.0, $1.1.offset) }
            return .object([
                ("snapshot-id", .int(commit.snapshot.id)),
                ("metadata", .string("metadata/v\(i + 1).metadata.json")),
                ("files", .array(paths.map { .string($0) })),
                (
                    "rows",
                    .array(
                        rows.map { p, r in
                            .object([
                                ("partition", .int(Int64(p))), ("offset", .int(r.offset)),
                                ("timestamp", .int(r.timestamp * 1000)), ("key", bytes(r.key)),
                                ("value", bytes(r.value)),
                                (
                                    "headers",
                                    .array(
                                        r.headers.map {
                                            .object([("key", .string($0.key)), ("value", bytes($0.value))])
                                        })
                                ),
                            ])
                        })
                ),
            ])
        }
        return .object([("location", .string(table.location)), ("snapshots", .array(snapshots))])
    }
}
