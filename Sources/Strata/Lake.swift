import Foundation
import Glibc
import Synchronization

/// The mount point: one directory holding every topic's hot segments (DESIGN §1).
/// Only one process may have a lake open: `open` takes an exclusive `flock` on `LOCK`.
public final class Lake: Sendable {
    public let path: String
    let paths: LakePaths
    let options: LakeOptions
    let files: FileCache
    private let lockFD: Int32
    private let topics = Mutex<[String: Topic]>([:])
    private let closed = Mutex(false)
    private let background = Mutex<Task<Void, Never>?>(nil)

    private init(path: String, options: LakeOptions, lockFD: Int32) {
        self.path = path
        self.paths = LakePaths(root: path)
        self.options = options
        self.files = FileCache(capacity: options.maxOpenFiles)
        self.lockFD = lockFD
    }

    /// A lake dropped without `close()` (a caller that crashed its task, a test simulating a
    /// crash) must not keep its `flock`: the lock fd would leak and the lake could never be
    /// reopened by this process. Nothing is flushed here; recovery handles the rest.
    deinit {
        background.withLock { $0?.cancel() }
        if !closed.withLock({ $0 }) { FileIO.close(lockFD) }
    }

    /// Opens (creating if absent) the lake at `path`.
    /// - Throws: `StrataError.locked` when another process has it open; `.io`.
    public static func open(_ path: String, options: LakeOptions = LakeOptions()) throws(StrataError) -> Lake {
        let paths = LakePaths(root: path)
        try FileIO.makeDirectories(paths.topicsDirectory)
        let fd = try FileIO.open(paths.lock, flags: O_RDWR | O_CREAT)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            FileIO.close(fd)
            if code == EWOULDBLOCK {
                throw StrataError(.locked, "lake \(path) is open in another process; stop it first", file: paths.lock)
            }
            throw FileIO.ioError("flock", paths.lock, errno: code)
        }
        let lake = Lake(path: path, options: options, lockFD: fd)
        lake.startBackground()
        return lake
    }

    /// Names of the topics in the lake, sorted.
    public func topicNames() throws(StrataError) -> [String] {
        try FileIO.listDirectory(paths.topicsDirectory).filter { FileIO.exists(paths.topicConfig($0)) }
    }

    /// The existing topic `name`. Opening it recovers its active segment the first time.
    /// - Throws: `notFound`, `invalidArgument` for a bad name.
    public func topic(_ name: String) throws(StrataError) -> Topic {
        try validateTopicName(name)
        if let open = topics.withLock({ $0[name] }) { return open }
        guard FileIO.exists(paths.topicConfig(name)) else {
            throw StrataError(.notFound, "topic '\(name)' does not exist in \(path)", topic: name)
        }
        return try load(name)
    }

    /// The topic `name`, created with `config` (or the lake's default) when it does not exist.
    /// An existing topic keeps its stored config.
    public func topic(_ name: String, creatingWith config: TopicConfig?) throws(StrataError) -> Topic {
        try validateTopicName(name)
        if let open = topics.withLock({ $0[name] }) { return open }
        if !FileIO.exists(paths.topicConfig(name)) {
            let config = config ?? options.defaultTopicConfig
            try config.validate()
            try FileIO.makeDirectories(paths.topicDirectory(name))
            try FileIO.writeAtomically(paths.topicConfig(name), try encodeJSON(config))
            try FileIO.fsyncDirectory(paths.topicsDirectory)
        }
        return try load(name)
    }

    private func load(_ name: String) throws(StrataError) -> Topic {
        if closed.withLock({ $0 }) { throw StrataError(.closed, "lake is closed", topic: name) }
        let config: TopicConfig = try decodeJSON(try FileIO.readWholeFile(paths.topicConfig(name)), file: paths.topicConfig(name))
        // Topics open under the registry lock so two callers never recover one directory twice.
        return try topics.withLock { (open) throws(StrataError) -> Topic in
            if let existing = open[name] { return existing }
            let topic = try Topic.open(name: name, config: config, paths: paths, files: files, clock: options.clock,
                                       log: options.log)
            open[name] = topic
            return topic
        }
    }

    /// Flushes every topic, stops background work and releases the lock. The lake cannot be
    /// used afterwards.
    public func close() async {
        let alreadyClosed = closed.withLock { c in
            defer { c = true }
            return c
        }
        guard !alreadyClosed else { return }
        background.withLock { $0?.cancel() }
        for topic in topics.withLock({ Array($0.values) }) { await topic.close() }
        files.closeAll()
        FileIO.close(lockFD)
    }

    /// Flushes `async` topics on their interval and rolls segments that outlived `segmentMs`.
    private func startBackground() {
        let task = Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 200_000_000)
                guard let self else { return }
                await self.backgroundTick()
            }
        }
        background.withLock { $0 = task }
    }

    /// One round of background work (internal so tests drive it with a manual clock).
    func backgroundTick() async {
        let now = options.clock.nowMs()
        for topic in topics.withLock({ Array($0.values) }) {
            topic.rollIfAged()
            if topic.config.durability == .async, topic.flushDue(nowMs: now) { try? await topic.flush() }
        }
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
        throw StrataError(.corrupt, "cannot decode \(T.self): \(error)", file: file)
    }
}
