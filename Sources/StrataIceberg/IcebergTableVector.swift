import StrataFormat
import StrataParquet

/// The golden table of formats/vectors/table/iceberg and of Tests/StrataIcebergTests: snapshot 1
/// appends two Parquet files (partitions 0 and 1), snapshot 2 appends partition 0's next records
/// (the next UTC day), snapshot 3 deletes the first file. With `retention`, snapshot 4 deletes
/// partition 1's file and expires snapshots 1–3, as total retention will.
public struct IcebergTableVector: Sendable {
    public private(set) var table: IcebergTable
    public private(set) var commits: [IcebergCommit] = []
    /// Every data file (relative path, bytes, records), in write order.
    public private(set) var dataFiles: [DataFile] = []
    /// Per snapshot: the data file paths (relative) it reads.
    public private(set) var snapshotFiles: [[String]] = []

    public static let day0: Int64 = 1_700_000_000_000  // 2023-11-14T22:13:20Z

    public static func records(offsets: Range<Int64>, startMs: Int64) -> [Record] {
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
    public private(set) var unreferenced: [String] = []

    /// One data file of the vector.
    public struct DataFile: Sendable {
        public var path: String
        public var bytes: [UInt8]
        public var records: [Record]
        public var partition: Int32
    }

    let parquet: ParquetWriterOptions

    /// Builds the table at `location`; `codec` `.uncompressed` gives data files (and so
    /// manifests) that do not depend on the libzstd version.
    public init(location: String, retention: Bool = false, codec: ParquetCodec = .zstd) throws(IcebergError) {
        parquet = ParquetWriterOptions(codec: codec, pageRowCountMax: 4)
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

    mutating func dataFile(partition: Int32, records: [Record]) throws(IcebergError) -> IcebergDataFile {
        let bytes: [UInt8]
        do {
            let writer = try RecordTableWriter(
                partition: partition, options: RecordTableOptions(rowGroupRawBytesTarget: 200, parquet: parquet))
            for r in records { try writer.append(r) }
            bytes = try writer.finish()
        } catch {
            throw IcebergError(.invalidArgument, field: "records", position: error.position, error.description)
        }
        let day = IcebergDataFile.day(ofMilliseconds: records[0].timestamp)
        let relative = IcebergTable.dataFilePath(
            partition: partition, day: day, firstOffset: records[0].offset,
            uuid: "d0d0d0d0-0000-4000-8000-00000000000\(dataFiles.count)")
        dataFiles.append(DataFile(path: relative, bytes: bytes, records: records, partition: partition))
        return try IcebergDataFile(path: table.location + "/" + relative, parquet: bytes)
    }

    mutating func commit(
        adding: [IcebergDataFile], removing: [String], snapshotId: Int64, n: Int, expiring: Bool = false
    ) throws(IcebergError) {
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

    /// Every file of the table as it stands after the last commit (unreferenced files deleted),
    /// relative to the location, in write order: data files, then each commit's files.
    public var files: [(path: String, bytes: [UInt8])] {
        let gone = Set(unreferenced.map { String($0.dropFirst(table.location.count + 1)) })
        var latest: [String: [UInt8]] = [:]
        var order: [String] = []
        for (path, bytes) in dataFiles.map({ ($0.path, $0.bytes) })
            + commits.flatMap({ $0.files.map { ($0.path, $0.bytes) } })
        {
            if latest.updateValue(bytes, forKey: path) == nil { order.append(path) }
        }
        return order.filter { !gone.contains($0) }.map { ($0, latest[$0]!) }
    }
}
