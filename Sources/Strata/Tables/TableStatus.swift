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
    /// The current snapshot's data files as readers address them (`s3://…` or a local path),
    /// sorted: what a reader that does not read Iceberg metadata should read. Files replaced by a
    /// later snapshot stay in `data/` while an older snapshot references them, so a glob of
    /// `data/` can read a record twice.
    public var dataFilePaths: [String] = []
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
    /// Partitions whose records from their table end on cannot go into a table (a timestamp
    /// beyond 64-bit microseconds): their table stops there (logged; `table status` shows the
    /// lag) while the other partitions go on.
    public var partitionsRefused: [Int32] = []

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
    /// background offload pass of a topic whose config has `table`, and after `offload`.
    /// - Throws: `notFound` for a missing topic; `readOnly`; `invalidArgument` for a topic whose
    ///   config has `table = false` (or `__consumer_offsets`) or whose value schema does not
    ///   parse; `corrupt` for a damaged table (`rebuildTable` writes it again); blob errors (the
    ///   table then lags and the next pass tries again; the cold tier is never affected).
    public func syncTable(_ topic: String) async throws(StrataError) -> TableSyncReport {
        try refuseIfReadOnly("sync the table of '\(topic)'")
        let (config, partitions) = try tableTopic(topic)
        return try await tables.sync(topic, config: config, partitions: partitions)
    }

    /// The table of `topic` as its newest metadata file and the cold manifests describe it.
    /// Works on a read-only lake (no write of any kind).
    /// - Throws: `notFound` for a missing topic; `corrupt` for a damaged table; blob errors.
    public func tableStatus(_ topic: String) async throws(StrataError) -> TableStatus {
        let config = try describeTableConfig(topic)
        return try await tables.status(topic, config: config, partitions: try partitionCount(topic))
    }

    /// Writes `topic`'s table again from the cold objects alone: one snapshot that replaces
    /// every live data file, after which the files it no longer reads are deleted. A table
    /// whose newest metadata file cannot be read gets a new version after the highest one
    /// (nothing is overwritten; the damaged files stay).
    /// - Throws: as `syncTable`, except for damage.
    public func rebuildTable(_ topic: String) async throws(StrataError) -> TableSyncReport {
        try refuseIfReadOnly("rebuild the table of '\(topic)'")
        let (config, partitions) = try tableTopic(topic)
        return try await tables.rebuild(topic, config: config, partitions: partitions)
    }

    /// The stored config of `topic` (the catalog's).
    private func describeTableConfig(_ topic: String) throws(StrataError) -> TopicConfig {
        try validateTopicName(topic)
        return try storedConfig(topic)
    }

    /// The config and partition count of a topic that gets a table.
    private func tableTopic(_ topic: String) throws(StrataError) -> (TopicConfig, Int32) {
        let config = try describeTableConfig(topic)
        guard TableWriter.wanted(topic, config) else {
            throw StrataError(
                .invalidArgument,
                topic == GroupStore.topicName
                    ? "\(topic) never gets a table"
                    : "topic '\(topic)' has table = false; `strata topics alter-config \(topic) table=true` first",
                topic: topic)
        }
        return (config, try partitionCount(topic))
    }

    /// Table passes after an offload: every topic of `logs` whose config asks for a table. A
    /// failure is logged, never thrown: the table lags and the next pass tries again.
    func syncTables(afterOffloadOf logs: [String]) async {
        guard options.tables else { return }
        var seen: Set<String> = []
        var wanted: [(String, TopicConfig)] = []
        for log in logs {
            let topic = String(log.prefix { $0 != "/" })
            guard seen.insert(topic).inserted, let config = try? describeTableConfig(topic),
                TableWriter.wanted(topic, config)
            else { continue }
            wanted.append((topic, config))
        }
        // Tables are independent (one pass per topic at a time, by TableWriter's own lock).
        _ = await concurrentMap(wanted, atOnce: Self.tableSyncsAtOnce) { (topic, config) in
            do throws(StrataError) {
                _ = try await self.tables.sync(topic, config: config, partitions: try self.partitionCount(topic))
            } catch {
                self.tables.logFailure(topic, error)
            }
        }
    }

    /// Table passes run at once after an on-demand offload of many topics.
    static let tableSyncsAtOnce = 8
}

extension TableWriter {
    /// Starts the background table passes over `open` in a task of their own, unless the
    /// previous ones still run (then this tick's work waits for the next tick: a pass covers
    /// everything committed up to when it reads the manifests). Returns the running task.
    func startBackgroundPass(_ open: [Topic]) -> Task<Void, Never>? {
        guard options.tables else { return nil }
        return backgroundPass.withLock { running in
            if let running, !running.finished { return running.task }
            let task = Task.detached { await self.syncAfterBackgroundPass(open) }
            running = (task, false)
            Task.detached {
                await task.value
                self.backgroundPass.withLock { r in if r?.task == task { r?.finished = true } }
            }
            return task
        }
    }

    /// Cancels the background table pass, if one runs, and waits for it (`Lake.close`).
    func stopBackgroundPass() async {
        let task = backgroundPass.withLock { $0?.task }
        task?.cancel()
        await task?.value
    }

    /// The background loop's table passes: after a tick's offload and retention, each topic of
    /// the open logs that wants a table and has cold data. Failures are logged once each.
    func syncAfterBackgroundPass(_ open: [Topic]) async {
        guard options.tables else { return }
        var seen: Set<String> = []
        for log in open {
            let topic = log.topicName
            guard TableWriter.wanted(topic, log.config), seen.insert(topic).inserted else { continue }
            // A topic nothing was offloaded from yet has no table to write: no blob request.
            guard open.contains(where: { $0.topicName == topic && ($0.manifestWriter.committedOffset ?? 0) > 0 })
            else { continue }
            if Task.isCancelled { return }
            do throws(StrataError) {
                _ = try await sync(topic, config: log.config, partitions: try partitionCount(topic))
            } catch  where error.code == .notFound {
                continue  // deleted meanwhile
            } catch {
                logFailure(topic, error)
            }
        }
    }
}
