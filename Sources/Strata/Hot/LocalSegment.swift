import Glibc

/// One local segment file as the topic tracks it. Its `index` doubles as the summary
/// (size, next offset, timestamps): for the active segment it grows with every append.
struct LocalSegment: Sendable {
    let baseOffset: Int64
    let path: String
    let indexPath: String
    var createdMs: Int64
    var index: SparseIndex
    var sealed: Bool
    /// Corruption found when the segment was opened: the index covers the valid prefix only and
    /// the bytes from `corruption.position` on are kept untouched until `strata repair`.
    var corruption: SegmentCorruption? = nil

    var segmentBytes: Int { index.segmentBytes }
    var nextOffset: Int64 { index.nextOffset }
    var isEmpty: Bool { index.isEmpty }
}

/// Public description of a local segment, for `inspect segments` and retention.
public struct SegmentInfo: Sendable, Equatable {
    public var baseOffset: Int64
    /// Last offset in the segment; `baseOffset - 1` while empty.
    public var lastOffset: Int64
    public var recordCount: Int64 { lastOffset - baseOffset + 1 }
    public var bytes: Int
    public var firstTimestamp: Int64?
    public var maxTimestamp: Int64?
    public var createdMs: Int64
    public var sealed: Bool
    public var path: String

    init(_ segment: LocalSegment) {
        baseOffset = segment.baseOffset
        lastOffset = segment.nextOffset - 1
        bytes = segment.segmentBytes
        firstTimestamp = segment.isEmpty ? nil : segment.index.firstTimestamp
        maxTimestamp = segment.isEmpty ? nil : segment.index.maxTimestamp
        createdMs = segment.createdMs
        sealed = segment.sealed
        path = segment.path
    }
}

/// Opening segments from disk: loading indexes, rebuilding them, recovering torn tails.
enum SegmentLoader {
    /// Opens a sealed segment: from its index when the index is sound, otherwise by scanning the
    /// file (and rewriting the index).
    static func openSealed(
        topic: String, baseOffset: Int64, paths: LakePaths, intervalBytes: Int, log: (String) -> Void
    ) throws(StrataError) -> LocalSegment {
        let path = paths.segment(topic, baseOffset: baseOffset)
        let indexPath = paths.index(topic, baseOffset: baseOffset)
        let fileBytes = FileIO.fileSize(atPath: path) ?? 0
        if let bytes = try? FileIO.readWholeFile(indexPath) {
            let decoded = withBytesResult(bytes) { raw throws(FormatError) in
                try SparseIndex.decode(raw, expectedBaseOffset: baseOffset, segmentBytes: fileBytes)
            }
            switch decoded {
            case .success(let index):
                let created = try readHeader(path: path, topic: topic).createdMs
                return LocalSegment(
                    baseOffset: baseOffset, path: path, indexPath: indexPath, createdMs: created,
                    index: index, sealed: true)
            case .failure(let error):
                log("rebuilding index topic=\(topic) file=\(indexPath): \(error)")
            }
        } else {
            log("rebuilding missing index topic=\(topic) file=\(indexPath)")
        }
        let (header, scan) = try scanFile(path: path, topic: topic)
        var corruption: SegmentCorruption? = nil
        if let stop = scan.stopError {
            // A sealed segment was fsynced before its successor existed: damage here is
            // corruption, not a torn write, whatever follows it. Keep the bytes; reads past the
            // valid prefix fail until `strata repair` moves them aside.
            let found = SegmentCorruption(scan: scan, stop: stop, fileBytes: fileBytes)
            log("corrupt sealed segment topic=\(topic) file=\(path) position=\(stop.position): \(found.summary)")
            corruption = found
        }
        let index = SparseIndex.build(from: scan, baseOffset: baseOffset, intervalBytes: intervalBytes)
        if scan.stopError == nil { try FileIO.writeAtomically(indexPath, index.encode()) }
        return LocalSegment(
            baseOffset: baseOffset, path: path, indexPath: indexPath, createdMs: header.createdMs,
            index: index, sealed: true, corruption: corruption)
    }

