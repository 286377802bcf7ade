import Glibc

/// The topic's quarantine: bytes that recovery cut or `repair` moved aside, kept, never deleted
/// (formats/segment.md, "Quarantine").
///
///     <lake>/topics/<topic>/quarantine/<base>.seg.torn-<position>     torn tail cut by recovery
///     <lake>/topics/<topic>/quarantine/<base>.seg.damaged-<position>  bytes moved by `repair`
///     <lake>/topics/<topic>/quarantine/<base>.seg, <base>.idx         whole later segments moved by `repair`
extension LakePaths {
    func quarantineDirectory(_ topic: String) -> String { topicDirectory(topic) + "/quarantine" }
    /// Where a deleted topic's quarantine is kept: deleting a topic never deletes what recovery or
    /// `repair` set aside (`<lake>/quarantine/<topic>.deleted-<ms>`).
    func deletedTopicQuarantine(_ topic: String, nowMs: Int64) -> String {
        root + "/quarantine/" + topic + ".deleted-\(nowMs)"
    }
}

/// Moving bytes into a quarantine directory: written and fsynced there before the source shrinks,
/// so a crash in between leaves the bytes twice, never nowhere.
enum Quarantine {
    /// Copies bytes `[position, fileBytes)` of `path` into a new file of `directory` named
    /// `<file name>.<kind>-<position>` (a `.1`, `.2`… suffix when the name is taken), then cuts
    /// `path` at `position`.
    /// - Returns: the path of the kept copy.
    /// - Throws: `io` when a step fails (the segment is cut only after the copy is durable).
    static func moveTail(
        of path: String, from position: Int, fileBytes: Int, directory: String, kind: String
    ) throws(StrataError) -> String {
        let fd = try FileIO.open(path, flags: O_RDWR)
        defer { FileIO.close(fd) }
        let bytes = try FileIO.read(fd, count: fileBytes - position, at: position, path: path)
        let kept = try writeNew(bytes, named: fileName(path) + ".\(kind)-\(position)", in: directory)
        try FileIO.ftruncate(fd, position, path: path)
        try FileIO.fdatasync(fd, path: path)
        return kept
    }

    /// Renames `path` into `directory`, keeping its name (a numbered suffix when taken).
    /// - Returns: the new path.
    static func moveFile(_ path: String, into directory: String) throws(StrataError) -> String {
        try FileIO.makeDirectories(directory)
        let target = try freeName(fileName(path), in: directory)
        guard rename(path, target) == 0 else { throw FileIO.ioError("rename", path) }
        try FileIO.fsyncDirectory(directory)
        try FileIO.fsyncDirectory(FileIO.parent(of: path))
        return target
    }

    private static func writeNew(
        _ bytes: [UInt8], named name: String, in directory: String
    ) throws(StrataError) -> String {
        try FileIO.makeDirectories(directory)
        try FileIO.fsyncDirectory(FileIO.parent(of: directory))
        let target = try freeName(name, in: directory)
        // O_EXCL: a kept file is never overwritten, even by a second recovery of the same tail.
        let fd = try FileIO.open(target, flags: O_WRONLY | O_CREAT | O_EXCL)
        defer { FileIO.close(fd) }
        try FileIO.pwriteAll(fd, bytes, at: 0, path: target)
        try FileIO.fdatasync(fd, path: target)
        try FileIO.fsyncDirectory(directory)
        return target
    }

    private static func freeName(_ name: String, in directory: String) throws(StrataError) -> String {
        var candidate = directory + "/" + name
        var suffix = 0
        while FileIO.exists(candidate) {
            suffix += 1
            guard suffix < 10_000 else { throw StrataError(.io, "no free name for \(name)", file: directory) }
            candidate = directory + "/" + name + ".\(suffix)"
        }
        return candidate
    }

    private static func fileName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}

/// One file `repair` moved into the quarantine.
public struct QuarantinedFile: Sendable, Equatable {
    /// The segment (or index) the bytes came from.
    public var source: String
    /// Where in `source` the moved bytes started (0: the whole file).
    public var position: Int
    public var bytes: Int
    /// The kept copy.
    public var kept: String
}

/// What `Topic.repairQuarantine` did.
public struct RepairReport: Sendable, Equatable {
    public var topic: String
    /// The damage that was found, nil when every local segment scanned clean.
    public var damage: String?
    /// Files moved aside, in order.
    public var moved: [QuarantinedFile] = []
    /// Offsets from here on were in the moved bytes (valid batches after the damage included);
    /// the next append is given this offset.
    public var nextOffset: Int64
}

