import StrataBlob
import Synchronization

/// How a `ColdLog` reads its store.
public struct ColdLogOptions: Sendable {
    /// Bytes of decompressed frames cached. A sequential reader needs the current frame and the
    /// read-ahead ones (ARCHITECTURE.md §5: 2 frames of 1 MiB), so the default leaves ample room.
    public var cacheBytes = 64 * 1024 * 1024
    /// Retries of transient blob failures, once per request (as `LakeOptions.blobRetry`).
    public var retry = RetryPolicy()
    /// Jitter and sleep between those retries; tests inject one that does not sleep.
    public var retryEnvironment = RetryEnvironment.live
    public var clock: any StrataClock = SystemClock()
    /// A store to read instead of the one the URL names (tests inject memory or faulty stores).
    public var store: (any BlobStore)? = nil
    /// Keys of encrypted objects (formats/keys.md); nil: only plain objects can be read.
    public var keyRing: ColdKeyRing? = nil
    /// Where its blob requests and cold cache lookups are counted (Lake/Metrics.swift); nil:
    /// `EngineMetrics.global`, as for a lake.
    public var metrics: EngineMetrics? = nil

    public init() {}
}

/// A read-only view of a cold store: how a batch job reads the bucket, with no lake directory,
/// no lock and no running broker. It never writes to the store.
///
/// Reads of a topic use the manifest this view loaded last (the first read loads it; `manifest(_:)`
/// reloads it), so one job sees one consistent snapshot even while a lake keeps offloading.
public final class ColdLog: Sendable {
    /// Where the store is, safe to print (`file:///…`, `s3://…`).
    public let location: String
    let cold: ColdTier
    private let descriptorChecked = Mutex(false)

    private init(location: String, cold: ColdTier) {
        self.location = location
        self.cold = cold
    }

    /// Opens the cold store at `url` for reading.
    /// - Parameters:
    ///   - url: `file:///abs/path` or `s3://bucket/prefix`.
    ///   - options: cache size, retries, clock, or an injected store.
    /// - Returns: the view; nothing is read from the store until the first call.
    /// - Throws: `invalidArgument` for a bad URL; `notFound` when a `file://` store's directory
    ///   does not exist (this view never creates it); `io` when the store cannot be opened.
    public static func open(_ url: String, options: ColdLogOptions = .init()) throws(StrataError) -> ColdLog {
        let parsed = try parseColdURL(url)
        let store: any BlobStore
        if let injected = options.store {
            store = injected
        } else {
            if case .file(let path) = parsed, !FileIO.exists(path) {
                throw StrataError(
                    .notFound, "cold store \(url) does not exist: there is no directory \(path)", file: path)
            }
            store = try openColdStore(parsed, retry: options.retry, retryEnvironment: options.retryEnvironment)
        }
        let tier = ColdTier(
            store: store, cacheBytes: options.cacheBytes, retry: options.retry,
            retryEnvironment: options.retryEnvironment, clock: options.clock,
            log: { _ in }, localManifestPath: nil, metrics: options.metrics ?? .global, keys: options.keyRing)
        return ColdLog(location: store.location, cold: tier)
    }

    /// Blob requests and bytes this view has made so far.
    public var stats: BlobStats { cold.store.snapshot }

    /// Names of the topics that have a manifest in the store (for any partition), sorted. Lists
    /// every key under `topics/`, so it costs one listing of the whole bucket.
    /// - Throws: `notFound` when the store holds no Strata lake; `io`.
    public func topicNames() async throws(StrataError) -> [String] {
        var topics: [String] = []
        for log in try await logNames() {
            let topic = String(log.prefix { $0 != "/" })
            if topics.last != topic { topics.append(topic) }
        }
        return topics
    }

    /// The logs that have a manifest in the store (`LogName` text: `orders`, `orders/3`), sorted
    /// by topic, then partition. Every method below that takes a `topic` takes a log name: a
    /// topic name alone is its partition 0.
    /// - Throws: `notFound` when the store holds no Strata lake; `io`.
    public func logNames() async throws(StrataError) -> [String] {
        try await checkDescriptor()
        return try await cold.logNames()
    }

    /// The newest manifest of `topic`, read fresh from the store; later reads use it.
    /// - Returns: nil when the store has no manifest for `topic`.
    /// - Throws: `invalidArgument` for a bad topic name; `notFound` when the store holds no
    ///   Strata lake; `corrupt` for an unreadable manifest; `io`.
    public func manifest(_ topic: String) async throws(StrataError) -> Manifest? {
        try validateLogName(topic)
        try await checkDescriptor()
        return try await cold.latestManifest(topic, refresh: true)
    }

