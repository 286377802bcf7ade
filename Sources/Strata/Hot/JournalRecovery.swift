import Glibc
import StrataBlob

/// Replaying the lake journal when a writer opens the lake, before any topic is served
/// (formats/journal.md, "Recovery"): every batch an entry holds that its partition's log lacks
/// is written there, the segments written to are fdatasync'ed, then the journal files go.
struct JournalRecovery {
    let paths: LakePaths
    let files: FileCache
    let options: LakeOptions
    let cold: ColdTier
    /// Logs opened for the replay, by name; nil for a log whose topic no longer exists.
    private var logs: [String: Topic?] = [:]
    /// Logs a batch was written to.
    private var written: Set<String> = []
    private var dropped: [String: Int] = [:]

    init(paths: LakePaths, files: FileCache, options: LakeOptions, cold: ColdTier) {
        self.paths = paths
        self.files = files
        self.options = options
        self.cold = cold
    }

    /// Replays every journal file, oldest first. Every file is checked before anything is
    /// changed: damage that is not a torn tail of the last file, or an entry its log contradicts,
    /// refuses the open with nothing written, cut or deleted.
    /// - Returns: the sequence number the next journal file takes.
    /// - Throws: `corrupt` naming the file and byte for damage followed by valid entries, damage
    ///   in a journal file that is not the last, a batch the log holds differently or an entry
    ///   beyond the log's end (a gap). `io`.
    mutating func run() throws(StrataError) -> UInt64 {
        let directory = paths.journalDirectory
        guard FileIO.exists(directory) else { return 0 }
        let sequences = try FileIO.listDirectory(directory).compactMap(LakePaths.journalSequence(fileName:)).sorted()
        guard let lastSequence = sequences.last else { return 0 }
        var plans: [FilePlan] = []
        for sequence in sequences { plans.append(try plan(sequence, isLast: sequence == lastSequence)) }
        for plan in plans {
            guard let torn = plan.tornPosition else { continue }
            let kept = try Self.keep(
                Array(plan.bytes[torn...]), named: "journal-\(plan.sequence).torn-\(torn)",
                in: paths.lakeQuarantineDirectory)
            options.log(
                "journal recovery: torn tail file=\(plan.path) position=\(torn) bytes=\(plan.bytes.count - torn) "
                    + "kept=\(kept): \(plan.tornReason)")
        }
        var kept: Set<UInt64> = []
        for plan in plans where try !apply(plan) { kept.insert(plan.sequence) }
        for name in logs.keys.sorted() {
            guard let topic = logs[name] ?? nil else { continue }
            let path = topic.state.withLock { $0.active.path }
            try topic.beforeSegmentFsync()
            try files.withFile(path) { (fd) throws(StrataError) in try FileIO.fdatasync(fd, path: path) }
        }
        for (name, count) in dropped.sorted(by: { $0.key < $1.key }) {
            options.log("journal recovery: dropped \(count) entries of log \(name): its topic was deleted")
        }
        for plan in plans {
            if kept.contains(plan.sequence) {
                let moved = try Quarantine.moveFile(plan.path, into: paths.lakeQuarantineDirectory)
                options.log("journal recovery: \(plan.path) holds entries a damaged log refused; kept as \(moved)")
            } else {
                try FileIO.remove(plan.path)
            }
        }
        try FileIO.fsyncDirectory(directory)
        options.log(
            "journal recovery: \(plans.count) journal files, \(plans.reduce(0) { $0 + $1.writes.count }) batches "
                + "written to \(written.count) logs")
        return lastSequence + 1
    }

    /// What one journal file asks for, checked against the logs before anything changes.
    private struct FilePlan {
        var sequence: UInt64
        var path: String
        var bytes: [UInt8]
        /// Entries whose batches their logs lack, in file order.
        var writes: [JournalEntry] = []
        var tornPosition: Int?
        var tornReason = ""
    }

    /// Where each log ends once the entries planned so far are written, and the CRCs of the
    /// batches planned, by base offset (a later entry repeating one is checked against it).
    private var plannedEnd: [String: Int64] = [:]
    private var plannedCrcs: [String: [Int64: UInt32]] = [:]
    /// Logs whose active segment is damaged from a position the journal refills (the bytes from
    /// there on are cut, kept in quarantine, before the first batch is written back).
    private var refills: [String: SegmentCorruption] = [:]

