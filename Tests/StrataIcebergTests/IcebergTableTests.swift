import StrataFormat
import StrataParquet
import Testing

@testable import StrataIceberg

/// The Iceberg metadata a commit writes (formats/table.md, "Iceberg table"), decoded with our
/// own reader: file order and modes, manifest entries and their inherited sequence numbers,
/// manifest list counts and partition summaries, the metadata JSON, reproducible bytes, and the
/// typed errors of a bad commit.
@Suite struct IcebergTableTests {
    static let location = "s3://lake/root/tables/orders"

    func entries(_ commit: IcebergCommit, _ index: Int) throws -> [AvroValue] {
        let file = try AvroContainer.decode(commit.files[index].bytes)
        #expect(file.schema == IcebergSchema.manifestEntry)
        #expect(file.metadata("format-version") == "2" && file.metadata("content") == "data")
        #expect(file.metadata("partition-spec") == IcebergSchema.partitionFields.compact)
        #expect(file.metadata("schema") == IcebergSchema.tableSchema.compact)
        return file.values
    }

    @Test func commitsWriteManifestsThenListThenMetadataThenHint() throws {
        let fixture = try FixtureTable(location: Self.location)
        for (i, commit) in fixture.commits.enumerated() {
            let paths = commit.files.map(\.path)
            #expect(paths.last == "metadata/version-hint.text")
            #expect(paths[paths.count - 2] == "metadata/v\(i + 1).metadata.json")
            let uuid = "c0ffee00-0000-4000-8000-00000000000\(i + 1)"
            #expect(paths[paths.count - 3] == "metadata/snap-\(commit.snapshot.id)-1-\(uuid).avro")
            #expect(paths.dropLast(3).allSatisfy { $0.hasPrefix("metadata/c0ffee00-") && $0.hasSuffix(".avro") })
            #expect(commit.files.dropLast().allSatisfy { $0.mode == .putIfAbsent })
            #expect(commit.files.last?.mode == .overwrite && commit.files.last?.bytes == Array("\(i + 1)".utf8))
            #expect(commit.snapshot.manifestList == Self.location + "/" + paths[paths.count - 3])
        }
        #expect(fixture.commits.map { $0.files.count } == [4, 4, 4])
    }

    @Test func appendedEntriesInheritTheirSequenceNumbers() throws {
        let fixture = try FixtureTable(location: Self.location)
        let first = fixture.commits[0]
        let values = try entries(first, 0)
        #expect(values.count == 2)
        guard case .record(let e) = values[0], case .record(let df) = e[4] else { throw Failure("not a record") }
        #expect(e[0] == .int(1))  // added
        #expect(e[1] == .optional(.long(first.snapshot.id)))
        #expect(e[2] == .optional(nil) && e[3] == .optional(nil))
        #expect(df[0] == .int(0) && df[2] == .string("PARQUET"))
        #expect(df[1] == .string(Self.location + "/" + fixture.dataFiles[0].path))
        let day = IcebergDataFile.day(ofMilliseconds: FixtureTable.day0)
        #expect(df[3] == .record([.optional(.int(0)), .optional(.int(day))]))
        #expect(df[4] == .long(10))
        #expect(df[5] == .long(Int64(fixture.dataFiles[0].bytes.count)))
        // Bounds: offset 0…9, timestamps in µs, little-endian.
        let lower = AvroValue.optional(
            .array([
                .record([.int(1), .bytes([0, 0, 0, 0])]), .record([.int(2), .bytes(IcebergValue.long(0))]),
                .record([.int(3), .bytes(IcebergValue.long(FixtureTable.day0 * 1000))]),
            ]))
        #expect(df[10] == lower)
        #expect(IcebergValue.long(9) == [9, 0, 0, 0, 0, 0, 0, 0])
        #expect(df[15] == .optional(.int(IcebergSchema.sortOrderId)))
    }

