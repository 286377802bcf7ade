import Dispatch
import Glibc
import StrataBlob

/// Result of one offload pass.
public struct OffloadReport: Sendable, Equatable {
    public var segmentsOffloaded = 0
    public var rawBytes: Int64 = 0
    public var objectBytes: Int64 = 0
    public var segmentsEvicted = 0
    /// Topics whose offload stopped at a corrupt segment (one line each: topic, file, position,
    /// what to do). Other topics and the segments before the damage were still offloaded.
    public var blocked: [String] = []
    /// The topics whose offload stopped at a corrupt segment (one entry per topic).
    public var blockedTopics: [String] = []
    /// Packed objects written (Cold/PackedOffload.swift); their slices count in `segmentsOffloaded`.
    public var packedObjects = 0

    /// Adds another pass's counts (one topic's, or a packed pass's) to this report.
    public mutating func add(_ other: OffloadReport) {
        segmentsOffloaded += other.segmentsOffloaded
        rawBytes += other.rawBytes
        objectBytes += other.objectBytes
        segmentsEvicted += other.segmentsEvicted
        blocked += other.blocked
        blockedTopics += other.blockedTopics
        packedObjects += other.packedObjects
    }
}

/// The offloader (ARCHITECTURE.md §1, invariants 4 and 5): sealed segments, in offset order, are
/// encoded as cold objects, uploaded, read back and verified, then committed in a new manifest
/// version. A crash at any step leaves a committed segment or an orphan object, never a
/// manifest pointing at a missing object. One pass at a time per topic (`offloadPass`); each
/// commit is made under the manifest writer's commit lock, which retention shares.
extension Topic {
    /// Manifest versions kept; older ones are deleted after a commit.
    static let manifestVersionsKept = 4

    /// Offloads every sealed segment not yet in the cold tier.
    /// - Parameter lagMs: only segments sealed at least this long ago.
    /// - Parameter wait: when another pass is running, wait for it and then run (an explicit
    ///   offload); otherwise return an empty report at once (the background loop).
    /// A corrupt segment stops this topic's pass at it (`OffloadReport.blocked`, `offloadBlocked`)
    /// instead of failing it: the segments before it are offloaded, `repairQuarantine` unblocks it.
    /// - Throws: `fenced` when another writer owns the topic's manifest; `io` after retries.
    @discardableResult
    public func offloadSealed(lagMs: Int64 = 0, wait: Bool = false) async throws(StrataError) -> OffloadReport {
        try refuseIfReadOnly("offload")
        try manifestWriter.checkNotFenced()
        if wait {
            await offloadPass.lock()
        } else if !offloadPass.tryLock() {
            return OffloadReport()
        }
        defer { offloadPass.unlock() }
        try manifestWriter.checkNotFenced()
        guard localSegments().contains(where: { $0.sealed && !$0.isEmpty }) else {
            if manifestWriter.committedOffset == nil {
                manifestWriter.committedOffset = try await cold.latestManifest(name)?.nextOffset
            }
            var report = OffloadReport()
            if let corruption { report.blocked.append("\(corruption)") }
            return report
        }
        var report = OffloadReport()
        try await cold.ensureLakeDescriptor()
        // The first pass of a process asks the store, not the local copy: a crash between a
        // commit and saving the copy leaves the copy one version behind, and committing on top
        // of it would lose the race to this lake's own earlier commit.
        let firstPass = !manifestWriter.ownershipChecked
        var manifest = try await cold.latestManifest(name, refresh: firstPass)
        if firstPass {
            if let manifest { try await verifyOwnership(manifest) }
            manifestWriter.ownershipChecked = true
        }
        // Encoding the next segment overlaps the upload, read-back check and commit of this one:
        // two cores instead of one, while commits stay strictly in offset order.
        var prefetched: (baseOffset: Int64, task: Task<Result<(Int, EncodedColdObject), StrataError>, Never>)? = nil
        defer { prefetched?.task.cancel() }
        // Each segment is read into the memory the previous one was read into.
        let readBuffer = SegmentReadBuffer()
        while let segment = try nextToOffload(after: manifest, lagMs: lagMs) {
            let encoded: (Int, EncodedColdObject)
            do throws(StrataError) {
                if let damage = segment.corruption { throw damage.error(topic: name, path: segment.path) }
                if let ready = prefetched, ready.baseOffset == segment.baseOffset {
                    encoded = try await ready.task.value.get()
                } else {
                    encoded = try await encodeOffPool(segment, readBuffer: readBuffer)
                }
            } catch  where error.code == .corrupt {
                // Offsets must reach the cold tier in order: stop this topic here, visibly.
                let first = offloadBlock.withLock { blocked in
                    defer { blocked = error }
                    return blocked == nil
                }
                if first { log("offload blocked topic=\(name): \(error)") }  // once, not every background pass
                report.blocked.append("\(error)")
                break
            }
            prefetched = nil
            if lagMs == 0, let following = sealedSegment(startingAt: segment.nextOffset) {
                let task = Task { await self.encodeResult(following, readBuffer: readBuffer) }
                prefetched = (following.baseOffset, task)
            }
            let (next, objectBytes) = try await offloadOne(segment, encoded: encoded, after: manifest)
            manifest = next
            report.segmentsOffloaded += 1
            report.rawBytes += Int64(segment.segmentBytes)
            report.objectBytes += objectBytes
        }
        manifestWriter.committedOffset = manifest?.nextOffset
        if report.blocked.isEmpty, let corruption { report.blocked.append("\(corruption)") }
        return report
    }

