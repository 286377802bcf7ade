import Glibc
import Synchronization

/// Something a read-only open found wrong in a segment file and left exactly as it is.
public struct SegmentDamage: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The active segment ends in bytes that hold no whole valid batch: a torn tail (a
        /// writer's recovery would cut it), or a batch the writer is writing right now.
        case tornTail
        /// The active segment is shorter than its header (a crash while it was created).
        case tornHeader
        /// A batch or header fails its checks in a sealed segment, or valid batches follow the
        /// bad bytes: corruption, not a torn write.
        case corrupt
    }

    public var kind: Kind
    /// Base offset of the damaged segment.
    public var baseOffset: Int64
    public var path: String
    /// First byte position not read (the end of the valid prefix).
    public var position: Int
    /// Bytes from `position` to the end of the file, none of them read.
    public var bytes: Int
    public var what: String

    /// `path position=P kind: what (N bytes not read)`.
    public var description: String {
        "\(path) position=\(position) \(kind.rawValue): \(what) (\(bytes) bytes not read)"
    }
}

/// The part of a read-only topic that a writer's topic does not have: what was found on disk.
final class ReadOnlyView: Sendable {
    /// Where the topic's first segment starts when its directory has none yet.
    let startOffset: Int64
    let damage = Mutex<[Int64: SegmentDamage]>([:])

    init(startOffset: Int64) { self.startOffset = startOffset }
}

extension Topic {
    /// Opens a topic of a read-only lake: segments are scanned, never recovered, rewritten or
    /// created; damage is recorded in `damage`.
    static func openReadOnly(
        name: String, config: TopicConfig, paths: LakePaths, files: FileCache, clock: any StrataClock,
        log: @escaping @Sendable (String) -> Void, cold: ColdTier, startOffset: Int64
    ) throws(StrataError) -> Topic {
        let view = ReadOnlyView(startOffset: startOffset)
        let loader = ReadOnlySegmentLoader(
            topic: name, paths: paths, intervalBytes: config.indexIntervalBytes,
            view: view)
        let segments = try loader.load(known: [])
        return Topic(
            name: name, config: config, paths: paths, files: files, clock: clock, log: log, segments: segments,
            cold: cold, readOnlyView: view)
    }

    /// True for a topic of a lake opened with `Lake.openReadOnly`.
    public var isReadOnly: Bool { readOnlyView != nil }

    /// What a read-only open found wrong and left in place (torn tails, corrupt batches), oldest
    /// segment first. Reads stop at the first damaged byte of a segment. Empty for a writer's
    /// topic, whose open recovers instead.
    public var damage: [SegmentDamage] {
        guard let view = readOnlyView else { return [] }
        return view.damage.withLock { $0.values.sorted { $0.baseOffset < $1.baseOffset } }
    }

    /// Throws `readOnly` for a topic of a read-only lake.
    func refuseIfReadOnly(_ what: String) throws(StrataError) {
        guard isReadOnly else { return }
        throw StrataError(.readOnly, "cannot \(what): topic '\(name)' belongs to a lake opened read-only", topic: name)
    }

    /// Re-reads a read-only topic's directory so a writer's later work becomes visible: grown
    /// segment files are scanned from where the last scan stopped, new segments are loaded and
    /// evicted ones dropped (their offsets are then read from the cold tier). Does nothing for a
    /// writer's topic, which knows its own appends.
    /// - Returns: true when the high watermark or the local start moved.
    /// - Throws: `notFound` when the topic directory is gone; `corrupt`, `io`.
    @discardableResult
    public func refresh() throws(StrataError) -> Bool {
        guard let view = readOnlyView else { return false }
        let known = state.withLock { $0.segments }
        let loader = ReadOnlySegmentLoader(
            topic: name, paths: paths, intervalBytes: config.indexIntervalBytes,
            view: view)
        let updated = try loader.load(known: known)
        for old in known where !updated.contains(where: { $0.baseOffset == old.baseOffset && $0.path == old.path }) {
            files.invalidate(old.path)
        }
        return state.withLock { s in
            let before = (s.segments[0].baseOffset, visibleEnd(s))
            s.segments = updated
            let end = updated[updated.count - 1].nextOffset
            s.writtenOffset = end
            groupCommit.reset(durableOffset: end)
            readWaiters.reset(visibleEnd: end)
            return before != (updated[0].baseOffset, end)
        }
    }

