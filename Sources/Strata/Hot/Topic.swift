import Dispatch
import Glibc
import Synchronization

/// A record as a producer hands it over: the engine assigns the offset and stamps a missing
/// timestamp with its clock.
public struct ProducerRecord: Sendable, Hashable {
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]
    /// Milliseconds since the epoch; nil: the engine's clock at append.
    public var timestamp: Int64?

    public init(key: [UInt8]? = nil, value: [UInt8]?, headers: [RecordHeader] = [], timestamp: Int64? = nil) {
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }
}

/// What an append assigned.
public struct AppendResult: Sendable, Equatable {
    public var firstOffset: Int64
    public var lastOffset: Int64
}

/// Records read from a topic, in offset order.
public struct ReadResult: Sendable {
    public var records: [Record]
    /// Offset to read from next.
    public var nextOffset: Int64
    public var highWatermark: Int64
}

/// One partition's log of a lake — a topic's partition 0 when the topic has one partition, as
/// every topic created before partitions existed has: appends with group commit, segment rolls,
/// reads by offset and time. Thread-safe; appends to different logs never wait on each other.
///
/// Each concern has one owner with its own lock: `state` (this file) is the hot log — its
/// segments, written end, failure and closed flag; `groupCommit` owns the durable offset, the
/// appenders waiting for it and the fsync loop; `readWaiters` the long-polling readers;
/// `offloadPass` lets one offload pass run at a time; `manifestWriter` owns the writer epoch,
/// fencing and the manifest-commit lock that offload and retention share.
public final class Topic: Sendable {
    /// The log name (`LogName`): the topic name for partition 0, `<topic>/<partition>` otherwise.
    /// Errors, paths and keys of this log use it.
    public let name: String
    /// The topic this log is a partition of.
    public var topicName: String { Self.topicName(ofLog: name) }

    /// The topic a log name (`orders/3`) belongs to.
    static func topicName(ofLog name: String) -> String { String(name.prefix { $0 != "/" }) }
    /// True once the log is closed (its lake closed, its topic deleted or its config altered):
    /// nothing more is appended through this handle.
    public var isClosed: Bool { state.withLock { $0.closed } }
    /// Which partition of `topicName` this log is.
    public var partition: Int32 {
        guard let slash = name.firstIndex(of: "/") else { return 0 }
        return Int32(name[name.index(after: slash)...]) ?? 0
    }
    public let config: TopicConfig
    let paths: LakePaths
    let files: FileCache
    let clock: any StrataClock
    let log: @Sendable (String) -> Void
    let state: Mutex<TopicState>
    let cold: ColdTier
    let beforeGroupFsync: GroupFsyncHook?
    /// Runs before every fdatasync that makes this log's records durable (Hot/Durability.swift).
    let metadataBarrier: MetadataBarrier?
    /// The lake journal a `sync` log's appends go through (Journal.swift); nil for `async` logs,
    /// read-only lakes and lakes opened with `LakeOptions.journal` off.
    let journal: Journal?
    let limits: TopicLimits
    let groupCommit: GroupCommit
    let readWaiters: ReadWaiters
    let offloadPass = AsyncLock()
    let manifestWriter = ManifestWriter()
    /// Set when the next segment to offload is corrupt: offload of this topic waits for
    /// `strata repair`; other topics go on.
    let offloadBlock = Mutex<StrataError?>(nil)
    /// Set for a topic of a read-only lake (ReadOnlyTopic.swift): what it found on disk; every
    /// write is refused.
    let readOnlyView: ReadOnlyView?
    /// Directories whose entries a new segment or partition directory of this log still needs
    /// made durable: fsynced once, before the first fdatasync that makes a record of it durable
    /// (`beforeSegmentFsync`), so opening a partition costs no fsync.
    let pendingDirectories: Mutex<[String]>
    /// The registry's set of logs with background work (nil for a replay's or a read-only log).
    let backgroundWork: BackgroundWork?
    /// Set once a write marked this log in `backgroundWork`; the tick clears it when it visits.
    let backgroundWorkMarked = Atomic<Bool>(false)
    /// Set while a writeback call of this log waits in `writebackQueue`.
    let writebackQueued = Atomic<Bool>(false)
    /// When the background last applied total retention to this handle (lake clock ms;
    /// `Int64.min`: never): the next check is due `totalRetentionCheckIntervalMs` later.
    let totalRetentionCheckedMs = Atomic<Int64>(Int64.min)
    /// How often an idle log with cold data is checked for total retention by age (Kafka's
    /// `log.retention.check.interval.ms` default). By bytes, retention acts in the visit that
    /// commits the bytes (offload, then retention).
    static let totalRetentionCheckIntervalMs: Int64 = 300_000

