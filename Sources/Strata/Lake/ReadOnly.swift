import StrataBlob

/// A read-only open (issue 11 item 3, ARCHITECTURE.md invariant 11): how `strata inspect`, `consume` and
/// any other reader look at a lake, also while a writer process holds it.
///
/// What it does not do, on purpose:
/// - **No lock.** It takes no `flock` at all, neither exclusive nor shared: a shared lock would
///   make a writer starting later fail with `locked` while someone inspects. Readers therefore
///   rely on what a writer guarantees on disk anyway: segment files only grow by whole batches
///   (a partial batch at the end is a write in progress or a torn tail), sealed segments never
///   change, and evicted segments disappear (a reader then goes to the cold tier).
/// - **No write of any kind**: no `lake.json`, no directory, no `.tmp` cleanup, no index rewrite,
///   no local manifest copy, no recovery, no background work. Segment files are opened
///   `O_RDONLY`. A torn tail or a corrupt batch is reported (`Topic.damage`), never cut.
/// - **No acknowledgement knowledge**: it sees every whole, CRC-valid batch on disk, which for a
///   `sync` writer can include a batch whose fdatasync has not returned yet.
extension Lake {
    /// Opens the existing lake at `path` for reading only.
    ///
    /// Topics are loaded without recovery (see `Topic.damage` for what was found) and re-read
    /// the directory when a reader catches up (`Topic.refresh()`), so a writer's later appends,
    /// rolls and evictions become visible. Appends, topic creation, offload, retention, scrub
    /// deletions and recover are refused with `readOnly`.
    /// - Parameters:
    ///   - path: the lake directory.
    ///   - options: clock, log, caches and an injected cold store; `backgroundOffload` is ignored
    ///     (nothing runs in the background).
    /// - Returns: the lake; `close()` it to release its open files (there is no lock to free).
    /// - Throws: `notFound` ("no lake at DIR") when the directory or its `lake.json` is missing
    ///   (nothing is created); `corrupt` for an unreadable `lake.json`; `invalidArgument` for a
    ///   bad `manifestSegmentsMax` or a bad cold URL in `lake.json`; `io`.
    public static func openReadOnly(_ path: String, options: LakeOptions = LakeOptions()) throws(StrataError) -> Lake {
        let paths = LakePaths(root: path)
        guard FileIO.exists(paths.config) else {
            let why = FileIO.exists(path) ? "it has no lake.json" : "the directory does not exist"
            throw StrataError(.notFound, "no lake at \(path): \(why)", file: paths.config)
        }
        try options.validate()
        let config = try LakeConfigFile.load(paths: paths)
        let store: any BlobStore
        if let injected = options.coldStore {
            store = injected
        } else {
            store = try openColdStoreReadOnly(try parseColdURL(config.cold), options: options)
        }
        let catalog = try Catalog.openReader(paths, log: options.log)
        let tier = ColdTier.forLake(store, paths: LakePaths(root: path, catalog: catalog), options: options, savesLocalCopy: false)
        return Lake(
            path: path, options: options, lockFD: -1, cold: tier, coldURL: config.cold, readOnly: true, catalog: catalog)
    }

    /// Throws `readOnly` when this lake was opened with `openReadOnly`.
    func refuseIfReadOnly(_ what: String) throws(StrataError) {
        guard isReadOnly else { return }
        throw StrataError(.readOnly, "cannot \(what): lake \(path) is open read-only")
    }
}

/// The cold store behind `url`, opened without creating anything: a `file://` store whose
/// directory is missing (a lake copied without its cold directory, another machine's path)
/// becomes a store that fails every call, so hot reads still work and cold reads say why.
func openColdStoreReadOnly(_ url: ColdURL, options: LakeOptions) throws(StrataError) -> any BlobStore {
    if case .file(let root) = url, !FileIO.exists(root) {
        return UnreachableBlobStore(
            location: "file://" + root,
            reason: "the cold store directory \(root) does not exist")
    }
    return try openColdStore(url, retry: options.blobRetry, retryEnvironment: options.blobRetryEnvironment)
}

/// A store that refuses every call with `denied` (not retryable: waiting will not create it).
struct UnreachableBlobStore: BlobStore {
    let location: String
    let reason: String

    private func fail(_ key: String?) -> BlobError { BlobError(.denied, reason, key: key, location: location) }
    func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws { throw fail(key) }
    func get(_ key: String, range: ByteRange) async throws -> BlobData { throw fail(key) }
    func head(_ key: String) async throws -> BlobInfo { throw fail(key) }
    func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage { throw fail(prefix) }
    func delete(_ keys: [String]) async throws { throw fail(keys.first) }
}
