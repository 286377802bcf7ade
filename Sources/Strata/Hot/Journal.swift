import Dispatch
import Glibc
import Synchronization

/// The lake journal (issue 16; formats/journal.md): one write-ahead log shared by every `sync`
/// partition of a lake, so one fdatasync acknowledges appends to many partitions.
///
/// An append writes its batch to the partition's active segment (no fsync), then appends an
/// entry holding the same bytes here, under this journal's lock (lock order: topic state, then
/// journal). Appenders wait for the journal's durable end: one leader at a time fdatasyncs the
/// active journal file off the cooperative pool, advances the durable offset of every partition
/// its fsync covered, then releases its waiters. Files roll at `LakeOptions.journalBytes`; a
/// rolled file is deleted (checkpoint) once every partition with entries in it has fdatasync'ed
/// its segment past its last entry there. Recovery (JournalRecovery.swift) replays what the
/// segments lack.
final class Journal: Sendable {
    typealias Continuation = CheckedContinuation<Result<Void, StrataError>, Never>

    /// A partition with entries not yet covered by an fsync, and the end offset of its last one.
    struct Covered {
        var topic: Topic
        var end: Int64
    }

    /// A partition with entries in a journal file: the handle that wrote last, held weakly, and
    /// the end offset of its last entry there. The journal does not keep handles open: the
    /// registry evicts a log only once its segment is durable past everything it wrote
    /// (`Topic.isEvictable`), so an entry whose handle is gone needs no checkpoint fsync.
    struct FileEntry {
        weak var topic: Topic?
        var end: Int64
    }

    /// A journal file recovery may still need.
    struct FileRecord {
        var sequence: UInt64
        var path: String
        /// By log name: the handle that wrote last (weakly) and the end of its last entry here.
        var logs: [String: FileEntry] = [:]
    }

    private struct Waiter {
        var target: Int64
        var continuation: Continuation
    }

    private struct State {
        /// The file entries are appended to (nil until the first append).
        var active: FileRecord?
        var fd: Int32 = -1
        /// Bytes in the active file.
        var fileBytes = 0
        var nextSequence: UInt64
        /// Rolled files (fdatasync'ed at roll) waiting for their checkpoint, oldest first.
        var rolled: [FileRecord] = []
        /// Descriptors of rolled files; only the fsync leader closes them (it may still hold one).
        var retiredFDs: [Int32] = []
        /// Entry bytes appended since the lake opened (the journal's position across files).
        var writtenBytes: Int64 = 0
        /// Entry bytes known fdatasync'ed.
        var durableBytes: Int64 = 0
        /// Partitions with entries not yet covered by a leader's fsync.
        var uncovered: [String: Covered] = [:]
        /// Topics with entries in a live file (a superset after a checkpoint until the next one).
        var topics: Set<String> = []
        var waiters: [Waiter] = []
        var leaderRunning = false
        /// The failure that stopped the journal: its files' state is unknown (fsyncgate).
        var failure: StrataError?
        var closed = false
        var fsyncCount = 0
    }

    private let state: Mutex<State>
    /// Held while a checkpoint runs: one at a time; background ones skip when it is taken.
    private let checkpointLock = Mutex(())
    let paths: LakePaths
    /// Roll the active file once it would exceed this many bytes.
    let fileBytesMax: Int
    let log: @Sendable (String) -> Void
    let beforeFsync: GroupFsyncHook?
    /// Runs before each leader fdatasync: what the lake stores about its topics must be durable
    /// before any record of theirs is (Hot/Durability.swift).
    let metadataBarrier: MetadataBarrier?
    let metrics: EngineMetrics

    init(
        paths: LakePaths, nextSequence: UInt64, fileBytesMax: Int, log: @escaping @Sendable (String) -> Void,
        beforeFsync: GroupFsyncHook?, metadataBarrier: MetadataBarrier? = nil, metrics: EngineMetrics = .global
    ) {
        self.paths = paths
        self.metrics = metrics
        self.metadataBarrier = metadataBarrier
        self.fileBytesMax = fileBytesMax
        self.log = log
        self.beforeFsync = beforeFsync
        state = Mutex(State(nextSequence: nextSequence))
    }

    /// fdatasync calls of the leader (rolls not counted).
    var fsyncCount: Int { state.withLock { $0.fsyncCount } }

