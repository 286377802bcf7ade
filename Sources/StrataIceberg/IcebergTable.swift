import StrataParquet

/// A manifest entry: a data file and the snapshot and sequence numbers it was added with.
public struct IcebergManifestEntry: Sendable, Equatable {
    public enum Status: Int32, Sendable { case existing = 0, added = 1, deleted = 2 }

    public var status: Status
    /// The snapshot that added the file (that deleted it, for `deleted`).
    public var snapshotId: Int64
    public var dataSequenceNumber: Int64
    public var fileSequenceNumber: Int64
    public var file: IcebergDataFile

    public init(
        status: Status, snapshotId: Int64, dataSequenceNumber: Int64, fileSequenceNumber: Int64, file: IcebergDataFile
    ) {
        self.status = status
        self.snapshotId = snapshotId
        self.dataSequenceNumber = dataSequenceNumber
        self.fileSequenceNumber = fileSequenceNumber
        self.file = file
    }

    /// Added entries leave their sequence numbers null: readers inherit the manifest's (the
    /// specification's rule, so a retried commit with a new sequence number needs no rewrite).
    var avro: AvroValue {
        let inherit = status == .added
        return .record([
            .int(status.rawValue),
            .optional(.long(snapshotId)),
            .optional(inherit ? nil : .long(dataSequenceNumber)),
            .optional(inherit ? nil : .long(fileSequenceNumber)),
            file.avro,
        ])
    }
}

/// One manifest of the current snapshot: its `manifest_file` fields and its live entries.
public struct IcebergManifest: Sendable, Equatable {
    public var path: String
    public var length: Int64
    public var sequenceNumber: Int64
    public var minSequenceNumber: Int64
    public var addedSnapshotId: Int64
    public var addedFilesCount: Int32
    public var existingFilesCount: Int32
    public var deletedFilesCount: Int32
    public var addedRowsCount: Int64
    public var existingRowsCount: Int64
    public var deletedRowsCount: Int64
    /// Per partition field: lower and upper bound (4 bytes little-endian), nil when the manifest is empty.
    public var partitionBounds: [(lower: [UInt8], upper: [UInt8])?]
    /// The files a scan reads from this manifest (added and existing), with their original ids.
    public var liveEntries: [IcebergManifestEntry]

    public static func == (a: IcebergManifest, b: IcebergManifest) -> Bool {
        a.path == b.path && a.length == b.length && a.sequenceNumber == b.sequenceNumber
            && a.minSequenceNumber == b.minSequenceNumber && a.addedSnapshotId == b.addedSnapshotId
            && a.liveEntries == b.liveEntries
            && a.partitionBounds.map { $0.map { $0.lower + [0xFF] + $0.upper } }
                == b.partitionBounds.map { $0.map { $0.lower + [0xFF] + $0.upper } }
    }

    var avro: AvroValue {
        .record([
            .string(path), .long(length), .int(IcebergSchema.specId), .int(0), .long(sequenceNumber),
            .long(minSequenceNumber), .long(addedSnapshotId), .int(addedFilesCount), .int(existingFilesCount),
            .int(deletedFilesCount), .long(addedRowsCount), .long(existingRowsCount), .long(deletedRowsCount),
            .optional(
                .array(
                    partitionBounds.map { b in
                        .record([
                            .boolean(false), .optional(nil), .optional(b.map { .bytes($0.lower) }),
                            .optional(b.map { .bytes($0.upper) }),
                        ])
                    })),
            .optional(nil),
        ])
    }
}

/// A snapshot of the table.
public struct IcebergSnapshot: Sendable, Equatable {
    public var id: Int64
    public var parentId: Int64?
    public var sequenceNumber: Int64
    public var timestampMs: Int64
    /// The manifest list's absolute path.
    public var manifestList: String
    /// `operation` first, then the counts (all values strings, as the specification has them).
    public var summary: [String]

