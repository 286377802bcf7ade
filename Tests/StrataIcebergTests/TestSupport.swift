import Foundation
import StrataFormat
import StrataParquet
import StrataTesting
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

typealias FixtureTable = IcebergTableVector

extension IcebergTableVector {
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
