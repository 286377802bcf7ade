import StrataBlob
import StrataFormat
import StrataIceberg
import StrataParquet
import Synchronization

/// The engine's table writer (issue 15, ARCHITECTURE.md §2g): keeps each topic's Iceberg table
/// (`tables/<topic>/` in the cold store, formats/table.md "Writer rules") in step with the
/// committed cold manifests. It reads records from the cold objects only, never the hot tier,
/// so a snapshot never runs ahead of the manifest.
///
/// Holds no reference to the `Lake`: the background loop reaches it as it reaches the registry,
/// so a dropped lake still releases its lock at once.
final class TableWriter: Sendable {
    let cold: ColdTier
    let paths: LakePaths
    let options: LakeOptions
    /// The cold store's root as readers address it: `s3://bucket/prefix`, or a local directory.
    let root: String
    /// One table pass (sync, rebuild, delete) per topic at a time in this process.
    private let locks = Mutex<[String: AsyncLock]>([:])
    /// The table each topic had after this process last read or committed it. Only a cache: a
    /// commit that finds its version taken reads the table again.
    private let known = Mutex<[String: IcebergTable]>([:])
    /// The background table passes running now, if any (`startBackgroundPass`).
    let backgroundPass = Mutex<(task: Task<Void, Never>, finished: Bool)?>(nil)
    /// The last failure logged per topic, so a pass failing every tick logs once.
    private let lastFailure = Mutex<[String: String]>([:])
    /// What each log's manifest was (committed end, version) when the background last started a
    /// pass over its topic: an idle topic gets no pass, and so no blob request.
    private let passedManifests = Mutex<[String: ManifestMark]>([:])
    /// Logs whose manifest changed while a pass still ran (`startPassForChangedTopics` could
    /// start none): the next pass includes them, as the tick may not visit them again soon. Held
    /// strongly until then, as a running pass holds its logs.
    private let deferredLogs = Mutex<[String: Topic]>([:])
    struct ManifestMark: Equatable {
        var committedOffset: Int64?
        var version: UInt64?
    }

    /// Commits that lost to another writer are tried again this many times, reading the table afresh.
    static let commitAttemptsMax = 4
    /// Snapshots kept before a commit expires the earlier ones (formats/table.md, "Writer rules").
    static let snapshotsRetainedMax = 16
    /// Days a pass writes into at once within one partition (timestamps may step back across
    /// midnight); one more finishes the oldest open file.
    static let openFilesMax = 8
    /// Per-partition table end, a table property: one past the last offset the table holds.
    static func endProperty(_ partition: Int32) -> String { "strata.partition.\(partition).end" }
    static let mismatchesProperty = "strata.value-mismatches"

    init(cold: ColdTier, paths: LakePaths, coldURL: String, options: LakeOptions) {
        self.cold = cold
        self.paths = paths
        self.options = options
        switch try? ColdURL.parse(coldURL) {
        case .file(let path)?: root = path.hasSuffix("/") ? String(path.dropLast()) : path
        case .s3(let bucket, let prefix)?: root = prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)"
        case nil: root = coldURL
        }
    }

    var store: CountingBlobStore { cold.store }
    var layout: BucketLayout { cold.layout }

    /// The URI readers open for `topic`'s table (formats/table.md, "Table layout").
    func location(_ topic: String) -> String { root + "/tables/" + topic }

    /// The store key of a path relative to the table's location.
    func key(_ topic: String, relative: String) -> String { layout.tablePrefix(topic: topic) + relative }

    /// The store key of an absolute path inside `table`, or nil for a path outside its location
    /// (never deleted, never read as ours).
    func key(_ topic: String, absolute: String, in location: String) -> String? {
        let base = location.hasSuffix("/") ? location : location + "/"
        guard absolute.hasPrefix(base) else { return nil }
        return layout.tablePrefix(topic: topic) + absolute.dropFirst(base.count)
    }

    func lock(_ topic: String) -> AsyncLock {
        locks.withLock { all in
            if let lock = all[topic] { return lock }
            let lock = AsyncLock()
            all[topic] = lock
            return lock
        }
    }

    func cached(_ topic: String) -> IcebergTable? { known.withLock { $0[topic] } }
    func remember(_ topic: String, _ table: IcebergTable?) { known.withLock { $0[topic] = table } }

    /// Logs a failed background pass once per distinct failure.
    func logFailure(_ topic: String, _ error: StrataError) {
        let text = "\(error)"
        let changed = lastFailure.withLock { last in
            defer { last[topic] = text }
            return last[topic] != text
        }
        if changed { options.log("table pass topic=\(topic) failed (retried next pass): \(text)") }
    }

    func clearFailure(_ topic: String) { _ = lastFailure.withLock { $0.removeValue(forKey: topic) } }

    /// Whether `topic` gets a table: its config says so, and it is not the group store's log.
    static func wanted(_ topic: String, _ config: TopicConfig) -> Bool {
        config.table && topic != GroupStore.topicName
    }

    /// The value schema of `config`, parsed (nil: raw bytes only).
    /// - Throws: `invalidArgument` naming the topic and what the parser refused.
    static func valueSchema(_ config: TopicConfig, topic: String) throws(StrataError) -> TableValueSchema? {
        guard let json = config.valueSchema else { return nil }
        do throws(ParquetError) { return try TableValueSchema.parse(icebergJSON: json) } catch {
            throw StrataError(.invalidArgument, "value schema of topic '\(topic)': \(error)", topic: topic)
        }
    }

    /// The partition count the lake's catalog holds (1 without the topic), as
    /// `Lake.partitionCount` reads it, for the background loop, which holds no lake.
    func partitionCount(_ topic: String) throws(StrataError) -> Int32 {
        paths.catalog?.partitionCount(topic) ?? 1
    }

    /// The committed manifest of one partition log, nil when the cold tier holds nothing of it.
    /// A partition this lake never used has no directory and no manifest: skipped without a listing.
    func manifest(_ log: String, refresh: Bool = false) async throws(StrataError) -> Manifest? {
        guard FileIO.exists(paths.topicDirectory(log)) else { return nil }
        return try await cold.latestManifest(log, refresh: refresh)
    }

    // MARK: - Blob calls

    /// Reads `key`, nil when it does not exist.
    func getIfPresent(_ key: String, topic: String) async throws(StrataError) -> [UInt8]? {
        do throws(StrataError) {
            return try await cold.blob("get \(key)", key: key, topic: topic) {
                try await cold.getChecked(key, range: .whole)
            }.bytes
        } catch  where error.code == .notFound {
            return nil
        }
    }

    func list(_ prefix: String, topic: String) async throws(StrataError) -> [BlobInfo] {
        try await cold.blob("list \(prefix)", key: prefix, topic: topic) { try await store.listAll(prefix: prefix) }
    }

    /// Deletes `keys`, 1,000 per call.
    func delete(_ keys: [String], topic: String) async throws(StrataError) {
        var start = 0
        while start < keys.count {
            let chunk = Array(keys[start ..< min(keys.count, start + 1000)])
            try await cold.blob("delete table files", key: chunk.first, topic: topic) { try await store.delete(chunk) }
            start += chunk.count
        }
    }

    /// Deletes what a commit left unreferenced; a failure is logged, never thrown (the commit
    /// stands, the files stay as orphans for `scrub`).
    func deleteUnreferenced(_ paths: [String], table: IcebergTable, topic: String) async -> Int {
        var keys: [String] = []
        for path in paths {
            if let key = key(topic, absolute: path, in: table.location) {
                keys.append(key)
            } else {
                options.log("table topic=\(topic): \(path) is outside the table's location; not deleted")
            }
        }
        do throws(StrataError) {
            try await delete(keys, topic: topic)
            return keys.count
        } catch {
            options.log("table topic=\(topic): could not delete \(keys.count) unreferenced files: \(error)")
            return 0
        }
    }
}

