import Foundation
import Glibc
import StrataFormat
import Synchronization

/// The lake-level topic catalog (ARCHITECTURE.md §2i, formats/catalog.md): one append-only file
/// `catalog/<seq>.log` of CRC32C-framed records holding every topic's config, partition count,
/// per-log offsets and deletes in progress, and in memory the state they add up to.
///
/// Writes are `pwrite`s at the file's end under one lock. `durable` writes (admin calls) are
/// fdatasync'ed before they return; the others (create on first use) become durable through
/// `syncIfDirty`, the lake's metadata barrier, which runs before any record of the lake is
/// fdatasync'ed. Concurrent syncs share one fdatasync.
final class Catalog: Sendable {
    let paths: LakePaths
    let readOnly: Bool
    let log: @Sendable (String) -> Void
    /// Compaction runs when the file is larger than this and than `compactionRatio` × the live state.
    let compactionBytesMin: Int
    static let compactionRatio = 2

    struct Inner: Sendable {
        var state = CatalogState()
        /// The file written to (-1 for a reader, or after close).
        var fd: Int32 = -1
        var sequence: UInt64 = 0
        /// Bytes of the file: where the next record goes (a reader: where it stopped reading).
        var fileBytes = 0
        /// A write or sync failed: the file may hold a partial record; nothing more is written.
        var failure: StrataError?
        /// Topic directories made since the last sync (their entries are made durable with it).
        var directoriesPending = false
        /// A reader of a lake not yet migrated: the state comes from the old per-topic files.
        var legacy = false
        var closed = false
        /// After a failed compaction, the file size from which the next one is tried.
        var compactionRetryBytes = 0
        /// While a compaction writes its snapshot: the bytes of the records appended since
        /// its state was taken (they go to the current file as well).
        var compactionTail: [UInt8]?
    }

    let inner: Mutex<Inner>
    /// Held across a sync or a compaction, taken before `inner`.
    private let syncing = Mutex<Void>(())
    /// Writes made, and writes known durable: the barrier compares them and returns at once
    /// when they are equal.
    private let writesMade = Atomic<UInt64>(0)
    private let writesSynced = Atomic<UInt64>(0)
    /// fdatasync calls of the catalog file since it opened (tests check the barrier with it).
    let syncCount = Atomic<Int>(0)
    /// Tests: runs after a compaction wrote its snapshot, before it takes the locks again.
    let snapshotWritten = Mutex<(@Sendable () -> Void)?>(nil)

    /// Where its fsyncs are counted (`catalog`, and `directory` for the topics directory).
    let metrics: EngineMetrics
    /// The config last encoded and its JSON: creates on first use all pass the lake's default
    /// config, whose encoding (Foundation's JSONEncoder, tens of microseconds) would otherwise
    /// be paid once per topic.
    private let lastEncoded = Mutex<(config: TopicConfig, json: [UInt8])?>(nil)

    init(
        paths: LakePaths, readOnly: Bool, log: @escaping @Sendable (String) -> Void, compactionBytesMin: Int,
        metrics: EngineMetrics = .global
    ) {
        self.paths = paths
        self.metrics = metrics
        self.readOnly = readOnly
        self.log = log
        self.compactionBytesMin = compactionBytesMin
        self.inner = Mutex(Inner())
    }

    static let defaultCompactionBytesMin = 4 * 1024 * 1024

    // MARK: - Reading

    /// True while topic `name` exists (not being deleted). A reader re-reads first (one stat
    /// when nothing changed; the old files again when it does not know the topic): a writer may
    /// have created, deleted or recreated it since.
    func exists(_ name: String) -> Bool {
        if !readOnly { return inner.withLock { $0.state.exists(name) } }
        refreshQuietly()
        if inner.withLock({ $0.state.exists(name) }) { return true }
        refreshQuietly(unknown: true)
        return inner.withLock { $0.state.exists(name) }
    }

    /// A reader of a lake not yet migrated: why topic `name`'s old files could not be read.
    func loadError(_ name: String) -> StrataError? {
        guard readOnly else { return nil }
        return inner.withLock { $0.state.loadErrors[name] }
    }