    var json: JSONValue {
        var members: [(String, JSONValue)] = [("snapshot-id", .int(id))]
        if let parentId { members.append(("parent-snapshot-id", .int(parentId))) }
        members += [
            ("sequence-number", .int(sequenceNumber)), ("timestamp-ms", .int(timestampMs)),
            ("manifest-list", .string(manifestList)),
            (
                "summary",
                .object(stride(from: 0, to: summary.count - 1, by: 2).map { (summary[$0], .string(summary[$0 + 1])) })
            ),
            ("schema-id", .int(IcebergSchema.schemaId)),
        ]
        return .object(members)
    }
}

/// The ids a commit uses, passed by the caller so that tests and vectors get reproducible bytes.
public struct IcebergCommitIds: Sendable, Equatable {
    /// Positive and not used by an earlier snapshot.
    public var snapshotId: Int64
    /// Lowercase `8-4-4-4-12` hex: names the manifests and manifest list, seeds their sync markers.
    public var uuid: String
    /// The commit's time: the snapshot's `timestamp-ms`, not before the table's `last-updated-ms`.
    public var timestampMs: Int64

    public init(snapshotId: Int64, uuid: String, timestampMs: Int64) {
        self.snapshotId = snapshotId
        self.uuid = uuid
        self.timestampMs = timestampMs
    }
}

/// One file a commit writes, relative to the table's location.
public struct IcebergTableFile: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        /// Never replaces an existing object: the metadata file (the commit point), manifests, manifest lists.
        case putIfAbsent
        /// `version-hint.text`: a hint readers may use, rewritten by every commit.
        case overwrite
    }

    public var path: String
    public var bytes: [UInt8]
    public var mode: Mode
}

/// What a commit produces: the files to write, in order, and the table after it.
public struct IcebergCommit: Sendable, Equatable {
    /// Manifests, the manifest list, `metadata/v<N+1>.metadata.json` (the commit point), then
    /// `metadata/version-hint.text`. Written in this order, after the data files, a reader that
    /// finds a metadata file finds every file it references.
    public var files: [IcebergTableFile]
    public var table: IcebergTable
    public var snapshot: IcebergSnapshot
    /// Absolute paths no snapshot of the new metadata references any more, to delete once the
    /// metadata file and the hint are written: empty unless the commit expired earlier snapshots.
    /// Data files removed by this or earlier snapshots, the expired snapshots' manifest lists and
    /// the manifests only they used, and the earlier metadata files.
    public var unreferenced: [String]
}

/// The state of a topic table (formats/table.md, "Iceberg table") as a value: each commit
/// returns the bytes of the next snapshot's manifests, manifest list and metadata file.
public struct IcebergTable: Sendable, Equatable {
    public var uuid: String
    /// The table's root as readers address it (`s3://bucket/root/tables/orders`, or a local path).
    public var location: String
    /// Sorted by key when written.
    public var properties: [String: String]
    /// The typed value columns of the table's schema (nil: the record schema alone). Contract
    /// (issue 15): carried here; the schema JSON and field ids are built by the typed-columns work.
    public var valueSchema: TableValueSchema?
    /// N of the last `metadata/v<N>.metadata.json` written; 0 before the first commit.
    public internal(set) var version: Int
    public internal(set) var lastSequenceNumber: Int64
    public internal(set) var lastUpdatedMs: Int64
    public internal(set) var snapshots: [IcebergSnapshot]
    public internal(set) var metadataLog: [(timestampMs: Int64, file: String)]
    /// The current snapshot's manifests.
    public internal(set) var manifests: [IcebergManifest]
    /// Per retained snapshot (in snapshot order), the manifests its list names.
    public internal(set) var snapshotManifests: [[String]]
    /// Data files removed from the current snapshot that a retained earlier snapshot still reads.
    public internal(set) var removedButReferenced: [String]

