import StrataParquet

/// Reading a table back from its files: the metadata JSON, manifest lists and manifests, so a
/// table writer can continue after a restart and `verify` can check what the table names.
extension IcebergTable {
    /// The table state of metadata file `v<version>.metadata.json`, reading the manifest lists
    /// and manifests of its retained snapshots through `read` (absolute path → bytes, nil when
    /// the file is missing).
    /// - Throws: `.invalidValue` naming the field for metadata that is not a v2 table or lacks a
    ///   field, and for a missing manifest list or manifest; `.unsupported` for a schema, partition
    ///   spec or sort order other than formats/table.md's; what the Avro decoder throws.
    public static func restoring(
        metadata bytes: [UInt8], version: Int, read: (String) throws(IcebergError) -> [UInt8]?
    ) throws(IcebergError) -> IcebergTable {
        let json = try JSONValue.parse(bytes, field: "metadata")
        func bad(_ field: String, _ message: String) -> IcebergError {
            IcebergError(.invalidValue, field: field, position: 0, message)
        }
        func int(_ key: String, in object: JSONValue = json) throws(IcebergError) -> Int64 {
            guard let v = object[key]?.intValue else { throw bad(key, "missing or not an integer") }
            return v
        }
        func string(_ key: String, in object: JSONValue = json) throws(IcebergError) -> String {
            guard let v = object[key]?.stringValue else { throw bad(key, "missing or not a string") }
            return v
        }
        guard try int("format-version") == 2 else { throw bad("format-version", "not 2") }
        // The typed columns (formats/table.md, "Typed value columns") come from the schema text
        // the table keeps in a property; the schema must then be exactly theirs.
        var valueSchema: TableValueSchema? = nil
        if let text = json["properties"]?[IcebergSchema.valueSchemaProperty] {
            guard let text = text.stringValue else { throw bad(IcebergSchema.valueSchemaProperty, "not a string") }
            do {
                valueSchema = try TableValueSchema.parse(icebergJSON: text)
            } catch {
                throw bad("properties.\(IcebergSchema.valueSchemaProperty)", error.description)
            }
        }
        guard json["schemas"] == .array([IcebergSchema.tableSchema(valueSchema: valueSchema)]),
            try int("current-schema-id") == 0,
            json["partition-specs"] == .array([IcebergSchema.partitionSpec]), try int("default-spec-id") == 0,
            json["sort-orders"] == IcebergSchema.sortOrders
        else {
            throw IcebergError(.unsupported, field: "schemas", position: 0, "not the topic table schema and spec")
        }
        var table = try IcebergTable(
            uuid: try string("table-uuid"), location: try string("location"), createdMs: try int("last-updated-ms"),
            valueSchema: valueSchema)
        guard case .object(let properties)? = json["properties"] else { throw bad("properties", "missing") }
        for (key, value) in properties where key != IcebergSchema.valueSchemaProperty {
            guard let v = value.stringValue else { throw bad("properties.\(key)", "not a string") }
            table.properties[key] = v
        }
        table.version = version
        table.lastSequenceNumber = try int("last-sequence-number")
        // A later commit adds one to each: refuse what would overflow rather than trap then.
        guard version >= 0, version < Int(Int32.max), (0 ..< Int64.max).contains(table.lastSequenceNumber) else {
            throw bad("last-sequence-number", "version \(version) or \(table.lastSequenceNumber) is out of range")
        }
        for (i, s) in (json["snapshots"]?.arrayValue ?? []).enumerated() {
            guard case .object(let summary)? = s["summary"] else { throw bad("snapshots[\(i)].summary", "missing") }
            table.snapshots.append(
                IcebergSnapshot(
                    id: try int("snapshot-id", in: s), parentId: s["parent-snapshot-id"]?.intValue,
                    sequenceNumber: try int("sequence-number", in: s), timestampMs: try int("timestamp-ms", in: s),
                    manifestList: try string("manifest-list", in: s),
                    summary: summary.flatMap { [$0.0, $0.1.stringValue ?? ""] }))
        }
        let current = json["current-snapshot-id"]?.intValue ?? -1
        guard current == (table.snapshots.last?.id ?? -1) else {
            throw bad("current-snapshot-id", "\(current) is not the last snapshot")
        }
        for (i, entry) in (json["metadata-log"]?.arrayValue ?? []).enumerated() {
            guard let ms = entry["timestamp-ms"]?.intValue, let file = entry["metadata-file"]?.stringValue else {
                throw bad("metadata-log[\(i)]", "lacks timestamp-ms or metadata-file")
            }
            table.metadataLog.append((ms, file))
        }

        var manifestCache: [String: IcebergManifest] = [:]
        func load(_ path: String, field: String) throws(IcebergError) -> [UInt8] {
            guard let bytes = try read(path) else { throw bad(field, "\(path) is missing") }
            return bytes
        }
        var liveBySnapshot: [Set<String>] = []
        for snapshot in table.snapshots {
            let list = try AvroContainer.decode(try load(snapshot.manifestList, field: "manifest-list"))
            var manifests: [IcebergManifest] = []
            for value in list.values {
                var manifest = try IcebergManifest(value, schema: list.schema)
                if let cached = manifestCache[manifest.path] {
                    manifest = cached
                } else {
                    let file = try AvroContainer.decode(try load(manifest.path, field: "manifest_path"))
                    for entry in file.values {
                        let e = try IcebergManifestEntry(entry, schema: file.schema, manifest: manifest)
                        if e.status != .deleted { manifest.liveEntries.append(e) }
                    }
                    manifestCache[manifest.path] = manifest
                }
                manifests.append(manifest)
            }
            table.snapshotManifests.append(manifests.map(\.path))
            liveBySnapshot.append(Set(manifests.flatMap { $0.liveEntries.map(\.file.path) }))
            table.manifests = manifests
        }
        let live = liveBySnapshot.last ?? []
        var seen: Set<String> = []
        for paths in liveBySnapshot.dropLast() {
            for path in paths.sorted() where !live.contains(path) && seen.insert(path).inserted {
                table.removedButReferenced.append(path)
            }
        }
        table.lastUpdatedMs = try int("last-updated-ms")
        return table
    }
}

