import Foundation
import Glibc
import StrataBlob
import Synchronization

/// The mount point: one directory holding every topic's hot segments (ARCHITECTURE.md §1).
/// Only one process may have a lake open for writing: `open` takes an exclusive `flock` on
/// `LOCK`. Any number may look at it through `openReadOnly` (ReadOnly.swift), which takes no lock.
public final class Lake: Sendable {
    public let path: String
    let paths: LakePaths
    let options: LakeOptions
    let files: FileCache
    let cold: ColdTier
    /// The cold store URL remembered in `lake.json`.
    public let coldURL: String
    /// -1 for a read-only lake, which holds no lock.
    private let lockFD: Int32
    /// Opened by `openReadOnly`: nothing is written, locked, recovered or run in the background.
    public let isReadOnly: Bool
    /// Open topics, in a box of its own so background work can reach them without keeping the
    /// lake alive (a dropped lake then releases its lock at once).
    let registry = TopicRegistry()
    let closed = Mutex(false)
    private let background = Mutex<Task<Void, Never>?>(nil)
    /// Hands out idempotent producer ids (ProducerIds.swift).
    let producerIds = ProducerIdAllocator()
    /// Partition counts of the topics asked about, so a request per partition reads no file.
    let partitionCounts = Mutex<[String: Int32]>([:])
    /// Held while a partition count is checked and written, so two growths never both pass the
    /// check and the smaller one lands last.
    let partitionCountWrites = Mutex<Void>(())
    /// The group store open on this lake, if any (`GroupStore.open` registers it): deleting a
    /// topic drops its committed offsets through it.
    let groupStore = Mutex(OpenGroupStore())
    /// Keeps the topics' tables in step with the cold tier (Tables/).
    let tables: TableWriter
    /// The journal `sync` logs append through (Journal.swift); nil for a read-only lake or with
    /// `LakeOptions.journal` off.
    let journal: Journal?

    init(
        path: String, options: LakeOptions, lockFD: Int32, cold: ColdTier, coldURL: String, readOnly: Bool = false,
        journal: Journal? = nil
    ) {
        self.path = path
        self.journal = journal
        self.paths = LakePaths(root: path)
        self.options = options
        self.files = FileCache(capacity: options.maxOpenFiles, readOnly: readOnly)
        self.lockFD = lockFD
        self.isReadOnly = readOnly
        self.cold = cold
        self.coldURL = coldURL
        self.tables = TableWriter(cold: cold, paths: paths, coldURL: coldURL, options: options)
    }

    /// A lake dropped without `close()` (a caller that crashed its task, a test simulating a
    /// crash) must not keep its `flock`: the lock fd would leak and the lake could never be
    /// reopened by this process. Nothing is flushed here; recovery handles the rest.
    deinit {
        background.withLock { $0?.cancel() }
        if !closed.withLock({ $0 }) {
            journal?.abandon()
            if lockFD >= 0 { FileIO.close(lockFD) }
        }
    }

    /// Opens (creating if absent) the lake at `path`.
    /// - Parameter cold: the cold store URL for a new lake (default `file://<path>/cold`); an
    ///   existing lake remembers its own, and a different one is an error.
    /// - Throws: `StrataError.locked` when another process has it open; `invalidArgument` for a
    ///   bad or conflicting cold URL; `.io`.
    public static func open(
        _ path: String, cold: String? = nil, options: LakeOptions = LakeOptions()
    ) throws(StrataError) -> Lake {
        let paths = LakePaths(root: path)
        if let cold { _ = try parseColdURL(cold) }
        try options.validate()
        try FileIO.makeDirectories(paths.topicsDirectory)
        let fd = try lock(paths)
        do throws(StrataError) {
            var opened: (any BlobStore)? = options.coldStore
            let config = try LakeConfigFile.loadOrCreate(paths: paths, coldURL: cold) { (config) throws(StrataError) in
                if opened == nil {
                    opened = try openColdStore(
                        try parseColdURL(config.cold), retry: options.blobRetry,
                        retryEnvironment: options.blobRetryEnvironment)
                }
            }
            guard let store = opened else { throw StrataError(.io, "no cold store for \(config.cold)") }
            let tier = ColdTier.forLake(store, paths: paths, options: options, savesLocalCopy: true)
            let journal = try openJournal(paths, options: options, cold: tier)
            let lake = Lake(
                path: path, options: options, lockFD: fd, cold: tier, coldURL: config.cold, journal: journal)
            lake.startBackground()
            return lake
        } catch {
            FileIO.close(fd)
            throw error
        }
    }

