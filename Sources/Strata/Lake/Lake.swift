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
    let lockFD: Int32
    /// Opened by `openReadOnly`: nothing is written, locked, recovered or run in the background.
    public let isReadOnly: Bool
    /// Open topics, in a box of its own so background work can reach them without keeping the
    /// lake alive (a dropped lake then releases its lock at once).
    let registry = TopicRegistry()
    let closed = Mutex(false)
    let background = Mutex<Task<Void, Never>?>(nil)
    /// The background loop's compaction of packed objects (Cold/BackgroundCompaction.swift).
    let compaction: BackgroundCompaction
    /// Held by each `compactPacked` pass: two at once would copy the same slices twice.
    let compactions = AsyncLock()
    /// Hands out idempotent producer ids (ProducerIds.swift).
    let producerIds = ProducerIdAllocator()
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
    /// Every topic's config, partition count, log starts and deletes (Catalog.swift, §2i).
    let catalog: Catalog

    init(
        path: String, options: LakeOptions, lockFD: Int32, cold: ColdTier, coldURL: String, readOnly: Bool = false,
        journal: Journal? = nil, catalog: Catalog
    ) {
        self.path = path
        self.journal = journal
        self.catalog = catalog
        self.paths = LakePaths(root: path, catalog: catalog)
        self.options = options
        self.files = FileCache(capacity: options.maxOpenFiles, readOnly: readOnly)
        self.lockFD = lockFD
        self.isReadOnly = readOnly
        self.cold = cold
        self.coldURL = coldURL
        self.tables = TableWriter(cold: cold, paths: paths, coldURL: coldURL, options: options)
        self.compaction = BackgroundCompaction(nowMs: options.clock.nowMs())
    }

    /// A lake dropped without `close()` (a caller that crashed its task, a test simulating a
    /// crash) must not keep its `flock`: the lock fd would leak and the lake could never be
    /// reopened by this process. Nothing is flushed here; recovery handles the rest.
    deinit {
        background.withLock { $0?.cancel() }
        if !closed.withLock({ $0 }) {
            journal?.abandon()
            catalog.abandon()
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
        let unopened = LakePaths(root: path)
        if let cold { _ = try parseColdURL(cold) }
        try options.validate()
        try FileIO.makeDirectories(unopened.topicsDirectory)
        let fd = try lock(unopened)
        do throws(StrataError) {
            var opened: (any BlobStore)? = options.coldStore
            var config = try LakeConfigFile.loadOrCreate(paths: unopened, coldURL: cold) { (config) throws(StrataError) in
                if opened == nil {
                    opened = try openColdStore(
                        try parseColdURL(config.cold), retry: options.blobRetry,
                        retryEnvironment: options.blobRetryEnvironment.counted(by: options.engineMetrics))
                }
            }
            guard let store = opened else { throw StrataError(.io, "no cold store for \(config.cold)") }
            let encrypts = try config.applyEncryption(options, paths: unopened)
            // The catalog before the journal: the replay looks the journal's topics up in it.
            let catalog = try Catalog.openWriter(unopened, log: options.log, metrics: options.engineMetrics)
            let paths = LakePaths(root: path, catalog: catalog)
            let tier = ColdTier.forLake(store, paths: paths, options: options, savesLocalCopy: true, encrypts: encrypts)
            let journal: Journal?
            do throws(StrataError) { journal = try openJournal(paths, options: options, cold: tier) } catch {
                try? catalog.close()
                throw error
            }
            let lake = Lake(
                path: path, options: options, lockFD: fd, cold: tier, coldURL: config.cold, journal: journal,
                catalog: catalog)
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
        let barrier = paths.catalog?.barrier
        return Journal(
            paths: paths, nextSequence: next, fileBytesMax: options.journalBytes, log: options.log,
            beforeFsync: options.beforeGroupFsync, metadataBarrier: barrier, metrics: options.engineMetrics)
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

    /// fdatasync calls of the lake journal since the lake opened (nil without a journal: each
    /// `sync` log then counts its own, `Topic.fsyncCount`). One covers appends to many logs, so
    /// the logs' counts summed would count it once per log it covered.
    public var journalFsyncCount: Int? { journal?.fsyncCount }

    /// Counters of the cold store and its frame cache since the lake opened.
    public var coldStats: (blob: BlobStats, cacheHits: Int, cacheMisses: Int) {
        (cold.store.snapshot, cold.frames.hits, cold.frames.misses)
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
