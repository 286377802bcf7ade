import Glibc
import StrataBlob

/// What `recover` rebuilt for one partition log.
public struct RecoveredTopic: Sendable, Equatable {
    /// The log name (`LogName`): the topic for partition 0, `<topic>/<partition>` otherwise.
    public var topic: String
    public var logStartOffset: Int64
    public var nextOffset: Int64
    public var segments: Int
}

extension Lake {
    /// Names of the topics that have a manifest (of any partition) in the cold store, sorted
    /// (keys under names that are not log names are not topics: `BucketLayout.manifestLogs`).
    public func coldTopicNames() async throws(StrataError) -> [String] {
        var topics: [String] = []
        for log in try await cold.logNames() {
            let topic = String(log.prefix { $0 != "/" })
            if topics.last != topic { topics.append(topic) }
        }
        return topics
    }

    /// Rebuilds local state from the cold store alone (a node whose disk died): each partition
    /// with a manifest gets an empty active segment starting at the manifest's next offset, so
    /// every offloaded record is readable again through the cold tier; the topic gets its config
    /// from partition 0's manifest (or its lowest partition's) and as many partitions as its
    /// highest partition with a manifest needs (the bucket does not record partitions that never
    /// offloaded anything above that one).
    /// - Parameter topicNames: topics to recover (default: every topic with a manifest).
    /// - Throws: `invalidArgument` when a topic already exists locally (nothing is overwritten);
    ///   `notFound` when a named topic has no manifest.
    public func recover(topics topicNames: [String]? = nil) async throws(StrataError) -> [RecoveredTopic] {
        try refuseIfReadOnly("recover topics")
        let coldLogs = try await cold.logNames().compactMap { try? LogName.parse($0) }
        var names = topicNames ?? []
        if topicNames == nil { names = try await coldTopicNames() }
        var plans: [(topic: String, logs: [(LogName, Manifest)])] = []
        for name in names {
            try validateTopicName(name)
            guard catalog.entry(name) == nil else {
                throw StrataError(
                    .invalidArgument, "topic '\(name)' already exists in \(path); recover only rebuilds missing topics",
                    topic: name, file: paths.catalogDirectory)
            }
            var logs: [(LogName, Manifest)] = []
            for log in coldLogs where log.topic == name {
                if let manifest = try await cold.latestManifest(log.description, refresh: true) {
                    logs.append((log, manifest))
                }
            }
            guard !logs.isEmpty else {
                throw StrataError(.notFound, "topic '\(name)' has no manifest in \(cold.location)", topic: name)
            }
            plans.append((name, logs))
        }
        var recovered: [RecoveredTopic] = []
        for (name, logs) in plans {
            let first = logs[0].1
            var config = options.defaultTopicConfig
            config.coldFrameRawBytes = first.config.frameRawBytesTarget ?? config.coldFrameRawBytes
            config.coldCompressionLevel = first.config.compressionLevel ?? config.coldCompressionLevel
            config.retentionMs = first.config.retentionMs
            config.retentionBytes = first.config.retentionBytes
            for (log, manifest) in logs {
                let directory = log.description
                try FileIO.makeDirectories(paths.topicDirectory(directory))
                try catalog.setStartOffset(log, manifest.nextOffset)
                if let copy = try? manifest.encode() {
                    try FileIO.writeAtomically(paths.topicManifestCopy(directory), copy)
                }
            }
            let partitions = (logs.map(\.0.partition).max() ?? 0) + 1
            _ = try topic(name, creatingWith: config, partitions: partitions)
            try catalog.syncIfDirty()
            for (log, manifest) in logs {
                _ = try partition(name, log.partition)
                recovered.append(
                    RecoveredTopic(
                        topic: log.description, logStartOffset: manifest.logStartOffset,
                        nextOffset: manifest.nextOffset,
                        segments: manifest.segments.count + manifest.archives.reduce(0) { $0 + $1.segmentCount }))
            }
        }
        return recovered
    }
}

