import Dispatch
import Foundation
import StrataBlob
import StrataFormat
import StrataIceberg
import StrataParquet

// `verify` of topic tables (issue 15, formats/table.md "Iceberg table"): the newest metadata of
// `tables/<topic>/` and every file it references, read from the store and checked against the
// committed cold manifests. `scrub` of tables (orphans) is TableVerifyScrub.swift.

/// The files of one topic's table as its newest metadata names them, read from the store.
struct TableFiles: Sendable {
    /// A problem met while reading them: a file missing or not decoding.
    struct Problem: Sendable {
        var key: String
        var position: Int?
        var what: String
        var kind: VerifyProblem.Kind
    }

    var topic: String
    /// `tables/<topic>/` (with the layout prefix).
    var prefix: String
    /// Every object under `prefix`, by key.
    var listed: [String: BlobInfo] = [:]
    /// Key of the newest `metadata/v<N>.metadata.json` and its N; nil when the table has none.
    var metadataKey: String?
    var version = 0
    /// The table as the newest metadata describes it; nil when it could not be read whole.
    var table: IcebergTable?
    /// Keys of every file the newest metadata and the snapshots it retains reference: the
    /// metadata itself and its metadata log, manifest lists, manifests, data files (live or
    /// still read by a retained snapshot). `version-hint.text` is added too: it is the table's.
    var referenced: Set<String> = []
    /// The referenced keys readers of the current or a retained snapshot open: manifest lists,
    /// manifests, data files (not the metadata log's earlier metadata files nor the hint).
    var required: Set<String> = []
    /// Manifest keys with the length the manifest list records for them.
    var manifestLengths: [String: Int64] = [:]
    var problems: [Problem] = []
    /// Whether every reference could be established (the newest metadata and every manifest
    /// list and manifest read and decoded): only then can anything be called an orphan.
    var complete: Bool { table != nil && problems.isEmpty }
}

/// What reading one data file in full found.
struct TableDataFileCheck: Sendable {
    var problems: [(position: Int?, what: String, kind: VerifyProblem.Kind)] = []
    /// Rows decoded (0 when the file did not decode).
    var rows: Int64 = 0
    var firstOffset: Int64?
    var lastOffset: Int64?
    /// Rows whose offset lies in the range asked about (the cold tier's offsets).
    var rowsInRange: Int64 = 0
    var decoded = false
}

extension Lake {
    /// The key of `path` (an absolute path or URI inside the table's `location`), nil for a path
    /// outside it.
    static func tableKey(of path: String, location: String, prefix: String) -> String? {
        let root = location.hasSuffix("/") ? String(location.dropLast()) : location
        guard path.hasPrefix(root + "/") else { return nil }
        return prefix + path.dropFirst(root.utf8.count + 1)
    }

    /// The version of a `metadata/v<N>.metadata.json` key under `prefix`, nil for other keys.
    static func tableMetadataVersion(_ key: String, prefix: String) -> Int? {
        let head = prefix + "metadata/v"
        let tail = ".metadata.json"
        guard key.hasPrefix(head), key.hasSuffix(tail), key.utf8.count > head.utf8.count + tail.utf8.count else {
            return nil
        }
        let digits = key.dropFirst(head.utf8.count).dropLast(tail.utf8.count)
        guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let n = Int(digits), n >= 1 else {
            return nil
        }
        return n
    }