    private mutating func plan(_ sequence: UInt64, isLast: Bool) throws(StrataError) -> FilePlan {
        let path = paths.journalFile(sequence: sequence)
        var plan = FilePlan(sequence: sequence, path: path, bytes: try FileIO.readWholeFile(path))
        let scan = plan.bytes.withUnsafeBytes { JournalFormat.scan($0) }
        if let stop = scan.stopError {
            try checkTorn(stop, scan: scan, path: path, isLast: isLast)
            plan.tornPosition = scan.validEnd
            plan.tornReason = stop.description
        } else if scan.sequence != sequence {
            throw StrataError(
                .corrupt, "journal file header names sequence \(scan.sequence ?? 0), its name \(sequence)",
                file: path, position: 8)
        }
        for entry in scan.entries where try needsWrite(entry, path: path) { plan.writes.append(entry) }
        return plan
    }

    /// Throws unless the damage is a torn tail of the last file.
    private func checkTorn(_ stop: FormatError, scan: JournalScan, path: String, isLast: Bool) throws(StrataError) {
        let position = scan.validEnd
        if let resume = scan.resumePosition {
            throw StrataError(
                .corrupt,
                "journal entry at byte \(position) is damaged (\(stop)) and a valid entry follows at byte \(resume); "
                    + "nothing was replayed or changed", file: path, position: position, cause: stop.code.rawValue)
        }
        guard isLast else {
            throw StrataError(
                .corrupt,
                "journal entry at byte \(position) is damaged (\(stop)) in a file newer ones follow (it was "
                    + "fdatasync'ed before they existed); nothing was replayed or changed", file: path,
                position: position, cause: stop.code.rawValue)
        }
    }

    /// True when the entry's log lacks its batch; false when the log holds it (or its topic is
    /// gone: dropped, logged).
    /// - Throws: `corrupt` when the log holds a different batch there or ends before the entry.
    private mutating func needsWrite(_ entry: JournalEntry, path: String) throws(StrataError) -> Bool {
        guard let topic = try openLog(entry.logName) else {
            dropped[entry.logName, default: 0] += 1
            return false
        }
        let header = entry.header
        let logEnd = topic.writtenOffset
        let end = plannedEnd[entry.logName] ?? logEnd
        func corrupt(_ why: String) -> StrataError {
            StrataError(
                .corrupt,
                "journal entry at byte \(entry.position) holds offsets \(header.baseOffset)...\(header.lastOffset) "
                    + "of log \(entry.logName), \(why); nothing was replayed or changed", topic: entry.logName,
                file: path, position: entry.position)
        }
        // A power loss can lose any unfsynced page of the active segment, not only its tail: the
        // log then reads as corrupt from the lost page on. When the journal holds the batch that
        // belongs where the damage starts, everything from there on was written after the
        // segment's last fdatasync and the journal can refill it: the damaged bytes are cut
        // (kept in quarantine) when the plan is applied, and the journal's batches written back.
        if plannedEnd[entry.logName] == nil, let damage = topic.state.withLock({ $0.active.corruption }),
            header.baseOffset == damage.offset
        {
            refills[entry.logName] = damage
            plannedEnd[entry.logName] = header.nextOffset
            plannedCrcs[entry.logName, default: [:]][header.baseOffset] = header.crc
            return true
        }
        if header.nextOffset <= end {
            if let planned = plannedCrcs[entry.logName]?[header.baseOffset] {
                guard planned == header.crc else { throw corrupt("an earlier entry holds a different batch there") }
                return false
            }
            let segments = topic.localSegments()
            // Below the local log: offloaded and evicted, so it was durable in its segment.
            guard header.baseOffset >= segments[0].baseOffset else { return false }
            var found: BatchHeader? = nil
            try topic.walkBatchHeaders(from: header.baseOffset, to: header.baseOffset + 1, in: segments) { h in
                if found == nil { found = h }
            }
            guard let found, found.baseOffset == header.baseOffset, found.crc == header.crc,
                found.recordCount == header.recordCount
            else { throw corrupt("the log holds a different batch there") }
            return false
        }
        guard header.baseOffset == end else {
            throw corrupt(
                header.baseOffset > end ? "the log ends at \(end) (a gap)" : "the log ends inside it at \(end)")
        }
        plannedEnd[entry.logName] = header.nextOffset
        plannedCrcs[entry.logName, default: [:]][header.baseOffset] = header.crc
        return true
    }

