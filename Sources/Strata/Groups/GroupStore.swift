import Synchronization

/// How a `GroupStore` bounds its log (formats/groups.md, "Checkpoints").
public struct GroupStoreOptions: Sendable {
    /// A checkpoint is written once the records since the last one exceed
    /// `max(compactionBytesMin, compactionRatio × the state's size)` bytes (keys and values).
    public var compactionBytesMin: Int64 = 4 << 20
    public var compactionRatio: Int64 = 4
    /// Bytes of state per checkpoint chunk (lowered to fit the topic's record limit).
    public var checkpointChunkBytes = 512 << 10
    /// Bytes of records per checkpoint batch (lowered to fit the topic's batch limit).
    public var checkpointBatchBytes = 4 << 20
    /// Test hook: false leaves the log untrimmed after a checkpoint (a crash before the trim).
    var trimsAfterCheckpoint = true

    public init() {}
}

/// The durable state of consumer groups (ARCHITECTURE.md invariant 13): committed offsets and the
/// membership of each group's last completed generation, in the lake's internal topic
/// `__consumer_offsets` (formats/groups.md). `strata serve`'s coordinator writes through it; every
/// write is one append of one batch and returns once the append does (after fdatasync with the
/// lake's default `sync` durability). Writes are serialised; a write that throws changed nothing.
/// One store per lake: the lake's writer opens it; readers use `GroupStore.read`.
public final class GroupStore: Sendable {
    /// The internal topic (one partition) that holds the records.
    public static let topicName = "__consumer_offsets"

    private struct State: Sendable {
        var log: GroupLog
        /// The state's size when last measured: the next checkpoint is due at `compactionRatio`
        /// times it.
        var liveBytes: Int64
        var closed = false
        /// Set when the log and memory may disagree (a write appended but could not be applied):
        /// writes are refused until the lake is reopened.
        var failure: StrataError?
    }

    let lake: Lake
    let options: GroupStoreOptions
    private let state: Mutex<State>
    /// Held by every write, checkpoints included, so they never interleave.
    private let writes = AsyncLock()
    /// The running trim (`deleteRecords` after a checkpoint), awaited by `close` and the next trim.
    private let trim = Mutex<Task<Void, Never>?>(nil)

    private init(lake: Lake, options: GroupStoreOptions, log: GroupLog) {
        self.lake = lake
        self.options = options
        self.state = Mutex(State(log: log, liveBytes: log.stateBytesAtCheckpoint))
    }

    /// Opens the store of a writable lake: replays `__consumer_offsets` from its log start across
    /// both tiers (the first write creates the topic, with the lake's default config and no total
    /// or local retention, formats/groups.md "The topic"), drops the offsets of topics the lake no longer
    /// has (one tombstone each, in one write) and finishes a trim a crash interrupted.
    /// - Throws: `readOnly` for a read-only lake; `corrupt` naming the offset of a record that
    ///   is not a group record or of a damaged checkpoint (nothing is written); `invalidArgument`
    ///   when the topic was given total retention; `io`, `closed`.
    public static func open(
        _ lake: Lake, options: GroupStoreOptions = GroupStoreOptions()
    ) async throws(StrataError) -> GroupStore {
        try lake.refuseIfReadOnly("open the group store")
        // The topic appears with the first write: a lake no group ever used has none.
        let topic: Topic?
        do { topic = try lake.topic(topicName) } catch  where error.code == .notFound { topic = nil }
        if let topic { try checkConfig(topic.config) }
        var log = GroupLog()
        if let topic { log = try await replay(topic) }
        for (id, offset) in log.abandoned {
            lake.options.log(
                "\(topicName): checkpoint \(id) from offset \(offset) was interrupted; replayed without it")
        }
        let store = GroupStore(lake: lake, options: options, log: log)
        try await store.dropDeletedTopics()
        lake.groupStore.withLock { $0.store = store }
        if let topic, let checkpoint = log.checkpointOffset, try await checkpoint > topic.logStartOffset() {
            store.trimLog(before: checkpoint)
        }
        await store.writes.lock()
        await store.checkpointIfDue()
        store.writes.unlock()
        return store
    }