    /// For a read-only topic: re-reads the directory until data at `offset` is on disk, polling
    /// every `pollMs` for up to `timeoutMs` (no writer in this process wakes it).
    /// - Returns: true when data at `offset` is readable.
    func pollDisk(for offset: Int64, timeoutMs: Int64, pollMs: Int64 = 100) async throws(StrataError) -> Bool {
        var waitedMs: Int64 = 0
        while true {
            try refresh()
            if highWatermark > offset { return true }
            guard waitedMs < timeoutMs, !Task.isCancelled else { return false }
            let stepMs = min(pollMs, timeoutMs - waitedMs)
            do { try await clock.sleep(ms: stepMs) } catch { return false }  // cancelled
            waitedMs += stepMs
        }
    }
}

/// Loads a topic directory's segments without changing a byte: an index file is used when it
/// decodes against its segment, otherwise the segment is scanned in memory; an already known
/// segment is kept, or scanned on from where its last scan stopped when its file grew.
struct ReadOnlySegmentLoader {
    let topic: String
    let paths: LakePaths
    let intervalBytes: Int
    let view: ReadOnlyView

    /// The segments on disk now. A segment listed and then gone before it was opened was evicted
    /// by the writer meanwhile (its offsets are in the cold tier): the directory is listed again
    /// rather than failing a reader beside a running writer. Each retry is for a file the writer
    /// removed since the previous listing, so they end when its evictions do; a writer evicting
    /// a long run of segments (an offload on every core) can take many.
    func load(known: [LocalSegment]) throws(StrataError) -> [LocalSegment] {
        var attempt = 0
        while true {
            do throws(StrataError) {
                return try loadOnce(known: known)
            } catch
                where error.code == .notFound && attempt < Self.relistsMax
                && error.file.map({ $0 != paths.topicDirectory(topic) && !FileIO.exists($0) }) == true
            {
                attempt += 1
            }
        }
    }

    static let relistsMax = 1_000

    private func loadOnce(known: [LocalSegment]) throws(StrataError) -> [LocalSegment] {
        // A partition ≥ 1 gets its directory when the writer first uses it: until then it is an
        // empty log, not a missing one (partition 0's directory is the topic's own).
        let directory = paths.topicDirectory(topic)
        let unused = topic.contains("/") && !FileIO.exists(directory)
        let names = unused ? [] : try FileIO.listDirectory(directory)
        let bases = names.compactMap(LakePaths.segmentBaseOffset(fileName:)).sorted()
        view.damage.withLock { damage in damage = damage.filter { bases.contains($0.key) } }
        guard let lastBase = bases.last else {
            // Nothing on disk yet (a recovered topic before its first open): an empty log.
            let start = known.last?.nextOffset ?? view.startOffset
            return [Self.empty(paths: paths, topic: topic, baseOffset: start, intervalBytes: intervalBytes)]
        }
        var segments: [LocalSegment] = []
        for base in bases {
            let sealed = base != lastBase
            if let old = known.first(where: { $0.baseOffset == base }) {
                segments.append(try update(old, sealed: sealed))
            } else {
                segments.append(try open(base, sealed: sealed))
            }
        }
        return segments
    }

    /// A known segment: unchanged, newly sealed, or grown (scanned on from its valid end).
    private func update(_ old: LocalSegment, sealed: Bool) throws(StrataError) -> LocalSegment {
        let fileBytes = FileIO.fileSize(atPath: old.path) ?? 0
        let damage = view.damage.withLock { $0[old.baseOffset] }
        var segment = old
        segment.sealed = sealed
        let stoppedAt = old.segmentBytes
        if let damage {
            if damage.kind != .tornTail && fileBytes == damage.position + damage.bytes { return segment }
        } else if fileBytes == stoppedAt {
            return segment
        }
        // A clean prefix, or one that ended in a partial batch (which may be whole by now), is
        // scanned on from its end; anything else (a file that shrank, a header that was torn,
        // a segment that changed after corruption) is scanned again from the start.
        guard fileBytes >= stoppedAt, damage == nil || damage?.kind == .tornTail else {
            return try open(old.baseOffset, sealed: sealed)
        }
        let tail = try readRange(old.path, from: stoppedAt, count: fileBytes - stoppedAt)
        let scan = tail.withUnsafeBytes { raw in
            SegmentScanner.scan(raw, from: 0, expectedOffset: old.nextOffset, basePosition: stoppedAt)
        }
        for batch in scan.batches { segment.index.add(batch.header, position: batch.position) }
        let found = scan.stopError.map { stop in
            tail.withUnsafeBytes { raw in
                classify(raw, basePosition: stoppedAt, scan: scan, stop: stop, segment: segment, sealed: sealed)
            }
        }
        record(found, for: old.baseOffset)
        segment.corruption = Self.kept(found, scan: scan, fileBytes: fileBytes)
        return segment
    }