    /// True while a delete of topic `name` is in progress.
    func isDeleting(_ name: String) -> Bool {
        if readOnly { refreshQuietly() }
        return inner.withLock { $0.state.topics[name]?.deleting ?? false }
    }

    /// Topic `name`'s entry (also while it is being deleted), nil when the catalog has none.
    func entry(_ name: String) -> CatalogTopic? {
        if readOnly { refreshQuietly() }
        if let known = inner.withLock({ $0.state.topics[name] }) { return known }
        guard readOnly else { return nil }
        refreshQuietly(unknown: true)
        return inner.withLock { $0.state.topics[name] }
    }

    /// The config of topic `name`, nil without the topic.
    func config(_ name: String) -> TopicConfig? {
        if readOnly { refreshQuietly() }  // a known topic too: it may have been recreated
        if let known = inner.withLock({ $0.state.config(of: name) }) { return known }
        guard readOnly else { return nil }
        refreshQuietly(unknown: true)
        return inner.withLock { $0.state.config(of: name) }
    }

    /// The partition count of topic `name` (a reader re-reads first: the writer may have grown it).
    func partitionCount(_ name: String) -> Int32? {
        if readOnly { refreshQuietly() }
        return inner.withLock { s in s.state.topics[name].flatMap { $0.deleting ? nil : $0.partitions } }
    }

    /// Names of the existing topics, sorted.
    func topicNames() -> [String] {
        if readOnly { refreshQuietly() }
        return inner.withLock { s in s.state.topics.compactMap { $0.value.deleting ? nil : $0.key } }.sorted()
    }

    /// Every existing topic with its partition count, sorted by name (one read of the state).
    func topicPartitionCounts() -> [(String, Int32)] {
        if readOnly { refreshQuietly() }
        return inner.withLock { s in
            s.state.topics.compactMap { $0.value.deleting ? nil : ($0.key, $0.value.partitions) }
        }.sorted { $0.0 < $1.0 }
    }

    /// Names of the topics being deleted, sorted.
    func deletingNames() -> [String] {
        inner.withLock { s in s.state.topics.compactMap { $0.value.deleting ? $0.key : nil } }.sorted()
    }

    /// The log start delete-records set for log `log` (`LogName` text), nil when none was.
    func logStart(_ log: String) -> Int64? {
        if readOnly { refreshQuietly() }
        return inner.withLock { $0.state.logStarts[log] }
    }

    /// Where log `log` starts when it has no segment (set by `recover`; 0 otherwise).
    func startOffset(_ log: String) -> Int64 { inner.withLock { $0.state.startOffsets[log] } ?? 0 }

    /// A copy of the whole state (for `inspect catalog` and `verify`).
    func snapshotState() -> (state: CatalogState, sequence: UInt64, fileBytes: Int, legacy: Bool) {
        if readOnly { refreshQuietly() }
        return inner.withLock { ($0.state, $0.sequence, $0.fileBytes, $0.legacy) }
    }

    private func refreshQuietly(unknown: Bool = false) {
        do throws(StrataError) { try refresh(unknown: unknown) } catch {
            log("catalog: re-reading \(paths.catalogDirectory) failed, the last state read stays: \(error)")
        }
    }

    // MARK: - Writing

    /// Creates topic `name` unless it exists.
    /// - Returns: false when the topic already existed (nothing written).
    /// - Throws: `invalidArgument` while a delete of it is in progress; `io`, and the failure of
    ///   an earlier write.
    func create(_ name: String, config: TopicConfig, partitions: Int32, durable: Bool, madeDirectory: Bool)
        throws(StrataError) -> Bool
    {
        let json = try encoded(config)
        let created = try write(durable: durable) { (s) throws(StrataError) -> [CatalogRecord] in
            if let existing = s.state.topics[name] {
                guard !existing.deleting else { throw Self.deleting(name, paths) }
                return []
            }
            let (id, define) = s.state.intern(json)
            if madeDirectory { s.directoriesPending = true }
            return (define.map { [$0] } ?? []) + [.topicCreated(name: name, configID: id, partitions: partitions)]
        }
        return created
    }

    /// `config`'s JSON, as stored in a config record.
    private func encoded(_ config: TopicConfig) throws(StrataError) -> [UInt8] {
        if let last = lastEncoded.withLock({ $0 }), last.config == config { return last.json }
        let json = try encodeJSON(config)
        lastEncoded.withLock { $0 = (config, json) }
        return json
    }