    /// Why offload of this topic stopped at a corrupt segment, until a repair (nil: it did not).
    public var offloadBlocked: StrataError? { offloadBlock.withLock { $0 } }

    /// A lake that finds a manifest it has not checked yet (a new process, or a second lake on
    /// the same bucket) must show that the cold log is its own before building on it: every
    /// sealed local segment the manifest covers must be one of its entries (offsets, size,
    /// timestamps; the newest also by raw CRC32C). Otherwise another writer owns the topic:
    /// skipping those segments as "already offloaded" would silently swap this lake's records
    /// for the other writer's, and eviction would then delete the only copy.
    /// - Throws: `fenced` naming the first local segment that disagrees.
    func verifyOwnership(_ manifest: Manifest) async throws(StrataError) {
        let covered = localSegments().filter {
            $0.sealed && !$0.isEmpty && $0.nextOffset <= manifest.nextOffset && $0.nextOffset > manifest.logStartOffset
        }
        for (i, segment) in covered.enumerated() {
            let entry = try await cold.segment(holding: segment.baseOffset, in: manifest)
            var same =
                entry.map {
                    $0.baseOffset == segment.baseOffset && $0.lastOffset == segment.nextOffset - 1
                        && $0.rawBytes == Int64(segment.segmentBytes)
                        && $0.firstTimestamp == segment.index.firstTimestamp
                        && $0.maxTimestamp == segment.index.maxTimestamp
                } ?? false
            if same, let entry, i == covered.count - 1 { same = try await rawCrc32c(of: segment) == entry.rawCrc32c }
            guard same else {
                let error = StrataError(
                    .fenced,
                    "the cold log at offsets \(segment.baseOffset)..<\(segment.nextOffset) is not this lake's "
                        + "segment: another writer owns this topic",
                    topic: name, file: entry?.key ?? segment.path)
                manifestWriter.fence(error)
                throw error
            }
        }
    }