    @Test func manifestListCountsAndPartitionSummaries() throws {
        let fixture = try FixtureTable(location: Self.location)
        let second = fixture.commits[1]
        let list = try AvroContainer.decode(second.files[1].bytes)
        #expect(list.schema == IcebergSchema.manifestFile)
        #expect(list.metadata("snapshot-id") == String(second.snapshot.id))
        #expect(list.metadata("parent-snapshot-id") == String(fixture.commits[0].snapshot.id))
        #expect(list.metadata("sequence-number") == "2")
        #expect(list.values.count == 2, "the new manifest first, then the first snapshot's, carried over")
        guard case .record(let new) = list.values[0], case .record(let old) = list.values[1] else {
            throw Failure("not records")
        }
        #expect(new[0] == .string(Self.location + "/" + second.files[0].path))
        #expect(new[1] == .long(Int64(second.files[0].bytes.count)))
        #expect(new[4] == .long(2) && new[5] == .long(2) && new[6] == .long(second.snapshot.id))
        #expect(new[7] == .int(1) && new[8] == .int(0) && new[9] == .int(0) && new[10] == .long(15))
        #expect(old[0] == .string(Self.location + "/" + fixture.commits[0].files[0].path))
        #expect(old[4] == .long(1) && old[6] == .long(fixture.commits[0].snapshot.id) && old[10] == .long(16))
        let day = IcebergDataFile.day(ofMilliseconds: FixtureTable.day0)
        let summaries = AvroValue.optional(
            .array([
                .record([
                    .boolean(false), .optional(nil), .optional(.bytes([0, 0, 0, 0])), .optional(.bytes([1, 0, 0, 0])),
                ]),
                .record([
                    .boolean(false), .optional(nil), .optional(.bytes(IcebergValue.int(day))),
                    .optional(.bytes(IcebergValue.int(day))),
                ]),
            ]))
        #expect(old[13] == summaries)
    }

