import Glibc
import StrataBlob
import StrataParquet

/// When an append is acknowledged (ARCHITECTURE.md invariant 2).
public enum Durability: String, Codable, Sendable, CaseIterable {
    /// After fdatasync; concurrent appends share one fsync (group commit). Survives power loss.
    case sync
    /// After the write; flushed every `flushIntervalMs` and on close. Survives a process crash.
    case async
}

/// Per-topic settings, fixed when the topic is created and stored in `topic.json`.
/// Defaults follow ARCHITECTURE.md §5.
public struct TopicConfig: Codable, Sendable, Equatable {
    /// Roll the active segment once it holds this many bytes.
    public var segmentBytes: Int = 128 * 1024 * 1024
    /// Roll the active segment once it is this old.
    public var segmentMs: Int64 = 3_600_000
    public var durability: Durability = .sync
    /// Flush interval of `async` topics.
    public var flushIntervalMs: Int64 = 1000
    /// Delete local sealed segments beyond this many bytes (nil: no byte bound). A segment is
    /// deleted only when the lake's retention gate allows it (committed to the cold tier).
    public var localRetentionBytes: Int64? = nil
    /// Delete local sealed segments sealed longer ago than this (nil: no age bound; default 24 h).
    public var localRetentionMs: Int64? = 86_400_000
    /// Largest record accepted (encoded size).
    public var recordBytesMax: Int = 1024 * 1024
    /// Largest batch accepted (encoded size).
    public var batchBytesMax: Int = 16 * 1024 * 1024
    /// One sparse index entry per this many bytes of batches.
    public var indexIntervalBytes: Int = 4096
    /// Raw bytes per zstd frame of a cold object (ARCHITECTURE.md §5).
    public var coldFrameRawBytes: Int = 1024 * 1024
    /// zstd level of cold objects.
    public var coldCompressionLevel: Int32 = 3
    /// Offload a sealed segment only once it has been sealed this long.
    public var offloadLagMs: Int64 = 0
    /// Total retention by age across both tiers (nil: unlimited).
    public var retentionMs: Int64? = nil
    /// Total retention by size of the cold tier (nil: unlimited).
    public var retentionBytes: Int64? = nil
    /// Keep the topic's Iceberg table (`tables/<topic>/` in the cold store, formats/table.md) in
    /// step with its committed cold manifests (ARCHITECTURE.md §2g).
    public var table: Bool = true
    /// An Iceberg schema (JSON text, formats/table.md "Typed value columns") of the topic's JSON
    /// values: the table then carries those fields as typed columns beside the raw bytes. nil:
    /// raw bytes only.
    public var valueSchema: String? = nil

    public init() {}

    /// Bounds on the settings themselves.
    public static let segmentBytesRange = 1024 ... (Int(UInt32.max) - FormatLimits.batchBytesMax)

    /// Checks every field; throws `invalidArgument` naming the first bad one.
    public func validate() throws(StrataError) {
        func fail(_ field: String, _ why: String) -> StrataError {
            StrataError(.invalidArgument, "topic config \(field) \(why)")
        }
        guard Self.segmentBytesRange.contains(segmentBytes) else {
            throw fail("segmentBytes", "must be in \(Self.segmentBytesRange), is \(segmentBytes)")
        }
        guard segmentMs > 0 else { throw fail("segmentMs", "must be positive, is \(segmentMs)") }
        guard flushIntervalMs > 0 else { throw fail("flushIntervalMs", "must be positive") }
        guard (localRetentionBytes ?? 0) >= 0 else { throw fail("localRetentionBytes", "must not be negative") }
        guard (localRetentionMs ?? 0) >= 0 else { throw fail("localRetentionMs", "must not be negative") }
        guard recordBytesMax > 0, recordBytesMax <= batchBytesMax else {
            throw fail("recordBytesMax", "must be in 1...batchBytesMax (\(batchBytesMax)), is \(recordBytesMax)")
        }
        guard batchBytesMax > BatchHeader.size, batchBytesMax <= FormatLimits.batchBytesMax else {
            throw fail("batchBytesMax", "must be in \(BatchHeader.size + 1)...\(FormatLimits.batchBytesMax)")
        }
        guard indexIntervalBytes > 0 else { throw fail("indexIntervalBytes", "must be positive") }
        guard (1 ... FormatLimits.coldFrameRawBytesMax).contains(coldFrameRawBytes) else {
            throw fail("coldFrameRawBytes", "must be in 1...\(FormatLimits.coldFrameRawBytesMax)")
        }
        guard (1 ... 19).contains(coldCompressionLevel) else { throw fail("coldCompressionLevel", "must be in 1...19") }
        guard offloadLagMs >= 0 else { throw fail("offloadLagMs", "must not be negative") }
        guard (retentionMs ?? 1) > 0, (retentionBytes ?? 1) > 0 else { throw fail("retention", "must be positive") }
        if let valueSchema {
            do {
                _ = try TableValueSchema.parse(icebergJSON: valueSchema)
            } catch {
                throw fail("valueSchema", "is not a usable Iceberg schema: \(error.field) \(error.message)")
            }
        }
    }
}