    /// Journal files not yet deleted (rolled and active).
    var liveFileCount: Int { state.withLock { $0.rolled.count + ($0.active == nil ? 0 : 1) } }

    /// Refuses an append before its segment write when the journal cannot take its entry.
    /// - Throws: `closed` after a journal I/O failure or once the lake is closed.
    func checkAccepting(topic: String) throws(StrataError) {
        try state.withLock { (s) throws(StrataError) in try Self.check(s, topic: topic) }
    }

    private static func check(_ s: State, topic: String) throws(StrataError) {
        if s.closed { throw StrataError(.closed, "the lake journal is closed", topic: topic) }
        if let failure = s.failure {
            throw StrataError(
                .closed, "the lake journal stopped after an I/O failure; reopen the lake to recover", topic: topic,
                cause: failure.description)
        }
    }

    // MARK: - Append

    /// Appends the entry for `batch`, just written to `topic`'s active segment and ending at
    /// offset `end`. Called with `topic`'s state locked.
    /// - Returns: the journal position `waitDurable` takes to wait for this entry.
    /// - Throws: `closed` (journal stopped or closed), `io` (the write failed: the journal stops).
    func append(_ topic: Topic, batch: [UInt8], end: Int64) throws(StrataError) -> Int64 {
        // The entry's head, its CRC derived from the batch's (checked or computed when the batch
        // was made): the batch is neither copied into the entry nor read a second time.
        let head = batch.withUnsafeBytes { JournalFormat.encodeEntryHead(logName: topic.name, batch: $0) }
        let entryBytes = head.count + batch.count
        var rolled = false
        let result: Result<Int64, StrataError> = state.withLock { s in
            do throws(StrataError) {
                try Self.check(s, topic: topic.name)
                if s.active == nil
                    || (s.fileBytes > JournalFormat.fileHeaderSize && s.fileBytes + entryBytes > fileBytesMax)
                {
                    rolled = s.active != nil
                    try roll(&s)
                }
                let path = s.active?.path ?? paths.journalDirectory
                try FileIO.pwriteAll(s.fd, head, batch, at: s.fileBytes, path: path)
                metrics.journalBytes.increment(by: entryBytes)
            } catch {
                if error.code != .closed { s.failure = s.failure ?? error }
                return .failure(error)
            }
            s.fileBytes += entryBytes
            s.writtenBytes += Int64(entryBytes)
            if s.active?.logs[topic.name] == nil { s.topics.insert(topic.topicName) }
            s.active?.logs[topic.name] = FileEntry(topic: topic, end: end)
            s.uncovered[topic.name] = Covered(topic: topic, end: end)
            return .success(s.writtenBytes)
        }
        if rolled { DispatchQueue.global().async { self.checkpoint() } }
        if case .failure(let error) = result, error.code != .closed {
            // Stop the other partitions off this thread: the caller holds its topic's lock.
            DispatchQueue.global().async { self.stopPartitions(error, except: topic) }
        }
        return try result.get()
    }

    /// fdatasyncs the active file and starts the next one, so that only the last journal file
    /// can ever have a torn tail.
    private func roll(_ s: inout State) throws(StrataError) {
        if let old = s.active {
            let fd = s.fd
            try metrics.timed(.journal) { () throws(StrataError) in try FileIO.fdatasync(fd, path: old.path) }
            s.retiredFDs.append(s.fd)
            s.fd = -1
            s.rolled.append(old)
            s.active = nil
        }
        try FileIO.makeDirectories(paths.journalDirectory)
        let sequence = s.nextSequence
        let path = paths.journalFile(sequence: sequence)
        let fd = try FileIO.open(path, flags: O_RDWR | O_CREAT | O_EXCL)
        do throws(StrataError) {
            try FileIO.pwriteAll(fd, JournalFormat.encodeFileHeader(sequence: sequence), at: 0, path: path)
            try metrics.timed(.journal) { () throws(StrataError) in try FileIO.fdatasync(fd, path: path) }
            try metrics.timed(.directory) { () throws(StrataError) in try FileIO.fsyncDirectory(paths.journalDirectory) }
        } catch {
            FileIO.close(fd)
            throw error
        }
        s.nextSequence += 1
        s.fd = fd
        s.fileBytes = JournalFormat.fileHeaderSize
        s.active = FileRecord(sequence: sequence, path: path)
    }