    public static func == (a: IcebergTable, b: IcebergTable) -> Bool {
        a.uuid == b.uuid && a.location == b.location && a.properties == b.properties && a.version == b.version
            && a.lastSequenceNumber == b.lastSequenceNumber && a.lastUpdatedMs == b.lastUpdatedMs
            && a.snapshots == b.snapshots && a.metadataLog.map(\.file) == b.metadataLog.map(\.file)
            && a.metadataLog.map(\.timestampMs) == b.metadataLog.map(\.timestampMs) && a.manifests == b.manifests
            && a.snapshotManifests == b.snapshotManifests && a.removedButReferenced == b.removedButReferenced
    }

    /// A table with no snapshot and no file written yet.
    /// - Throws: `.invalidArgument` for a uuid that is not lowercase `8-4-4-4-12` hex or an empty location.
    public init(
        uuid: String, location: String, createdMs: Int64, properties: [String: String] = [:],
        valueSchema: TableValueSchema? = nil
    ) throws(IcebergError) {
        try Self.checkUUID(uuid, field: "uuid")
        guard !location.isEmpty else {
            throw IcebergError(.invalidArgument, field: "location", position: 0, "is empty")
        }
        self.uuid = uuid
        self.location = location.hasSuffix("/") ? String(location.dropLast()) : location
        self.properties = properties
        self.valueSchema = valueSchema
        self.version = 0
        self.lastSequenceNumber = 0
        self.lastUpdatedMs = createdMs
        self.snapshots = []
        self.metadataLog = []
        self.manifests = []
        self.snapshotManifests = []
        self.removedButReferenced = []
    }

    public var currentSnapshot: IcebergSnapshot? { snapshots.last }

    /// The data files a scan of the current snapshot reads.
    public var liveFiles: [IcebergDataFile] { manifests.flatMap { $0.liveEntries.map(\.file) } }

    static func checkUUID(_ uuid: String, field: String) throws(IcebergError) {
        let groups = uuid.split(separator: "-", omittingEmptySubsequences: false)
        let hex = "0123456789abcdef"
        guard groups.map(\.count) == [8, 4, 4, 4, 12], groups.allSatisfy({ $0.allSatisfy(hex.contains) }) else {
            throw IcebergError(
                .invalidArgument, field: field, position: 0, "\(uuid) is not a lowercase 8-4-4-4-12 uuid")
        }
    }

    static func uuidBytes(_ uuid: String) -> [UInt8] {
        let hex = Array(uuid.utf8.filter { $0 != UInt8(ascii: "-") })
        func nibble(_ c: UInt8) -> UInt8 { c <= UInt8(ascii: "9") ? c - UInt8(ascii: "0") : c - UInt8(ascii: "a") + 10 }
        return stride(from: 0, to: 32, by: 2).map { nibble(hex[$0]) << 4 | nibble(hex[$0 + 1]) }
    }

    func absolute(_ relative: String) -> String { location + "/" + relative }

    /// Where a data file goes, relative to the location (formats/table.md, "Table layout"):
    /// `data/partition=<p>/timestamp_day=<yyyy-mm-dd>/<first offset, 20 digits>-<uuid>.parquet`.
    public static func dataFilePath(partition: Int32, day: Int32, firstOffset: Int64, uuid: String) -> String {
        let digits = String(firstOffset)
        let offset = String(repeating: "0", count: max(0, 20 - digits.count)) + digits
        return "data/partition=\(partition)/timestamp_day=\(isoDate(day: day))/\(offset)-\(uuid).parquet"
    }