extension Lake {
    /// Rebuilds the lake at `path` from the cold store at `cold` (see `recover(topics:)`) in one
    /// step that recovers every topic asked for or leaves `path` as it was: the cold store is read
    /// first, through a view that creates nothing, and what this call created is removed again
    /// when a later step fails.
    /// - Parameters:
    ///   - path: the lake directory: absent (it is created), or a lake that lacks the topics.
    ///   - cold: the cold store URL; an existing lake must remember this one.
    ///   - topicNames: topics to recover (default: every topic with a manifest in the store).
    ///   - options: as for `open`; nothing runs in the background (`backgroundOffload` is ignored).
    /// - Returns: what was recovered, one entry per topic.
    /// - Throws: `notFound` naming a topic the store does not hold (and the topics it does), or a
    ///   store that holds no Strata lake (a missing `file://` directory included);
    ///   `invalidArgument` for a bad topic name or URL, a lake that remembers another store or
    ///   already has the topic; `locked`; `io`.
    public static func recover(
        into path: String, cold: String, topics topicNames: [String]? = nil, options: LakeOptions = LakeOptions()
    ) async throws(StrataError) -> [RecoveredTopic] {
        let names = try await recoverableTopics(topicNames, cold: cold, options: options)
        var footprint = RecoverFootprint(paths: LakePaths(root: path), topics: names)
        var lakeOptions = options
        lakeOptions.backgroundOffload = false
        do throws(StrataError) {
            let lake = try Lake.open(path, cold: cold, options: lakeOptions)
            footprint.newTopics = names.filter { !FileIO.exists(footprint.paths.topicDirectory($0)) }
            let recovered: [RecoveredTopic]
            do throws(StrataError) { recovered = try await lake.recover(topics: names) } catch {
                // The recover error is the one to report; a failed close is logged.
                do throws(StrataError) { try await lake.close() } catch let closing {
                    options.log("recover: closing \(path) after the failure failed as well: \(closing)")
                }
                throw error
            }
            try await lake.close()
            return recovered
        } catch {
            footprint.removeCreated(log: options.log)
            throw error
        }
    }

    /// The topics to recover, checked against the cold store before anything is created: each
    /// named one must have a manifest there (default: every topic that has one).
    private static func recoverableTopics(
        _ topicNames: [String]?, cold: String, options: LakeOptions
    ) async throws(StrataError) -> [String] {
        var logOptions = ColdLogOptions()
        logOptions.store = options.coldStore
        logOptions.retry = options.blobRetry
        logOptions.retryEnvironment = options.blobRetryEnvironment
        logOptions.clock = options.clock
        let log = try ColdLog.open(cold, options: logOptions)
        let held = try await log.topicNames()
        guard let topicNames else { return held }
        var names: [String] = []
        for name in topicNames where !names.contains(name) {
            try validateTopicName(name)
            guard held.contains(name) else { throw ColdLog.notHeld(name, held: held, location: log.location) }
            names.append(name)
        }
        return names
    }
}

/// What a lake path held before `Lake.recover(into:…)`, so that a failed recover removes what it
/// created and nothing else: the directories it made, `LOCK` and `lake.json` of a lake that did
/// not exist, and the directories of topics that were not there.
struct RecoverFootprint {
    let paths: LakePaths
    /// Directories `open` would create, the deepest first (`topics`, the lake, missing parents).
    let missingDirectories: [String]
    let hadLock: Bool
    let hadConfig: Bool
    /// The lake had a catalog: it then only forgets the topics this run created. Without one, the
    /// catalog `open` made is deleted unless it holds topics this run did not create (a lake of
    /// the old layout, which `open` migrated into it).
    let hadCatalog: Bool
    /// Topics whose directory did not exist; taken again once the lake's lock is held, so a topic
    /// another process created before that is never counted as this run's.
    var newTopics: [String]

