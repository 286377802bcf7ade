import Dispatch
import StrataBlob
import Synchronization

/// The lake's view of its cold store: manifests (cached), object footers (cached), decompressed
/// frames (byte-bounded LRU). Every blob call is retried once per call (`retrying`), unless the
/// store retries its own requests (S3): then the store's loop is the only one (see `RetryPolicy`).
final class ColdTier: Sendable {
    struct FrameKey: Hashable, Sendable {
        var objectKey: String
        var frameNumber: Int
        /// Where the slice starts in a packed object (0 for a standalone object): slices of one
        /// packed object share its key and their frame numbers.
        var sliceOffset: Int64 = 0

        /// The key of frame `number` of the object (or slice) `index` describes; a footer from
        /// `footer(of:topic:)` has its frames positioned in the blob, so frame 0 starts the slice.
        init(objectKey: String, frameNumber: Int, sliceOffset: Int64 = 0) {
            self.objectKey = objectKey
            self.frameNumber = frameNumber
            self.sliceOffset = sliceOffset
        }

        init(objectKey: String, frameNumber: Int, of index: ColdObjectIndex) {
            self.init(
                objectKey: objectKey, frameNumber: frameNumber,
                sliceOffset: Int64(index.frames.first?.objectOffset ?? 0))
        }
    }

    let store: CountingBlobStore
    /// The lake's metrics (topics reach them through their cold tier).
    let metrics: EngineMetrics
    let layout = BucketLayout(prefix: "")
    /// What `retrying` applies: the caller's policy, or `.once` over a `SelfRetryingBlobStore`.
    let retry: RetryPolicy
    let retryEnvironment: RetryEnvironment
    let clock: any StrataClock
    let log: @Sendable (String) -> Void
    let footers: ByteLRU<String, ColdObjectIndex>
    let frames: ByteLRU<FrameKey, CheckedFrame>
    /// The memory decoded frames are written into, reused once the cache and readers let go.
    let framePool = BytePool()
    let archives: ByteLRU<String, ArchiveManifest>
    private let manifests = Mutex<[String: Manifest]>([:])
    private let descriptorChecked = Mutex(false)
    /// Frame fetches under way, so a reader joins a prefetch instead of fetching again.
    private let framesInFlight = Mutex<[FrameKey: Task<CheckedFrame, any Error>]>([:])
    /// Where the lake keeps a copy of each topic's latest manifest, so a new process serves
    /// cold reads without listing the bucket (nil: no local copy, e.g. `export`).
    let localManifestPath: (@Sendable (String) -> String)?
    /// Segments kept in a manifest before the oldest spill into an archive manifest.
    let manifestSegmentsMax: Int
    /// False for a read-only lake: the local manifest copy is read, never written.
    let savesLocalCopy: Bool
    /// Read-ahead fetches running at once (`LakeOptions.coldPrefetchTasksMax`).
    let prefetchTasksMax: Int
    /// Opens the frames of encrypted objects (`LakeOptions.keyRing`); nil: no key ring given.
    let keys: ColdKeyRing?
    /// Seals the frames of new objects: set when the lake encrypts (`lake.json` `encryption`).
    let sealer: ColdSealer?
    /// The read-ahead fetches under way, so they stay bounded.
    private let prefetching = Mutex<[FrameKey: Task<Void, Never>]>([:])

    init(
        store: any BlobStore, cacheBytes: Int, retry: RetryPolicy, retryEnvironment: RetryEnvironment = .live,
        clock: any StrataClock, log: @escaping @Sendable (String) -> Void,
        localManifestPath: (@Sendable (String) -> String)? = nil, manifestSegmentsMax: Int = 1000,
        savesLocalCopy: Bool = true, prefetchTasksMax: Int = 32, metrics: EngineMetrics = .global,
        keys: ColdKeyRing? = nil, sealer: ColdSealer? = nil
    ) {
        self.keys = keys
        self.sealer = sealer
        self.savesLocalCopy = savesLocalCopy
        self.metrics = metrics
        self.store = CountingBlobStore(store, metrics: metrics)
        self.prefetchTasksMax = max(1, prefetchTasksMax)
        self.manifestSegmentsMax = max(2, manifestSegmentsMax)
        self.localManifestPath = localManifestPath
        // Retrying a store that retries itself multiplies the attempts (5 × 5 = 25 per call).
        self.retry = store is any SelfRetryingBlobStore ? .once : retry
        self.retryEnvironment = retryEnvironment.counted(by: metrics)
        self.clock = clock
        self.log = log
        footers = ByteLRU(capacityBytes: 64 * 1024 * 1024)
        frames = ByteLRU(capacityBytes: cacheBytes)
        archives = ByteLRU(capacityBytes: 64 * 1024 * 1024)
    }