/// Reads record fields by Iceberg field id, so files whose field order differs still decode.
struct FieldsById {
    let values: [AvroValue]
    let index: [Int32: Int]
    let name: String

    init(_ value: AvroValue, schema: AvroSchema, name: String) throws(IcebergError) {
        guard case .record(let values) = value, case .record(_, let fields) = schema else {
            throw IcebergError(.invalidValue, field: name, position: 0, "not a record")
        }
        self.values = values
        var index: [Int32: Int] = [:]
        for (i, f) in fields.enumerated() { if let id = f.fieldId { index[id] = i } }
        self.index = index
        self.name = name
        self.schema = fields
    }

    let schema: [AvroField]

    func value(_ id: Int32) -> AvroValue? {
        guard let i = index[id] else { return nil }
        if case .union(_, let inner) = values[i] { return inner == .null ? nil : inner }
        return values[i]
    }

    func nested(_ id: Int32) throws(IcebergError) -> FieldsById {
        guard let i = index[id], let v = value(id) else { throw missing(id) }
        var type = schema[i].type
        if case .union(let branches) = type, let record = branches.first(where: { $0 != .null }) { type = record }
        return try FieldsById(v, schema: type, name: "\(name).\(schema[i].name)")
    }

    func missing(_ id: Int32) -> IcebergError {
        IcebergError(.invalidValue, field: name, position: 0, "field id \(id) is missing or null")
    }

    func long(_ id: Int32) throws(IcebergError) -> Int64 {
        switch value(id) {
        case .long(let l)?: return l
        case .int(let i)?: return Int64(i)
        default: throw missing(id)
        }
    }

    func int(_ id: Int32) throws(IcebergError) -> Int32 {
        guard case .int(let i)? = value(id) else { throw missing(id) }
        return i
    }

