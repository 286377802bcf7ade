import Glibc
import Synchronization

/// A bounded LRU of open segment files (ARCHITECTURE.md invariant 8). Callers pin a file for the
/// duration of a read, write or fsync; only unpinned files are closed, so an fd is never closed
/// under a reader. When every file is pinned the cache briefly exceeds its capacity.
final class FileCache: Sendable {
    private struct Entry {
        var fd: Int32
        var pins: Int
        var lastUse: UInt64
        /// The file was deleted: close as soon as the last pin goes.
        var doomed: Bool
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var tick: UInt64 = 0
        var opens = 0
        /// Uses in order, oldest first from `head`: an entry's current use is the one equal to its
        /// `lastUse` (older ones are stale and skipped), so finding the least recently used file is
        /// amortised O(1) instead of a scan of every open file per miss.
        var order: [(path: String, use: UInt64)] = []
        var head = 0
        /// Pins of descriptors whose file was replaced while pinned (a doomed entry a new open of
        /// the path took the place of), by descriptor: closed at their last unpin.
        var retired: [Int32: Int] = [:]

        mutating func touch(_ path: String) {
            order.append((path, tick))
            if order.count - head > 4 * max(entries.count, 16) {
                order = entries.map { ($0.key, $0.value.lastUse) }.sorted { $0.use < $1.use }
                head = 0
            }
        }
    }

    let capacity: Int
    /// Files open `O_RDONLY` (a read-only lake), else read-write.
    let readOnly: Bool
    private let state = Mutex(State())

    init(capacity: Int, readOnly: Bool = false) {
        self.capacity = max(1, capacity)
        self.readOnly = readOnly
    }

    /// Once the cache is unreachable no file can be pinned: close what it still holds, or a lake
    /// dropped without `close()` leaks every cached descriptor.
    deinit {
        let (entries, retired) = state.withLock { ($0.entries.values.map(\.fd), Array($0.retired.keys)) }
        for fd in entries + retired { FileIO.close(fd) }
    }

    /// Number of files currently open.
    var openCount: Int { state.withLock { $0.entries.count + $0.retired.count } }
    /// Number of `open` calls made so far.
    var openCalls: Int { state.withLock { $0.opens } }

    /// Runs `body` with an open descriptor of `path` (opened read-write, created when
    /// `create` is set), pinned for the duration.
    func withFile<T>(
        _ path: String, create: Bool = false, _ body: (Int32) throws(StrataError) -> T
    ) throws(StrataError) -> T {
        let fd = try pin(path, create: create)
        defer { unpin(path, fd: fd) }
        return try body(fd)
    }

    func pin(_ path: String, create: Bool = false) throws(StrataError) -> Int32 {
        let found: Int32? = state.withLock { s in
            s.tick += 1
            guard var entry = s.entries[path], !entry.doomed else { return nil }
            entry.pins += 1
            entry.lastUse = s.tick
            s.entries[path] = entry
            s.touch(path)
            return entry.fd
        }
        if let found { return found }
        let fd = try FileIO.open(path, flags: readOnly ? O_RDONLY : O_RDWR | (create ? O_CREAT : 0))
        var toClose: [Int32] = []
        let result: Int32 = state.withLock { s in
            s.tick += 1
            s.opens += 1
            if var existing = s.entries[path] {
                if !existing.doomed {
                    // Another thread opened it meanwhile: keep theirs.
                    existing.pins += 1
                    existing.lastUse = s.tick
                    s.entries[path] = existing
                    s.touch(path)
                    toClose.append(fd)
                    return existing.fd
                }
                // The file it had open was replaced and is still pinned: its users unpin it by
                // descriptor, and the new file takes the path.
                s.retired[existing.fd] = existing.pins
            }
            s.entries[path] = Entry(fd: fd, pins: 1, lastUse: s.tick, doomed: false)
            s.touch(path)
            toClose += evict(&s)
            return fd
        }
        toClose.forEach(FileIO.close)
        return result
    }

    /// Takes `fd`, just opened read-write on `path` (a segment this process created), as the
    /// cached descriptor of `path`, unpinned: the first write finds it open instead of opening
    /// the file again. A path the cache already knows (a doomed entry still pinned by a reader
    /// of the file it replaced) keeps its entry and `fd` is closed.
    func adopt(_ path: String, fd: Int32) {
        guard !readOnly else { return FileIO.close(fd) }
        let toClose: [Int32] = state.withLock { s in
            guard s.entries[path] == nil else { return [fd] }
            s.tick += 1
            s.entries[path] = Entry(fd: fd, pins: 0, lastUse: s.tick, doomed: false)
            s.touch(path)
            return evict(&s)
        }
        toClose.forEach(FileIO.close)
    }

    /// Releases a pin `pin(path)` returned `fd` for.
    func unpin(_ path: String, fd: Int32) {
        let toClose: Int32? = state.withLock { s in
            if let pins = s.retired[fd] {
                guard pins <= 1 else {
                    s.retired[fd] = pins - 1
                    return nil
                }
                s.retired[fd] = nil
                return fd
            }
            guard var entry = s.entries[path], entry.fd == fd else { return nil }
            entry.pins -= 1
            if entry.pins == 0 && (entry.doomed || s.entries.count > capacity) {
                s.entries[path] = nil
                return entry.fd
            }
            s.entries[path] = entry
            return nil
        }
        if let toClose { FileIO.close(toClose) }
    }

    /// Forgets `path` (it is being deleted or replaced): closed now, or at its last unpin.
    func invalidate(_ path: String) {
        let toClose: Int32? = state.withLock { s in
            guard var entry = s.entries[path] else { return nil }
            if entry.pins == 0 {
                s.entries[path] = nil
                return entry.fd
            }
            entry.doomed = true
            s.entries[path] = entry
            return nil
        }
        if let toClose { FileIO.close(toClose) }
    }

    /// Closes every unpinned file.
    func closeAll() {
        let fds: [Int32] = state.withLock { s in
            let idle = s.entries.filter { $0.value.pins == 0 }
            for key in idle.keys { s.entries[key] = nil }
            return idle.values.map(\.fd)
        }
        fds.forEach(FileIO.close)
    }

    private func evict(_ s: inout State) -> [Int32] {
        var closed: [Int32] = []
        var looked = 0
        let queued = s.order.count - s.head
        while s.entries.count > capacity, looked < queued, s.head < s.order.count {
            let (path, use) = s.order[s.head]
            s.head += 1
            looked += 1
            guard let entry = s.entries[path], entry.lastUse == use else { continue }  // a stale use
            guard entry.pins == 0 else {
                // In use now (so recent): queued again; `unpin` closes it if the cache is still over.
                s.order.append((path, use))
                continue
            }
            s.entries[path] = nil
            closed.append(entry.fd)
        }
        if s.head > s.order.count / 2 {
            s.order.removeFirst(s.head)
            s.head = 0
        }
        return closed
    }
}