    /// The offsets the store holds for `topic`: `[logStartOffset, nextOffset)`, possibly empty.
    /// - Throws: `notFound` naming the topic and the store (and the topics it has) for an
    ///   unknown topic; what `manifest(_:)` throws.
    public func offsets(_ topic: String) async throws(StrataError) -> Range<Int64> {
        let manifest = try await pinnedManifest(topic)
        return Self.offsets(of: manifest)
    }

    /// The records of `topic` in `range` (offsets, upper bound exclusive), as an async sequence
    /// of batches in offset order. Each step reads at most one cold frame (one ranged GET) and
    /// starts fetching the next frames, so memory stays bounded by the frame cache.
    /// - Throws: `offsetOutOfRange` (with `validRange`) when `range` is not inside `offsets(_:)`;
    ///   `notFound` for an unknown topic. Iterating throws `corrupt` or `notFound` naming the
    ///   object when stored bytes are damaged or missing — data is never skipped.
    public func records(_ topic: String, in range: Range<Int64>) async throws(StrataError) -> ColdRecords {
        let manifest = try await pinnedManifest(topic)
        let valid = Self.offsets(of: manifest)
        guard range.isEmpty || (range.lowerBound >= valid.lowerBound && range.upperBound <= valid.upperBound) else {
            throw StrataError(
                .offsetOutOfRange,
                "offsets [\(range.lowerBound), \(range.upperBound)) are outside the topic's offsets "
                    + "[\(valid.lowerBound), \(valid.upperBound)) in \(location)",
                topic: topic, validRange: valid.lowerBound ... valid.upperBound)
        }
        return ColdRecords(
            cold: cold, topic: topic, manifest: manifest, nextOffset: range.lowerBound,
            endOffset: range.isEmpty ? range.lowerBound : range.upperBound)
    }

    /// `records(_:in:)` as batch views: the records of `range` read in place from the frames'
    /// bytes (no `Record` built, no batch copied), about 1 MiB of batches per step, each frame
    /// and batch checked once as it is decoded. Same bounds and errors as `records(_:in:)`.
    public func batches(_ topic: String, in range: Range<Int64>) async throws(StrataError) -> ColdBatches {
        ColdBatches(records: try await records(topic, in: range))
    }

    /// The first offset of `topic` whose record has timestamp ≥ `timestamp` (milliseconds since
    /// the epoch), like Kafka's offsetsForTimes.
    /// - Returns: nil when every record is older.
    /// - Throws: `notFound` for an unknown topic; `corrupt`, `io` while reading.
    public func offset(forTimestamp timestamp: Int64, topic: String) async throws(StrataError) -> Int64? {
        let manifest = try await pinnedManifest(topic)
        return try await cold.offset(forTimestamp: timestamp, topic: topic, manifest: manifest)
    }

    // MARK: - Internals

    static func offsets(of manifest: Manifest) -> Range<Int64> {
        let start = max(manifest.logStartOffset, 0)
        return start ..< max(start, manifest.nextOffset)
    }

    /// The manifest loaded last for `topic`, loading it on first use.
    private func pinnedManifest(_ topic: String) async throws(StrataError) -> Manifest {
        try validateLogName(topic)
        try await checkDescriptor()
        if let manifest = try await cold.latestManifest(topic) { return manifest }
        throw Self.notHeld(topic, held: (try? await logNames()) ?? [], location: location)
    }

    /// `notFound` for a topic the store does not hold, naming (the first ten of) those it does.
    static func notHeld(_ topic: String, held: [String], location: String) -> StrataError {
        let listed =
            held.isEmpty
            ? "it has no topics"
            : "its topics: " + held.prefix(10).joined(separator: ", ")
                + (held.count > 10 ? ", … (\(held.count) in all)" : "")
        return StrataError(
            .notFound, "topic '\(topic)' does not exist in cold store \(location) (\(listed))", topic: topic)
    }

    /// A store without `lake.json` is not a Strata lake (or nothing was ever offloaded to it):
    /// say so once instead of reporting every topic as missing.
    private func checkDescriptor() async throws(StrataError) {
        guard !descriptorChecked.withLock({ $0 }) else { return }
        let key = cold.layout.lakeKey
        let data: BlobData
        do throws(StrataError) {
            data = try await cold.blob("get lake descriptor", key: key, topic: nil) {
                try await cold.store.get(key, range: .whole)
            }
        } catch  where error.code == .notFound {
            throw StrataError(
                .notFound,
                "\(location) is not a Strata cold store: it has no \(key) (nothing was ever offloaded there?)",
                file: key)
        }
        do throws(FormatError) { _ = try LakeDescriptor.decode(data.bytes) } catch {
            throw StrataError(error, topic: nil, file: key)
        }
        descriptorChecked.withLock { $0 = true }
    }
}