    /// The cold tier of the lake at `paths` over `store`, as `options` configure it (both opens).
    static func forLake(
        _ store: any BlobStore, paths: LakePaths, options: LakeOptions, savesLocalCopy: Bool,
        encrypts: Bool = false
    ) -> ColdTier {
        ColdTier(
            store: store, cacheBytes: options.coldCacheBytes, retry: options.blobRetry,
            retryEnvironment: options.blobRetryEnvironment, clock: options.clock, log: options.log,
            localManifestPath: { paths.topicManifestCopy($0) }, manifestSegmentsMax: options.manifestSegmentsMax,
            savesLocalCopy: savesLocalCopy, prefetchTasksMax: options.coldPrefetchTasksMax,
            metrics: options.engineMetrics, keys: options.keyRing, sealer: encrypts ? options.keyRing?.sealer : nil)
    }

    var location: String { store.location }

    /// Runs one logical blob call under the tier's retry policy (the only retry loop above the store).
    func retrying<T>(_ call: () async throws -> T) async throws -> T {
        try await withRetries(retry, environment: retryEnvironment, call)
    }

    /// Runs a blob call with retries; maps the final failure to `StrataError`.
    func blob<T: Sendable>(
        _ what: String, key: String?, topic: String?, _ call: () async throws -> T
    ) async throws(StrataError) -> T {
        do {
            return try await retrying(call)
        } catch let error as BlobError {
            let code: StrataError.Code = error.code == .notFound ? .notFound : error.code == .corrupt ? .corrupt : .io
            throw StrataError(
                code, "\(what) failed: \(error.message)", topic: topic, file: key ?? error.key,
                cause: "\(error.code.rawValue) at \(error.location)")
        } catch {
            throw StrataError(.io, "\(what) failed: \(error)", topic: topic, file: key)
        }
    }

    /// Makes sure the bucket says it is a Strata lake of a format this code writes
    /// (`lake.json`, formats/bucket-layout.md), creating it on first use.
    func ensureLakeDescriptor() async throws(StrataError) {
        guard !descriptorChecked.withLock({ $0 }) else { return }
        let key = layout.lakeKey
        let fresh: [UInt8]
        do throws(FormatError) { fresh = try LakeDescriptor(createdMs: clock.nowMs()).encode() } catch {
            throw StrataError(.invalidArgument, "cannot encode lake descriptor: \(error)")
        }
        do {
            try await retrying { try await store.put(key, fresh, mode: .ifAbsent) }
        } catch let error as BlobError where error.code == .preconditionFailed {
            let existing = try await blob("get lake descriptor", key: key, topic: nil) {
                try await store.get(key, range: .whole)
            }
            do throws(FormatError) { _ = try LakeDescriptor.decode(existing.bytes) } catch {
                throw StrataError(error, topic: nil, file: key)
            }
        } catch {
            throw StrataError(.io, "cannot write lake descriptor: \(error)", file: key)
        }
        descriptorChecked.withLock { $0 = true }
    }

    /// `get` that also checks the length: a short body (a dropped connection mid-transfer, see
    /// `FaultPlan.truncatedGetFraction`) is transient, so it is reported as `unavailable` and
    /// retried by `blob` instead of surfacing as a corrupt object. (An S3 store, which the tier
    /// does not retry, finds a body shorter than announced itself and retries that request.)
    func getChecked(_ key: String, range: ByteRange) async throws -> BlobData {
        let data = try await store.get(key, range: range)
        let expected: Int64
        switch range {
        case .whole: expected = data.objectSize
        case .range(let offset, let length): expected = max(0, min(length, data.objectSize - offset))
        case .suffix(let length): expected = min(length, data.objectSize)
        }
        guard Int64(data.bytes.count) == expected else {
            throw BlobError(
                .unavailable, "short read: \(data.bytes.count) of \(expected) bytes", key: key, location: store.location
            )
        }
        return data
    }

    // MARK: - Manifests

    /// The logs (`LogName` text) with a manifest in the store (`BucketLayout.manifestLogs`),
    /// sorted by topic, then partition. Lists every key under `topics/`, so it costs one listing
    /// of the whole bucket.
    func logNames() async throws(StrataError) -> [String] {
        let prefix = layout.topicsPrefix
        let objects = try await blob("list topics", key: prefix, topic: nil) { try await store.listAll(prefix: prefix) }
        return layout.manifestLogs(in: objects.lazy.map(\.key))
    }