    /// A segment seen for the first time.
    private func open(_ base: Int64, sealed: Bool) throws(StrataError) -> LocalSegment {
        let path = paths.segment(topic, baseOffset: base)
        let indexPath = paths.index(topic, baseOffset: base)
        let fileBytes = FileIO.fileSize(atPath: path) ?? 0
        if sealed, let indexed = try? FileIO.readWholeFile(indexPath) {
            let decoded = withBytesResult(indexed) { raw throws(FormatError) in
                try SparseIndex.decode(raw, expectedBaseOffset: base, segmentBytes: fileBytes)
            }
            if case .success(let index) = decoded,
                let header = try? SegmentLoader.readHeader(path: path, topic: topic)
            {
                record(nil, for: base)
                return LocalSegment(
                    baseOffset: base, path: path, indexPath: indexPath, createdMs: header.createdMs,
                    index: index, sealed: true)
            }
        }
        let bytes = try FileIO.readWholeFile(path)
        var segment = Self.empty(paths: paths, topic: topic, baseOffset: base, intervalBytes: intervalBytes)
        segment.sealed = sealed
        let header: SegmentHeader
        do throws(FormatError) {
            header = try withBytes(bytes) { raw throws(FormatError) in try SegmentHeader.decode(raw) }
        } catch {
            let torn = !sealed && bytes.count < SegmentHeader.size
            let what = torn ? "the active segment is shorter than its header" : "\(error)"
            record(
                SegmentDamage(
                    kind: torn ? .tornHeader : .corrupt, baseOffset: base, path: path, position: 0,
                    bytes: bytes.count, what: what), for: base)
            return segment
        }
        segment.createdMs = header.createdMs
        let scan = bytes.withUnsafeBytes { raw in
            SegmentScanner.scan(raw, from: SegmentHeader.size, expectedOffset: header.baseOffset)
        }
        segment.index = SparseIndex.build(from: scan, baseOffset: base, intervalBytes: intervalBytes)
        let found = scan.stopError.map { stop in
            bytes.withUnsafeBytes { raw in
                classify(raw, basePosition: 0, scan: scan, stop: stop, segment: segment, sealed: sealed)
            }
        }
        record(found, for: base)
        segment.corruption = Self.kept(found, scan: scan, fileBytes: bytes.count)
        return segment
    }

    /// Torn tail or corruption: bytes after the valid prefix that hold a later valid batch are
    /// corruption (ARCHITECTURE.md invariant 10), and so is anything wrong in a sealed segment.
    private func classify(
        _ raw: UnsafeRawBufferPointer, basePosition: Int, scan: SegmentScan, stop: FormatError, segment: LocalSegment,
        sealed: Bool
    ) -> SegmentDamage {
        let start = scan.validEnd - basePosition
        let rest = raw.count - start
        let followed = scan.tail.isCorrupt
        let kind: SegmentDamage.Kind = sealed || followed ? .corrupt : .tornTail
        let what =
            kind == .tornTail
            ? "the last \(rest) bytes hold no whole valid batch (a torn tail, or a batch being written): \(stop)"
            : "batch at offset \(scan.nextOffset): \(stop)" + (followed ? "; valid batches follow it" : "")
        return SegmentDamage(
            kind: kind, baseOffset: segment.baseOffset, path: segment.path, position: scan.validEnd,
            bytes: rest, what: what)
    }

    /// Corruption (not a torn tail) is also kept on the segment, so reads stop at it with the
    /// typed error, as a writer's open does (SegmentLoader).
    private static func kept(_ damage: SegmentDamage?, scan: SegmentScan, fileBytes: Int) -> SegmentCorruption? {
        guard let damage, damage.kind == .corrupt, let stop = scan.stopError else { return nil }
        return SegmentCorruption(scan: scan, stop: stop, fileBytes: fileBytes)
    }

    private func record(_ damage: SegmentDamage?, for base: Int64) {
        view.damage.withLock { $0[base] = damage }
    }

    private func readRange(_ path: String, from position: Int, count: Int) throws(StrataError) -> [UInt8] {
        let fd = try FileIO.open(path, flags: O_RDONLY)
        defer { FileIO.close(fd) }
        return try FileIO.read(fd, count: count, at: position, path: path)
    }

    /// An empty segment at `baseOffset` that exists only in memory.
    static func empty(paths: LakePaths, topic: String, baseOffset: Int64, intervalBytes: Int) -> LocalSegment {
        LocalSegment(
            baseOffset: baseOffset, path: paths.segment(topic, baseOffset: baseOffset),
            indexPath: paths.index(topic, baseOffset: baseOffset), createdMs: 0,
            index: SparseIndex(baseOffset: baseOffset, intervalBytes: intervalBytes), sealed: false)
    }
}