    /// The hot log.
    struct TopicState: Sendable {
        var segments: [LocalSegment]
        /// One past the last written record.
        var writtenOffset: Int64
        /// Set after a failed write or fsync: the file state is unknown, so the topic refuses
        /// appends until reopened (and recovered).
        var failure: StrataError?
        var closed = false
        /// Offsets below this are deleted (`deleteRecords`), whatever the segments still hold.
        var logStartOffset: Int64 = 0
        /// Idempotent producers' last batches (ProducerState.swift), checked under this lock.
        var producers = ProducerStateTable()
        /// The journal position of this log's last entry (what `waitDurable` waits for).
        var journalPosition: Int64 = 0
        /// Bytes of the active segment whose writeback has been started (`startWritebackIfDue`).
        var writebackStarted = 0

        var active: LocalSegment { segments[segments.count - 1] }
    }

    init(
        name: String, config: TopicConfig, paths: LakePaths, files: FileCache, clock: any StrataClock,
        log: @escaping @Sendable (String) -> Void, segments: [LocalSegment], cold: ColdTier,
        limits: TopicLimits = TopicLimits(), beforeGroupFsync: GroupFsyncHook? = nil,
        readOnlyView: ReadOnlyView? = nil, journal: Journal? = nil, metadataBarrier: MetadataBarrier? = nil,
        pendingDirectories: [String] = [], backgroundWork: BackgroundWork? = nil
    ) {
        self.name = name
        self.pendingDirectories = Mutex(pendingDirectories)
        self.backgroundWork = backgroundWork
        self.metadataBarrier = metadataBarrier
        self.journal = journal
        self.limits = limits
        self.readOnlyView = readOnlyView
        self.beforeGroupFsync = beforeGroupFsync
        self.cold = cold
        self.config = config
        self.paths = paths
        self.files = files
        self.clock = clock
        self.log = log
        let end = segments.last?.nextOffset ?? 0
        state = Mutex(TopicState(segments: segments, writtenOffset: end))
        groupCommit = GroupCommit(topicName: name, durableOffset: end, appendsWaitingMax: limits.syncAppendsWaitingMax)
        readWaiters = ReadWaiters(topicName: name, visibleEnd: end, clock: clock, waitersMax: limits.readWaitersMax)
    }

    /// Opens a topic directory, recovering its active segment (ARCHITECTURE.md invariant 3).
    /// `listing`: the directory's names when the caller knows them (a directory it just made is
    /// empty), else they are listed.
    static func open(
        name: String, config: TopicConfig, paths: LakePaths, files: FileCache, clock: any StrataClock,
        log: @escaping @Sendable (String) -> Void, cold: ColdTier, startOffset: Int64 = 0,
        limits: TopicLimits = TopicLimits(),
        beforeGroupFsync: GroupFsyncHook? = nil, journal: Journal? = nil, metadataBarrier: MetadataBarrier? = nil,
        pendingDirectories: [String] = [], backgroundWork: BackgroundWork? = nil, listing: [String]? = nil
    ) throws(StrataError) -> Topic {
        let directory = paths.topicDirectory(name)
        // Whatever this handle finds on disk, the entries of its segments and of its partition
        // directory may never have been made durable: the handle that made them may have been
        // evicted, closed with nothing to flush, or lost in a crash before its first durable
        // record, and its pending list with it. So every writer's handle starts with its own
        // directory pending, and a partition above 0 with the topic directory holding its
        // entry: at most two directory fsyncs, on the first durable record after each open.
        var pendingDirectories = pendingDirectories
        if let log = try? LogName.parse(name), log.partition > 0 {
            let parent = paths.topicDirectory(log.topic)
            if !pendingDirectories.contains(parent) { pendingDirectories.append(parent) }
        }
        if !pendingDirectories.contains(directory) { pendingDirectories.insert(directory, at: 0) }
        let names: [String]
        if let listing { names = listing } else { names = try FileIO.listDirectory(directory) }
        for leftover in names where leftover.hasSuffix(".tmp") { try FileIO.remove(directory + "/" + leftover) }
        let bases = names.compactMap(LakePaths.segmentBaseOffset(fileName:)).sorted()
        var segments: [LocalSegment] = []
        for base in bases.dropLast() {
            segments.append(
                try SegmentLoader.openSealed(
                    topic: name, baseOffset: base, paths: paths,
                    intervalBytes: config.indexIntervalBytes, log: log))
        }
        if let last = bases.last {
            segments.append(
                try SegmentLoader.openActive(
                    topic: name, baseOffset: last, paths: paths,
                    intervalBytes: config.indexIntervalBytes, nowMs: clock.nowMs(), log: log, files: files,
                    indexListed: names.contains(BucketLayout.hotIndexFileName(baseOffset: last))))
        } else {
            segments.append(
                try SegmentLoader.create(
                    topic: name, baseOffset: startOffset, paths: paths,
                    intervalBytes: config.indexIntervalBytes, nowMs: clock.nowMs(), files: files))
        }
        for (a, b) in zip(segments, segments.dropFirst()) where a.nextOffset != b.baseOffset {
            log(
                "offset gap topic=\(name) file=\(a.path) ends at \(a.nextOffset), next segment starts at "
                    + "\(b.baseOffset)"
            )
        }
        return Topic(
            name: name, config: config, paths: paths, files: files, clock: clock, log: log, segments: segments,
            cold: cold, limits: limits, beforeGroupFsync: beforeGroupFsync,
            journal: config.durability == .sync ? journal : nil, metadataBarrier: metadataBarrier,
            pendingDirectories: pendingDirectories, backgroundWork: backgroundWork)
    }