    // MARK: - Group commit

    /// Returns once the journal is durable up to `target` (a position `append` returned); the
    /// partitions the covering fsync made durable have their durable offsets moved first.
    /// - Throws: the failure that stopped the journal (`io`, or `closed`).
    func waitDurable(_ target: Int64) async throws(StrataError) {
        let outcome = await withCheckedContinuation { (continuation: Continuation) in
            let startLeader: Bool = state.withLock { s in
                if s.durableBytes >= target {
                    continuation.resume(returning: .success(()))
                    return false
                }
                if let failure = s.failure {
                    continuation.resume(returning: .failure(failure))
                    return false
                }
                if s.closed {
                    continuation.resume(returning: .failure(StrataError(.closed, "the lake journal is closed")))
                    return false
                }
                s.waiters.append(Waiter(target: target, continuation: continuation))
                guard !s.leaderRunning else { return false }
                s.leaderRunning = true
                return true
            }
            // fdatasync blocks: run it on a Dispatch thread, never on the cooperative pool.
            if startLeader { DispatchQueue.global().async { self.lead() } }
        }
        try outcome.get()
    }

    private func lead() {
        while true {
            var failure: StrataError? = nil
            if let hook = beforeFsync {
                let pending = state.withLock { s in s.uncovered.values.map(\.topic) }
                for topic in pending {
                    do throws(StrataError) { try hook(topic) } catch {
                        failure = error
                        break
                    }
                }
            }
            let (target, fd, path, covered, retired) = state.withLock { s in
                defer {
                    s.uncovered = [:]
                    s.retiredFDs = []
                }
                return (s.writtenBytes, s.fd, s.active?.path ?? "", s.uncovered, s.retiredFDs)
            }
            for old in retired { FileIO.close(old) }
            if failure == nil, let metadataBarrier {
                do throws(StrataError) { try metadataBarrier() } catch { failure = error }
            }
            if failure == nil, fd >= 0 {
                do throws(StrataError) {
                    try metrics.timed(.journal) { () throws(StrataError) in try FileIO.fdatasync(fd, path: path) }
                } catch { failure = error }
            }
            if let failure {
                fail(failure)
                return
            }
            // Partitions first: a waiter that finds the journal durable finds its offsets durable.
            for entry in covered.values { entry.topic.journalFsynced(durableUpTo: entry.end) }
            let (ready, done) = state.withLock { s in
                s.fsyncCount += 1
                s.durableBytes = max(s.durableBytes, target)
                let durable = s.durableBytes
                let ready = s.waiters.filter { $0.target <= durable }
                s.waiters.removeAll { $0.target <= durable }
                let done = s.waiters.isEmpty
                if done { s.leaderRunning = false }
                return (ready, done)
            }
            for waiter in ready { waiter.continuation.resume(returning: .success(())) }
            if done { return }
        }
    }

    /// A journal fsync failed: the file's state is unknown, so the journal and every partition
    /// with entries in a live journal file stop; every waiter fails.
    private func fail(_ failure: StrataError) {
        let waiters = state.withLock { s in
            s.failure = s.failure ?? failure
            let all = s.waiters
            s.waiters = []
            s.leaderRunning = false
            return all
        }
        log("journal fsync failed, every sync partition stops until the lake is reopened: \(failure)")
        stopPartitions(failure, except: nil)
        let error = StrataError(
            .io, "journal fsync failed: \(failure.message)", file: failure.file, cause: failure.description)
        for waiter in waiters { waiter.continuation.resume(returning: .failure(error)) }
    }

    /// Stops every partition with entries in a live journal file (no lock may be held).
    private func stopPartitions(_ failure: StrataError, except skipped: Topic?) {
        let topics = state.withLock { s in
            var all: [String: Topic] = [:]
            for file in s.rolled + (s.active.map { [$0] } ?? []) {
                for (name, entry) in file.logs { if let topic = entry.topic { all[name] = topic } }
            }
            for (name, entry) in s.uncovered { all[name] = entry.topic }
            return Array(all.values)
        }
        for topic in topics where topic !== skipped { topic.stop(failure) }
    }

    // MARK: - Checkpoint