    /// Opens the active (last) segment after a possible crash: every batch is checked. A torn
    /// tail (bytes after the last valid batch holding no valid batch) is moved into the topic's
    /// quarantine directory and cut (ARCHITECTURE.md invariant 3); corruption followed by valid
    /// batches is kept as it is and recorded in `damage`, so the topic refuses appends.
    /// `files`: the cache that keeps the descriptor this scan opened (read-write), so the log's
    /// first append or header walk does not open the file again. `indexListed`: whether the
    /// directory listing holds this segment's index file (nil: not known, removed if present).
    static func openActive(
        topic: String, baseOffset: Int64, paths: LakePaths, intervalBytes: Int, nowMs: Int64, log: (String) -> Void,
        files: FileCache? = nil, indexListed: Bool? = nil
    ) throws(StrataError) -> LocalSegment {
        let path = paths.segment(topic, baseOffset: baseOffset)
        let fd = try FileIO.open(path, flags: O_RDWR)
        let fileBytes: Int
        do throws(StrataError) { fileBytes = try FileIO.fileSize(fd, path: path) } catch {
            FileIO.close(fd)
            throw error
        }
        if fileBytes < SegmentHeader.size {
            FileIO.close(fd)
            // Crashed while creating the file: nothing was ever acknowledged in it.
            log("recreating segment with torn header topic=\(topic) file=\(path) bytes=\(fileBytes)")
            return try create(
                topic: topic, baseOffset: baseOffset, paths: paths, intervalBytes: intervalBytes, nowMs: nowMs,
                files: files)
        }
        let segment: LocalSegment
        do throws(StrataError) {
            segment = try recoverActive(
                fd: fd, fileBytes: fileBytes, topic: topic, baseOffset: baseOffset, paths: paths,
                intervalBytes: intervalBytes, log: log, indexListed: indexListed)
        } catch {
            FileIO.close(fd)
            throw error
        }
        if let files { files.adopt(path, fd: fd) } else { FileIO.close(fd) }
        return segment
    }

    /// `openActive`'s recovery through the open descriptor `fd` (the caller's to close).
    private static func recoverActive(
        fd: Int32, fileBytes: Int, topic: String, baseOffset: Int64, paths: LakePaths, intervalBytes: Int,
        log: (String) -> Void, indexListed: Bool?
    ) throws(StrataError) -> LocalSegment {
        let path = paths.segment(topic, baseOffset: baseOffset)
        let indexPath = paths.index(topic, baseOffset: baseOffset)
        let (header, scan) = try scanFile(try FileIO.read(fd, count: fileBytes, at: 0, path: path), path: path, topic: topic)
        var corruption: SegmentCorruption? = nil
        if let stop = scan.stopError {
            if scan.tail.isCorrupt {
                let found = SegmentCorruption(scan: scan, stop: stop, fileBytes: fileBytes)
                log(
                    "corrupt active segment, nothing cut topic=\(topic) file=\(path) position=\(scan.validEnd): "
                        + found.summary)
                corruption = found
            } else {
                let kept = try Quarantine.moveTail(
                    of: path, from: scan.validEnd, fileBytes: fileBytes,
                    directory: paths.quarantineDirectory(topic), kind: "torn")
                log(
                    "truncating torn tail topic=\(topic) file=\(path) position=\(scan.validEnd) "
                        + "bytes=\(fileBytes - scan.validEnd) kept=\(kept): \(stop)")
            }
        }
        // An active segment's index lives in memory only.
        if indexListed != false { try FileIO.remove(indexPath) }
        let index = SparseIndex.build(from: scan, baseOffset: baseOffset, intervalBytes: intervalBytes)
        return LocalSegment(
            baseOffset: baseOffset, path: path, indexPath: indexPath, createdMs: header.createdMs,
            index: index, sealed: false, corruption: corruption)
    }