    /// The groups stored in `lake`, read without writing anything: for a lake opened with
    /// `Lake.openReadOnly` (also beside a running writer, whose last batch may be in flight: the
    /// replay stops at the last whole batch). Offsets of deleted topics are included, as stored.
    /// - Returns: no groups when the lake has no `__consumer_offsets`.
    /// - Throws: `corrupt` naming the offset of a bad record; `io`.
    public static func read(_ lake: Lake) async throws(StrataError) -> [String: StoredGroup] {
        let topic: Topic
        do { topic = try lake.topic(topicName) } catch  where error.code == .notFound { return [:] }
        // A writer's trim can remove the records this replay is reading: start again from the
        // new log start (re-read: a replay from before it could begin inside an older,
        // interrupted checkpoint).
        for attempt in 0 ..< 5 {
            do throws(StrataError) {
                try topic.loadLogStart()
                try topic.refresh()
                return try await replay(topic).groups
            } catch  where attempt < 4 && (error.code == .offsetOutOfRange || error.code == .notFound) {
                continue
            }
        }
        return [:]  // not reached: the last attempt throws
    }

    /// The state rebuilt at open plus every write since: each group with its last membership and
    /// committed offsets.
    public func groups() async -> [String: StoredGroup] { state.withLock { $0.log.groups } }

    /// Stores `offsets` for `group` in one atomic write (all or none).
    /// - Throws: `invalidArgument` naming the field (a string over 32,767 bytes, a bad topic name,
    ///   a negative partition; nothing written); `tooLarge` past the topic's batch limit;
    ///   `closed`; `io`.
    public func commitOffsets(
        _ group: String, _ offsets: [GroupTopicPartition: CommittedOffset]
    ) async throws(StrataError) {
        guard !offsets.isEmpty else { return }
        let records = offsets.keys.sorted().compactMap { partition in
            offsets[partition].map {
                GroupRecord.offsetCommit(
                    group: group, topic: partition.topic, partition: partition.partition, $0)
            }
        }
        try await write(records, for: group)
    }

    /// Stores the membership of a completed generation, or of a group that emptied.
    /// - Throws: as `commitOffsets`.
    public func storeMetadata(_ group: String, _ metadata: GroupMetadataRecord) async throws(StrataError) {
        try await write([.groupMetadata(group: group, metadata)], for: group)
    }

    /// Forgets `group`: its membership and every committed offset (nothing is written for a group
    /// the store does not have).
    /// - Throws: as `commitOffsets`.
    public func deleteGroup(_ group: String) async throws(StrataError) {
        guard state.withLock({ $0.log.groups[group] != nil }) else { return }
        try await write([.groupTombstone(group: group)], for: group)
    }

    /// Forgets every group's offsets of the deleted topic `topic` (nothing is written when no
    /// group has any).
    /// - Throws: as `commitOffsets`.
    public func dropTopic(_ topic: String) async throws(StrataError) {
        let held = state.withLock { s in s.log.groups.values.contains { $0.offsets.keys.contains { $0.topic == topic } }
        }
        guard held else { return }
        try await write([.topicTombstone(topic: topic)], for: nil)
    }

    /// Refuses further writes and waits for a running trim. The lake stays open (it is the
    /// caller's).
    public func close() async {
        await writes.lock()
        state.withLock { $0.closed = true }
        writes.unlock()
        await waitForTrim()
        lake.groupStore.withLock { if $0.store === self { $0.store = nil } }
    }

    // MARK: - Writing

    /// Appends `records` as one batch and applies them.
    private func write(_ records: [GroupRecord], for group: String?) async throws(StrataError) {
        let encoded = try Self.encode(records, group: group)
        await writes.lock()
        defer { writes.unlock() }
        try checkWritable()
        let topic = try lake.topic(Self.topicName, creatingWith: Self.internalConfig(lake.defaultTopicConfig))
        try await append(encoded, to: topic)
        await checkpointIfDue()
    }

    private func checkWritable() throws(StrataError) {
        try state.withLock { (s) throws(StrataError) in
            if s.closed { throw StrataError(.closed, "the group store is closed", topic: Self.topicName) }
            if let failure = s.failure {
                throw StrataError(
                    .closed, "the group store stopped after a failure; reopen the lake", topic: Self.topicName,
                    cause: failure.description)
            }
        }
    }

    private static func encode(
        _ records: [GroupRecord], group: String?
    ) throws(StrataError) -> [(key: [UInt8], value: [UInt8]?)] {
        var encoded: [(key: [UInt8], value: [UInt8]?)] = []
        encoded.reserveCapacity(records.count)
        for record in records {
            do throws(FormatError) { encoded.append(try GroupRecordCodec.encode(record)) } catch {
                let owner = group.map { "group '\($0.prefix(100))'" } ?? "the group store"
                throw StrataError(
                    .invalidArgument, "\(owner): \(error.field) \(error.message); nothing was written",
                    topic: topicName)
            }
        }
        return encoded
    }