    /// The newest manifest of `topic`, or nil when the topic has nothing in the cold store.
    /// Served from memory unless `refresh` is set.
    func latestManifest(_ topic: String, refresh: Bool = false) async throws(StrataError) -> Manifest? {
        if !refresh, let cached = manifests.withLock({ $0[topic] }) { return cached }
        if !refresh, let local = loadLocalCopy(topic) {
            remember(local)
            return local
        }
        let prefix = layout.manifestPrefix(topic: topic)
        let objects = try await blob("list manifests", key: prefix, topic: topic) {
            try await store.listAll(prefix: prefix)
        }
        var newest: (UInt64, String)? = nil
        for object in objects {
            guard let version = try? layout.parseManifestKey(object.key, topic: topic) else { continue }
            if version > (newest?.0 ?? 0) { newest = (version, object.key) }
        }
        guard let (version, key) = newest else { return nil }
        let manifest = try await loadManifest(topic, version: version, key: key)
        remember(manifest)
        await saveLocalCopy(manifest)
        return manifest
    }

    /// The lake's local copy of the latest manifest; it is only a cache, so anything wrong with
    /// it means "ask the store".
    private func loadLocalCopy(_ topic: String) -> Manifest? {
        guard let path = localManifestPath?(topic), let bytes = try? FileIO.readWholeFile(path) else { return nil }
        return try? Manifest.decode(bytes, expectedTopic: topic)
    }

    /// Writes the local copy (write, fdatasync, rename, directory fsync) on a Dispatch thread:
    /// on the cooperative pool its two fsyncs held one of its threads for every commit.
    private func saveLocalCopy(_ manifest: Manifest) async {
        guard savesLocalCopy else { return }
        await offPool { self.saveLocalCopyBlocking(manifest) }
    }

    private func saveLocalCopyBlocking(_ manifest: Manifest) {
        guard let path = localManifestPath?(manifest.topic), FileIO.exists(FileIO.parent(of: path)),
            let bytes = try? manifest.encode()
        else { return }
        do throws(StrataError) { try FileIO.writeAtomically(path, bytes) } catch {
            log("cannot cache manifest topic=\(manifest.topic) file=\(path): \(error)")
        }
    }

    private func loadManifest(_ topic: String, version: UInt64, key: String) async throws(StrataError) -> Manifest {
        let data = try await blob("get manifest", key: key, topic: topic) { try await getChecked(key, range: .whole) }
        do throws(FormatError) {
            return try Manifest.decode(data.bytes, expectedTopic: topic, expectedVersion: version)
        } catch {
            throw StrataError(error, topic: topic, file: key)
        }
    }

    func remember(_ manifest: Manifest) {
        manifests.withLock { cache in
            if (cache[manifest.topic]?.version ?? 0) < manifest.version { cache[manifest.topic] = manifest }
        }
    }

    func forget(_ topic: String) { manifests.withLock { $0[topic] = nil } }

    /// Commits `manifest` as a new version with put-if-absent (formats/manifest.md: fencing).
    /// - Throws: `fenced` when another writer holds that version.
    func commit(_ proposed: Manifest) async throws(StrataError) {
        var manifest = proposed
        manifest.settleFormatVersion()
        let key = layout.manifestKey(topic: manifest.topic, version: manifest.version)
        let bytes: [UInt8]
        do throws(FormatError) { bytes = try manifest.encode() } catch {
            throw StrataError(
                .invalidArgument, "refusing to write an invalid manifest: \(error)", topic: manifest.topic, file: key)
        }
        try await putImmutable(key, bytes, topic: manifest.topic, what: "commit manifest")
        remember(manifest)
        await saveLocalCopy(manifest)
    }

    /// Writes an immutable object with put-if-absent. A lost race is fine only when the object
    /// already there has exactly these bytes (a retried put that had in fact succeeded, or a
    /// re-upload after a crash); anything else means another writer: `fenced`.
    func putImmutable(_ key: String, _ bytes: [UInt8], topic: String, what: String) async throws(StrataError) {
        do {
            try await retrying { try await store.put(key, bytes, mode: .ifAbsent) }
            return
        } catch let error as BlobError where error.code == .preconditionFailed {
            // Fall through: compare with what is there.
        } catch let error as BlobError {
            throw StrataError(
                .io, "\(what) failed: \(error.message)", topic: topic, file: key, cause: error.code.rawValue)
        } catch {
            throw StrataError(.io, "\(what) failed: \(error)", topic: topic, file: key)
        }
        let existing = try await blob("read back \(key)", key: key, topic: topic) {
            try await getChecked(key, range: .whole)
        }
        guard existing.bytes == bytes else {
            throw StrataError(
                .fenced, "\(key) was written by another writer; this lake stops writing the topic",
                topic: topic, file: key)
        }
    }