    init(paths: LakePaths, topics: [String]) {
        self.paths = paths
        var missing: [String] = []
        var directory = paths.topicsDirectory
        while !FileIO.exists(directory) {
            missing.append(directory)
            let parent = FileIO.parent(of: directory)
            guard parent != directory, parent != "." else { break }
            directory = parent
        }
        missingDirectories = missing
        hadLock = FileIO.exists(paths.lock)
        hadConfig = FileIO.exists(paths.config)
        hadCatalog = FileIO.exists(paths.catalogDirectory)
        newTopics = topics.filter { !FileIO.exists(paths.topicDirectory($0)) }
    }

    /// Takes the lock, trying again for a moment as `Lake.open` does: a child another thread is
    /// spawning holds a copy of the lock's descriptor until its exec (the cause of a flaky
    /// "taken" here before).
    static func lockSoon(_ fd: Int32) -> Bool {
        var waitedMs = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EINTR || (errno == EWOULDBLOCK && waitedMs < Lake.lockRetryMs) else { return false }
            usleep(10_000)
            waitedMs += 10
        }
        return true
    }

    /// Removes what the failed recover created. It runs under the lake's lock, so no other
    /// process is using the lake; a lake another process has opened meanwhile is left alone, and
    /// so is anything that is not what recover writes (a directory that is not empty stays).
    func removeCreated(log: @escaping @Sendable (String) -> Void) {
        // Without a LOCK, `open` failed before it made more than the (empty) directories.
        let locked = FileIO.exists(paths.lock)
        let fd = locked ? open(paths.lock, O_RDWR | O_CLOEXEC) : -1
        defer { if fd >= 0 { FileIO.close(fd) } }
        guard !locked || (fd >= 0 && Self.lockSoon(fd)) else {
            log("recover failed; the lock of \(paths.root) is taken or unreadable, so what recover created there stays")
            return
        }
        var left: [String] = []
        for topic in newTopics {
            let directory = paths.topicDirectory(topic)
            for entry in (try? FileIO.listDirectory(directory)) ?? [] {
                let path = directory + "/" + entry
                if LogName.partitionDirectory(entry) != nil {  // a partition's directory: its files, then it
                    for file in (try? FileIO.listDirectory(path)) ?? [] { try? FileIO.remove(path + "/" + file) }
                    if rmdir(path) != 0 { left.append(path) }
                } else {
                    try? FileIO.remove(path)
                }
            }
            if FileIO.exists(directory), rmdir(directory) != 0 { left.append(directory) }
        }
        forgetCreated(log: log, left: &left)
        if !hadConfig { try? FileIO.remove(paths.config) }
        if !hadLock { try? FileIO.remove(paths.lock) }
        for directory in missingDirectories where FileIO.exists(directory) {
            guard rmdir(directory) == 0 else {
                left.append(directory)
                break
            }
        }
        if !left.isEmpty { log("recover failed; could not remove what it created: \(left.joined(separator: ", "))") }
    }

    /// The catalog forgets the topics this run added (a catalog this run made for a lake without
    /// topics goes entirely; one made by migrating a lake of the old layout holds its topics).
    private func forgetCreated(log: @escaping @Sendable (String) -> Void, left: inout [String]) {
        let directory = paths.catalogDirectory
        guard FileIO.exists(directory) else { return }
        let migrated =
            !hadCatalog
            && ((try? Catalog.openWriter(LakePaths(root: paths.root), log: log)).map { catalog in
                defer { try? catalog.close() }
                return catalog.topicNames().contains { !newTopics.contains($0) }
            } ?? true)
        if !hadCatalog, !migrated {
            for file in (try? FileIO.listDirectory(directory)) ?? [] { try? FileIO.remove(directory + "/" + file) }
            if rmdir(directory) != 0 { left.append(directory) }
            return
        }
        do throws(StrataError) {
            let catalog = try Catalog.openWriter(LakePaths(root: paths.root), log: log)
            defer { try? catalog.close() }
            for topic in newTopics where catalog.entry(topic) != nil {
                try catalog.beginDelete(topic)
                try catalog.finishDelete(topic)
            }
        } catch {
            log("recover failed; the catalog of \(paths.root) still lists topics it created: \(error)")
            left.append(directory)
        }
    }
}