    /// One `Topic.append` of `records`, then the same records applied to memory at their offsets.
    @discardableResult
    private func append(
        _ records: [(key: [UInt8], value: [UInt8]?)], to topic: Topic
    ) async throws(StrataError) -> AppendResult {
        let result: AppendResult
        do {
            result = try await topic.append(records.map { ProducerRecord(key: $0.key, value: $0.value) })
        } catch let error as StrataError {
            throw error
        } catch {
            throw StrataError(.io, "append to \(Self.topicName) failed", topic: Self.topicName, cause: "\(error)")
        }
        try state.withLock { (s) throws(StrataError) in
            do throws(StrataError) {
                for (i, record) in records.enumerated() {
                    try s.log.apply(key: record.key, value: record.value, offset: result.firstOffset + Int64(i))
                }
            } catch {
                s.failure = error
                throw error
            }
        }
        return result
    }

    /// Writes one tombstone per topic the lake no longer has that some group holds offsets of.
    private func dropDeletedTopics() async throws(StrataError) {
        let existing = Set(try lake.topicNames())
        let held = state.withLock { s in Set(s.log.groups.values.flatMap { $0.offsets.keys.map(\.topic) }) }
        let deleted = held.subtracting(existing).sorted()
        guard !deleted.isEmpty else { return }
        let dropped = state.withLock { s in
            s.log.groups.values.reduce(0) { $0 + $1.offsets.keys.filter { deleted.contains($0.topic) }.count }
        }
        try await write(deleted.map { .topicTombstone(topic: $0) }, for: nil)
        let names = deleted.joined(separator: ", ")
        lake.options.log("\(Self.topicName): dropped \(dropped) committed offsets of deleted topics \(names)")
    }

    // MARK: - Checkpoints

    /// Writes a checkpoint when the log since the last one exceeds its bound, then trims the log
    /// before it. Called holding `writes`; a failure is logged, never thrown: the write that
    /// triggered it is already durable, and an interrupted checkpoint is abandoned on replay.
    private func checkpointIfDue() async {
        let (since, live, groups) = state.withLock { s in (s.log.bytesSinceCheckpoint, s.liveBytes, s.log.groups) }
        guard since > max(options.compactionBytesMin, options.compactionRatio * live) else { return }
        do throws(StrataError) {
            let stateBytes: [UInt8]
            do throws(FormatError) {
                stateBytes = try GroupRecordCodec.encodeState(GroupLog.stateEntries(groups))
            } catch {
                throw StrataError(.invalidArgument, "checkpoint state: \(error)", topic: Self.topicName)
            }
            state.withLock { $0.liveBytes = Int64(stateBytes.count) }
            // Measured now: the state may be larger than last thought, and then the log is not due yet.
            guard since > options.compactionRatio * Int64(stateBytes.count) else { return }
            let topic = try lake.topic(Self.topicName)
            let begin = try await writeCheckpoint(stateBytes, to: topic)
            if options.trimsAfterCheckpoint { trimLog(before: begin) }
        } catch {
            lake.options.log(
                "\(Self.topicName): checkpoint failed (the log keeps growing until one succeeds): \(error)")
        }
    }

    /// Appends one checkpoint of `stateBytes` in batches that fit the topic's limits.
    /// - Returns: the offset of its `begin`.
    private func writeCheckpoint(_ stateBytes: [UInt8], to topic: Topic) async throws(StrataError) -> Int64 {
        let batchBytes = max(1024, min(options.checkpointBatchBytes, topic.config.batchBytesMax - 1024))
        let chunkBytes = max(256, min(options.checkpointChunkBytes, topic.config.recordBytesMax - 256, batchBytes / 2))
        let id = state.withLock { $0.log.checkpointId } + 1
        let records: [GroupRecord]
        do throws(FormatError) {
            records = try GroupRecordCodec.checkpoint(id: id, state: stateBytes, chunkBytes: chunkBytes)
        } catch {
            throw StrataError(.tooLarge, "checkpoint state: \(error)", topic: Self.topicName)
        }
        let encoded = try Self.encode(records, group: nil)
        var batch: [(key: [UInt8], value: [UInt8]?)] = []
        var size = 0
        var begin: Int64? = nil
        for record in encoded {
            let recordBytes = record.key.count + (record.value?.count ?? 0) + 32
            if !batch.isEmpty, size + recordBytes > batchBytes {
                let first = try await append(batch, to: topic).firstOffset
                begin = begin ?? first
                (batch, size) = ([], 0)
            }
            batch.append(record)
            size += recordBytes
        }
        let first = try await append(batch, to: topic).firstOffset
        begin = begin ?? first
        guard let begin, state.withLock({ $0.log.checkpointOffset }) == begin else {
            throw StrataError(.io, "checkpoint \(id) was written but did not complete", topic: Self.topicName)
        }
        return begin
    }