    /// Writes `archive` under its key (put-if-absent, `putImmutable`) and returns its reference:
    /// a spill of the oldest entries, retention's cut, compaction's rewrite.
    /// - Throws: `invalidArgument` for an archive that does not validate (nothing is written);
    ///   what `putImmutable` throws.
    func putArchive(_ archive: ArchiveManifest, topic: String, what: String) async throws(StrataError) -> ArchiveReference {
        let reference = archive.reference
        let bytes: [UInt8]
        do throws(FormatError) { bytes = try archive.encode() } catch {
            throw StrataError(.invalidArgument, "invalid archive manifest: \(error)", topic: topic, file: reference.key)
        }
        try await putImmutable(reference.key, bytes, topic: topic, what: what)
        return reference
    }

    /// The archive manifest behind `reference` (cached).
    func archive(_ reference: ArchiveReference, topic: String) async throws(StrataError) -> ArchiveManifest {
        if let cached = archives.get(reference.key) { return cached }
        let key = reference.key
        let data = try await blob("get archive manifest", key: key, topic: topic) {
            try await getChecked(key, range: .whole)
        }
        do throws(FormatError) {
            let archive = try ArchiveManifest.decode(data.bytes, topic: topic, reference: reference)
            archives.put(key, archive, cost: data.bytes.count)
            return archive
        } catch {
            throw StrataError(error, topic: topic, file: key)
        }
    }

    /// The manifest entry of the object holding `offset` (looking into archives as needed).
    func segment(holding offset: Int64, in manifest: Manifest) async throws(StrataError) -> ManifestSegment? {
        if let found = Self.search(manifest.segments, offset) { return found }
        guard let reference = manifest.archives.first(where: { $0.baseOffset <= offset && offset <= $0.lastOffset })
        else {
            return nil
        }
        return Self.search(try await archive(reference, topic: manifest.topic).segments, offset)
    }

    static func search(_ segments: [ManifestSegment], _ offset: Int64) -> ManifestSegment? {
        var lo = 0, hi = segments.count  // first segment whose lastOffset >= offset
        while lo < hi {
            let mid = (lo + hi) / 2
            if segments[mid].lastOffset < offset { lo = mid + 1 } else { hi = mid }
        }
        guard lo < segments.count, segments[lo].baseOffset <= offset else { return nil }
        return segments[lo]
    }

    // MARK: - Objects

    /// The parsed footer of a cold object: one suffix GET (two if the footer is larger than the
    /// default suffix), cached afterwards. For a slice of a packed object the suffix is the
    /// slice's (a ranged GET, never the whole packed object), and the frames' `objectOffset`s
    /// are shifted by the slice's offset: every frame range is a position in the blob `key`
    /// names, so `frame` and `prefetch` read slices and standalone objects alike.
    func footer(of segment: ManifestSegment, topic: String) async throws(StrataError) -> ColdObjectIndex {
        let key = segment.key
        let cacheKey = Self.footerCacheKey(segment)
        if let cached = footers.get(cacheKey) { return cached }
        var tailBytes = Int64(ColdObject.defaultTailReadBytes)
        for _ in 0 ..< 3 {
            let length = segment.isPacked ? min(tailBytes, segment.objectBytes) : tailBytes
            let range: ByteRange =
                segment.isPacked
                ? .range(offset: segment.objectStart + segment.objectBytes - length, length: length)
                : .suffix(length: length)
            let tail = try await blob("get footer", key: key, topic: topic) { try await getChecked(key, range: range) }
            try checkBlobSize(tail.objectSize, of: segment, topic: topic)
            let sliceBytes = Int(segment.objectBytes)
            let parsed = withBytesResult(tail.bytes) { (raw) throws(FormatError) -> (Int, ColdObjectIndex?) in
                let needed = try ColdObjectFooter.tailBytesNeeded(tail: raw, objectSize: sliceBytes)
                if needed > raw.count { return (needed, nil) }
                return (needed, try ColdObjectFooter.parse(tail: raw, objectSize: sliceBytes))
            }
            switch parsed {
            case .failure(var error):
                error.position += Int(segment.objectStart)
                throw StrataError(error, topic: topic, file: key)
            case .success(let (_, parsedIndex?)):
                var index = parsedIndex
                try check(index, against: segment, topic: topic)
                if segment.isPacked {
                    for i in index.frames.indices { index.frames[i].objectOffset += Int(segment.objectStart) }
                }
                footers.put(cacheKey, index, cost: 256 + index.frames.count * 96)
                return index
            case .success(let (needed, nil)): tailBytes = Int64(needed)
            }
        }
        throw StrataError(.corrupt, "footer size does not settle", topic: topic, file: key)
    }

