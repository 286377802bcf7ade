import StrataBlob
import StrataFormat
import StrataIceberg
import StrataParquet

/// What one pass does to one partition.
struct PartitionWork {
    var partition: Int32
    var log: String
    var manifest: Manifest
    /// New records to write: `[max(table end, log start), manifest end)`.
    var newRange: Range<Int64>
    /// Live files wholly below the log start (total retention, delete-records).
    var expired: [IcebergDataFile]
    /// Live files holding offsets on both sides of the log start: rewritten from the cold records ≥ it.
    var straddling: [IcebergDataFile]
    /// Small files whose records `newRange` covers again, so they are rewritten with the new
    /// records into fewer files (`TableWriter.smallFiles`).
    var merged: [IcebergDataFile] = []

    var isEmpty: Bool { newRange.isEmpty && expired.isEmpty && straddling.isEmpty }
}

/// A commit whose metadata version another writer took first.
struct TableCommitLost: Error {}

extension TableWriter {
    /// Brings `topic`'s table up to its committed manifests (see `Lake.syncTable`). One commit
    /// per pass; a pass that finds nothing to do makes no blob request once the table is known.
    func sync(_ topic: String, config: TopicConfig, partitions: Int32) async throws(StrataError) -> TableSyncReport {
        let schema = try Self.valueSchema(config, topic: topic)
        return try await lock(topic).withLock { () async throws(StrataError) -> TableSyncReport in
            guard paths.catalog?.exists(topic) == true else {
                throw StrataError(.notFound, "topic '\(topic)' does not exist", topic: topic)
            }
            for _ in 1 ... Self.commitAttemptsMax {
                let stored = try await current(topic)
                if let damage = stored.damage { throw damage }
                let table: IcebergTable
                if let known = stored.table {
                    // Files of one table share its schema: a changed valueSchema needs a rebuild,
                    // which starts a new table (nothing written so far is rewritten in place).
                    guard known.valueSchema == schema else {
                        throw StrataError(
                            .invalidArgument,
                            "the topic's valueSchema differs from the one its table was written with; "
                                + "run `strata table rebuild` to write the table with the new schema "
                                + "(the table keeps its old schema until then)", topic: topic)
                    }
                    table = known
                } else {
                    table = try newTable(topic, afterVersion: stored.version, schema: schema)
                    // Known until a commit finds its version taken: an idle topic polls nothing.
                    remember(topic, table)
                }
                let work = try await plan(topic, table: table, partitions: partitions)
                guard work.contains(where: { !$0.isEmpty }) else { return TableSyncReport() }
                do {
                    let report = try await pass(topic, table: table, work: work, schema: schema, rebuild: false)
                    clearFailure(topic)
                    return report
                } catch is TableCommitLost {
                    remember(topic, nil)  // another writer committed: read its table and go again
                } catch let error as StrataError {
                    throw error
                } catch {
                    throw StrataError(.io, "table pass failed: \(error)", topic: topic)
                }
            }
            throw StrataError(
                .busy,
                "another writer committed to the table \(Self.commitAttemptsMax) times in a row; "
                    + "the next pass tries again", topic: topic)
        }
    }

    func newTable(_ topic: String, afterVersion: Int, schema: TableValueSchema?) throws(StrataError) -> IcebergTable {
        do throws(IcebergError) {
            return try IcebergTable(
                uuid: TableIds.uuid(), location: location(topic), createdMs: options.clock.nowMs(),
                afterVersion: afterVersion, properties: ["strata.topic": topic], valueSchema: schema)
        } catch {
            throw StrataError(.invalidArgument, "cannot start the table: \(error)", topic: topic)
        }
    }

    /// Per partition: the records the table lacks and the files retention expired.
    func plan(_ topic: String, table: IcebergTable, partitions: Int32) async throws(StrataError) -> [PartitionWork] {
        var work: [PartitionWork] = []
        let live = table.liveFiles
        for partition in 0 ..< partitions {
            let log = LogName(validated: topic, partition: partition).description
            guard var manifest = try await manifest(log) else { continue }
            var end = table.end(of: partition)
            if let e = end, e > manifest.nextOffset {
                // Another lake may have committed newer manifests than this one has seen.
                if let fresh = try await self.manifest(log, refresh: true) { manifest = fresh }
                guard e <= manifest.nextOffset else {
                    throw StrataError(
                        .corrupt,
                        "the table holds partition \(partition) up to offset \(e), the cold manifest "
                            + "ends at \(manifest.nextOffset); `strata table rebuild \(topic)` writes it again",
                        topic: topic)
                }
            }
            let start = manifest.logStartOffset
            end = max(end ?? start, start)
            let files = live.filter { $0.partition == partition }
            let expired = files.filter { ($0.lastOffset ?? Int64.max) < start }
            let straddling = files.filter {
                ($0.firstOffset ?? Int64.max) < start && ($0.lastOffset ?? Int64.min) >= start
            }
            var item = PartitionWork(
                partition: partition, log: log, manifest: manifest,
                newRange: (end ?? start) ..< max(end ?? start, manifest.nextOffset), expired: expired,
                straddling: straddling)
            if expired.isEmpty, straddling.isEmpty, !item.newRange.isEmpty,
                let (from, small) = Self.smallFiles(files, target: options.tableFileBytesTarget)
            {
                item.newRange = from ..< item.newRange.upperBound
                item.merged = small
            }
            work.append(item)
        }
        return work
    }