    @Test func deleteRewritesOnlyTheManifestHoldingTheFile() throws {
        let fixture = try FixtureTable(location: Self.location)
        let delete = fixture.commits[2]
        #expect(delete.snapshot.summary.prefix(2) == ["operation", "delete"])
        #expect(delete.files.count == 4, "one rewritten manifest")
        let values = try entries(delete, 0)
        guard case .record(let gone) = values[0], case .record(let kept) = values[1] else { throw Failure("records") }
        #expect(gone[0] == .int(2) && gone[1] == .optional(.long(delete.snapshot.id)))
        #expect(
            gone[2] == .optional(.long(1)) && gone[3] == .optional(.long(1)),
            "a deleted entry keeps its sequence numbers")
        #expect(kept[0] == .int(0) && kept[1] == .optional(.long(fixture.commits[0].snapshot.id)))
        #expect(kept[2] == .optional(.long(1)))
        let list = try AvroContainer.decode(delete.files[1].bytes)
        #expect(list.values.count == 2)
        guard case .record(let rewritten) = list.values[0], case .record(let carried) = list.values[1] else {
            throw Failure("records")
        }
        #expect(rewritten[4] == .long(3) && rewritten[5] == .long(1), "sequence 3, its files still from sequence 1")
        #expect(rewritten[7] == .int(0) && rewritten[8] == .int(1) && rewritten[9] == .int(1))
        #expect(rewritten[12] == .long(10) && rewritten[11] == .long(6), "deleted and existing rows")
        #expect(carried[0] == .string(Self.location + "/" + fixture.commits[1].files[0].path))
        #expect(fixture.table.liveFiles.map(\.recordCount) == [6, 15])
        #expect(delete.snapshot.summary.contains("total-records") && delete.snapshot.summary.contains("21"))
    }

    @Test func retentionExpiresEarlierSnapshotsAndListsWhatToDelete() throws {
        let fixture = try FixtureTable(location: Self.location, retention: true)
        let last = try #require(fixture.commits.last)
        let prefix = Self.location + "/"
        let metadata = (1 ... 3).map { prefix + "metadata/v\($0).metadata.json" }
        let lists = fixture.commits.dropLast().map(\.snapshot.manifestList)
        // Snapshot 1's manifest and snapshot 3's rewrite of it; snapshot 2's manifest is still read.
        let manifests = [fixture.commits[0].files[0].path, fixture.commits[2].files[0].path].map { prefix + $0 }
        let data = fixture.dataFiles.filter { $0.partition == 1 || $0.records[0].offset == 0 }.map { prefix + $0.path }
        #expect(Set(last.unreferenced) == Set(data + lists + manifests + metadata))
        #expect(last.unreferenced.count == data.count + lists.count + manifests.count + metadata.count)
        #expect(!last.unreferenced.contains(prefix + fixture.commits[1].files[0].path))
        #expect(fixture.table.snapshots.map(\.id) == [last.snapshot.id])
        #expect(fixture.table.liveFiles.map(\.recordCount) == [15])
        let json = try JSONValue.parse(last.files[last.files.count - 2].bytes, field: "metadata")
        #expect(json["metadata-log"] == .array([]) && json["snapshots"]?.arrayValue?.count == 1)
        #expect(json["snapshots"]?.arrayValue?.first?["parent-snapshot-id"] == .int(fixture.commits[2].snapshot.id))
        // Without expiry nothing is unreferenced: the earlier snapshots still read the removed file.
        #expect(fixture.commits.dropLast().allSatisfy { $0.unreferenced.isEmpty })
        #expect(IcebergTable.isoDate(day: 0) == "1970-01-01" && IcebergTable.isoDate(day: -1) == "1969-12-31")
        #expect(IcebergTable.isoDate(day: 19_675) == "2023-11-14" && IcebergTable.isoDate(day: 11_016) == "2000-02-29")
    }

    @Test func metadataJSONDescribesEverySnapshot() throws {
        let fixture = try FixtureTable(location: Self.location)
        let json = try JSONValue.parse(fixture.commits[2].files[2].bytes, field: "metadata")
        #expect(json["format-version"] == .int(2))
        #expect(json["table-uuid"] == .string("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"))
        #expect(json["location"] == .string(Self.location))
        #expect(json["last-sequence-number"] == .int(3) && json["last-column-id"] == .int(9))
        #expect(json["last-partition-id"] == .int(1001) && json["default-sort-order-id"] == .int(1))
        let ids = fixture.commits.map { JSONValue.int($0.snapshot.id) }
        #expect(json["current-snapshot-id"] == ids[2])
        #expect(json["refs"]?["main"] == .object([("snapshot-id", ids[2]), ("type", .string("branch"))]))
        #expect(json["snapshots"]?.arrayValue?.map { $0["snapshot-id"] } == ids)
        #expect(json["snapshots"]?.arrayValue?.map { $0["parent-snapshot-id"] } == [nil, ids[0], ids[1]])
        #expect(json["snapshot-log"]?.arrayValue?.map { $0["snapshot-id"] } == ids)
        #expect(
            json["metadata-log"]?.arrayValue?.map { $0["metadata-file"]?.stringValue }
                == ["v1", "v2"].map { Self.location + "/metadata/\($0).metadata.json" })
        let fields = json["schemas"]?.arrayValue?.first?["fields"]?.arrayValue ?? []
        #expect(fields.map { $0["id"] } == (1 ... 6).map { .int($0) })
        #expect(
            fields.map { $0["name"]?.stringValue } == ["partition", "offset", "timestamp", "key", "value", "headers"])
        #expect(fields[2]["type"] == .string("timestamptz"))
        #expect(fields[5]["type"]?["element-id"] == .int(7))
        let transforms = json["partition-specs"]?.arrayValue?.first?["fields"]?.arrayValue?.map { $0["transform"] }
        #expect(transforms == [.string("identity"), .string("day")])
        #expect(json["properties"]?["strata.topic"] == .string("orders"))
    }

    @Test func sameIdsGiveTheSameBytes() throws {
        let a = try FixtureTable(location: Self.location)
        let b = try FixtureTable(location: Self.location)
        #expect(a.commits == b.commits)
        #expect(a.commits.flatMap(\.files).map(\.bytes) == b.commits.flatMap(\.files).map(\.bytes))
    }

    @Test func badCommitsAreRefused() throws {
        let fixture = try FixtureTable(location: Self.location)
        let table = fixture.table
        let file = table.liveFiles[0]
        var fresh = file
        fresh.path += ".new"
        let ids = IcebergCommitIds(snapshotId: 99, uuid: "c0ffee00-0000-4000-8000-0000000000aa", timestampMs: 1 << 42)
        func refusal(
            _ adding: [IcebergDataFile], _ removing: [String], _ ids: IcebergCommitIds
        ) -> IcebergError? {
            icebergError { () throws(IcebergError) in try table.committing(adding: adding, removing: removing, ids: ids)
            }
        }
        var reused = ids
        reused.snapshotId = fixture.commits[0].snapshot.id
        var zero = ids
        zero.snapshotId = 0
        var badUUID = ids
        badUUID.uuid = "C0FFEE00-0000-4000-8000-0000000000AA"
        var early = ids
        early.timestampMs = table.lastUpdatedMs - 1
        var empty = fresh
        empty.recordCount = 0
        let cases: [(IcebergError?, String, Int)] = [
            (refusal([], [], ids), "adding", 0),
            (refusal([fresh], [], reused), "snapshotId", 0),
            (refusal([fresh], [], zero), "snapshotId", 0),
            (refusal([fresh], [], badUUID), "ids.uuid", 0),
            (refusal([fresh], [], early), "timestampMs", 0),
            (refusal([fresh, file], [], ids), "adding", 1),
            (refusal([fresh, fresh], [], ids), "adding", 1),
            (refusal([empty], [], ids), "adding", 0),
            (refusal([], [file.path, "s3://elsewhere.parquet"], ids), "removing", 1),
            (refusal([], [file.path, file.path], ids), "removing", 1),
            (refusal([], [fixture.dataFiles[0].path], ids), "removing", 0),  // deleted by snapshot 3
        ]
        for (error, field, position) in cases {
            #expect(
                error?.code == .invalidArgument && error?.field == field && error?.position == position,
                "\(String(describing: error))")
        }
        #expect(
            try table.committing(adding: [fresh], removing: [file.path], ids: ids).snapshot.summary[1] == "overwrite")
        #expect(
            icebergError { () throws(IcebergError) in try IcebergTable(uuid: "x", location: "l", createdMs: 0) }?.field
                == "uuid")
    }

    @Test func dataFileStatisticsComeFromTheFooter() throws {
        let records = FixtureTable.records(offsets: 100 ..< 140, startMs: -86_400_000 + 5)
        let writer = try RecordTableWriter(
            partition: 7, options: RecordTableOptions(rowGroupRawBytesTarget: 300, parquet: ParquetWriterOptions()))
        for r in records { try writer.append(r) }
        let bytes = try writer.finish()
        let file = try IcebergDataFile(path: "/t/data/a.parquet", parquet: bytes)
        let footer = try ParquetFileReader(bytes)
        #expect(file.partition == 7 && file.day == -1, "1969-12-31")
        #expect(file.recordCount == 40 && file.fileSizeInBytes == Int64(bytes.count))
        #expect(file.valueCounts == [1: 40, 2: 40, 3: 40, 4: 40, 5: 40])
        #expect(file.nullValueCounts == [1: 0, 2: 0, 3: 0, 4: 10, 5: 0])
        #expect(Set(file.columnSizes.keys) == [1, 2, 3, 4, 5, 8, 9])
        #expect(file.lowerBounds[2] == IcebergValue.long(100) && file.upperBounds[2] == IcebergValue.long(139))
        #expect(file.lowerBounds[3] == IcebergValue.long((-86_400_000 + 5) * 1000))
        #expect(file.upperBounds[1] == [7, 0, 0, 0])
        #expect(file.splitOffsets.count == footer.metadata.rowGroups.count && file.splitOffsets.count > 1)
        #expect(file.splitOffsets.first == 4)

        // Records on both sides of midnight UTC cannot share a day(timestamp) partition.
        let spanning = try RecordTableWriter(partition: 0)
        for r in FixtureTable.records(offsets: 0 ..< 3, startMs: -1000) { try spanning.append(r) }
        let spanningBytes = try spanning.finish()
        let error = icebergError { () throws(IcebergError) in try IcebergDataFile(path: "p", parquet: spanningBytes) }
        #expect(error?.code == .invalidArgument && error?.message.contains("one UTC day") == true)
        var corrupt = bytes
        corrupt[corrupt.count - 5] ^= 0xFF
        #expect(
            icebergError { () throws(IcebergError) in try IcebergDataFile(path: "p", parquet: corrupt) }?.code
                == .invalidValue)
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