    /// Replaces topic `name`'s config, durably.
    func setConfig(_ name: String, _ config: TopicConfig) throws(StrataError) {
        let json = try encoded(config)
        _ = try write(durable: true) { (s) throws(StrataError) -> [CatalogRecord] in
            guard s.state.exists(name) else { throw Self.unknown(name, paths) }
            let (id, define) = s.state.intern(json)
            return (define.map { [$0] } ?? []) + [.configChanged(name: name, configID: id)]
        }
    }

    /// Grows topic `name` to `count` partitions, durably (the caller checked the count).
    func setPartitions(_ name: String, _ count: Int32) throws(StrataError) {
        _ = try write(durable: true) { (s) throws(StrataError) -> [CatalogRecord] in
            guard s.state.exists(name) else { throw Self.unknown(name, paths) }
            return [.partitionsGrown(name: name, partitions: count)]
        }
    }

    /// Moves log `log`'s start to `offset` (delete-records), durably.
    func setLogStart(_ log: LogName, _ offset: Int64) throws(StrataError) {
        _ = try write(durable: true) { (_) throws(StrataError) -> [CatalogRecord] in
            [.logStartMoved(name: log.topic, partition: log.partition, offset: offset)]
        }
    }

    /// Sets where log `log` starts (recover), durably.
    func setStartOffset(_ log: LogName, _ offset: Int64) throws(StrataError) {
        _ = try write(durable: true) { (_) throws(StrataError) -> [CatalogRecord] in
            [.startOffsetSet(name: log.topic, partition: log.partition, offset: offset)]
        }
    }

    /// Marks topic `name` deleted for every reader, durably; nothing when already marked.
    func beginDelete(_ name: String) throws(StrataError) {
        _ = try write(durable: true) { (s) throws(StrataError) -> [CatalogRecord] in
            guard let topic = s.state.topics[name], !topic.deleting else { return [] }
            return [.deleteBegun(name: name)]
        }
    }

    /// Forgets topic `name` once its files are gone, durably; nothing when it is not being deleted.
    func finishDelete(_ name: String) throws(StrataError) {
        _ = try write(durable: true) { (s) throws(StrataError) -> [CatalogRecord] in
            guard let topic = s.state.topics[name], topic.deleting else { return [] }
            return [.deleteFinished(name: name)]
        }
    }

    static func deleting(_ name: String, _ paths: LakePaths) -> StrataError {
        StrataError(
            .invalidArgument, "topic '\(name)' is being deleted; `strata topics delete \(name)` finishes it",
            topic: name, file: paths.catalogDirectory)
    }

    static func unknown(_ name: String, _ paths: LakePaths) -> StrataError {
        StrataError(.notFound, "topic '\(name)' does not exist in \(paths.root)", topic: name)
    }

    /// Appends the records `plan` returns (computed from the state under the lock), applies them,
    /// and when `durable`, fdatasyncs before returning.
    /// - Returns: whether anything was written.
    private func write(
        durable: Bool, _ plan: (inout Inner) throws(StrataError) -> [CatalogRecord]
    ) throws(StrataError) -> Bool {
        guard !readOnly else {
            throw StrataError(.readOnly, "cannot change the topic catalog: lake \(paths.root) is open read-only")
        }
        let (wrote, compact) = try inner.withLock { (s) throws(StrataError) -> (Bool, Bool) in
            if s.closed { throw StrataError(.closed, "lake is closed") }
            if let failure = s.failure { throw failure }
            let records = try plan(&s)
            guard !records.isEmpty else { return (false, false) }
            try append(records, to: &s)
            let threshold = max(compactionBytesMin, Self.compactionRatio * s.state.snapshotBytes, s.compactionRetryBytes)
            return (true, s.fileBytes > threshold)
        }
        if compact {
            // The record is written either way: a failed compaction is logged and tried later.
            do throws(StrataError) { try compactNow() } catch {
                log("catalog: compaction failed, the current file stays in use: \(error)")
                inner.withLock { $0.compactionRetryBytes = $0.fileBytes + compactionBytesMin }
            }
        }
        if durable, wrote { try syncIfDirty() }
        return wrote
    }