    /// The newest files of a partition that together stay below a quarter of the file target,
    /// with the offset from which they hold every record of the table: a pass that adds records
    /// rewrites them with the new ones, so a slow topic does not collect one tiny file per day
    /// and pass. Nil when there is no such file.
    ///
    /// No file may hold offsets on both sides of that offset (files of different days
    /// interleave), so every record from it on is in exactly the files returned.
    static func smallFiles(_ files: [IcebergDataFile], target: Int) -> (Int64, [IcebergDataFile])? {
        let budget = Int64(target / 4)
        var kept: [IcebergDataFile] = []
        var bytes: Int64 = 0
        for file in files.sorted(by: { ($0.lastOffset ?? .max) > ($1.lastOffset ?? .max) }) {
            guard file.firstOffset != nil, file.lastOffset != nil, bytes + file.fileSizeInBytes <= budget else { break }
            kept.append(file)
            bytes += file.fileSizeInBytes
        }
        // Each round either proves the cut or drops the files starting at or below another's end.
        while let cut = kept.compactMap(\.firstOffset).min() {
            let keptPaths = Set(kept.map(\.path))
            let othersEnd = files.filter { !keptPaths.contains($0.path) }.map { $0.lastOffset ?? .max }.max() ?? -1
            if othersEnd < cut { return (cut, kept) }
            kept.removeAll { ($0.firstOffset ?? .min) <= othersEnd }
        }
        return nil
    }

    /// What a pass put so far: if its commit certainly did not land, nobody references these.
    struct PassWrites {
        var dataFiles: [BuiltDataFile] = []
        var commitKeys: [String] = []
        var metadataTried = false
        var lost = false
        /// The commit landed but its version hint was not written: the hint still names the
        /// previous metadata file, so nothing the commit unreferences may be deleted yet.
        var hintFailed = false
    }

    /// Writes the data files of `work` and commits them as one snapshot.
    /// - Parameter rebuild: every live file is replaced (the work's ranges start at the log start).
    /// - Throws: `TableCommitLost` when another writer took the metadata version; `StrataError`.
    func pass(
        _ topic: String, table: IcebergTable, work: [PartitionWork], schema: TableValueSchema?, rebuild: Bool
    ) async throws -> TableSyncReport {
        var writes = PassWrites()
        do {
            return try await pass(topic, table: table, work: work, schema: schema, rebuild: rebuild, writes: &writes)
        } catch {
            // Before the metadata put, or once it lost, the files put are orphans: delete them.
            // After an unclear metadata put they may be referenced, so they stay.
            if !writes.metadataTried || writes.lost {
                let keys = writes.dataFiles.map { key(topic, relative: $0.relativePath) } + writes.commitKeys
                do throws(StrataError) { try await delete(keys, topic: topic) } catch {
                    options.log("table topic=\(topic): \(keys.count) files of a failed pass stay as orphans: \(error)")
                }
            }
            throw error
        }
    }