    /// Lists `tables/<topic>/` and reads the newest metadata with every manifest list and manifest
    /// of the snapshots it retains. Missing and undecodable files are problems, not errors.
    /// - Throws: `io` when the store cannot be listed or read (after retries).
    func loadTableFiles(_ topic: String) async throws(StrataError) -> TableFiles {
        let prefix = cold.layout.tablePrefix(topic: topic)
        var files = TableFiles(topic: topic, prefix: prefix)
        let store = cold.store
        let listed = try await cold.blob("list table", key: prefix, topic: topic) {
            try await store.listAll(prefix: prefix)
        }
        for object in listed { files.listed[object.key] = object }
        files.referenced.insert(prefix + "metadata/version-hint.text")
        let versions = listed.compactMap { o in Self.tableMetadataVersion(o.key, prefix: prefix).map { ($0, o.key) } }
        guard let (version, metadataKey) = versions.max(by: { $0.0 < $1.0 }) else { return files }
        files.version = version
        files.metadataKey = metadataKey
        files.referenced.insert(metadataKey)
        func problem(_ key: String, _ position: Int?, _ what: String, _ kind: VerifyProblem.Kind) {
            files.problems.append(TableFiles.Problem(key: key, position: position, what: what, kind: kind))
        }
        guard let metadata = try await tableObject(metadataKey, topic: topic) else {
            problem(metadataKey, nil, "listed, then gone before it could be read", .missingTableFile)
            return files
        }
        guard let json = (try? JSONSerialization.jsonObject(with: Data(metadata))) as? [String: Any],
            let location = json["location"] as? String
        else {
            problem(
                metadataKey, nil, "table metadata v\(version) is not a JSON object with a location", .corruptTableFile)
            return files
        }
        func key(_ path: String, _ what: String, in file: String) -> String? {
            if let key = Self.tableKey(of: path, location: location, prefix: prefix) { return key }
            problem(file, nil, "\(what) \(path) is outside the table's location \(location)", .tableInconsistent)
            return nil
        }
        for entry in json["metadata-log"] as? [[String: Any]] ?? [] {
            if let path = entry["metadata-file"] as? String, let k = key(path, "metadata-log file", in: metadataKey) {
                files.referenced.insert(k)
            }
        }
        var cache: [String: [UInt8]] = [:]
        var manifestPaths: [String] = []
        for snapshot in json["snapshots"] as? [[String: Any]] ?? [] {
            guard let list = snapshot["manifest-list"] as? String, cache[list] == nil,
                let listKey = key(list, "manifest list", in: metadataKey)
            else { continue }
            files.referenced.insert(listKey)
            files.required.insert(listKey)
            guard let bytes = try await tableObject(listKey, topic: topic) else {
                problem(
                    listKey, nil, "manifest list of snapshot \(snapshot["snapshot-id"] ?? "?") is missing",
                    .missingTableFile)
                continue
            }
            cache[list] = bytes
            do throws(IcebergError) {
                for (path, length) in try Self.manifestPaths(inList: bytes) where !manifestPaths.contains(path) {
                    manifestPaths.append(path)
                    if let k = key(path, "manifest", in: listKey) { files.manifestLengths[k] = length }
                }
            } catch {
                problem(listKey, error.position, "manifest list: \(error)", .corruptTableFile)
            }
        }
        for path in manifestPaths {
            guard let k = Self.tableKey(of: path, location: location, prefix: prefix) else { continue }
            files.referenced.insert(k)
            files.required.insert(k)
            guard let bytes = try await tableObject(k, topic: topic) else {
                problem(k, nil, "manifest is missing", .missingTableFile)
                continue
            }
            cache[path] = bytes
        }
        guard files.problems.isEmpty else { return files }
        do throws(IcebergError) {
            let table = try IcebergTable.restoring(metadata: metadata, version: version) { path in cache[path] }
            files.table = table
            for path in table.liveFiles.map(\.path) + table.removedButReferenced {
                if let k = key(path, "data file", in: metadataKey) {
                    files.referenced.insert(k)
                    files.required.insert(k)
                }
            }
        } catch {
            problem(metadataKey, error.position, "table metadata v\(version): \(error)", .corruptTableFile)
        }
        return files
    }

    /// `(manifest_path, manifest_length)` of every entry of a manifest list, by field id.
    static func manifestPaths(inList bytes: [UInt8]) throws(IcebergError) -> [(String, Int64)] {
        let file = try AvroContainer.decode(bytes)
        guard case .record(_, let fields) = file.schema,
            let pathIndex = fields.firstIndex(where: { $0.fieldId == 500 }),
            let lengthIndex = fields.firstIndex(where: { $0.fieldId == 501 })
        else {
            throw IcebergError(
                .invalidValue, field: "manifest_file", position: 0, "schema lacks manifest_path (500) or length (501)")
        }
        var paths: [(String, Int64)] = []
        for (i, value) in file.values.enumerated() {
            guard case .record(let values) = value, values.count == fields.count,
                case .string(let path) = values[pathIndex], case .long(let length) = values[lengthIndex]
            else {
                throw IcebergError(
                    .invalidValue, field: "object \(i).manifest_path", position: 0, "not a path and length")
            }
            paths.append((path, length))
        }
        return paths
    }

    /// The whole object, nil when it does not exist.
    func tableObject(_ key: String, topic: String) async throws(StrataError) -> [UInt8]? {
        let store = cold.store
        do {
            return try await cold.blob("get table file", key: key, topic: topic) {
                try await store.get(key, range: .whole)
            }.bytes
        } catch  where error.code == .notFound {
            return nil
        }
    }

    /// The topics whose tables `verify` checks for the logs it verified: each topic once.
    static func tableTopics(ofLogs names: [String]) -> [String] {
        var topics: [String] = []
        for name in names {
            let topic = (try? LogName.parse(name))?.topic ?? name
            if topics.last != topic && !topics.contains(topic) { topics.append(topic) }
        }
        return topics
    }

