import Synchronization

/// Mutual exclusion for async work: `lock` suspends (FIFO) instead of blocking a thread, so a
/// holder may await I/O. Waiters are the topic's own passes (offload, retention), so they stay
/// few.
final class AsyncLock: Sendable {
    private struct State {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Takes the lock if it is free; never waits.
    func tryLock() -> Bool {
        state.withLock { s in
            guard !s.held else { return false }
            s.held = true
            return true
        }
    }

    /// Takes the lock, waiting for the holders before this caller.
    func lock() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired: Bool = state.withLock { s in
                guard s.held else {
                    s.held = true
                    return true
                }
                s.waiters.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    /// Releases the lock, handing it straight to the first waiter if there is one.
    func unlock() {
        let next: CheckedContinuation<Void, Never>? = state.withLock { s in
            guard !s.waiters.isEmpty else {
                s.held = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }

    /// Runs `body` holding the lock.
    func withLock<T: Sendable>(_ body: () async throws(StrataError) -> T) async throws(StrataError) -> T {
        await lock()
        defer { unlock() }
        return try await body()
    }
}

/// The topic's writer of cold manifests (formats/manifest.md: fencing): the epoch it commits with,
/// whether another writer fenced it, how far its committed cold log reaches, the manifest it
/// committed last, and `commits`, the lock that puts its commits (offload and retention) one
/// after another, so this lake never races itself for a version and takes itself for a
/// foreign writer.
final class ManifestWriter: Sendable {
    private struct State {
        /// Epoch this process writes manifests with; chosen at its first commit.
        var writerEpoch: UInt64?
        /// Set once another writer won a manifest race: this lake stops writing the topic.
        var fenced: StrataError?
        /// One past the last offset committed to the cold tier (nil: not known yet).
        var committedOffset: Int64?
        /// The local segments the manifest already covers were checked against it (see
        /// `Topic.verifyOwnership`).
        var ownershipChecked = false
        /// The last manifest this process committed.
        var lastCommitted: Manifest?
    }

    private let state = Mutex(State())
    /// Held around "read the base manifest, build the next version, commit it".
    let commits = AsyncLock()

    /// - Throws: the `fenced` error once another writer owns the topic.
    func checkNotFenced() throws(StrataError) {
        if let fenced = state.withLock({ $0.fenced }) { throw fenced }
    }

    /// Records that another writer owns the topic.
    func fence(_ error: StrataError) { state.withLock { $0.fenced = error } }

    /// This process has committed and is not fenced: it may rewrite the chain (retention).
    var ownsTheLog: Bool { state.withLock { $0.fenced == nil && $0.writerEpoch != nil } }

    var committedOffset: Int64? {
        get { state.withLock { $0.committedOffset } }
        set { state.withLock { $0.committedOffset = newValue } }
    }

    var ownershipChecked: Bool {
        get { state.withLock { $0.ownershipChecked } }
        set { state.withLock { $0.ownershipChecked = newValue } }
    }

    var lastCommitted: Manifest? { state.withLock { $0.lastCommitted } }

    /// The epoch to commit with: chosen once, one above the epoch of the manifest found.
    func epoch(after manifest: Manifest?) -> UInt64 {
        state.withLock { s in
            if s.writerEpoch == nil { s.writerEpoch = (manifest?.writerEpoch ?? 0) + 1 }
            return s.writerEpoch ?? 1
        }
    }

    /// The newer of `manifest` and the one this process committed last: what the next version
    /// must build on (retention may have committed since an offload pass read `manifest`).
    func base(_ manifest: Manifest?) -> Manifest? {
        guard let own = lastCommitted else { return manifest }
        guard let manifest else { return own }
        return own.version > manifest.version ? own : manifest
    }

    /// Commits `manifest` to `cold` (put-if-absent) and remembers it; a lost race fences.
    func commit(_ proposed: Manifest, to cold: ColdTier) async throws(StrataError) {
        // Version 2 exactly while the manifest lists a packed slice (formats/manifest.md).
        var manifest = proposed
        manifest.settleFormatVersion()
        // A handle fenced while its caller waited for the commit lock (retired, or another
        // writer won) never commits.
        try checkNotFenced()
        do throws(StrataError) {
            try await cold.commit(manifest)
        } catch {
            if error.code == .fenced { fence(error) }
            throw error
        }
        state.withLock { $0.lastCommitted = manifest }
    }
}