    /// The footer cache key: the object key, and for a slice also its offset.
    static func footerCacheKey(_ segment: ManifestSegment) -> String {
        segment.isPacked ? segment.key + "@" + String(segment.objectStart) : segment.key
    }

    /// A standalone object must be exactly the entry's size; a packed object must hold the slice.
    func checkBlobSize(_ blobSize: Int64, of segment: ManifestSegment, topic: String) throws(StrataError) {
        if segment.isPacked {
            guard blobSize >= segment.objectStart + segment.objectBytes else {
                throw StrataError(
                    .corrupt,
                    "packed object is \(blobSize) bytes, the manifest's slice ends at "
                        + "\(segment.objectStart + segment.objectBytes)", topic: topic, file: segment.key)
            }
        } else if blobSize != segment.objectBytes {
            throw StrataError(
                .corrupt, "object is \(blobSize) bytes, the manifest says \(segment.objectBytes)",
                topic: topic, file: segment.key)
        }
    }

    private func check(_ index: ColdObjectIndex, against segment: ManifestSegment, topic: String) throws(StrataError) {
        guard index.baseOffset == segment.baseOffset, index.lastOffset == segment.lastOffset,
            index.rawCrc32c == segment.rawCrc32c, index.frames.count == segment.frameCount, index.topic == topic
        else {
            throw StrataError(
                .corrupt, "object footer disagrees with the manifest entry", topic: topic, file: segment.key,
                position: index.indexFrameOffset)
        }
    }

    /// The raw segment bytes of one frame: from the cache, or one ranged GET, checked in full
    /// once (`ColdObject.decodeCheckedFrame`: its batches are read without another check).
    /// - Parameter sequential: the caller reads frames in order and calls `release` when done
    ///   with this one, so a frame only it used leaves the cache then.
    func frame(
        _ number: Int, of index: ColdObjectIndex, key: String, topic: String, sequential: Bool = false
    ) async throws(StrataError) -> CheckedFrame {
        let cacheKey = FrameKey(objectKey: key, frameNumber: number, of: index)
        if let cached = frames.get(cacheKey, scan: sequential) {
            metrics.coldCacheHits.increment()
            return cached
        }
        metrics.coldCacheMisses.increment()
        // A sequential reader asks for the frames it prefetched while their GETs are still
        // running: join them (a cold replay made 1.6 GETs per frame before).
        let fetch = framesInFlight.withLock { inFlight in
            if let running = inFlight[cacheKey] { return running }
            let task = Task { () async throws -> CheckedFrame in
                do {
                    let raw = try await self.fetchFrame(number, of: index, key: key, topic: topic)
                    self.frames.put(cacheKey, raw, cost: raw.bytes.count, scan: sequential)
                    self.framesInFlight.withLock { $0[cacheKey] = nil }
                    return raw
                } catch {
                    self.framesInFlight.withLock { $0[cacheKey] = nil }
                    throw error
                }
            }
            inFlight[cacheKey] = task
            return task
        }
        do {
            return try await fetch.value
        } catch let error as StrataError {
            throw error
        } catch {
            throw StrataError(.io, "get frame \(number) failed: \(error)", topic: topic, file: key)
        }
    }

    /// A sequential reader is done with frame `number`: it leaves the cache unless another
    /// reader used it (its buffer goes back to `framePool` once no batch view holds it).
    func release(_ number: Int, of index: ColdObjectIndex, key: String) {
        frames.release(FrameKey(objectKey: key, frameNumber: number, of: index))
    }

    /// One ranged GET of a frame, decoded and checked.
    private func fetchFrame(
        _ number: Int, of index: ColdObjectIndex, key: String, topic: String
    ) async throws(StrataError) -> CheckedFrame {
        let frame = index.frames[number]
        let range = ByteRange.range(offset: Int64(frame.objectOffset), length: Int64(frame.compressedBytes))
        let data = try await blob("get frame \(number)", key: key, topic: topic) {
            try await getChecked(key, range: range)
        }
        return try await decodeOffPool(data.bytes, frame: frame, key: key, topic: topic)
    }