    /// Checks `topic`'s table: its newest metadata parses; every manifest list, manifest and data
    /// file it references exists (data files and manifests with their recorded lengths); each data
    /// file's footer parses with the manifest entry's row count and every row decodes (zstd
    /// checksums, levels, values) with the file's partition, ascending offsets inside the entry's
    /// bounds; per partition the files do not overlap, the table's end never passes the committed
    /// cold manifest's end, and its rows inside the cold tier's offsets are exactly the manifest's
    /// records over the range the table covers. A topic with no table metadata has nothing to check.
    func verifyTable(
        topic: String, progress: (@Sendable (VerifyProgress) -> Void)?, base: VerifyReport
    ) async throws(StrataError) -> VerifyReport {
        var report = VerifyReport()
        let files = try await loadTableFiles(topic)
        guard let metadataKey = files.metadataKey else { return report }
        func problem(_ key: String, _ position: Int?, _ what: String, _ kind: VerifyProblem.Kind) {
            report.add(VerifyProblem(topic: topic, location: key, position: position, what: what, kind: kind))
        }
        report.tableFilesChecked += 1 + files.manifestLengths.count
        for p in files.problems { problem(p.key, p.position, p.what, p.kind) }
        for (key, length) in files.manifestLengths.sorted(by: { $0.key < $1.key }) {
            if let listed = files.listed[key], listed.size != length {
                problem(
                    key, nil, "manifest is \(listed.size) bytes, its manifest list records \(length)",
                    .tableInconsistent)
            }
        }
        guard let table = files.table else { return report }
        let location = table.location
        for path in table.removedButReferenced {
            if let key = Self.tableKey(of: path, location: location, prefix: files.prefix), files.listed[key] == nil {
                problem(key, nil, "data file a retained snapshot still reads is missing", .missingTableFile)
            }
        }
        // The cold manifests after the table: a commit in between only moves the manifest ahead.
        let byPartition = Dictionary(grouping: table.liveFiles, by: \.partition)
        var cold: [Int32: (start: Int64, end: Int64)] = [:]
        for partition in byPartition.keys.sorted() {
            let log = LogName(validated: topic, partition: partition).description
            let manifest: Manifest?
            do throws(StrataError) { manifest = try await newestColdManifestForVerify(log) } catch {
                guard error.code != .io else { throw error }
                continue  // an unreadable manifest is the cold tier's problem, reported there
            }
            let end = manifest?.nextOffset ?? 0
            let start = manifest.map { $0.archives.first?.baseOffset ?? $0.segments.first?.baseOffset ?? end } ?? 0
            cold[partition] = (start, end)
        }
        for partition in byPartition.keys.sorted() {
            let range = cold[partition].map { $0.start ..< $0.end }
            var spans: [(first: Int64, last: Int64, key: String)] = []
            var rowsInRange: Int64 = 0
            let ordered = byPartition[partition, default: []].sorted {
                (Self.lowerOffset($0) ?? 0, $0.path) < (Self.lowerOffset($1) ?? 0, $1.path)
            }
            for file in ordered {
                guard let key = Self.tableKey(of: file.path, location: location, prefix: files.prefix) else { continue }
                progress?(VerifyProgress(topic: topic, location: key, report: mergedCounters(base, report)))
                guard let listed = files.listed[key] else {
                    problem(
                        key, nil, "data file of the current snapshot is missing (\(file.recordCount) rows)",
                        .missingTableFile)
                    continue
                }
                if listed.size != file.fileSizeInBytes {
                    problem(
                        key, nil,
                        "data file is \(listed.size) bytes, the manifest entry records \(file.fileSizeInBytes)",
                        .tableInconsistent)
                }
                guard let bytes = try await tableObject(key, topic: topic) else {
                    problem(key, nil, "data file listed, then gone before it could be read", .missingTableFile)
                    continue
                }
                let check = await Self.checkDataFileOffPool(bytes, file: file, range: range ?? 0 ..< 0)
                for p in check.problems { problem(key, p.position, p.what, p.kind) }
                report.tableFilesChecked += 1
                report.tableRowsChecked += check.rows
                report.bytesChecked += Int64(bytes.count)
                guard check.decoded, let first = check.firstOffset, let last = check.lastOffset else { continue }
                rowsInRange += check.rowsInRange
                if let previous = spans.last, first <= previous.last {
                    problem(
                        key, nil,
                        "rows \(first)...\(last) overlap \(previous.key) (\(previous.first)...\(previous.last))",
                        .tableInconsistent)
                }
                spans.append((first, last, key))
            }
            guard let tableStart = spans.map(\.first).min(), let tableEnd = spans.map({ $0.last + 1 }).max() else {
                continue
            }
            guard let (coldStart, coldEnd) = cold[partition] else {
                problem(
                    metadataKey, nil,
                    "partition \(partition) has rows \(tableStart)..<\(tableEnd) in the table and no cold manifest",
                    .tableInconsistent)
                continue
            }
            if tableEnd > coldEnd {
                problem(
                    metadataKey, nil,
                    "partition \(partition): the table ends at offset \(tableEnd), past the committed cold manifest's "
                        + "end \(coldEnd)", .tableInconsistent)
            }
            // Cold segments are dense (a manifest refuses recordCount ≠ the offsets' span), so the
            // manifest's records over the covered range are its length.
            let from = max(tableStart, coldStart)
            let to = min(tableEnd, coldEnd)
            let expected = max(0, to - from)
            if rowsInRange != expected {
                problem(
                    metadataKey, nil,
                    "partition \(partition): the table holds \(rowsInRange) rows for offsets \(from)..<\(to), the "
                        + "committed cold manifest \(expected) records", .tableInconsistent)
            }
        }
        return report
    }