/// Lake-wide settings that are not stored: how this process runs the lake.
public struct LakeOptions: Sendable {
    public var clock: any StrataClock = SystemClock()
    /// Where the engine's metrics go (Lake/Metrics.swift); nil: `EngineMetrics.global`, the
    /// process's `MetricsSystem` as bootstrapped when the lake opens.
    public var metrics: EngineMetrics? = nil
    /// Bound on open segment files (LRU), ARCHITECTURE.md §5.
    public var maxOpenFiles = 1024
    /// Config for topics created on demand.
    public var defaultTopicConfig = TopicConfig()
    /// Bytes of decompressed cold frames cached (ARCHITECTURE.md §5).
    public var coldCacheBytes = 1 << 30
    /// Retries of transient blob failures, once per request: an S3 store the lake opens from its
    /// URL retries each HTTP request with it, any other store is retried by the cold tier. An
    /// injected S3 store (`coldStore`) keeps its own `S3Config.retry`.
    public var blobRetry = RetryPolicy()
    /// Jitter and sleep between those retries; tests inject one that does not sleep.
    public var blobRetryEnvironment = RetryEnvironment.live
    /// Offload and apply retention in the background while the lake is open.
    public var backgroundOffload = true
    /// Period of the background loop (flush of `async` topics, age rolls, offload), in
    /// milliseconds of `clock`.
    public var backgroundIntervalMs: Int64 = 200
    /// Topics offloaded at once in the background.
    public var offloadConcurrency = 2
    /// Segments a manifest lists before the oldest spill into an archive manifest (formats/manifest.md,
    /// default 1,000). A property of how this process writes manifests, not of the topic:
    /// readers follow archive references whatever bound wrote them. At least 2.
    public var manifestSegmentsMax = 1000
    /// Appends of one `sync` topic written and waiting for their fdatasync (ARCHITECTURE.md invariant
    /// 8). One more is refused with `busy` before anything is written.
    public var syncAppendsWaitingMax = 4096
    /// `sync` appends go through the lake journal (formats/journal.md): one fdatasync of the
    /// journal acknowledges appends to many partitions. Off: each `sync` log fdatasyncs its own
    /// active segment (group commit per log), as before the journal existed.
    public var journal = true
    /// Roll the active journal file once it would exceed this many bytes (default 64 MiB; at
    /// least 64 KiB). A rolled file is deleted once the segments it covers are fdatasync'ed.
    public var journalBytes = 64 * 1024 * 1024
    /// Bytes the open partition logs may hold in memory (each estimated by `Topic.residentBytes`:
    /// segments, sparse indexes, producer state, waiters) before idle ones are closed, least
    /// recently used first; the next lookup opens one again (ARCHITECTURE.md §2j; default 256 MiB,
    /// positive). A log in use, not yet durable or with background work due stays open past it.
    public var partitionMemoryBytes = 256 << 20
    /// Readers long-polling one topic at once (`waitForData`, `Cursor.next(waitMs:)`); one more
    /// gets `busy`.
    public var readWaitersMax = 1024
    /// Cold frames fetched ahead for sequential readers at once, lake-wide. Read-ahead past the
    /// bound is skipped, not queued: the reader fetches that frame itself when it gets there.
    public var coldPrefetchTasksMax = 32
    /// Keys of encrypted cold objects, newest first (formats/keys.md; the CLI reads `--key-ring`
    /// or `STRATA_KEYS`): the newest seals new objects of an encrypting lake, any opens the
    /// objects sealed with it. A writable open of an encrypting lake without one is refused.
    public var keyRing: ColdKeyRing? = nil
    /// Encrypt the cold objects of the lake opened (`lake.json` remembers it, and a lake already
    /// encrypting needs no flag): new objects are sealed with the key ring's newest key; objects
    /// already stored stay as they are and readable. Nil: leave the lake as it is.
    public var encryption: ColdCipher? = nil
    /// A store to use instead of the one `lake.json` names (tests inject fault-injecting stores).
    public var coldStore: (any BlobStore)? = nil
    /// Write topic tables (issue 15) after offload passes, for topics whose config has `table`.
    /// Off, `Lake.syncTable` still runs when called.
    public var tables = true
    /// A table data file is finished once its raw record bytes (key, value, headers, plus 20
    /// per record) reach this (formats/table.md, "Writer rules"; default 128 MiB).
    public var tableFileBytesTarget = 128 << 20