    /// Replays the journal a crash left (before any topic is served), then starts a new one.
    private static func openJournal(
        _ paths: LakePaths, options: LakeOptions, cold: ColdTier
    ) throws(StrataError) -> Journal? {
        let files = FileCache(capacity: options.maxOpenFiles, readOnly: false)
        defer { files.closeAll() }
        var recovery = JournalRecovery(paths: paths, files: files, options: options, cold: cold)
        let next = try recovery.run()
        guard options.journal else { return nil }
        return Journal(
            paths: paths, nextSequence: next, fileBytesMax: options.journalBytes, log: options.log,
            beforeFsync: options.beforeGroupFsync)
    }

    /// Takes the exclusive `flock` on `LOCK`. A lock found taken is tried again for a moment
    /// (`lockRetryMs`) before it counts as another process's: a child this process is spawning
    /// holds a copy of every descriptor, the lock's included, from its fork until its exec closes
    /// them (`O_CLOEXEC`), so a lake closed and reopened meanwhile would look locked.
    private static func lock(_ paths: LakePaths) throws(StrataError) -> Int32 {
        let fd = try FileIO.open(paths.lock, flags: O_RDWR | O_CREAT)
        var waitedMs = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK, waitedMs < lockRetryMs {
                usleep(10_000)
                waitedMs += 10
                continue
            }
            FileIO.close(fd)
            if code == EWOULDBLOCK {
                throw StrataError(
                    .locked, "lake \(paths.root) is open in another process; stop it first", file: paths.lock)
            }
            throw FileIO.ioError("flock", paths.lock, errno: code)
        }
        return fd
    }

    /// How long a taken lock is tried again before `open` reports it as another process's.
    static let lockRetryMs = 500

    /// Names of the topics in the lake, sorted (a topic with several partitions is listed once).
    public func topicNames() throws(StrataError) -> [String] {
        try FileIO.listDirectory(paths.topicsDirectory).filter { FileIO.exists(paths.topicConfig($0)) }
    }

    /// The partition logs of every topic that hold anything (`LogName` text), sorted by topic,
    /// then partition: partition 0 of each topic, and each other partition once it has been
    /// used (a partition never written has no directory and no records).
    public func logNames() throws(StrataError) -> [String] {
        var logs: [String] = []
        for topic in try topicNames() {
            let count = try partitionCount(topic)
            let used = try FileIO.listDirectory(paths.topicDirectory(topic)).compactMap(LogName.partitionDirectory)
            logs.append(topic)
            for partition in used.sorted() where partition < count {
                logs.append(LogName(validated: topic, partition: partition).description)
            }
        }
        return logs
    }

    /// The config topics created on demand get (`LakeOptions.defaultTopicConfig`).
    public var defaultTopicConfig: TopicConfig { options.defaultTopicConfig }

    /// Partition 0 of the existing topic `name` (the whole topic when it has one partition).
    /// Opening it recovers its active segment the first time.
    /// - Throws: `notFound`, `invalidArgument` for a bad name.
    public func topic(_ name: String) throws(StrataError) -> Topic {
        try validateTopicName(name)
        if let open = registry.topics.withLock({ $0[name] }) { return open }
        guard FileIO.exists(paths.topicConfig(name)) else {
            throw StrataError(.notFound, "topic '\(name)' does not exist in \(path)", topic: name)
        }
        return try load(LogName(validated: name, partition: 0))
    }

    /// Partition `partition` of the existing topic `topic`. Opening it recovers its active segment
    /// the first time (a partition never written gets its directory then).
    /// - Throws: `notFound` for a missing topic or a partition at or above its count (naming the
    ///   count); `invalidArgument` for a bad name or a negative partition.
    public func partition(_ topic: String, _ partition: Int32) throws(StrataError) -> Topic {
        if partition == 0 { return try self.topic(topic) }
        let log = try logName(topic, partition)
        if let open = registry.topics.withLock({ $0[log.description] }) { return open }
        let count = try partitionCount(topic)
        guard partition < count else {
            throw StrataError(
                .notFound,
                "topic '\(topic)' has \(count) partition\(count == 1 ? "" : "s") (0..<\(count)), not \(partition)",
                topic: topic)
        }
        return try load(log)
    }

    /// How many partitions topic `topic` has (1 for a topic whose `partitions` file is absent, as
    /// every topic written before partitions existed).
    /// - Throws: `notFound` without the topic; `corrupt` for an unreadable `partitions` file.
    public func partitionCount(_ topic: String) throws(StrataError) -> Int32 {
        try validateTopicName(topic)
        if let known = partitionCounts.withLock({ $0[topic] }) { return known }
        guard FileIO.exists(paths.topicConfig(topic)) else {
            throw StrataError(.notFound, "topic '\(topic)' does not exist in \(path)", topic: topic)
        }
        let count = try storedPartitionCount(topic)
        // A reader re-reads the file each time: the writer may grow or recreate the topic.
        if !isReadOnly { partitionCounts.withLock { $0[topic] = count } }
        return count
    }

    /// The count in `partitions` (absent: 1), checked.
    func storedPartitionCount(_ topic: String) throws(StrataError) -> Int32 {
        let file = paths.topicPartitions(topic)
        guard FileIO.exists(file) else { return 1 }
        let bytes = try FileIO.readWholeFile(file)
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let count = Int32(text), count >= 1, count <= FormatLimits.partitionsMax else {
            throw StrataError(
                .corrupt,
                "\(file) is damaged: '\(text.prefix(40))' is not a partition count in 1...\(FormatLimits.partitionsMax); "
                    + "fix it by hand (nothing was changed)", topic: topic, file: file)
        }
        return count
    }

    /// Writes topic `topic`'s partition count (atomically; the file is left absent for 1 on a
    /// new topic, so one-partition topics look as they always did).
    func storePartitionCount(_ topic: String, _ count: Int32) throws(StrataError) {
        try FileIO.writeAtomically(paths.topicPartitions(topic), Array("\(count)\n".utf8))
        partitionCounts.withLock { $0[topic] = count }
    }

    /// The topic `name` (its partition 0), created with `config` (or the lake's default) and
    /// `partitions` partitions when it does not exist. An existing topic keeps its stored config
    /// and partition count.
    public func topic(
        _ name: String, creatingWith config: TopicConfig?, partitions: Int32 = 1
    ) throws(StrataError) -> Topic {
        try validateTopicName(name)
        if let open = registry.topics.withLock({ $0[name] }) { return open }
        if !FileIO.exists(paths.topicConfig(name)) {
            _ = try createIfAbsent(name, config: config, partitions: partitions, strict: false)
        }
        return try load(LogName(validated: name, partition: 0))
    }

    /// Writes topic `name`'s files unless the topic exists, under the lock every partition-count
    /// write takes, so concurrent creators (CreateTopics, Metadata's auto-create, `produce`) agree
    /// on one config and one count.
    /// - Parameter strict: refuse a directory that holds files but no `topic.json` (`createTopic`).
    /// - Returns: true when this call created the topic, false when it already existed.
    func createIfAbsent(
        _ name: String, config: TopicConfig?, partitions: Int32, strict: Bool
    ) throws(StrataError) -> Bool {
        try partitionCountWrites.withLock { (_) throws(StrataError) -> Bool in
            try refuseIfDeleting(name)
            guard !FileIO.exists(paths.topicConfig(name)) else { return false }
            try refuseIfReadOnly("create topic '\(name)'")
            guard partitions >= 1, partitions <= FormatLimits.partitionsMax else {
                throw StrataError(
                    .invalidArgument, "a topic has 1...\(FormatLimits.partitionsMax) partitions, not \(partitions)",
                    topic: name)
            }
            let config = config ?? options.defaultTopicConfig
            try config.validate()
            // A topic deleted and now created again: its old entries must never replay into it.
            try journal?.forget(topic: name)
            if strict, FileIO.exists(paths.topicDirectory(name)),
                !(try FileIO.listDirectory(paths.topicDirectory(name)).isEmpty)
            {
                throw StrataError(
                    .invalidArgument,
                    "\(paths.topicDirectory(name)) holds files but no topic.json; move it aside first",
                    topic: name, file: paths.topicDirectory(name))
            }
            try FileIO.makeDirectories(paths.topicDirectory(name))
            // The count is in place before `topic.json`, whose existence is the topic's; a count
            // left by a create that crashed before its `topic.json` goes.
            if partitions > 1 {
                try storePartitionCount(name, partitions)
            } else if FileIO.exists(paths.topicPartitions(name)) {
                try FileIO.remove(paths.topicPartitions(name))
            }
            try FileIO.writeAtomically(paths.topicConfig(name), try encodeJSON(config))
            try FileIO.fsyncDirectory(paths.topicsDirectory)
            partitionCounts.withLock { $0[name] = partitions }
            return true
        }
    }

    private func load(_ log: LogName) throws(StrataError) -> Topic {
        let name = log.description
        if closed.withLock({ $0 }) { throw StrataError(.closed, "lake is closed", topic: name) }
        let configFile = paths.topicConfig(log.topic)
        let config: TopicConfig = try decodeJSON(try FileIO.readWholeFile(configFile), file: configFile)
        // Topics open under the registry lock so two callers never recover one directory twice.
        return try registry.topics.withLock { (open) throws(StrataError) -> Topic in
            if let existing = open[name] { return existing }
            // `deleteTopic` renames `topic.json` before it lists the open logs under this lock:
            // checked here, a log is either listed (and retired) or never opened.
            guard FileIO.exists(configFile) else {
                throw StrataError(.notFound, "topic '\(log.topic)' does not exist in \(path)", topic: name)
            }
            // A read-only lake sees a partition never written as an empty log (ReadOnlySegmentLoader).
            if log.partition > 0, !isReadOnly, !FileIO.exists(paths.topicDirectory(name)) {
                try FileIO.makeDirectories(paths.topicDirectory(name))
                try FileIO.fsyncDirectory(paths.topicDirectory(log.topic))
            }
            let topic =
                isReadOnly
                ? try Topic.openReadOnly(
                    name: name, config: config, paths: paths, files: files, clock: options.clock,
                    log: options.log, cold: cold, startOffset: startOffset(name))
                : try Topic.open(
                    name: name, config: config, paths: paths, files: files, clock: options.clock,
                    log: options.log, cold: cold, startOffset: startOffset(name),
                    limits: options.topicLimits, beforeGroupFsync: options.beforeGroupFsync, journal: journal)
            try topic.loadLogStart()
            if !isReadOnly { try topic.recoverProducerState() }
            open[name] = topic
            return topic
        }
    }

    /// Flushes every topic, stops background work and releases the lock. The lake cannot be
    /// used afterwards, also when this throws: every topic is closed and the lock released
    /// whatever fails.
    /// - Throws: `io` naming the first topic whose final flush (fdatasync) failed: records
    ///   written to it since its last flush may not be durable.
    public func close() async throws(StrataError) {
        let alreadyClosed = closed.withLock { c in
            defer { c = true }
            return c
        }
        guard !alreadyClosed else { return }
        let task = background.withLock { t in
            t?.cancel()
            return t
        }
        await task?.value
        await tables.stopBackgroundPass()
        var firstFailure: StrataError? = nil
        for topic in registry.topics.withLock({ Array($0.values) }) {
            do throws(StrataError) { try await topic.close() } catch {
                options.log("close topic=\(topic.name): final flush failed: \(error)")
                firstFailure = firstFailure ?? error
            }
        }
        do throws(StrataError) { try journal?.close() } catch {
            options.log("close: journal checkpoint failed, the journal is kept for recovery: \(error)")
            firstFailure = firstFailure ?? error
        }
        files.closeAll()
        if lockFD >= 0 { FileIO.close(lockFD) }
        if let firstFailure { throw firstFailure }
    }

    /// Flushes `async` topics on their interval and rolls segments that outlived `segmentMs`,
    /// every `backgroundIntervalMs` of the lake's clock (a test's manual clock drives it).
    private func startBackground() {
        let (registry, options, tables, journal) = (self.registry, self.options, self.tables, self.journal)
        let task = Task.detached {
            while !Task.isCancelled {
                do { try await options.clock.sleep(ms: options.backgroundIntervalMs) } catch { return }
                if Task.isCancelled { return }
                // Deletes rolled journal files a roll-triggered checkpoint could not (off the pool).
                if let journal { DispatchQueue.global().async { journal.checkpoint() } }
                await Self.backgroundTick(registry, options, tables, waitForTables: false)
            }
        }
        background.withLock { $0 = task }
    }

    /// One round of background work (internal so tests drive it with a manual clock); it waits
    /// for the table passes it starts, so a test sees their outcome when it returns.
    func backgroundTick() async { await Self.backgroundTick(registry, options, tables, waitForTables: true) }

    private static func backgroundTick(
        _ registry: TopicRegistry, _ options: LakeOptions, _ tables: TableWriter, waitForTables: Bool
    ) async {
        let now = options.clock.nowMs()
        let open = registry.topics.withLock { Array($0.values) }
        for topic in open {
            topic.rollIfAged()
            if topic.config.durability == .async, topic.flushDue(nowMs: now) { try? await topic.flush() }
        }
        guard options.backgroundOffload else { return }
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for topic in open {
                if running >= options.offloadConcurrency {
                    await group.next()
                    running -= 1
                }
                group.addTask { await maintain(topic, options) }
                running += 1
            }
        }
        // Tables follow what this tick committed, in a task of their own: a slow or failing table
        // pass never holds up the next tick's offload, retention, rolls or flushes.
        let pass = tables.startBackgroundPass(open)
        if waitForTables { await pass?.value }
    }

    /// One background pass over a topic: offload what is sealed, then apply retention.
    private static func maintain(_ topic: Topic, _ options: LakeOptions) async {
        do {
            try await topic.offloadSealed(lagMs: topic.config.offloadLagMs)
            try await topic.applyRetention()
        } catch {
            if !Task.isCancelled { options.log("background offload topic=\(topic.name): \(error)") }
        }
    }

    /// Offloads now: seals active segments (when `seal`), uploads every sealed segment, and with
    /// `evict` deletes every local segment already committed to the cold tier.
    /// - Parameter topicName: one topic, or every topic when nil.
    public func offload(
        topic topicName: String? = nil, seal: Bool = true, evict: Bool = false
    ) async throws -> OffloadReport {
        try refuseIfReadOnly("offload")
        var total = OffloadReport()
        var names = try logNames()
        if let topicName {
            _ = try partitionCount(topicName)  // `notFound` for a missing topic
            names = names.filter { $0 == topicName || $0.hasPrefix(topicName + "/") }
        }
        for name in names {
            let topic = try self.log(name)
            if seal { try topic.sealActiveSegment() }
            let report = try await topic.offloadSealed(wait: true)
            total.segmentsOffloaded += report.segmentsOffloaded
            total.rawBytes += report.rawBytes
            total.objectBytes += report.objectBytes
            total.blocked += report.blocked
            if !report.blocked.isEmpty { total.blockedTopics.append(name) }
            total.segmentsEvicted += try await evict ? topic.evictCommitted() : topic.applyRetention()
        }
        await syncTables(afterOffloadOf: names)
        return total
    }

    /// The partition log called `name` (`LogName` text: `orders`, `orders/3`).
    /// - Throws: as `partition(_:_:)`.
    public func log(_ name: String) throws(StrataError) -> Topic {
        let log = try validateLogName(name)
        return try partition(log.topic, log.partition)
    }

    /// fdatasync calls of the lake journal since the lake opened (nil without a journal: each
    /// `sync` log then counts its own, `Topic.fsyncCount`). One covers appends to many logs, so
    /// the logs' counts summed would count it once per log it covered.
    public var journalFsyncCount: Int? { journal?.fsyncCount }

    /// Counters of the cold store and its frame cache since the lake opened.
    public var coldStats: (blob: BlobStats, cacheHits: Int, cacheMisses: Int) {
        (cold.store.snapshot, cold.frames.hits, cold.frames.misses)
    }

    /// Where a new topic's first segment starts: after whatever the cold tier already holds
    /// (a lake rebuilt by `recover`).
    private func startOffset(_ name: String) -> Int64 { Self.startOffset(paths, name) }

    static func startOffset(_ paths: LakePaths, _ name: String) -> Int64 {
        guard let bytes = try? FileIO.readWholeFile(paths.topicStart(name)),
            let text = String(validating: bytes, as: UTF8.self)
        else { return 0 }
        return Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }
}

func encodeJSON<T: Encodable>(_ value: T) throws(StrataError) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    do { return Array(try encoder.encode(value)) } catch {
        throw StrataError(.invalidArgument, "cannot encode JSON: \(error)")
    }
}

func decodeJSON<T: Decodable>(_ bytes: [UInt8], file: String) throws(StrataError) -> T {
    do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch {
        throw StrataError(
            .corrupt,
            "\(file) is damaged: \(describeDecodingFailure(error, bytes: bytes)); "
                + "restore it from a backup or fix it by hand (nothing was changed)", file: file)
    }
}

/// The lake's open topics.
final class TopicRegistry: Sendable {
    let topics = Mutex<[String: Topic]>([:])
}