/// Batches of records of one topic range, read from the cold tier one frame at a time
/// (`ColdLog.records(_:in:)`). Each element is non-empty and continues the previous one.
public struct ColdRecords: AsyncSequence, AsyncIteratorProtocol, Sendable {
    public typealias Element = [Record]
    public typealias Failure = StrataError

    let cold: ColdTier
    let topic: String
    let manifest: Manifest
    /// The next offset to read.
    public private(set) var nextOffset: Int64
    /// The end of the range (exclusive).
    public let endOffset: Int64

    init(cold: ColdTier, topic: String, manifest: Manifest, nextOffset: Int64, endOffset: Int64) {
        self.cold = cold
        self.topic = topic
        self.manifest = manifest
        self.nextOffset = nextOffset
        self.endOffset = endOffset
    }

    public func makeAsyncIterator() -> ColdRecords { self }

    /// The records of the next frame within the range, or nil at the end.
    /// - Throws: `corrupt`/`notFound` naming the object when stored bytes are damaged or missing.
    public mutating func next() async throws(StrataError) -> [Record]? {
        guard nextOffset < endOffset else { return nil }
        let (records, after) = try await cold.read(
            topic: topic, manifest: manifest, from: nextOffset, end: endOffset,
            readAhead: true)
        // `read` checks the first offset; check the rest so a gap can never pass unnoticed.
        for (index, record) in records.enumerated() where record.offset != nextOffset + Int64(index) {
            throw StrataError(
                .corrupt, "offset \(record.offset) follows \(nextOffset + Int64(index) - 1)", topic: topic)
        }
        guard after > nextOffset, after == nextOffset + Int64(records.count) else {
            throw StrataError(
                .corrupt, "cold read from offset \(nextOffset) returned \(records.count) records ending at \(after)",
                topic: topic)
        }
        nextOffset = after
        return records
    }

    public mutating func next(isolation actor: isolated (any Actor)?) async throws(StrataError) -> [Record]? {
        try await next()
    }

    /// Moves past offsets another reader of this range returned (`ColdBatches`).
    mutating func skip(to offset: Int64) { nextOffset = offset }
}

/// Batch views of one topic range read from the cold tier (`ColdLog.batches(_:in:)`). Each
/// element is non-empty and its views yield exactly the offsets that follow the previous one's.
public struct ColdBatches: AsyncSequence, AsyncIteratorProtocol, Sendable {
    public typealias Element = [RecordBatchView]
    public typealias Failure = StrataError

    private var range: ColdRecords
    /// Bytes of batches per step (after the first).
    static let stepBytes = 1024 * 1024

    init(records: ColdRecords) { range = records }

    /// The next offset to read.
    public var nextOffset: Int64 { range.nextOffset }
    /// The end of the range (exclusive).
    public var endOffset: Int64 { range.endOffset }

    public func makeAsyncIterator() -> ColdBatches { self }

    /// The next views within the range, or nil at the end.
    /// - Throws: `corrupt`/`notFound` naming the object when stored bytes are damaged or missing.
    public mutating func next() async throws(StrataError) -> [RecordBatchView]? {
        let from = range.nextOffset
        guard from < range.endOffset else { return nil }
        let (views, after) = try await range.cold.readViews(
            topic: range.topic, manifest: range.manifest, from: from, end: range.endOffset, maxBytes: Self.stepBytes,
            readAhead: true)
        // Each view continues the last, and together they end where the read says it stopped.
        var expected = from
        for view in views {
            guard view.offsets.lowerBound == expected, !view.offsets.isEmpty else {
                throw StrataError(
                    .corrupt,
                    "cold read from offset \(from): a batch starts at \(view.offsets.lowerBound), "
                        + "expected \(expected)", topic: range.topic)
            }
            expected = view.offsets.upperBound
        }
        guard after > from, after == expected else {
            throw StrataError(
                .corrupt, "cold read from offset \(from) returned batches ending at \(expected), next \(after)",
                topic: range.topic)
        }
        range.skip(to: after)
        return views
    }

    public mutating func next(isolation actor: isolated (any Actor)?) async throws(StrataError) -> [RecordBatchView]? {
        try await next()
    }
}