/// Which topics a background pass visits (ARCHITECTURE.md §2j).
extension TableWriter {
    /// Starts a background pass over the topics of `visited` (the logs the tick did background
    /// work on) whose manifests changed since the pass last started for them, and over the
    /// topics whose last pass failed (their open logs from `openLogs`, called only then). Nothing
    /// starts while a pass still runs: the visited logs whose manifests changed are kept and
    /// join the next pass, whichever tick starts it.
    func startPassForChangedTopics(_ visited: [Topic], openLogs: () -> [Topic]) -> Task<Void, Never>? {
        guard options.tables else { return nil }
        if let running = backgroundPass.withLock({ $0 }), !running.finished {
            let changed = passedManifests.withLock { passed in
                visited.filter { log in Self.wanted(log.topicName, log.config) && passed[log.name] != Self.mark(log) }
            }
            deferredLogs.withLock { deferred in for log in changed { deferred[log.name] = log } }
            return running.task
        }
        var visited = visited
        let deferred = deferredLogs.withLock { deferred in
            defer { deferred = [:] }
            return deferred
        }
        if !deferred.isEmpty {
            let names = Set(visited.map(\.name))
            visited += deferred.values.filter { !names.contains($0.name) }
        }
        var changed: Set<String> = []
        passedManifests.withLock { passed in
            for log in visited where Self.wanted(log.topicName, log.config) {
                let mark = Self.mark(log)
                if passed[log.name] != mark {
                    passed[log.name] = mark
                    changed.insert(log.topicName)
                }
            }
        }
        let failed = Set(lastFailure.withLock { $0.keys.map { Topic.topicName(ofLog: $0) } })
        var logs = visited.filter { changed.contains($0.topicName) }
        if !failed.isEmpty { logs += openLogs().filter { failed.contains($0.topicName) } }
        guard !logs.isEmpty else { return nil }
        return startBackgroundPass(logs)
    }

    static func mark(_ log: Topic) -> ManifestMark {
        ManifestMark(committedOffset: log.manifestWriter.committedOffset, version: log.manifestWriter.lastCommitted?.version)
    }
}

/// Offsets of a data file from its bounds (formats/table.md: `offset` is field 2, 8 bytes LE).
extension IcebergDataFile {
    var firstOffset: Int64? { Self.long(lowerBounds[RecordTableWriter.FieldId.offset]) }
    var lastOffset: Int64? { Self.long(upperBounds[RecordTableWriter.FieldId.offset]) }

    static func long(_ bytes: [UInt8]?) -> Int64? {
        guard let bytes, bytes.count == 8 else { return nil }
        return bytes.reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) }
    }
}

extension IcebergTable {
    /// One past the last offset the table holds for `partition` (the writer's property, else the
    /// files' upper bounds), nil when it holds nothing of it.
    func end(of partition: Int32) -> Int64? {
        if let text = properties[TableWriter.endProperty(partition)], let end = Int64(text) { return end }
        return liveFiles.filter { $0.partition == partition }.compactMap(\.lastOffset).max().map { $0 + 1 }
    }
}
