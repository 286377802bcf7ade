import Testing

@testable import StrataIceberg

/// `IcebergTable.restoring`: the state read back from the metadata, manifest lists and
/// manifests equals the state that wrote them, and a restored table's next commit writes the
/// same bytes as the original's; bad or missing files are typed errors.
@Suite struct RestoreTests {
    static let location = "s3://lake/tables/orders"

    func restore(
        _ fixture: IcebergTableVector, commit index: Int, missing: String? = nil
    ) throws(IcebergError) -> IcebergTable {
        var files: [String: [UInt8]] = [:]
        for (path, bytes) in fixture.files { files[Self.location + "/" + path] = bytes }
        let commit = fixture.commits[index]
        let metadata = commit.files[commit.files.count - 2].bytes
        return try IcebergTable.restoring(metadata: metadata, version: index + 1) { path in
            path == missing ? nil : files[path]
        }
    }

    @Test func restoredStateEqualsTheWrittenOne() throws {
        let fixture = try IcebergTableVector(location: Self.location)
        for i in fixture.commits.indices {
            #expect(try restore(fixture, commit: i) == fixture.commits[i].table, "v\(i + 1)")
        }
        let retention = try IcebergTableVector(location: Self.location, retention: true)
        #expect(try restore(retention, commit: 3) == retention.table)
    }

    @Test func restoredTableCommitsTheSameBytes() throws {
        let fixture = try IcebergTableVector(location: Self.location)
        let restored = try restore(fixture, commit: 1)
        let original = fixture.commits[2]
        let again = try restored.committing(
            adding: [], removing: [fixture.commits[0].table.liveFiles[0].path],
            ids: IcebergCommitIds(
                snapshotId: original.snapshot.id, uuid: "c0ffee00-0000-4000-8000-000000000003",
                timestampMs: original.snapshot.timestampMs))
        #expect(again.files == original.files)
    }

    @Test func badTablesAreRefused() throws {
        let fixture = try IcebergTableVector(location: Self.location)
        let manifest = Self.location + "/" + fixture.commits[1].files[0].path
        let missing = icebergError { () throws(IcebergError) in try restore(fixture, commit: 2, missing: manifest) }
        #expect(missing?.code == .invalidValue && missing?.field == "manifest_path")
        let list = fixture.commits[0].snapshot.manifestList
        #expect(
            icebergError { () throws(IcebergError) in try restore(fixture, commit: 2, missing: list) }?.field
                == "manifest-list")
        let metadata = String(decoding: fixture.commits[0].files[2].bytes, as: UTF8.self)
        func refusal(_ text: String) -> IcebergError? {
            icebergError { () throws(IcebergError) in
                try IcebergTable.restoring(metadata: Array(text.utf8), version: 1) { _ in nil }
            }
        }
        let v1 = refusal(metadata.replacingOccurrences(of: #""format-version": 2"#, with: #""format-version": 1"#))
        #expect(v1?.code == .invalidValue && v1?.field == "format-version")
        let otherSchema = refusal(metadata.replacingOccurrences(of: #""timestamptz""#, with: #""timestamp""#))
        #expect(otherSchema?.code == .unsupported)
        #expect(refusal(String(metadata.dropLast(10)))?.code == .truncated)
        let huge = refusal(
            metadata.replacingOccurrences(
                of: #""last-sequence-number": 1"#, with: #""last-sequence-number": 9223372036854775807"#))
        #expect(huge?.field == "last-sequence-number")
    }
}