    // MARK: - Offsets

    /// First offset readable locally: the first segment's base, or the log start offset when
    /// `deleteRecords` moved it into that segment.
    public var localStartOffset: Int64 { state.withLock { max($0.segments[0].baseOffset, $0.logStartOffset) } }

    /// One past the last record readers may see: the durable end for `sync` topics, the
    /// written end for `async` ones.
    public var highWatermark: Int64 { state.withLock { visibleEnd($0) } }

    /// Number of fdatasync calls made for appends (group commit makes it far below the appends).
    public var fsyncCount: Int { groupCommit.fsyncCount }

    /// Corruption found when the topic was opened that recovery did not cut (the first damaged
    /// local segment): appends are refused and reads stop there until `repairQuarantine`.
    public var corruption: StrataError? {
        state.withLock { s in
            s.segments.first { $0.corruption != nil }.flatMap { segment in
                segment.corruption?.error(topic: name, path: segment.path)
            }
        }
    }

    /// One past the last written record.
    var writtenOffset: Int64 { state.withLock { $0.writtenOffset } }

    /// One past the last fdatasync'ed record.
    var durableOffset: Int64 { groupCommit.durableOffset }

    /// Called with the state locked (lock order: state, then group commit).
    func visibleEnd(_ s: TopicState) -> Int64 {
        config.durability == .sync ? groupCommit.durableOffset : s.writtenOffset
    }

    /// The local segments, oldest first.
    public func segments() -> [SegmentInfo] {
        state.withLock { $0.segments.map(SegmentInfo.init) }
    }

    /// The local segments, oldest first, as they are now.
    func localSegments() -> [LocalSegment] { state.withLock { $0.segments } }

    /// The local segments and the high watermark, taken together (readers).
    func logSnapshot() -> (segments: [LocalSegment], end: Int64) {
        state.withLock { s in (s.segments, visibleEnd(s)) }
    }

    /// Removes the oldest local segment from the log when `shouldRemove(segment, sealedMs,
    /// sealedBytes)` holds (never the active one); the caller deletes its files.
    func removeOldestSegment(_ shouldRemove: (LocalSegment, Int64, Int64) -> Bool) -> LocalSegment? {
        state.withLock { s in
            guard s.segments.count > 1 else { return nil }
            let first = s.segments[0]
            let sealedBytes = s.segments.dropLast().reduce(Int64(0)) { $0 + Int64($1.segmentBytes) }
            guard shouldRemove(first, s.segments[1].createdMs, sealedBytes) else { return nil }
            s.segments.removeFirst()
            return first
        }
    }

    /// Stops the topic after a failure that leaves its files in an unknown state.
    func stop(_ failure: StrataError) {
        state.withLock { s in s.failure = s.failure ?? failure }
        groupCommit.stop(failure)
    }

    // MARK: - Append