    /// Deletes the rolled files every partition has fdatasync'ed its segment past, oldest first,
    /// fdatasyncing the active segments still needed (off the ack path: a background step; it
    /// skips when another checkpoint runs).
    func checkpoint() {
        _ = checkpointLock.withLockIfAvailable { _ in runCheckpoint() }
    }

    private func runCheckpoint() {
        let files: [FileRecord] = state.withLock { s in s.failure == nil && !s.closed ? s.rolled : [] }
        var deleted = Set<UInt64>()
        // Each file's deletion depends only on its own logs: one stuck partition keeps the files
        // holding its entries, not every later one (recovery replays whatever files remain).
        for file in files {
            guard syncSegments(of: file), remove(file) else { continue }
            deleted.insert(file.sequence)
        }
        guard !deleted.isEmpty else { return }
        try? FileIO.fsyncDirectory(paths.journalDirectory)
        state.withLock { s in
            s.rolled.removeAll { deleted.contains($0.sequence) }
            s.topics = Set(
                (s.rolled + (s.active.map { [$0] } ?? [])).flatMap { $0.logs.keys.map(Topic.topicName(ofLog:)) })
        }
    }

    /// True while a live journal file holds entries of the log called `log` (`repair` cuts a
    /// log only once none does: a replay would otherwise contradict the cut log).
    func holdsEntries(ofLog log: String) -> Bool {
        state.withLock { s in (s.rolled + (s.active.map { [$0] } ?? [])).contains { $0.logs[log] != nil } }
    }

    /// Rolled journal files not yet deleted.
    var rolledFileCount: Int { state.withLock { $0.rolled.count } }

    /// Makes sure no live journal file holds entries of topic `topic` (deleted, about to be
    /// created again): the active file rolls if it holds some, then a checkpoint deletes the
    /// files that do. Otherwise a crash before their checkpoint would replay the old topic's
    /// batches into the new one.
    /// - Throws: `io` when a file holding them cannot be checkpointed (the topic is not created).
    func forget(topic: String) throws(StrataError) {
        func holds(_ file: FileRecord) -> Bool { file.logs.keys.contains { Topic.topicName(ofLog: $0) == topic } }
        let needed = try state.withLock { (s) throws(StrataError) -> Bool in
            guard s.topics.contains(topic) else { return false }
            if let active = s.active, holds(active) {
                try Self.check(s, topic: topic)
                try roll(&s)
            }
            return s.rolled.contains(where: holds)
        }
        guard needed else { return }
        checkpointLock.withLock { _ in runCheckpoint() }
        if let left = state.withLock({ s in s.rolled.first(where: holds) }) {
            throw StrataError(
                .io, "journal \(left.path) still holds entries of deleted topic '\(topic)': its checkpoint failed",
                topic: topic, file: left.path)
        }
    }

    /// True once every partition with entries in `file` has its segment durable past them (a
    /// log whose handle was evicted has: `FileEntry`).
    private func syncSegments(of file: FileRecord) -> Bool {
        file.logs.values.allSatisfy { $0.topic?.syncSegment(upTo: $0.end) ?? true }
    }

    private func remove(_ file: FileRecord) -> Bool {
        do throws(StrataError) { try FileIO.remove(file.path) } catch {
            log("journal checkpoint: cannot delete \(file.path): \(error)")
            return false
        }
        return true
    }

    // MARK: - Close

    /// The lake is closing (every topic flushed): fdatasyncs the segments the journal still
    /// covers and deletes every journal file, so a clean reopen replays nothing. After a
    /// failure the files stay for recovery.
    /// - Throws: `io` when a segment fsync fails (the journal files are kept).
    func close() throws(StrataError) {
        try checkpointLock.withLock { (_) throws(StrataError) in try closeFiles() }
    }