    /// Creates a new empty segment file: the header is written, nothing fsynced. The header
    /// becomes durable with the first fdatasync of the segment's records, and the caller makes
    /// the directory entry durable before that one (`Topic.pendingDirectories`): a segment lost
    /// to a power loss before then held nothing acknowledged (a `sync` log's records are in the
    /// lake journal until its segment is fsynced, and the replay recreates the segment).
    static func create(
        topic: String, baseOffset: Int64, paths: LakePaths, intervalBytes: Int, nowMs: Int64,
        files: FileCache? = nil
    ) throws(StrataError) -> LocalSegment {
        let path = paths.segment(topic, baseOffset: baseOffset)
        let fd = try FileIO.open(path, flags: O_RDWR | O_CREAT | O_TRUNC)
        do throws(StrataError) {
            try FileIO.pwriteAll(
                fd, SegmentHeader(baseOffset: baseOffset, createdMs: nowMs).encode(), at: 0, path: path)
        } catch {
            FileIO.close(fd)
            throw error
        }
        // The first append writes right after the header: the cache keeps this descriptor.
        if let files { files.adopt(path, fd: fd) } else { FileIO.close(fd) }
        return LocalSegment(
            baseOffset: baseOffset, path: path, indexPath: paths.index(topic, baseOffset: baseOffset),
            createdMs: nowMs, index: SparseIndex(baseOffset: baseOffset, intervalBytes: intervalBytes),
            sealed: false)
    }

    static func readHeader(path: String, topic: String) throws(StrataError) -> SegmentHeader {
        let fd = try FileIO.open(path, flags: O_RDONLY)
        defer { FileIO.close(fd) }
        let bytes = try FileIO.read(fd, count: SegmentHeader.size, at: 0, path: path)
        switch withBytesResult(bytes, { raw throws(FormatError) in try SegmentHeader.decode(raw) }) {
        case .success(let header): return header
        case .failure(let error): throw StrataError(error, topic: topic, file: path)
        }
    }

    static func scanFile(path: String, topic: String) throws(StrataError) -> (SegmentHeader, SegmentScan) {
        try scanFile(try FileIO.readWholeFile(path), path: path, topic: topic)
    }

    /// Scans a segment image read from `path` (for errors naming it).
    static func scanFile(
        _ bytes: [UInt8], path: String, topic: String
    ) throws(StrataError) -> (SegmentHeader, SegmentScan) {
        switch withBytesResult(bytes, { raw throws(FormatError) in try SegmentScanner.scanFile(raw) }) {
        case .success(let result): return result
        case .failure(let error): throw StrataError(error, topic: topic, file: path)
        }
    }
}

/// `withBytes` returning a `Result`, for callers that map format errors themselves.
func withBytesResult<T>(
    _ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(FormatError) -> T
) -> Result<T, FormatError> {
    do throws(FormatError) { return .success(try withBytes(bytes, body)) } catch { return .failure(error) }
}

/// Damage found when a segment was opened that recovery must not cut: corruption followed by
/// valid batches (or anything wrong in a sealed segment). The bytes stay on disk as they are;
/// reads stop at `position`, appends are refused, and `strata repair --quarantine` moves them
/// aside (formats/segment.md).
struct SegmentCorruption: Sendable, Equatable {
    /// Byte position of the first damaged batch: the end of the valid prefix.
    var position: Int
    /// The offset the damaged batch should start at (one past the last readable record).
    var offset: Int64
    /// The segment's size when the damage was found.
    var fileBytes: Int
    /// Torn tail or corruption, and where the valid batches after it start.
    var tail: SegmentTail
    /// Why the batch at `position` failed.
    var reason: String

    init(scan: SegmentScan, stop: FormatError, fileBytes: Int) {
        position = scan.validEnd
        offset = scan.nextOffset
        self.fileBytes = fileBytes
        tail = scan.tail
        reason = "\(stop.field): \(stop.message)"
    }

    /// One line for logs and errors: what is damaged and what follows it.
    var summary: String {
        var text = "batch for offset \(offset) at byte \(position) is damaged (\(reason))"
        if case .corrupt(_, let resumePosition, let resumeOffset, let lastOffset) = tail {
            text += "; valid batches with offsets \(resumeOffset)...\(lastOffset) follow at byte \(resumePosition)"
        }
        return text + "; \(fileBytes - position) bytes kept"
    }

    /// The error reads at `offset` and appends to the topic throw.
    func error(topic: String, path: String) -> StrataError {
        StrataError(
            .corrupt,
            "segment is corrupt: \(summary). Records before offset \(offset) stay readable; "
                + "`strata repair --lake DIR \(topic) --quarantine` moves the damaged bytes aside",
            topic: topic, file: path, position: position)
    }
}
