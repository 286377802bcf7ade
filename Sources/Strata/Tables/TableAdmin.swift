import StrataBlob
import StrataFormat
import StrataIceberg
import StrataParquet

extension TableWriter {
    /// Writes every partition again from the cold objects alone (see `Lake.rebuildTable`).
    func rebuild(_ topic: String, config: TopicConfig, partitions: Int32) async throws(StrataError) -> TableSyncReport {
        let schema = try Self.valueSchema(config, topic: topic)
        return try await lock(topic).withLock { () async throws(StrataError) -> TableSyncReport in
            for _ in 1 ... Self.commitAttemptsMax {
                // Fresh from the store: a rebuild trusts no cache.
                remember(topic, nil)
                let stored = try await load(topic)
                var table: IcebergTable
                if let readable = stored.table, readable.valueSchema == schema {
                    table = readable
                } else if stored.table != nil {
                    // A changed valueSchema: a new table after the highest version, so no file of
                    // the old schema is ever read under the new one (the old files become orphans).
                    options.log("table rebuild topic=\(topic): the value schema changed; starting a new table")
                    let highest = max(stored.version, try await highestMetadataVersion(topic))
                    table = try newTable(topic, afterVersion: highest, schema: schema)
                } else {
                    if let damage = stored.damage {
                        // Never overwritten: the new table starts after the highest version, the
                        // damaged files stay (scrub lists what no metadata references).
                        options.log(
                            "table rebuild topic=\(topic): starting after damaged v\(stored.version): \(damage)")
                    }
                    let highest = max(stored.version, try await highestMetadataVersion(topic))
                    table = try newTable(topic, afterVersion: highest, schema: schema)
                }
                table.properties = table.properties.filter { !$0.key.hasPrefix("strata.") }
                table.properties["strata.topic"] = topic
                var work: [PartitionWork] = []
                for partition in 0 ..< partitions {
                    let log = LogName(validated: topic, partition: partition).description
                    guard let manifest = try await manifest(log, refresh: true) else { continue }
                    let start = manifest.logStartOffset
                    work.append(
                        PartitionWork(
                            partition: partition, log: log, manifest: manifest,
                            newRange: start ..< max(start, manifest.nextOffset), expired: [], straddling: []))
                }
                do {
                    return try await pass(topic, table: table, work: work, schema: schema, rebuild: true)
                } catch is TableCommitLost {
                    continue
                } catch let error as StrataError {
                    throw error
                } catch {
                    throw StrataError(.io, "table rebuild failed: \(error)", topic: topic)
                }
            }
            throw StrataError(
                .busy, "another writer committed to the table \(Self.commitAttemptsMax) times in a row", topic: topic)
        }
    }

    /// The table of `topic` against its manifests (see `Lake.tableStatus`). Reads only.
    func status(_ topic: String, config: TopicConfig, partitions: Int32) async throws(StrataError) -> TableStatus {
        let stored = try await load(topic)
        if let damage = stored.damage { throw damage }
        let table = stored.table
        let live = table?.liveFiles ?? []
        var status = TableStatus(
            topic: topic, enabled: Self.wanted(topic, config), location: table?.location ?? location(topic),
            metadataVersion: stored.version, snapshots: table?.snapshots.count ?? 0,
            currentSnapshotId: table?.currentSnapshot?.id, dataFiles: live.count,
            dataBytes: live.reduce(0) { $0 + $1.fileSizeInBytes }, rows: live.reduce(0) { $0 + $1.recordCount },
            valueMismatches: Int64(table?.properties[Self.mismatchesProperty] ?? "") ?? 0, partitions: [])
        status.dataFilePaths = live.map(\.path).sorted()
        for partition in 0 ..< partitions {
            let log = LogName(validated: topic, partition: partition).description
            let manifest = try await manifest(log, refresh: true)
            let start = manifest?.logStartOffset ?? 0
            let manifestEnd = manifest?.nextOffset ?? 0
            let files = live.filter { $0.partition == partition }
            let tableEnd = max(table?.end(of: partition) ?? start, start)
            var lagSegments = 0
            if let manifest, tableEnd < manifestEnd {
                lagSegments = try await segments(of: manifest, log: log, overlapping: tableEnd ..< manifestEnd).count
            }
            status.partitions.append(
                TablePartitionStatus(
                    partition: partition, logStartOffset: start, manifestEnd: manifestEnd, tableEnd: tableEnd,
                    lagSegments: lagSegments, dataFiles: files.count,
                    dataBytes: files.reduce(0) { $0 + $1.fileSizeInBytes },
                    rows: files.reduce(0) { $0 + $1.recordCount }))
        }
        return status
    }

    /// Deletes `topic`'s table (a topic delete, after its cold data): the version hint, then the
    /// metadata files newest first, then everything else, so a reader never finds metadata
    /// naming a deleted file. Returns how many objects were deleted.
    func deleteTable(_ topic: String) async throws(StrataError) -> Int {
        try await lock(topic).withLock { () async throws(StrataError) -> Int in
            remember(topic, nil)
            clearFailure(topic)
            let prefix = layout.tablePrefix(topic: topic)
            let listed = try await list(prefix, topic: topic).map(\.key)
            let hint = key(topic, relative: "metadata/version-hint.text")
            let metadataPrefix = key(topic, relative: "metadata/v")
            func version(_ key: String) -> Int? {
                guard key.hasPrefix(metadataPrefix), key.hasSuffix(".metadata.json") else { return nil }
                return Int(key.dropFirst(metadataPrefix.count).dropLast(".metadata.json".count))
            }
            let metadata = listed.compactMap { k in version(k).map { (k, $0) } }.sorted { $0.1 > $1.1 }.map(\.0)
            let rest = listed.filter { $0 != hint && version($0) == nil }
            if listed.contains(hint) { try await delete([hint], topic: topic) }
            for key in metadata { try await delete([key], topic: topic) }
            try await delete(rest, topic: topic)
            return listed.count
        }
    }
}