    private func closeFiles() throws(StrataError) {
        let (files, fds, failure) = state.withLock { s in
            s.closed = true
            let files = s.rolled + (s.active.map { [$0] } ?? [])
            let fds = s.retiredFDs + (s.fd >= 0 ? [s.fd] : [])
            s.retiredFDs = []
            s.fd = -1
            return (files, fds, s.failure)
        }
        for fd in fds { FileIO.close(fd) }
        guard failure == nil else { return }
        // Every log's segment once, up to its last entry in any file, on a few threads at once;
        // then the files in order: a file is deleted only when every log with entries in it synced.
        var ends: [String: Covered] = [:]
        for file in files {
            for (name, entry) in file.logs where (ends[name]?.end ?? Int64.min) < entry.end {
                guard let topic = entry.topic else { continue }  // evicted: durable past its entries
                ends[name] = Covered(topic: topic, end: entry.end)
            }
        }
        let logs = Array(ends.values)
        let synced = Self.concurrently(logs.count, threads: Self.closeSyncThreads) { i in
            logs[i].topic.syncSegment(upTo: logs[i].end)
        }
        let failed = Set(zip(logs, synced).filter { !$0.1 }.map { $0.0.topic.name })
        for file in files {
            guard !file.logs.keys.contains(where: failed.contains) else {
                throw StrataError(
                    .io, "a segment fsync failed at close: journal \(file.path) is kept for recovery",
                    file: file.path)
            }
            try FileIO.remove(file.path)
        }
        if !files.isEmpty {
            try metrics.timed(.directory) { () throws(StrataError) in try FileIO.fsyncDirectory(paths.journalDirectory) }
        }
        state.withLock { s in
            s.rolled = []
            s.active = nil
        }
    }

    /// Segment fsyncs `close` runs at once.
    static let closeSyncThreads = 8

    /// Runs `body(0..<count)` on up to `threads` Dispatch threads (never the cooperative pool:
    /// each call blocks in fdatasync) and returns the results in order, once all are done.
    static func concurrently(_ count: Int, threads: Int, _ body: @escaping @Sendable (Int) -> Bool) -> [Bool] {
        guard count > 1 else { return (0 ..< count).map(body) }
        final class Shared: Sendable {
            let next = Atomic<Int>(0)
            let results: Mutex<[Bool]>
            init(_ count: Int) { results = Mutex([Bool](repeating: false, count: count)) }
        }
        let shared = Shared(count)
        let group = DispatchGroup()
        for _ in 0 ..< min(threads, count) {
            DispatchQueue.global().async(group: group) {
                while true {
                    let i = shared.next.add(1, ordering: .relaxed).oldValue
                    guard i < count else { return }
                    let ok = body(i)
                    shared.results.withLock { $0[i] = ok }
                }
            }
        }
        group.wait()
        return shared.results.withLock { $0 }
    }

    /// The lake was dropped without `close` (a crash, as tests simulate it): closes the files
    /// and forgets the partitions, so nothing more is written or kept alive through it.
    func abandon() {
        let (fds, waiters) = state.withLock { s in
            s.closed = true
            let fds = s.retiredFDs + (s.fd >= 0 ? [s.fd] : [])
            let waiters = s.leaderRunning ? [] : s.waiters
            if !s.leaderRunning {
                s.retiredFDs = []
                s.fd = -1
                s.waiters = []
            }
            s.rolled = []
            s.active = nil
            s.uncovered = [:]
            return (s.leaderRunning ? [] : fds, waiters)
        }
        for fd in fds { FileIO.close(fd) }
        for waiter in waiters {
            waiter.continuation.resume(returning: .failure(StrataError(.closed, "the lake was dropped")))
        }
    }
}

/// The partition's side of the journal.
extension Topic {
    /// A journal fsync covered this log's entries up to `end`.
    func journalFsynced(durableUpTo end: Int64) {
        groupCommit.recordJournalFsync(durableUpTo: end)
        publishVisibleEnd()
    }

    /// Makes the segment durable up to at least `end` (checkpoint): nothing to do when a roll or
    /// an earlier checkpoint fsync covered it. A log whose files are gone (its topic deleted)
    /// needs nothing.
    /// - Returns: false when the fsync failed (the log is then stopped).
    func syncSegment(upTo end: Int64) -> Bool {
        guard groupCommit.segmentDurableOffset < end else { return true }
        let (path, target) = state.withLock { s in (s.active.path, s.writtenOffset) }
        do throws(StrataError) {
            try beforeSegmentFsync()
            try cold.metrics.timed(.segment) { () throws(StrataError) in
                try files.withFile(path) { (fd) throws(StrataError) in try FileIO.fdatasync(fd, path: path) }
            }
        } catch  where error.code == .notFound {
            return true
        } catch {
            log("journal checkpoint topic=\(name): segment fsync failed, the journal file is kept: \(error)")
            stop(error)
            return false
        }
        groupCommit.recordSegmentFsync(durableUpTo: target)
        return true
    }
}