    private func pass(
        _ topic: String, table: IcebergTable, work: [PartitionWork], schema: TableValueSchema?, rebuild: Bool,
        writes: inout PassWrites
    ) async throws -> TableSyncReport {
        var report = TableSyncReport()
        var removing: [String] = rebuild ? table.liveFiles.map(\.path) : []
        var properties = table.properties
        var mismatches: Int64 = 0
        for w in work {
            let fileMark = writes.dataFiles.count
            let removingMark = removing.count
            let readBefore = report.rawBytesRead
            let mismatchesBefore = mismatches
            do throws(StrataError) {
                let builder = TableFileBuilder(
                    topic: topic, partition: w.partition, location: table.location,
                    fileBytesTarget: options.tableFileBytesTarget, valueSchema: schema)
                if !rebuild {
                    removing += (w.expired + w.straddling + w.merged).map(\.path)
                    for file in w.straddling {
                        // Rewritten from the cold records ≥ the log start of its day (invariant 14).
                        let rewrite = TableFileBuilder(
                            topic: topic, partition: w.partition, location: table.location,
                            fileBytesTarget: options.tableFileBytesTarget, valueSchema: schema, onlyDay: file.day)
                        let upper = min((file.lastOffset ?? w.manifest.logStartOffset) + 1, w.manifest.nextOffset)
                        report.rawBytesRead += try await write(
                            w.log, manifest: w.manifest, range: w.manifest.logStartOffset ..< upper, into: rewrite,
                            uploaded: &writes.dataFiles)
                        try await finish(rewrite, uploaded: &writes.dataFiles)
                        mismatches += rewrite.valueMismatches
                    }
                }
                report.rawBytesRead += try await write(
                    w.log, manifest: w.manifest, range: w.newRange, into: builder, uploaded: &writes.dataFiles)
                try await finish(builder, uploaded: &writes.dataFiles)
                mismatches += builder.valueMismatches
                let known = Int64(properties[Self.endProperty(w.partition)] ?? "") ?? 0
                properties[Self.endProperty(w.partition)] = String(
                    rebuild ? w.newRange.upperBound : max(w.newRange.upperBound, known))
            } catch {
                guard error.code == .invalidArgument, !rebuild else { throw error }
                // A record of this partition cannot go into a table (a timestamp beyond 64-bit
                // microseconds): this partition's table stops before it, the others go on. Its
                // files of this pass are deleted, its end and live files stay as they were.
                let orphans = writes.dataFiles[fileMark...].map { key(topic, relative: $0.relativePath) }
                writes.dataFiles.removeSubrange(fileMark...)
                removing.removeSubrange(removingMark...)
                report.rawBytesRead = readBefore
                mismatches = mismatchesBefore
                do throws(StrataError) { try await delete(orphans, topic: topic) } catch {
                    options.log("table topic=\(topic): \(orphans.count) files of a refused partition stay as orphans")
                }
                report.partitionsRefused.append(w.partition)
                logFailure("\(topic)/\(w.partition)", error)
            }
        }
        let added = writes.dataFiles
        guard !added.isEmpty || !removing.isEmpty else { return report }
        let total = (rebuild ? 0 : Int64(properties[Self.mismatchesProperty] ?? "") ?? 0) + mismatches
        properties[Self.mismatchesProperty] = String(total)
        var next = table
        next.properties = properties
        // Retention and rebuilds expire at once (the table must stop reading expired offsets);
        // a small-file merge does not, so a reader's planned files stay until the snapshot bound.
        let retention = work.contains { !$0.expired.isEmpty || !$0.straddling.isEmpty }
        let expire = (!removing.isEmpty && (rebuild || retention)) || table.snapshots.count >= Self.snapshotsRetainedMax
        let commit: IcebergCommit
        do throws(IcebergError) {
            commit = try next.committing(
                adding: added.map(\.file), removing: removing,
                ids: IcebergCommitIds(
                    snapshotId: TableIds.snapshotId(avoiding: table), uuid: TableIds.uuid(),
                    timestampMs: max(options.clock.nowMs(), table.lastUpdatedMs)),
                expiringEarlierSnapshots: expire, summary: [(Self.mismatchesProperty, String(mismatches))])
        } catch {
            throw StrataError(.invalidArgument, "table commit refused: \(error)", topic: topic)
        }
        try await write(commit, topic: topic, writes: &writes)
        remember(topic, commit.table)
        report.snapshotsCommitted = 1
        report.filesAdded = added.count
        report.filesRemoved = removing.count
        report.rowsAdded = added.reduce(0) { $0 + $1.file.recordCount }
        report.bytesAdded = added.reduce(0) { $0 + $1.byteCount }
        report.valueMismatches = mismatches
        if !commit.unreferenced.isEmpty {
            if writes.hintFailed {
                options.log(
                    "table topic=\(topic): \(commit.unreferenced.count) unreferenced files kept: the version hint "
                        + "still names an earlier metadata file (scrub removes them later)")
            } else {
                _ = await deleteUnreferenced(commit.unreferenced, table: commit.table, topic: topic)
            }
        }
        return report
    }

    /// Writes a commit's files in order (formats/table.md, "A commit"): put-if-absent for all
    /// but the version hint; the metadata file is the commit point.
    /// - Throws: `TableCommitLost` when the metadata file exists with other bytes; `StrataError`
    ///   for anything else (the commit may or may not have landed: nothing is deleted).
    func write(_ commit: IcebergCommit, topic: String, writes: inout PassWrites) async throws {
        let metadataPath = "metadata/v\(commit.table.version).metadata.json"
        for file in commit.files {
            let key = key(topic, relative: file.path)
            switch file.mode {
            case .putIfAbsent:
                let isMetadata = file.path == metadataPath
                if isMetadata { writes.metadataTried = true } else { writes.commitKeys.append(key) }
                if let failure = await putImmutable(key, file.bytes, topic: topic) {
                    guard failure.code == .fenced, isMetadata else { throw failure }
                    writes.lost = true
                    throw TableCommitLost()
                }
            case .overwrite:
                if let failure = await putHint(key, file.bytes, topic: topic) {
                    // Only a hint: readers probe past it. The commit stands.
                    writes.hintFailed = true
                    options.log("table topic=\(topic): version hint not written: \(failure)")
                }
            }
        }
    }

    private func putImmutable(_ key: String, _ bytes: [UInt8], topic: String) async -> StrataError? {
        do throws(StrataError) {
            try await cold.putImmutable(key, bytes, topic: topic, what: "commit table file")
            return nil
        } catch {
            return error
        }
    }

    private func putHint(_ key: String, _ bytes: [UInt8], topic: String) async -> StrataError? {
        do throws(StrataError) {
            try await cold.blob("put version hint", key: key, topic: topic) {
                try await store.put(key, bytes, mode: .overwrite)
            }
            return nil
        } catch {
            return error
        }
    }
}