    /// Writes a file's planned batches. Returns false when a log refused one (a damaged segment).
    private mutating func apply(_ plan: FilePlan) throws(StrataError) -> Bool {
        var appliedAll = true
        for entry in plan.writes {
            guard let topic = logs[entry.logName] ?? nil else { continue }
            let batch = Array(plan.bytes[entry.batchStart ..< (entry.position + entry.length)])
            if let damage = refills.removeValue(forKey: entry.logName) { try cutForRefill(topic, damage) }
            do throws(StrataError) {
                try topic.state.withLock { (s) throws(StrataError) in
                    try topic.checkWritable(s)
                    // No roll here: a roll writes a producer snapshot, and this log's producers
                    // are rebuilt only when the lake serves it (from the batches written now).
                    try topic.write(batch, into: &s)
                }
            } catch  where error.code == .corrupt {
                options.log(
                    "journal recovery: log \(entry.logName) refuses the batch at \(entry.header.baseOffset): \(error)")
                appliedAll = false
                continue
            }
            written.insert(entry.logName)
        }
        return appliedAll
    }

    /// Cuts `topic`'s active segment where `damage` starts, keeping the bytes from there on in
    /// the log's quarantine, so the journal's batches can be written back after the valid prefix
    /// (the segment's index already covers only that prefix).
    private func cutForRefill(_ topic: Topic, _ damage: SegmentCorruption) throws(StrataError) {
        try topic.state.withLock { (s) throws(StrataError) in
            let path = s.active.path
            let kept = try Quarantine.moveTail(
                of: path, from: damage.position, fileBytes: damage.fileBytes,
                directory: paths.quarantineDirectory(topic.name), kind: "lost")
            s.segments[s.segments.count - 1].corruption = nil
            options.log(
                "journal recovery: log \(topic.name) lost unsynced bytes of \(path) (\(damage.summary)); "
                    + "cut at byte \(damage.position), kept=\(kept), refilled from the journal")
        }
    }

    /// The log called `name` opened for the replay, nil when its topic is gone.
    private mutating func openLog(_ name: String) throws(StrataError) -> Topic? {
        if let known = logs[name] { return known }
        let log = try validateLogName(name)
        // The catalog is loaded before the replay (Lake.open): a topic it does not hold is gone.
        guard let config = paths.catalog?.config(log.topic) else {
            logs[name] = .some(nil)
            return nil
        }
        if log.partition > 0, !FileIO.exists(paths.topicDirectory(name)) {
            try FileIO.makeDirectories(paths.topicDirectory(name))
            try FileIO.fsyncDirectory(paths.topicDirectory(log.topic))
        }
        let barrier = paths.catalog?.barrier
        let topic = try Topic.open(
            name: name, config: config, paths: paths, files: files, clock: options.clock, log: options.log, cold: cold,
            startOffset: Lake.startOffset(paths, name), metadataBarrier: barrier)
        logs[name] = topic
        return topic
    }

    /// Writes `bytes` to a new file `name` of `directory` (a numbered suffix when taken), durably.
    static func keep(_ bytes: [UInt8], named name: String, in directory: String) throws(StrataError) -> String {
        try FileIO.makeDirectories(directory)
        var target = directory + "/" + name
        var suffix = 0
        while FileIO.exists(target) {
            suffix += 1
            target = directory + "/" + name + ".\(suffix)"
        }
        let fd = try FileIO.open(target, flags: O_WRONLY | O_CREAT | O_EXCL)
        defer { FileIO.close(fd) }
        try FileIO.pwriteAll(fd, bytes, at: 0, path: target)
        try FileIO.fdatasync(fd, path: target)
        try FileIO.fsyncDirectory(directory)
        try FileIO.fsyncDirectory(FileIO.parent(of: directory))
        return target
    }
}