    /// Decompression is CPU work: keep it off the two-thread cooperative pool.
    private func decodeOffPool(
        _ bytes: [UInt8], frame: ColdFrame, key: String, topic: String
    ) async throws(StrataError) -> CheckedFrame {
        let pool = framePool
        let keys = keys
        let result: Result<CheckedFrame, FormatError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    returning: Result { () throws(FormatError) in
                        try withBytes(bytes) { (raw) throws(FormatError) in
                            try ColdObject.decodeCheckedFrame(raw, frame: frame, pool: pool, keys: keys)
                        }
                    })
            }
        }
        switch result {
        case .success(let raw): return raw
        case .failure(let error): throw StrataError(error, topic: topic, file: key)
        }
    }

    /// Starts fetching frames into the cache without waiting (sequential read-ahead). At most
    /// `prefetchTasksMax` run at once; read-ahead past the bound is skipped, since the reader
    /// fetches a frame itself when it gets there.
    func prefetch(_ numbers: [Int], of index: ColdObjectIndex, key: String, topic: String) {
        for number in numbers where number < index.frames.count {
            let frameKey = FrameKey(objectKey: key, frameNumber: number, of: index)
            guard !frames.contains(frameKey) else { continue }
            let started: Bool = prefetching.withLock { running in
                if running[frameKey] != nil { return true }
                guard running.count < prefetchTasksMax else { return false }
                // The task removes itself under this lock, so it cannot run ahead of the insert.
                running[frameKey] = Task.detached {
                    _ = try? await self.frame(number, of: index, key: key, topic: topic, sequential: true)
                    _ = self.prefetching.withLock { $0.removeValue(forKey: frameKey) }
                }
                return true
            }
            guard started else { return }
        }
    }

    /// The read-ahead fetches running now (tests await them).
    var prefetchTasks: [Task<Void, Never>] { prefetching.withLock { Array($0.values) } }
}

extension ManifestSegment {
    /// The bytes of the object this entry names, as one GET: the whole blob for a standalone
    /// object, the slice's range for a slice of a packed object.
    var blobRange: ByteRange { isPacked ? .range(offset: objectStart, length: objectBytes) : .whole }
}

extension ColdTier {
    /// What reading a packed object's pack index found.
    enum PackIndexRead: Sendable {
        case found(PackIndex)
        /// The object is not in the store.
        case missing
        /// The trailer or index does not parse (its error names the byte in the object), or its
        /// announced size does not settle.
        case damaged(FormatError)
    }

    /// The pack index of the packed object `key` (ARCHITECTURE.md §2k): one suffix read of
    /// `PackedObject.defaultTailReadBytes`, a second when the index is larger. Verify, the
    /// records-past-a-lost-manifest check and compaction read it this way.
    /// - Parameter bytesRead: adds the bytes the reads returned.
    /// - Throws: `io` when the store fails (after retries).
    func readPackIndex(_ key: String, topic: String?, bytesRead: inout Int64) async throws(StrataError) -> PackIndexRead {
        let store = self.store
        var length = Int64(PackedObject.defaultTailReadBytes)
        for _ in 0 ..< 2 {
            let want = length
            let tail: BlobData
            do {
                tail = try await blob("get pack index", key: key, topic: topic) {
                    try await store.get(key, range: .suffix(length: want))
                }
            } catch where error.code == .notFound {
                return .missing
            }
            bytesRead += Int64(tail.bytes.count)
            let size = Int(tail.objectSize)
            let parsed = withBytesResult(tail.bytes) { (raw) throws(FormatError) -> PackIndex? in
                guard try PackedObject.tailBytesNeeded(tail: raw, objectSize: size) <= raw.count else { return nil }
                return try PackedObject.parseIndex(tail: raw, objectSize: size)
            }
            switch parsed {
            case .success(let pack?): return .found(pack)
            case .success(nil):
                let needed = tail.bytes.withUnsafeBytes { try? PackedObject.tailBytesNeeded(tail: $0, objectSize: size) }
                length = Int64(needed ?? size)
            case .failure(let error): return .damaged(error)
            }
        }
        return .damaged(
            FormatError(.truncated, field: "packIndex.tail", position: 0, "the pack index size does not settle"))
    }
}