    /// `yyyy-mm-dd` of a day since 1970-01-01 (proleptic Gregorian, as Iceberg's date).
    public static func isoDate(day: Int32) -> String {
        // Howard Hinnant's civil_from_days.
        let z = Int64(day) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func pad(_ v: Int64, _ n: Int) -> String {
            let t = String(abs(v))
            return (v < 0 ? "-" : "") + String(repeating: "0", count: max(0, n - t.count)) + t
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// The next snapshot: `adding` becomes visible and `removing` (paths of live files) is no longer read.
    /// Manifests holding a removed file are rewritten (its entry `deleted`, the others `existing`);
    /// the others are carried over unchanged; the added files go into one new manifest.
    /// The operation is `append` (adding only), `delete` (removing only) or `overwrite` (both).
    ///
    /// With `expiringEarlierSnapshots`, the new metadata keeps only the new snapshot (no time
    /// travel before it, an empty metadata log) and `unreferenced` lists what may then be
    /// deleted: how total retention removes data files without a snapshot pointing at a missing one.
    /// `summary` adds the writer's own keys (`strata.value-mismatches`) after the standard ones.
    /// - Throws: `.invalidArgument` (nothing changes) for no file at all, a snapshot id that is
    ///   not positive or already used, a bad uuid, a timestamp before `last-updated-ms`, an added
    ///   path already in the table or given twice, a removed path the current snapshot does not
    ///   read, or an added file with no rows or a negative partition.
    public func committing(
        adding: [IcebergDataFile], removing: [String] = [], ids: IcebergCommitIds,
        expiringEarlierSnapshots: Bool = false, summary extraSummary: [(String, String)] = []
    ) throws(IcebergError) -> IcebergCommit {
        func bad(_ field: String, _ position: Int, _ message: String) -> IcebergError {
            IcebergError(.invalidArgument, field: field, position: position, message)
        }
        guard !adding.isEmpty || !removing.isEmpty else { throw bad("adding", 0, "a commit adds or removes a file") }
        guard ids.snapshotId > 0, !snapshots.contains(where: { $0.id == ids.snapshotId }) else {
            throw bad("snapshotId", 0, "\(ids.snapshotId) is not positive or names an earlier snapshot")
        }
        try Self.checkUUID(ids.uuid, field: "ids.uuid")
        guard ids.timestampMs >= lastUpdatedMs else {
            throw bad("timestampMs", 0, "\(ids.timestampMs) is before the table's last-updated-ms \(lastUpdatedMs)")
        }
        let live = Set(liveFiles.map(\.path))
        var removed: Set<String> = []
        for (i, path) in removing.enumerated() {
            guard live.contains(path), removed.insert(path).inserted else {
                throw bad("removing", i, "\(path) is not a file of the current snapshot, or is given twice")
            }
        }
        var added: Set<String> = []
        for (i, file) in adding.enumerated() {
            guard !live.contains(file.path), added.insert(file.path).inserted else {
                throw bad("adding", i, "\(file.path) is already in the table, or is given twice")
            }
            guard file.recordCount > 0, file.partition >= 0, file.fileSizeInBytes > 0 else {
                throw bad("adding", i, "\(file.path) has no rows, no bytes or a negative partition")
            }
        }

        let sequence = lastSequenceNumber + 1
        let snapshotId = ids.snapshotId
        let seed = Self.uuidBytes(ids.uuid)
        var files: [IcebergTableFile] = []
        var written: [IcebergManifest] = []
        func writeManifest(_ entries: [IcebergManifestEntry]) throws(IcebergError) -> IcebergManifest {
            let relative = "metadata/\(ids.uuid)-m\(files.count).avro"
            var sync = seed
            sync[15] ^= UInt8(truncatingIfNeeded: files.count + 1)
            let metadata: [(String, [UInt8])] = [
                ("schema", Array(IcebergSchema.tableSchema.compact.utf8)),
                ("schema-id", Array(String(IcebergSchema.schemaId).utf8)),
                ("partition-spec", Array(IcebergSchema.partitionFields.compact.utf8)),
                ("partition-spec-id", Array(String(IcebergSchema.specId).utf8)),
                ("format-version", Array("2".utf8)), ("content", Array("data".utf8)),
            ]
            let bytes = try AvroContainer.encode(
                schema: IcebergSchema.manifestEntry, values: entries.map(\.avro), metadata: metadata, sync: sync)
            files.append(IcebergTableFile(path: relative, bytes: bytes, mode: .putIfAbsent))
            func count(_ s: IcebergManifestEntry.Status) -> (Int32, Int64) {
                let matching = entries.filter { $0.status == s }
                return (Int32(matching.count), matching.reduce(0) { $0 + $1.file.recordCount })
            }
            let liveEntries = entries.filter { $0.status != .deleted }
            let partitions = entries.map { Int64($0.file.partition) }
            let days = entries.map { Int64($0.file.day) }
            func bounds(_ v: [Int64]) -> (lower: [UInt8], upper: [UInt8])? {
                guard let lo = v.min(), let hi = v.max() else { return nil }
                return (IcebergValue.int(Int32(lo)), IcebergValue.int(Int32(hi)))
            }
            return IcebergManifest(
                path: absolute(relative), length: Int64(bytes.count), sequenceNumber: sequence,
                minSequenceNumber: liveEntries.map(\.dataSequenceNumber).min() ?? sequence,
                addedSnapshotId: snapshotId, addedFilesCount: count(.added).0, existingFilesCount: count(.existing).0,
                deletedFilesCount: count(.deleted).0, addedRowsCount: count(.added).1,
                existingRowsCount: count(.existing).1, deletedRowsCount: count(.deleted).1,
                partitionBounds: [bounds(partitions), bounds(days)], liveEntries: liveEntries)
        }
        if !adding.isEmpty {
            written.append(
                try writeManifest(
                    adding.map {
                        IcebergManifestEntry(
                            status: .added, snapshotId: snapshotId, dataSequenceNumber: sequence,
                            fileSequenceNumber: sequence, file: $0)
                    }))
        }
        var carried: [IcebergManifest] = []
        for manifest in manifests {
            guard manifest.liveEntries.contains(where: { removed.contains($0.file.path) }) else {
                // A manifest whose files were all deleted by an earlier snapshot has nothing to say now.
                if !manifest.liveEntries.isEmpty { carried.append(manifest) }
                continue
            }
            written.append(
                try writeManifest(
                    manifest.liveEntries.map { e in
                        var e = e
                        if removed.contains(e.file.path) {
                            e.status = .deleted
                            e.snapshotId = snapshotId
                        } else {
                            e.status = .existing
                        }
                        return e
                    }))
        }
        let newManifests = written + carried

        let listRelative = "metadata/snap-\(snapshotId)-1-\(ids.uuid).avro"
        var listSync = seed
        listSync[0] ^= 0xFF
        let parent = currentSnapshot?.id
        let listBytes = try AvroContainer.encode(
            schema: IcebergSchema.manifestFile, values: newManifests.map(\.avro),
            metadata: [
                ("snapshot-id", Array(String(snapshotId).utf8)),
                ("parent-snapshot-id", Array((parent.map { String($0) } ?? "null").utf8)),
                ("sequence-number", Array(String(sequence).utf8)), ("format-version", Array("2".utf8)),
            ], sync: listSync)
        files.append(IcebergTableFile(path: listRelative, bytes: listBytes, mode: .putIfAbsent))

        let addedFiles = adding
        let removedFiles = liveFiles.filter { removed.contains($0.path) }
        let totalFiles = newManifests.flatMap(\.liveEntries).map(\.file)
        let operation = removing.isEmpty ? "append" : adding.isEmpty ? "delete" : "overwrite"
        var summary = ["operation", operation]
        func add(_ key: String, _ value: Int64) { summary += [key, String(value)] }
        if !addedFiles.isEmpty {
            add("added-data-files", Int64(addedFiles.count))
            add("added-records", addedFiles.reduce(0) { $0 + $1.recordCount })
            add("added-files-size", addedFiles.reduce(0) { $0 + $1.fileSizeInBytes })
        }
        if !removedFiles.isEmpty {
            add("deleted-data-files", Int64(removedFiles.count))
            add("deleted-records", removedFiles.reduce(0) { $0 + $1.recordCount })
            add("removed-files-size", removedFiles.reduce(0) { $0 + $1.fileSizeInBytes })
        }
        add(
            "changed-partition-count", Int64(Set((addedFiles + removedFiles).map { "\($0.partition)/\($0.day)" }).count)
        )
        add("total-data-files", Int64(totalFiles.count))
        add("total-delete-files", 0)
        add("total-records", totalFiles.reduce(0) { $0 + $1.recordCount })
        add("total-files-size", totalFiles.reduce(0) { $0 + $1.fileSizeInBytes })
        add("total-position-deletes", 0)
        add("total-equality-deletes", 0)
        summary += extraSummary.flatMap { [$0.0, $0.1] }
        let snapshot = IcebergSnapshot(
            id: snapshotId, parentId: parent, sequenceNumber: sequence, timestampMs: ids.timestampMs,
            manifestList: absolute(listRelative), summary: summary)

        var next = self
        if version > 0 {
            next.metadataLog.append((lastUpdatedMs, absolute("metadata/v\(version).metadata.json")))
        }
        next.version = version + 1
        next.lastSequenceNumber = sequence
        next.lastUpdatedMs = ids.timestampMs
        next.snapshots.append(snapshot)
        next.manifests = newManifests
        next.snapshotManifests.append(newManifests.map(\.path))
        next.removedButReferenced += removing
        var unreferenced: [String] = []
        if expiringEarlierSnapshots {
            let kept = Set(newManifests.map(\.path))
            var seen: Set<String> = []
            let expiredManifests = snapshotManifests.joined().filter { !kept.contains($0) && seen.insert($0).inserted }
            unreferenced =
                next.removedButReferenced + snapshots.map(\.manifestList) + expiredManifests
                + next.metadataLog.map(\.file)
            next.snapshots = [snapshot]
            next.snapshotManifests = [newManifests.map(\.path)]
            next.removedButReferenced = []
            next.metadataLog = []
        }
        files.append(
            IcebergTableFile(
                path: "metadata/v\(next.version).metadata.json", bytes: Array(next.metadataJSON.pretty.utf8),
                mode: .putIfAbsent))
        files.append(
            IcebergTableFile(
                path: "metadata/version-hint.text", bytes: Array(String(next.version).utf8), mode: .overwrite))
        return IcebergCommit(files: files, table: next, snapshot: snapshot, unreferenced: unreferenced)
    }

    /// The table metadata file's content (Iceberg v2 "Table Metadata").
    public var metadataJSON: JSONValue {
        var members: [(String, JSONValue)] = [
            ("format-version", .int(2)),
            ("table-uuid", .string(uuid)),
            ("location", .string(location)),
            ("last-sequence-number", .int(lastSequenceNumber)),
            ("last-updated-ms", .int(lastUpdatedMs)),
            ("last-column-id", .int(IcebergSchema.lastColumnId)),
            ("current-schema-id", .int(IcebergSchema.schemaId)),
            ("schemas", .array([IcebergSchema.tableSchema])),
            ("default-spec-id", .int(Int64(IcebergSchema.specId))),
            ("partition-specs", .array([IcebergSchema.partitionSpec])),
            ("last-partition-id", .int(Int64(IcebergSchema.PartitionFieldId.timestampDay))),
            ("default-sort-order-id", .int(Int64(IcebergSchema.sortOrderId))),
            ("sort-orders", IcebergSchema.sortOrders),
            ("properties", .object(properties.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
        ]
        if let current = currentSnapshot {
            members.append(("current-snapshot-id", .int(current.id)))
            members.append(
                (
                    "refs",
                    .object([("main", .object([("snapshot-id", .int(current.id)), ("type", .string("branch"))]))])
                ))
        } else {
            members.append(("current-snapshot-id", .int(-1)))
            members.append(("refs", .object([])))
        }
        members += [
            ("snapshots", .array(snapshots.map(\.json))),
            (
                "snapshot-log",
                .array(
                    snapshots.map { .object([("timestamp-ms", .int($0.timestampMs)), ("snapshot-id", .int($0.id))]) })
            ),
            (
                "metadata-log",
                .array(
                    metadataLog.map {
                        .object([("timestamp-ms", .int($0.timestampMs)), ("metadata-file", .string($0.file))])
                    })
            ),
        ]
        return .object(members)
    }
}