    /// The newest manifest of `log` straight from the store, with no side effect: unlike
    /// `ColdTier.latestManifest` it neither caches it nor rewrites the lake's local copy (verify
    /// changes nothing, and a local copy that differs is a finding of its own).
    func newestColdManifestForVerify(_ log: String) async throws(StrataError) -> Manifest? {
        let prefix = cold.layout.manifestPrefix(topic: log)
        let store = cold.store
        let listed = try await cold.blob("list manifests", key: prefix, topic: log) {
            try await store.listAll(prefix: prefix)
        }
        let versions = listed.compactMap { o in
            (try? cold.layout.parseManifestKey(o.key, topic: log)).map { ($0, o.key) }
        }
        guard let (version, key) = versions.max(by: { $0.0 < $1.0 }),
            let bytes = try await tableObject(key, topic: log)
        else { return nil }
        do throws(FormatError) {
            return try Manifest.decode(bytes, expectedTopic: log, expectedVersion: version)
        } catch {
            throw StrataError(error, topic: log, file: key)
        }
    }

    static func lowerOffset(_ file: IcebergDataFile) -> Int64? {
        file.lowerBounds[RecordTableWriter.FieldId.offset].flatMap(Self.longValue)
    }

    static func longValue(_ bytes: [UInt8]) -> Int64? {
        guard bytes.count == 8 else { return nil }
        return bytes.reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) }
    }

    /// Decoding is CPU work: keep it off the two-thread cooperative pool.
    static func checkDataFileOffPool(
        _ bytes: [UInt8], file: IcebergDataFile, range: Range<Int64>
    ) async -> TableDataFileCheck {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: checkDataFile(bytes, file: file, range: range))
            }
        }
    }

    /// Reads one data file in full against its manifest entry. Pure over the bytes.
    static func checkDataFile(_ bytes: [UInt8], file: IcebergDataFile, range: Range<Int64>) -> TableDataFileCheck {
        var check = TableDataFileCheck()
        let footer: ParquetFileReader
        do { footer = try ParquetFileReader(bytes) } catch {
            check.problems.append((error.position, "Parquet footer: \(error)", .corruptTableFile))
            return check
        }
        if footer.metadata.rowCount != file.recordCount {
            check.problems.append(
                (
                    footer.footerPosition,
                    "footer holds \(footer.metadata.rowCount) rows, the manifest entry records \(file.recordCount)",
                    .tableInconsistent
                ))
        }
        let decoded: (partitions: [Int32], records: [Record])
        do { decoded = try RecordTableReader.records(bytes) } catch {
            check.problems.append((error.position, "rows do not decode: \(error)", .corruptTableFile))
            return check
        }
        check.decoded = true
        check.rows = Int64(decoded.records.count)
        if let wrong = decoded.partitions.firstIndex(where: { $0 != file.partition }) {
            check.problems.append(
                (
                    nil, "row \(wrong) is of partition \(decoded.partitions[wrong]), the file's is \(file.partition)",
                    .tableInconsistent
                ))
        }
        var previous: Int64? = nil
        for (row, record) in decoded.records.enumerated() {
            if let previous, record.offset <= previous {
                check.problems.append(
                    (
                        nil, "row \(row) has offset \(record.offset), not above the previous \(previous)",
                        .corruptTableFile
                    ))
                break
            }
            previous = record.offset
            if range.contains(record.offset) { check.rowsInRange += 1 }
        }
        check.firstOffset = decoded.records.first?.offset
        check.lastOffset = decoded.records.last?.offset
        let id = RecordTableWriter.FieldId.offset
        let low = file.lowerBounds[id].flatMap(longValue)
        let high = file.upperBounds[id].flatMap(longValue)
        if let low, let high, let first = check.firstOffset, let last = check.lastOffset, low != first || high != last {
            check.problems.append(
                (
                    nil, "rows hold offsets \(first)...\(last), the manifest entry's bounds say \(low)...\(high)",
                    .tableInconsistent
                ))
        }
        return check
    }
}
