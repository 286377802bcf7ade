import StrataBlob
import StrataFormat

// The contract of topic tables (issue 15, ARCHITECTURE.md §2g): what the table writer reports
// and the calls the CLI, `verify`/`scrub` and the benchmarks make. The writer is
// `TableWriter.swift` beside this file.

/// One partition's place in its topic's table.
public struct TablePartitionStatus: Sendable, Equatable, Codable {
    public var partition: Int32
    /// The partition's log start offset (both tiers).
    public var logStartOffset: Int64
    /// One past the last offset the committed cold manifest holds.
    public var manifestEnd: Int64
    /// One past the last offset the table's current snapshot holds for this partition (the log
    /// start when it holds none).
    public var tableEnd: Int64
    /// Cold segments committed to the manifest whose records the table does not hold yet.
    public var lagSegments: Int
    /// Live data files of this partition, their bytes and rows.
    public var dataFiles: Int
    public var dataBytes: Int64
    public var rows: Int64

    /// Offsets committed to the cold tier and not yet in the table.
    public var lagOffsets: Int64 { max(0, manifestEnd - tableEnd) }

    public init(
        partition: Int32, logStartOffset: Int64, manifestEnd: Int64, tableEnd: Int64, lagSegments: Int,
        dataFiles: Int, dataBytes: Int64, rows: Int64
    ) {
        self.partition = partition
        self.logStartOffset = logStartOffset
        self.manifestEnd = manifestEnd
        self.tableEnd = tableEnd
        self.lagSegments = lagSegments
        self.dataFiles = dataFiles
        self.dataBytes = dataBytes
        self.rows = rows
    }
}

/// A topic's table as `strata table status` shows it.
public struct TableStatus: Sendable, Equatable, Codable {
    public var topic: String
    /// Whether the topic's config asks for a table (`TopicConfig.table`).
    public var enabled: Bool
    /// The table's location as readers address it (`s3://bucket/root/tables/orders`, or a local path).
    public var location: String
    /// N of the newest `metadata/v<N>.metadata.json`; 0 when no table was committed yet.
    public var metadataVersion: Int
    public var snapshots: Int
    public var currentSnapshotId: Int64?
    /// Live data files of the current snapshot, their bytes and rows.
    public var dataFiles: Int
    public var dataBytes: Int64
    public var rows: Int64
    /// Values that did not match the topic's value schema (kept raw, typed columns null), as
    /// counted in the table's snapshot summaries.
    public var valueMismatches: Int64
    public var partitions: [TablePartitionStatus]

    public init(
        topic: String, enabled: Bool, location: String, metadataVersion: Int, snapshots: Int,
        currentSnapshotId: Int64?, dataFiles: Int, dataBytes: Int64, rows: Int64, valueMismatches: Int64,
        partitions: [TablePartitionStatus]
    ) {
        self.topic = topic
        self.enabled = enabled
        self.location = location
        self.metadataVersion = metadataVersion
        self.snapshots = snapshots
        self.currentSnapshotId = currentSnapshotId
        self.dataFiles = dataFiles
        self.dataBytes = dataBytes
        self.rows = rows
        self.valueMismatches = valueMismatches
        self.partitions = partitions
    }
}

/// What one table pass (`Lake.syncTable`, `Lake.rebuildTable`) did.
public struct TableSyncReport: Sendable, Equatable {
    public var snapshotsCommitted = 0
    public var filesAdded = 0
    public var filesRemoved = 0
    public var rowsAdded: Int64 = 0
    /// Parquet bytes written.
    public var bytesAdded: Int64 = 0
    /// Raw record bytes (cold segment bytes) the pass read to write them.
    public var rawBytesRead: Int64 = 0
    public var valueMismatches: Int64 = 0

    public init() {}
}

extension BucketLayout {
    /// `<prefix>tables/<topic>/`: the table of `topic` (formats/table.md, "Table layout").
    public func tablePrefix(topic: String) -> String { prefix + "tables/\(topic)/" }

    /// `<prefix>tables/`: every table of the lake.
    public var tablesPrefix: String { prefix + "tables/" }
}

extension Lake {
    /// Brings `topic`'s table up to its committed cold manifests (every partition), expiring
    /// data files below the log start (total retention, delete-records). Runs after each
    /// background offload pass of a topic whose config has `table`.
    /// - Throws: `notFound` for a missing topic; `readOnly`; blob errors (the table then lags
    ///   and the next pass tries again; the cold tier is never affected).
    public func syncTable(_ topic: String) async throws(StrataError) -> TableSyncReport {
        throw StrataError(.invalidArgument, "table writer not built yet (issue 15)", topic: topic)
    }

    /// The table of `topic` as its newest metadata file and the cold manifests describe it.
    /// Works on a read-only lake (no write of any kind).
    public func tableStatus(_ topic: String) async throws(StrataError) -> TableStatus {
        throw StrataError(.invalidArgument, "table writer not built yet (issue 15)", topic: topic)
    }

    /// Writes `topic`'s table again from the cold objects alone: one snapshot that replaces
    /// every live data file, after which the files it no longer reads are deleted.
    public func rebuildTable(_ topic: String) async throws(StrataError) -> TableSyncReport {
        throw StrataError(.invalidArgument, "table writer not built yet (issue 15)", topic: topic)
    }
}