    /// Appends `records` as one batch and returns the offsets assigned.
    /// In `sync` mode it returns once the batch is fdatasync'ed (sharing the fsync with
    /// concurrent appends); in `async` mode once it is written.
    /// - Throws: `StrataError` `.invalidArgument` (empty), `.tooLarge` (record or batch over its
    ///   limit; nothing is written), `.busy` (`syncAppendsWaitingMax` appends already wait for
    ///   their fsync; nothing is written), `.io`, `.closed`.
    @discardableResult
    public func append(_ records: [ProducerRecord]) async throws -> AppendResult {
        let waitsForFsync = config.durability == .sync
        if waitsForFsync { try groupCommit.reserveAppend() }
        defer { if waitsForFsync { groupCommit.releaseAppend() } }
        let result = try appendWrite(records)
        if waitsForFsync { try await waitDurable(result.lastOffset + 1) }
        return result
    }

    private func appendWrite(_ input: [ProducerRecord]) throws(StrataError) -> AppendResult {
        guard !input.isEmpty else {
            throw StrataError(.invalidArgument, "append needs at least one record", topic: name)
        }
        let now = clock.nowMs()
        var records: [Record] = []
        records.reserveCapacity(input.count)
        for (i, p) in input.enumerated() {
            let record = Record(timestamp: p.timestamp ?? now, key: p.key, value: p.value, headers: p.headers)
            let size = record.encodedSize
            guard size <= config.recordBytesMax else {
                throw StrataError(
                    .tooLarge, "record \(i) is \(size) bytes, limit recordBytesMax=\(config.recordBytesMax)",
                    topic: name)
            }
            records.append(record)
        }
        return try state.withLock { (s) throws(StrataError) -> AppendResult in
            try checkWritable(s)
            let batch = BatchCodec.encode(baseOffset: s.writtenOffset, records: records)
            guard batch.count <= config.batchBytesMax else {
                throw StrataError(
                    .tooLarge, "batch is \(batch.count) bytes, limit batchBytesMax=\(config.batchBytesMax)", topic: name
                )
            }
            try rollIfNeeded(&s, incomingBytes: batch.count, nowMs: now)
            try write(batch, into: &s)
            let last = s.writtenOffset - 1
            if config.durability == .async { readWaiters.publish(visibleEnd: s.writtenOffset) }
            return AppendResult(firstOffset: last - Int64(records.count) + 1, lastOffset: last)
        }
    }

    func checkWritable(_ s: TopicState, appending: Bool = true) throws(StrataError) {
        try refuseIfReadOnly("append or roll")
        if s.closed { throw StrataError(.closed, "topic is closed", topic: name) }
        if appending, let damaged = s.segments.first(where: { $0.corruption != nil }), let damage = damaged.corruption {
            var error = damage.error(topic: name, path: damaged.path)
            error.message = "appends are refused: " + error.message
            throw error
        }
        if let failure = s.failure {
            throw StrataError(
                .closed, "topic stopped after an I/O failure; reopen the lake to recover", topic: name,
                cause: failure.description)
        }
    }

    func write(_ batch: [UInt8], into s: inout TopicState) throws(StrataError) {
        try journal?.checkAccepting(topic: name)
        let segment = s.active
        let position = segment.segmentBytes
        do throws(StrataError) {
            try files.withFile(segment.path) { (fd) throws(StrataError) in
                try FileIO.pwriteAll(fd, batch, at: position, path: segment.path)
            }
            cold.metrics.segmentBytes.increment(by: batch.count)
        } catch {
            // Undo a partial write so the segment stays a sequence of whole batches.
            let undone =
                (try? files.withFile(segment.path) { (fd) throws(StrataError) in
                    try FileIO.ftruncate(fd, position, path: segment.path)
                }) != nil
            if !undone {
                s.failure = error
                groupCommit.stop(error)
            }
            throw StrataError(
                .io, "append failed", topic: name, file: segment.path, position: position, cause: error.description)
        }
        let header = withBytesResult(batch) { raw throws(FormatError) in
            try BatchCodec.parseHeader(raw, basePosition: position)
        }
        guard case .success(let parsed) = header else { preconditionFailure("encoder produced an invalid batch") }
        s.segments[s.segments.count - 1].index.add(parsed, position: position)
        s.writtenOffset = parsed.nextOffset
        s.producers.lastBatch = (parsed.baseOffset, parsed.crc)
        markBackgroundWork()
        startWritebackIfDue(&s, path: segment.path, end: position + batch.count)
        if let journal {
            do throws(StrataError) {
                s.journalPosition = try journal.append(self, batch: batch, end: s.writtenOffset)
            } catch {
                // The batch is in the segment but not in the journal: it can never be acknowledged.
                s.failure = error
                groupCommit.stop(error)
                throw error
            }
        }
    }

    /// Bytes an `async` log writes before it starts their writeback (`FileIO.startWriteback`).
    static let writebackChunkBytes = 8 * 1024 * 1024