    func string(_ id: Int32) throws(IcebergError) -> String {
        guard case .string(let s)? = value(id) else { throw missing(id) }
        return s
    }

    /// An Iceberg map<int, V> stored as an array of key/value records.
    func intMap(_ id: Int32) -> [(Int32, AvroValue)] {
        guard case .array(let items)? = value(id) else { return [] }
        return items.compactMap { item in
            guard case .record(let kv) = item, kv.count == 2, case .int(let k) = kv[0] else { return nil }
            return (k, kv[1])
        }
    }
}

extension IcebergManifest {
    init(_ value: AvroValue, schema: AvroSchema) throws(IcebergError) {
        let r = try FieldsById(value, schema: schema, name: "manifest_file")
        var bounds: [(lower: [UInt8], upper: [UInt8])?] = []
        if case .array(let summaries)? = r.value(507) {
            for s in summaries {
                guard case .record(let f) = s, f.count >= 4 else { continue }
                if case .union(1, .bytes(let lo)) = f[2], case .union(1, .bytes(let hi)) = f[3] {
                    bounds.append((lo, hi))
                } else {
                    bounds.append(nil)
                }
            }
        }
        self.init(
            path: try r.string(500), length: try r.long(501), sequenceNumber: try r.long(515),
            minSequenceNumber: try r.long(516), addedSnapshotId: try r.long(503),
            addedFilesCount: try r.int(504), existingFilesCount: try r.int(505), deletedFilesCount: try r.int(506),
            addedRowsCount: try r.long(512), existingRowsCount: try r.long(513), deletedRowsCount: try r.long(514),
            partitionBounds: bounds, liveEntries: [])
    }
}

extension IcebergManifestEntry {
    /// An entry of `manifest`; null sequence numbers and snapshot id inherit the manifest's.
    init(_ value: AvroValue, schema: AvroSchema, manifest: IcebergManifest) throws(IcebergError) {
        let r = try FieldsById(value, schema: schema, name: "manifest_entry")
        guard let status = Status(rawValue: try r.int(0)) else {
            throw IcebergError(.invalidValue, field: "manifest_entry.status", position: 0, "not 0, 1 or 2")
        }
        let d = try r.nested(2)
        let p = try d.nested(102)
        func longs(_ id: Int32) -> [Int32: Int64] {
            var m: [Int32: Int64] = [:]
            for (k, v) in d.intMap(id) { if case .long(let l) = v { m[k] = l } }
            return m
        }
        func bytes(_ id: Int32) -> [Int32: [UInt8]] {
            var m: [Int32: [UInt8]] = [:]
            for (k, v) in d.intMap(id) { if case .bytes(let b) = v { m[k] = b } }
            return m
        }
        var splits: [Int64] = []
        if case .array(let items)? = d.value(132) {
            for case .long(let l) in items { splits.append(l) }
        }
        let file = IcebergDataFile(
            path: try d.string(100), partition: try p.int(IcebergSchema.PartitionFieldId.partition),
            day: try p.int(IcebergSchema.PartitionFieldId.timestampDay), recordCount: try d.long(103),
            fileSizeInBytes: try d.long(104), columnSizes: longs(108), valueCounts: longs(109),
            nullValueCounts: longs(110), lowerBounds: bytes(125), upperBounds: bytes(128), splitOffsets: splits,
            sortOrderId: (try? d.int(140)))
        guard try d.string(101).uppercased() == "PARQUET", (try? d.int(134)) ?? 0 == 0 else {
            throw IcebergError(.unsupported, field: "data_file", position: 0, "\(file.path): not a Parquet data file")
        }
        let inherited = manifest.sequenceNumber
        self.init(
            status: status, snapshotId: (try? r.long(1)) ?? manifest.addedSnapshotId,
            dataSequenceNumber: (try? r.long(3)) ?? inherited, fileSequenceNumber: (try? r.long(4)) ?? inherited,
            file: file)
    }
}