    private func rawCrc32c(of segment: LocalSegment) async throws(StrataError) -> UInt32 {
        let result: Result<UInt32, StrataError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    returning: Result { () throws(StrataError) in
                        CRC32C.checksum(try FileIO.readWholeFile(segment.path))
                    })
            }
        }
        return try result.get()
    }

    /// The oldest sealed local segment the manifest does not cover yet.
    func nextToOffload(after manifest: Manifest?, lagMs: Int64) throws(StrataError) -> LocalSegment? {
        try nextToOffload(committedEnd: manifest?.nextOffset, lagMs: lagMs)
    }

    /// The oldest sealed local segment at or past `committedEnd` (nil: the cold log is empty).
    func nextToOffload(committedEnd coldEnd: Int64?, lagMs: Int64) throws(StrataError) -> LocalSegment? {
        let (segments, now) = (localSegments(), clock.nowMs())
        // A damaged segment counts even with no valid batch: skipping it would look like a gap.
        for (i, segment) in segments.enumerated()
        where segment.sealed && (!segment.isEmpty || segment.corruption != nil) {
            let committedEnd = coldEnd ?? segment.baseOffset
            // A damaged segment's true end is unknown: it is covered only when it starts below.
            let coveredEnd = segment.corruption == nil ? segment.nextOffset : segment.baseOffset + 1
            if coveredEnd <= committedEnd { continue }
            guard segment.baseOffset == committedEnd else {
                let error = StrataError(
                    .fenced,
                    "the cold log ends at offset \(committedEnd) but the local segment starts at "
                        + "\(segment.baseOffset): another writer owns this topic",
                    topic: name, file: segment.path)
                manifestWriter.fence(error)
                throw error
            }
            let sealedMs = i + 1 < segments.count ? segments[i + 1].createdMs : now
            return now - sealedMs >= lagMs ? segment : nil
        }
        return nil
    }

    /// The sealed segment whose base offset is `baseOffset`, if there is one.
    func sealedSegment(startingAt baseOffset: Int64) -> LocalSegment? {
        localSegments().first { $0.baseOffset == baseOffset && $0.sealed && !$0.isEmpty }
    }

    private func offloadOne(
        _ segment: LocalSegment, encoded prepared: (Int, EncodedColdObject), after manifest: Manifest?
    ) async throws(StrataError) -> (Manifest, Int64) {
        let (rawBytes, encoded) = prepared
        let key = cold.layout.segmentKey(
            topic: name, baseOffset: encoded.index.baseOffset, lastOffset: encoded.index.lastOffset)
        do {
            try await cold.putImmutable(key, encoded.bytes, topic: name, what: "upload segment")
            try await verifyUpload(key, expected: encoded, rawBytes: rawBytes)
            var entry = ManifestSegment(encoded.index)
            entry.key = key
            let next = try await commitNext(after: manifest, adding: entry)
            await pruneManifests(current: next.version)
            return (next, Int64(encoded.bytes.count))
        } catch {
            if error.code == .fenced { manifestWriter.fence(error) }
            throw error
        }
    }

    private func encodeResult(
        _ segment: LocalSegment, readBuffer: SegmentReadBuffer
    ) async -> Result<(Int, EncodedColdObject), StrataError> {
        do throws(StrataError) {
            return .success(try await encodeOffPool(segment, readBuffer: readBuffer))
        } catch {
            return .failure(error)
        }
    }

    /// Reads and encodes on a Dispatch thread: both are blocking and CPU-heavy; the frames are
    /// compressed on every core (`ParallelColdCodec`), into the bytes `ColdObject.encode` writes.
    /// - Parameter readBuffer: memory to read the segment into (a pass's, reused segment after
    ///   segment); a fresh one when nil.
    /// - Returns: the segment's size and its encoded object.
    func encodeOffPool(
        _ segment: LocalSegment, readBuffer: SegmentReadBuffer? = nil
    ) async throws(StrataError) -> (Int, EncodedColdObject) {
        let (topicName, frameTarget, level) = (name, config.coldFrameRawBytes, config.coldCompressionLevel)
        let buffer = readBuffer ?? SegmentReadBuffer()
        let sealer = cold.sealer
        let result: Result<(Int, EncodedColdObject), StrataError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    returning: Result { () throws(StrataError) in
                        let bytes = segment.segmentBytes
                        let encoded = try buffer.with(count: bytes) { (raw) throws(StrataError) in
                            try Self.readSealed(segment, into: raw, topic: topicName)
                            do throws(FormatError) {
                                return try ParallelColdCodec.encode(
                                    segment: UnsafeRawBufferPointer(raw), topic: topicName,
                                    frameRawBytesTarget: frameTarget, level: level, sealer: sealer)
                            } catch {
                                throw StrataError(error, topic: topicName, file: segment.path)
                            }
                        }
                        return (bytes, encoded)
                    })
            }
        }
        return try result.get()
    }

    /// Reads the whole sealed segment into `buffer`, which is exactly as long as it should be.
    /// - Throws: `corrupt` when the file has another size; `io` when it cannot be read.
    private static func readSealed(
        _ segment: LocalSegment, into buffer: UnsafeMutableRawBufferPointer, topic: String
    ) throws(StrataError) {
        let fd = try FileIO.open(segment.path, flags: O_RDONLY)
        defer { Glibc.close(fd) }
        func differs(_ bytes: Int) -> StrataError {
            StrataError(
                .corrupt, "sealed segment is \(bytes) bytes, expected \(buffer.count)",
                topic: topic, file: segment.path)
        }
        let size = try FileIO.fileSize(fd, path: segment.path)
        guard size == buffer.count else { throw differs(size) }
        let read = try FileIO.pread(fd, into: buffer, at: 0, path: segment.path)
        guard read == size else { throw differs(read) }
    }

    /// The upload check (invariant 4): reads the object back and checks, in one decode pass on
    /// every core, that it is `expected.bytes.count` bytes with `expected`'s very footer, that
    /// every frame is one whole zstd frame whose content checksum holds, and that the frames
    /// decode to `rawBytes` bytes whose CRC32C is the one `encode` recorded over the segment.
    /// The batches are not walked again: `encode` checked each batch's CRC32C in those bytes.
    func verifyUpload(_ key: String, expected: EncodedColdObject, rawBytes: Int) async throws(StrataError) {
        let index = expected.index
        let keys = cold.keys
        try await cold.checkUpload(
            key, bytes: expected.bytes.count, topic: name, what: "read back upload",
            mismatch: "uploaded object does not decode to the sealed segment"
        ) { (data) throws(FormatError) in
            guard index.rawBytes == rawBytes else { return false }
            return try ParallelColdCodec.uploadDecodes(data, expected: index, keys: keys)
        }
    }

    /// Commits the manifest that adds `entry`, spilling old entries into an archive if needed.
    /// Built under the commit lock on the newest manifest this lake knows as its own: retention
    /// may have committed since the pass read `manifest` (it moves only the log start).
    func commitNext(
        after passManifest: Manifest?, adding entry: ManifestSegment
    ) async throws(StrataError) -> Manifest {
        try await commitNext(after: passManifest, adding: [entry])
    }

    /// Commits one manifest version adding `entries` (contiguous, in offset order, non-empty).
    func commitNext(
        after passManifest: Manifest?, adding entries: [ManifestSegment]
    ) async throws(StrataError) -> Manifest {
        try await manifestWriter.commits.withLock { () async throws(StrataError) -> Manifest in
            try await commitNextLocked(after: manifestWriter.base(passManifest), adding: entries)
        }
    }

    private func commitNextLocked(
        after manifest: Manifest?, adding entries: [ManifestSegment]
    ) async throws(StrataError) -> Manifest {
        guard let first = entries.first, let last = entries.last else {
            throw StrataError(.invalidArgument, "a manifest commit adds at least one segment", topic: name)
        }
        let epoch = manifestWriter.epoch(after: manifest)
        var next =
            manifest
            ?? Manifest(
                topic: name, version: 0, writerEpoch: epoch, logStartOffset: first.baseOffset,
                nextOffset: first.baseOffset, config: manifestConfig(), createdMs: clock.nowMs())
        next.version += 1
        next.writerEpoch = epoch
        next.segments += entries
        next.nextOffset = last.lastOffset + 1
        // Records `deleteRecords` removed stay unreadable from the bucket too.
        next.logStartOffset = max(next.logStartOffset, min(deletedBelow, next.nextOffset))
        // The bucket's readers (and `recover`) see the topic's settings as `alter-config` left them.
        next.config = manifestConfig()
        next.createdMs = clock.nowMs()
        if next.segments.count > cold.manifestSegmentsMax {
            // Spill down to half the bound, so the next spill is many commits away.
            let spill = Array(next.segments.prefix(next.segments.count - cold.manifestSegmentsMax / 2))
            // Stamped with the time of the manifest it extends, not the clock: a pass repeated
            // after a failed commit then writes the very same bytes and `putImmutable` accepts
            // the archive it finds instead of taking it for another writer's.
            let stampMs = manifest?.createdMs ?? next.createdMs
            let archive = ArchiveManifest(topic: name, segments: spill, createdMs: stampMs)
            next.archives.append(try await cold.putArchive(archive, topic: name, what: "write archive manifest"))
            next.segments.removeFirst(spill.count)
        }
        try await manifestWriter.commit(next, to: cold)
        return next
    }

    func manifestConfig() -> ManifestTopicConfig {
        ManifestTopicConfig(
            frameRawBytesTarget: config.coldFrameRawBytes, compressionLevel: config.coldCompressionLevel,
            retentionMs: config.retentionMs, retentionBytes: config.retentionBytes)
    }

    /// Deletes manifest versions older than the last few (best effort: a failure leaves them).
    func pruneManifests(current: UInt64) async {
        guard current > UInt64(Self.manifestVersionsKept) else { return }
        let oldest = current - UInt64(Self.manifestVersionsKept)
        let keys = (max(1, oldest > 8 ? oldest - 8 : 1) ... oldest).map {
            cold.layout.manifestKey(topic: name, version: $0)
        }
        try? await cold.store.delete(keys)
    }
}

extension ColdTier {
    /// The upload check (invariant 4) of a standalone and of a packed object: reads `key` back
    /// whole, checks it holds `bytes` bytes, then runs `decodes` on it off the cooperative pool
    /// (one decode of every frame), which says whether it decodes to what was uploaded.
    /// - Throws: `io` naming `mismatch` when the size differs or `decodes` says no; a decode
    ///   failure as its typed error naming the object.
    func checkUpload(
        _ key: String, bytes: Int, topic: String, what: String, mismatch: String,
        decodes: @escaping @Sendable ([UInt8]) throws(FormatError) -> Bool
    ) async throws(StrataError) {
        let data = try await blob(what, key: key, topic: topic) { try await self.getChecked(key, range: .whole) }
        guard data.bytes.count == bytes else {
            throw StrataError(.io, "uploaded \(bytes) bytes, read back \(data.bytes.count)", topic: topic, file: key)
        }
        let checked: Result<Bool, FormatError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { () throws(FormatError) in try decodes(data.bytes) })
            }
        }
        switch checked {
        case .failure(let error): throw StrataError(error, topic: topic, file: key)
        case .success(let same): guard same else { throw StrataError(.io, mismatch, topic: topic, file: key) }
        }
    }
}