    /// The one thread that starts writeback for every log: its calls queue disk writes and
    /// return; at most one call per log is queued (`writebackQueued`).
    static let writebackQueue = DispatchQueue(label: "strata.writeback")

    /// Starts the disk writing an `async` log's written bytes every `writebackChunkBytes`, off
    /// the appender's thread, so that the disk works while appends go on and the next
    /// fdatasync (flush, roll, close) waits for the last chunk only, not for the whole
    /// interval's bytes. Durability is unchanged: a record is durable after an fdatasync, as
    /// before; this only moves the disk's work earlier. `sync` logs fdatasync at every group
    /// commit (or journal checkpoint) and gain nothing from it.
    func startWritebackIfDue(_ s: inout TopicState, path: String, end: Int) {
        guard config.durability == .async, journal == nil else { return }
        let from = s.writebackStarted
        guard end - from >= Self.writebackChunkBytes else { return }
        // One queued call per log: when one is still queued, the next write tries again.
        guard !writebackQueued.exchange(true, ordering: .acquiringAndReleasing) else { return }
        s.writebackStarted = end
        Self.writebackQueue.async { [self] in
            defer { writebackQueued.store(false, ordering: .releasing) }
            // A failure here costs only the head start: the fdatasync that makes these bytes
            // durable reports any write error itself.
            _ = try? files.withFile(path) { (fd) throws(StrataError) in
                FileIO.startWriteback(fd, offset: from, count: end - from)
            }
        }
    }

    /// Tells the registry this log has background work (a flush, an age roll, offload): the first
    /// write after the tick's last visit does, the others find the flag set.
    func markBackgroundWork() {
        guard let backgroundWork, !backgroundWorkMarked.exchange(true, ordering: .acquiringAndReleasing) else { return }
        backgroundWork.mark(name, dueMs: Int64.min)
    }

    // MARK: - Rolling

    func rollIfNeeded(_ s: inout TopicState, incomingBytes: Int, nowMs: Int64) throws(StrataError) {
        let active = s.active
        guard !active.isEmpty else { return }
        let full = active.segmentBytes + incomingBytes > config.segmentBytes
        let old = nowMs - active.createdMs >= config.segmentMs
        if full || old { try roll(&s, nowMs: nowMs) }
    }

    /// Seals the active segment and starts a new one: the old one is fdatasync'ed (with the
    /// directory entries it still needed) and its index written before the new file exists, so
    /// only the last segment can ever have a torn tail.
    func roll(_ s: inout TopicState, nowMs: Int64) throws(StrataError) {
        let active = s.active
        do throws(StrataError) {
            try beforeSegmentFsync()
            try cold.metrics.timed(.segment) { () throws(StrataError) in
                try files.withFile(active.path) { (fd) throws(StrataError) in try FileIO.fdatasync(fd, path: active.path) }
            }
            groupCommit.recordRollFsync(durableUpTo: active.nextOffset)
            try FileIO.writeAtomically(active.indexPath, active.index.encode())
            try writeProducerSnapshot(&s)
            let next = try SegmentLoader.create(
                topic: name, baseOffset: s.writtenOffset, paths: paths,
                intervalBytes: config.indexIntervalBytes, nowMs: nowMs, files: files)
            s.segments[s.segments.count - 1].sealed = true
            s.segments.append(next)
            s.writebackStarted = 0
            // The new file's directory entry becomes durable with its first fsync.
            pendingDirectories.withLock { $0.append(paths.topicDirectory(name)) }
            markBackgroundWork()
        } catch {
            s.failure = error
            groupCommit.stop(error)
            throw error
        }
        readWaiters.publish(visibleEnd: visibleEnd(s))
    }

    /// Seals the active segment if it holds any record (for offload). Returns whether it rolled.
    @discardableResult
    public func sealActiveSegment() throws -> Bool {
        try state.withLock { (s) throws(StrataError) -> Bool in
            // A damaged active segment stays active: sealing it would hand corruption to offload.
            try checkWritable(s, appending: false)
            guard !s.active.isEmpty, s.active.corruption == nil else { return false }
            try roll(&s, nowMs: clock.nowMs())
            return true
        }
    }

    /// Rolls the active segment when it is older than `segmentMs`, even without appends.
    func rollIfAged() {
        state.withLock { s in
            guard s.failure == nil, !s.closed, s.active.corruption == nil else { return }
            try? rollIfNeeded(&s, incomingBytes: 0, nowMs: clock.nowMs())
        }
    }
}