    // Packed cold objects (ARCHITECTURE.md §2k, Cold/PackedOffload.swift).
    /// A packed object is closed once its slices reach about this many bytes (default 32 MiB).
    public var packObjectBytes = 32 << 20
    /// Sealed segments of at most this many raw bytes are packed with other logs' into shared
    /// objects; larger ones keep an object of their own (default 4 MiB; 0 disables packing).
    public var packSegmentBytesMax = 4 << 20
    /// Slices one packed object holds at most (default 4,096; at most `FormatLimits.packSlicesMax`).
    public var packSegmentsMax = 4096
    /// With `backgroundOffload`, compact packed objects (`Lake.compactPacked`) this often, in
    /// milliseconds of `clock` (default one hour; 0: never in the background). The first pass
    /// runs one interval after the open; a pass reads every log's newest manifest.
    public var packedCompactionIntervalMs: Int64 = 3_600_000
    /// The background pass rewrites packed objects whose live slices hold less than this share
    /// of their slices' bytes, in (0, 1] (default 0.5: at most half of what is stored is dead).
    public var packedCompactionLiveBelow = 0.5

    /// Test hook: runs on the group-commit leader before each fdatasync — with the journal, once
    /// for each log that journal fsync covers. Tests use it to hold the first fsync until
    /// concurrent appenders have written, so batching is deterministic; an error it throws is
    /// taken as that fdatasync's failure (tests inject a failed fsync; a failed journal fsync
    /// stops every `sync` log with entries in the journal).
    public var beforeGroupFsync: (@Sendable (Topic) throws(StrataError) -> Void)? = nil

    /// Test hook: runs in `Lake.load` after its first look at the open logs found log `name`
    /// not open, before the log's files are read (outside the registry lock). Tests hold an
    /// open there to race it with a delete or a close.
    var beforeLogFilesRead: (@Sendable (String) -> Void)? = nil

    /// Where the engine reports what it did on its own (recovery truncations, index rebuilds).
    public var log: @Sendable (String) -> Void = { message in
        var err = StandardError()
        print("strata: \(message)", to: &err)
    }

    public init() {}

    /// Checks every bound; throws `invalidArgument` naming the first bad one.
    public func validate() throws(StrataError) {
        let positive: [(String, Int64)] = [
            ("backgroundIntervalMs", backgroundIntervalMs), ("maxOpenFiles", Int64(maxOpenFiles)),
            ("offloadConcurrency", Int64(offloadConcurrency)), ("syncAppendsWaitingMax", Int64(syncAppendsWaitingMax)),
            ("readWaitersMax", Int64(readWaitersMax)), ("coldPrefetchTasksMax", Int64(coldPrefetchTasksMax)),
            ("tableFileBytesTarget", Int64(tableFileBytesTarget)), ("partitionMemoryBytes", Int64(partitionMemoryBytes)),
        ]
        for (field, value) in positive where value < 1 {
            throw StrataError(.invalidArgument, "lake option \(field) must be positive, is \(value)")
        }
        guard journalBytes >= Self.journalBytesMin else {
            throw StrataError(
                .invalidArgument,
                "lake option journalBytes must be at least \(Self.journalBytesMin), is \(journalBytes)")
        }
        guard packedCompactionIntervalMs >= 0 else {
            throw StrataError(
                .invalidArgument,
                "lake option packedCompactionIntervalMs must not be negative, is \(packedCompactionIntervalMs)")
        }
        guard packedCompactionLiveBelow > 0, packedCompactionLiveBelow <= 1 else {
            throw StrataError(
                .invalidArgument,
                "lake option packedCompactionLiveBelow must be in (0, 1], is \(packedCompactionLiveBelow)")
        }
        guard manifestSegmentsMax >= 2 else {
            throw StrataError(
                .invalidArgument,
                "lake option manifestSegmentsMax must be at least 2, is \(manifestSegmentsMax)")
        }
    }