extension Topic {
    /// Moves damaged bytes aside so the topic is appendable and offloadable again: finds the
    /// first local segment whose batches do not all check (scanning every file from disk), moves
    /// its bytes from the damaged batch to the end into `quarantine/<base>.seg.damaged-<position>`,
    /// moves every later local segment whole into `quarantine/`, and makes the cut segment the
    /// active one. Nothing is deleted. Offsets of valid batches that followed the damage are in
    /// the quarantine files; the next append continues after the last kept record.
    /// - Returns: what was found and moved (nothing moved when the topic scans clean).
    /// - Throws: `invalidArgument` when the cold tier already holds offsets at or after the
    ///   damage (cutting the hot log there would make the tiers disagree); `io`.
    public func repairQuarantine() async throws(StrataError) -> RepairReport {
        try refuseIfReadOnly("repair")
        // The lake journal must hold none of this log's entries once it is cut: their replay
        // after a crash would contradict the cut log (and refuse the lake's open).
        try journal?.forget(topic: topicName)
        // No offload pass and no manifest commit may run while the hot log is cut back, and the
        // cold end is read from the store itself (the local copy can be a version behind).
        await offloadPass.lock()
        defer { offloadPass.unlock() }
        return try await manifestWriter.commits.withLock { () async throws(StrataError) -> RepairReport in
            try manifestWriter.checkNotFenced()  // fenced (retired) while this waited for the locks
            let coldEnd = try await cold.latestManifest(name, refresh: true)?.nextOffset
            return try repairLocked(coldEnd: coldEnd)
        }
    }

    private func repairLocked(coldEnd: Int64?) throws(StrataError) -> RepairReport {
        try state.withLock { (s) throws(StrataError) -> RepairReport in
            if let failure = s.failure {
                throw StrataError(
                    .closed, "topic stopped after an I/O failure; reopen the lake before repairing it",
                    topic: name, cause: failure.description)
            }
            guard groupCommit.idle, !groupCommit.hasAppendsWaiting else {
                throw StrataError(
                    .busy, "appends are waiting for an fsync; repair when the topic is idle",
                    topic: name)
            }
            if let journal, journal.holdsEntries(ofLog: name) {
                throw StrataError(
                    .busy, "the lake journal took new appends of this log while repair waited; run repair again",
                    topic: name)
            }
            guard let (i, scan, fileBytes) = try firstDamaged(s.segments) else {
                return RepairReport(topic: name, damage: nil, nextOffset: s.writtenOffset)
            }
            let segment = s.segments[i]
            let stop =
                scan.stopError
                ?? FormatError(.invalidValue, field: "segment", position: scan.validEnd, "damaged")
            let found = SegmentCorruption(scan: scan, stop: stop, fileBytes: fileBytes)
            if let coldEnd, coldEnd > found.offset {
                throw StrataError(
                    .invalidArgument,
                    "the cold tier holds offsets up to \(coldEnd - 1), past the damage at offset "
                        + "\(found.offset): repair would make the tiers disagree; nothing was moved "
                        + "(`strata offload --evict` drops local segments the cold tier holds)",
                    topic: name, file: segment.path, position: found.position)
            }
            var report = RepairReport(
                topic: name, damage: "\(segment.path): \(found.summary)",
                nextOffset: found.offset)
            let directory = paths.quarantineDirectory(name)
            for later in s.segments[(i + 1)...] {
                for path in [later.path, later.indexPath] where FileIO.exists(path) {
                    let bytes = FileIO.fileSize(atPath: path) ?? 0
                    files.invalidate(path)
                    report.moved.append(
                        QuarantinedFile(
                            source: path, position: 0, bytes: bytes,
                            kept: try Quarantine.moveFile(path, into: directory)))
                }
            }
            files.invalidate(segment.path)
            let kept = try Quarantine.moveTail(
                of: segment.path, from: found.position, fileBytes: fileBytes,
                directory: directory, kind: "damaged")
            report.moved.insert(
                QuarantinedFile(
                    source: segment.path, position: found.position,
                    bytes: fileBytes - found.position, kept: kept), at: 0)
            if FileIO.exists(segment.indexPath) {
                let bytes = FileIO.fileSize(atPath: segment.indexPath) ?? 0
                report.moved.append(
                    QuarantinedFile(
                        source: segment.indexPath, position: 0, bytes: bytes,
                        kept: try Quarantine.moveFile(segment.indexPath, into: directory)))
            }
            var active = segment
            active.index = SparseIndex.build(
                from: scan, baseOffset: segment.baseOffset,
                intervalBytes: config.indexIntervalBytes)
            active.sealed = false
            active.corruption = nil
            s.segments.removeSubrange(i...)
            s.segments.append(active)
            s.writtenOffset = found.offset
            s.producers.truncate(from: found.offset)
            groupCommit.reset(durableOffset: found.offset)
            readWaiters.reset(visibleEnd: found.offset)
            offloadBlock.withLock { $0 = nil }
            log(
                "repaired topic=\(name): moved \(report.moved.count) files into \(directory); "
                    + "next offset \(found.offset)")
            return report
        }
    }

    /// The first segment whose file does not scan clean, with its scan and size.
    private func firstDamaged(_ segments: [LocalSegment]) throws(StrataError) -> (Int, SegmentScan, Int)? {
        for (i, segment) in segments.enumerated() {
            let bytes = try FileIO.readWholeFile(segment.path)
            let (_, scan) = try SegmentLoader.scanFile(bytes, path: segment.path, topic: name)
            if scan.stopError != nil { return (i, scan, bytes.count) }
        }
        return nil
    }
}