    /// Deletes the records before `offset` (a complete checkpoint's begin) in the background,
    /// after any trim still running.
    private func trimLog(before offset: Int64) {
        let (lake, log) = (self.lake, lake.options.log)
        trim.withLock { running in
            let previous = running
            running = Task {
                await previous?.value
                do throws(StrataError) {
                    _ = try await lake.topic(Self.topicName).deleteRecords(before: offset)
                } catch {
                    log(
                        "\(Self.topicName): trim before offset \(offset) failed (the next checkpoint retries): \(error)"
                    )
                }
            }
        }
    }

    /// Waits for the trim running now, if any (tests and `close`).
    func waitForTrim() async {
        let running = trim.withLock { $0 }
        await running?.value
    }

    /// Offset of the last complete checkpoint's begin (tests).
    var checkpointOffset: Int64? { state.withLock { $0.log.checkpointOffset } }

    // MARK: - The topic

    /// The config `__consumer_offsets` is created with (formats/groups.md, "The topic").
    static func internalConfig(_ base: TopicConfig) -> TopicConfig {
        var config = base
        config.retentionMs = nil
        config.retentionBytes = nil
        config.localRetentionMs = nil
        config.localRetentionBytes = nil
        config.segmentBytes = max(TopicConfig.segmentBytesRange.lowerBound, min(base.segmentBytes, 16 << 20))
        config.recordBytesMax = config.batchBytesMax
        return config
    }

    private static func checkConfig(_ config: TopicConfig) throws(StrataError) {
        for (key, value) in [("retentionMs", config.retentionMs), ("retentionBytes", config.retentionBytes)] {
            guard let value else { continue }
            throw StrataError(
                .invalidArgument,
                "topic \(topicName) has \(key)=\(value): total retention would delete committed offsets still in "
                    + "use; remove it with `strata topics alter-config` (nothing was changed)", topic: topicName)
        }
    }

    /// Every record from the log start to the high watermark, both tiers, applied in order.
    /// A reader beside a trimming writer can begin below the log start the writer has just
    /// moved (inside an older checkpoint, whose records then read as damage): when the stored
    /// log start has moved past where the replay began, it starts again there.
    static func replay(_ topic: Topic) async throws(StrataError) -> GroupLog {
        var attempt = 0
        while true {
            let start = try await topic.logStartOffset()
            do throws(StrataError) {
                return try await replay(topic, from: start)
            } catch  where error.code == .corrupt && attempt < 4 {
                try topic.loadLogStart()
                guard try await topic.logStartOffset() > start else { throw error }
                attempt += 1
            }
        }
    }

    private static func replay(_ topic: Topic, from start: Int64) async throws(StrataError) -> GroupLog {
        var log = GroupLog()
        var next = start
        let end = topic.highWatermark
        while next < end {
            let result = try await topic.read(from: next)
            for record in result.records where record.offset < end {
                try log.apply(key: record.key, value: record.value, offset: record.offset)
            }
            guard result.nextOffset > next else {
                throw GroupLog.corrupt(next, "the replay stopped here, before the high watermark \(end)")
            }
            next = result.nextOffset
        }
        log.finish()
        return log
    }
}

/// The lake's reference to its open group store (weak: the store holds the lake).
struct OpenGroupStore: Sendable {
    weak var store: GroupStore?
}

extension Lake {
    /// Drops every group's committed offsets of `topic` (being deleted): through the open
    /// store, or through one opened for it when the lake has group state and none is open.
    func dropGroupOffsets(of topic: String) async throws(StrataError) {
        guard topic != GroupStore.topicName else { return }
        if let store = groupStore.withLock({ $0.store }) { return try await store.dropTopic(topic) }
        guard catalog.exists(GroupStore.topicName) else { return }
        // Its open drops the offsets of every topic the lake no longer lists, this one included.
        let store = try await GroupStore.open(self)
        await store.close()
    }
}