    /// Smallest `journalBytes` (a journal file holds at least one entry of any size: a larger
    /// entry goes into a file of its own).
    public static let journalBytesMin = 64 * 1024

    /// The bounds each topic applies.
    var topicLimits: TopicLimits {
        TopicLimits(syncAppendsWaitingMax: syncAppendsWaitingMax, readWaitersMax: readWaitersMax)
    }
}

/// What one topic may queue (ARCHITECTURE.md invariant 8), from `LakeOptions`.
struct TopicLimits: Sendable {
    var syncAppendsWaitingMax = 4096
    var readWaitersMax = 1024
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

extension TopicConfig {
    private enum CodingKeys: String, CodingKey {
        case segmentBytes, segmentMs, durability, flushIntervalMs, localRetentionBytes, localRetentionMs, recordBytesMax
        case batchBytesMax, indexIntervalBytes, coldFrameRawBytes, coldCompressionLevel, offloadLagMs, retentionMs
        case retentionBytes, table, valueSchema
    }

    /// Missing fields take their defaults, so `topic.json` files from older versions still load.
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        segmentBytes = try c.decodeIfPresent(Int.self, forKey: .segmentBytes) ?? segmentBytes
        segmentMs = try c.decodeIfPresent(Int64.self, forKey: .segmentMs) ?? segmentMs
        durability = try c.decodeIfPresent(Durability.self, forKey: .durability) ?? durability
        flushIntervalMs = try c.decodeIfPresent(Int64.self, forKey: .flushIntervalMs) ?? flushIntervalMs
        localRetentionBytes = try c.decodeIfPresent(Int64.self, forKey: .localRetentionBytes)
        localRetentionMs =
            c.contains(.localRetentionMs)
            ? try c.decodeIfPresent(Int64.self, forKey: .localRetentionMs) : localRetentionMs
        recordBytesMax = try c.decodeIfPresent(Int.self, forKey: .recordBytesMax) ?? recordBytesMax
        batchBytesMax = try c.decodeIfPresent(Int.self, forKey: .batchBytesMax) ?? batchBytesMax
        indexIntervalBytes = try c.decodeIfPresent(Int.self, forKey: .indexIntervalBytes) ?? indexIntervalBytes
        coldFrameRawBytes = try c.decodeIfPresent(Int.self, forKey: .coldFrameRawBytes) ?? coldFrameRawBytes
        coldCompressionLevel = try c.decodeIfPresent(Int32.self, forKey: .coldCompressionLevel) ?? coldCompressionLevel
        offloadLagMs = try c.decodeIfPresent(Int64.self, forKey: .offloadLagMs) ?? offloadLagMs
        retentionMs = try c.decodeIfPresent(Int64.self, forKey: .retentionMs)
        retentionBytes = try c.decodeIfPresent(Int64.self, forKey: .retentionBytes)
        table = try c.decodeIfPresent(Bool.self, forKey: .table) ?? table
        valueSchema = try c.decodeIfPresent(String.self, forKey: .valueSchema)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(segmentBytes, forKey: .segmentBytes)
        try c.encode(segmentMs, forKey: .segmentMs)
        try c.encode(durability, forKey: .durability)
        try c.encode(flushIntervalMs, forKey: .flushIntervalMs)
        try c.encode(localRetentionBytes, forKey: .localRetentionBytes)
        try c.encode(localRetentionMs, forKey: .localRetentionMs)
        try c.encode(recordBytesMax, forKey: .recordBytesMax)
        try c.encode(batchBytesMax, forKey: .batchBytesMax)
        try c.encode(indexIntervalBytes, forKey: .indexIntervalBytes)
        try c.encode(coldFrameRawBytes, forKey: .coldFrameRawBytes)
        try c.encode(coldCompressionLevel, forKey: .coldCompressionLevel)
        try c.encode(offloadLagMs, forKey: .offloadLagMs)
        try c.encode(retentionMs, forKey: .retentionMs)
        try c.encode(retentionBytes, forKey: .retentionBytes)
        try c.encode(table, forKey: .table)
        try c.encodeIfPresent(valueSchema, forKey: .valueSchema)
    }
}