    /// Encodes, writes and applies `records` (the caller holds the lock).
    private func append(_ records: [CatalogRecord], to s: inout Inner) throws(StrataError) {
        var bytes: [UInt8] = []
        for record in records { bytes += CatalogFormat.encode(record) }
        let path = paths.catalogFile(sequence: s.sequence)
        do throws(StrataError) { try FileIO.pwriteAll(s.fd, bytes, at: s.fileBytes, path: path) } catch {
            s.failure = error
            throw error
        }
        s.fileBytes += bytes.count
        s.compactionTail? += bytes
        for record in records {
            if let why = s.state.apply(record) {
                // The plan checked the state: a contradiction here is a bug; stop writing.
                let error = StrataError(.corrupt, "catalog write contradicts the catalog: \(why)", file: path)
                s.failure = error
                throw error
            }
        }
        writesMade.add(1, ordering: .sequentiallyConsistent)
    }

    /// True while a write is not known durable yet.
    var hasPendingWrites: Bool {
        writesSynced.load(ordering: .sequentiallyConsistent) < writesMade.load(ordering: .sequentiallyConsistent)
    }

    /// Makes every write so far durable (the lake's metadata barrier): returns at once when
    /// nothing is pending; otherwise one fdatasync (and the topics directory's fsync when topic
    /// directories were made) covers every write made before it, whoever asked.
    /// - Throws: `io` (the catalog then refuses every later write); `closed`.
    func syncIfDirty() throws(StrataError) {
        if writesSynced.load(ordering: .sequentiallyConsistent) >= writesMade.load(ordering: .sequentiallyConsistent) {
            return
        }
        try syncing.withLock { (_) throws(StrataError) in
            let (fd, target, directories, failure) = inner.withLock { s in
                defer { s.directoriesPending = false }
                return (s.fd, writesMade.load(ordering: .sequentiallyConsistent), s.directoriesPending, s.failure)
            }
            if let failure { throw failure }
            guard writesSynced.load(ordering: .sequentiallyConsistent) < target else { return }
            do throws(StrataError) {
                if directories {
                    try metrics.timed(.directory) { () throws(StrataError) in try FileIO.fsyncDirectory(paths.topicsDirectory) }
                }
                let path = paths.catalogFile(sequence: inner.withLock { $0.sequence })
                try metrics.timed(.catalog) { () throws(StrataError) in try FileIO.fdatasync(fd, path: path) }
            } catch {
                inner.withLock { $0.failure = $0.failure ?? error }
                throw error
            }
            syncCount.add(1, ordering: .relaxed)
            writesSynced.store(target, ordering: .sequentiallyConsistent)
        }
    }

    /// Writes `catalog/<seq+1>.log` with a snapshot of the live state and its end record,
    /// fdatasyncs it and the directory, switches to it and deletes the old file.
    ///
    /// The snapshot is taken under the locks (a copy-on-write copy of the state), but encoded,
    /// written and fdatasync'ed without them: appends and syncs go on into the old file
    /// meanwhile, and their records are kept as the compaction's tail. Under the locks again
    /// the tail is written after the snapshot and fdatasync'ed, then the end-of-snapshot
    /// record, fdatasync'ed too: the new file is complete only once everything the old one holds
    /// is durable in it, so a crash at any point leaves a complete file holding every write.
    func compactNow() throws(StrataError) {
        let taken = try inner.withLock { (s) throws(StrataError) -> (state: CatalogState, next: UInt64)? in
            if let failure = s.failure { throw failure }
            guard !s.closed, s.fd >= 0, s.compactionTail == nil else { return nil }
            // Configs no topic uses leave the snapshot, and so the state: a topic created
            // later with the same config must define it again (in the tail, if during this).
            s.state.pruneUnusedConfigs()
            s.compactionTail = []
            return (s.state, s.sequence + 1)
        }
        guard let (state, next) = taken else { return }
        let path = paths.catalogFile(sequence: next)
        let file: (fd: Int32, bytes: Int)
        do throws(StrataError) {
            file = try Self.writeSnapshotFile(paths, sequence: next, state: state, endRecord: false)
        } catch {
            inner.withLock { $0.compactionTail = nil }
            try? FileIO.remove(path)
            throw error
        }
        snapshotWritten.withLock { $0 }?()
        try syncing.withLock { (_) throws(StrataError) in
            try inner.withLock { (s) throws(StrataError) in
                let tail = s.compactionTail ?? []
                s.compactionTail = nil
                var end = file.bytes
                do throws(StrataError) {
                    if let failure = s.failure { throw failure }
                    guard !s.closed, s.fd >= 0 else {
                        throw StrataError(.closed, "lake closed during a catalog compaction")
                    }
                    if !tail.isEmpty {
                        try FileIO.pwriteAll(file.fd, tail, at: end, path: path)
                        try metrics.timed(.catalog) { () throws(StrataError) in try FileIO.fdatasync(file.fd, path: path) }
                        end += tail.count
                    }
                    let endRecord = CatalogFormat.encode(.snapshotEnd(topicCount: UInt64(s.state.topics.count)))
                    try FileIO.pwriteAll(file.fd, endRecord, at: end, path: path)
                    try metrics.timed(.catalog) { () throws(StrataError) in try FileIO.fdatasync(file.fd, path: path) }
                    end += endRecord.count
                } catch {
                    // Nothing depends on the new file yet: the old one holds every write.
                    FileIO.close(file.fd)
                    try? FileIO.remove(path)
                    throw error
                }
                let old = paths.catalogFile(sequence: s.sequence)
                FileIO.close(s.fd)
                s.fd = file.fd
                s.sequence = next
                s.fileBytes = end
                if tail.isEmpty { s.state.snapshotBytes = end - CatalogFormat.fileHeaderSize }
                writesSynced.store(writesMade.load(ordering: .sequentiallyConsistent), ordering: .sequentiallyConsistent)
                if s.directoriesPending {
                    try FileIO.fsyncDirectory(paths.topicsDirectory)
                    s.directoriesPending = false
                }
                try FileIO.remove(old)
                try FileIO.fsyncDirectory(paths.catalogDirectory)
                log(
                    "catalog: compacted into \(path) (\(end) bytes, \(s.state.topics.count) topics, "
                        + "\(tail.count) bytes written during it)")
            }
        }
    }

    /// Writes a new catalog file `sequence` holding `state`'s snapshot (and its end record when
    /// `endRecord`), durably (file and directory); returns it open for appending.
    static func writeSnapshotFile(
        _ paths: LakePaths, sequence: UInt64, state: CatalogState, endRecord: Bool = true
    ) throws(StrataError) -> (fd: Int32, bytes: Int) {
        let path = paths.catalogFile(sequence: sequence)
        var bytes = CatalogFormat.encodeFileHeader(sequence: sequence)
        bytes.reserveCapacity(state.snapshotBytes + 64)
        for record in state.snapshot(endRecord: endRecord) { bytes += CatalogFormat.encode(record) }
        let fd = try FileIO.open(path, flags: O_RDWR | O_CREAT | O_TRUNC)
        do throws(StrataError) {
            try FileIO.pwriteAll(fd, bytes, at: 0, path: path)
            try FileIO.fdatasync(fd, path: path)
            try FileIO.fsyncDirectory(paths.catalogDirectory)
        } catch {
            FileIO.close(fd)
            throw error
        }
        return (fd, bytes.count)
    }

    /// `syncIfDirty` as the lake's metadata barrier (Hot/Durability.swift).
    var barrier: MetadataBarrier {
        let syncIfDirty: @Sendable () throws(StrataError) -> Void = self.syncIfDirty
        return syncIfDirty
    }

    /// Closes the file without syncing (a lake dropped without `close`, as a crash would).
    func abandon() {
        inner.withLock { s in
            if s.fd >= 0 { FileIO.close(s.fd) }
            s.fd = -1
            s.closed = true
        }
    }

    /// Syncs what is pending and closes the file; later writes get `closed`.
    func close() throws(StrataError) {
        defer {
            inner.withLock { s in
                if s.fd >= 0 { FileIO.close(s.fd) }
                s.fd = -1
                s.closed = true
            }
        }
        guard !readOnly else { return }
        try syncIfDirty()
    }
}
