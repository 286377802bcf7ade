import StrataBlob

/// What `Lake.compactPacked` found and did (ARCHITECTURE.md §2k, "Compaction").
public struct PackedCompactionReport: Sendable, Equatable {
    /// Packed objects under `packed/`.
    public var objectsListed = 0
    /// Logs whose newest manifest was read.
    public var logsRead = 0
    /// Objects whose live slices were below the threshold and old enough: the ones rewritten (or,
    /// in a dry run, that would be).
    public var candidates: [String] = []
    /// Bytes of the candidates, and of the live slices in them.
    public var candidateBytes: Int64 = 0
    public var liveBytes: Int64 = 0
    /// New packed objects written and their bytes.
    public var objectsWritten: [String] = []
    public var writtenBytes: Int64 = 0
    /// Slices now read from a new object (their log's manifest committed), and those logs.
    public var slicesMoved = 0
    public var logsCommitted = 0
    /// Archive manifests written again because slices they list moved (each under a new key,
    /// the old one left for `scrub`).
    public var archivesRewritten = 0
    /// Slices left where they were, one line each with the reason: damaged (it does not decode
    /// to what its manifest entry says), unreadable, or its log's commit failed. Nothing of
    /// theirs changed; `strata inspect verify` names the damage.
    public var problems: [String] = []

    public init() {}
}

/// Compaction of packed objects (ARCHITECTURE.md §2k). A packed object is shared by many logs
/// and only `scrub` deletes it, once no manifest references any of its slices; retention and
/// topic deletes of some of its logs leave it holding dead bytes. Compaction copies the live
/// slices of objects mostly dead — byte for byte: a slice is a standalone cold object, nothing is
/// decompressed or encoded again — into new packed objects, checks every copied slice decodes to
/// its entry's raw size and CRC32C, puts the new object (put-if-absent), reads it back, and only
/// then commits, per log, one manifest version in which those entries point into the new object.
/// It never deletes anything: the old objects become orphans `scrub` deletes behind its age gate
/// (and once the manifest versions referencing them were superseded longer ago than the gate).
/// A crash or failure at any step leaves every entry pointing at a complete object.
enum PackedCompaction {
    /// A live slice: one entry of a log's newest manifest, or of an archive manifest it
    /// references, pointing into a packed object.
    struct LiveSlice: Sendable {
        let log: String
        let entry: ManifestSegment
        /// The packed object's key with the layout prefix.
        let objectKey: String
    }

    /// Where a slice moved: the new object's relative key and its place there.
    struct Move: Sendable, Hashable {
        let key: String
        let offset: Int64
    }

    /// The live slices of every packed object this lake's logs reference from their newest
    /// manifests and the archive manifests those reference (an archive is immutable: a move of
    /// its slices writes it again under a new key, `Topic.commitMovedSlices`).
    static func liveSlices(_ logs: [String], cold: ColdTier) async throws(StrataError) -> [String: [LiveSlice]] {
        let layout = cold.layout
        let read = await concurrentMap(logs, atOnce: 16) { (name: String) -> Result<Manifest?, StrataError> in
            // A pass cancelled while it scans stops here: nothing has moved yet.
            if Task.isCancelled { return .failure(StrataError(.closed, "compaction cancelled while reading manifests")) }
            do throws(StrataError) { return .success(try await cold.latestManifest(name)) } catch {
                return .failure(error)
            }
        }
        var live: [String: [LiveSlice]] = [:]
        for (name, result) in zip(logs, read) {
            // A manifest that cannot be read hides what it references: stop before anything moves.
            guard let manifest = try result.get() else { continue }
            var entries = manifest.segments
            for reference in manifest.archives { entries += try await cold.archive(reference, topic: name).segments }
            for entry in entries where entry.isPacked {
                let key = layout.absolute(entry.key)
                live[key, default: []].append(LiveSlice(log: name, entry: entry, objectKey: key))
            }
        }
        return live
    }

    /// Groups the live slices of `candidates` (in key order, each object's slices in place
    /// order) into new objects bounded as packed offload's are.
    static func groups(_ candidates: [String], live: [String: [LiveSlice]], limits: PackLimits) -> [[LiveSlice]] {
        var groups: [[LiveSlice]] = []
        var current: [LiveSlice] = []
        var bytes: Int64 = 0
        for key in candidates {
            for slice in (live[key] ?? []).sorted(by: { $0.entry.objectStart < $1.entry.objectStart }) {
                if !current.isEmpty,
                    current.count >= limits.segmentsMax || bytes + slice.entry.objectBytes > Int64(limits.objectBytes)
                {
                    groups.append(current)
                    (current, bytes) = ([], 0)
                }
                current.append(slice)
                bytes += slice.entry.objectBytes
            }
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }

    /// Copies one group's slices into a new object and commits each log's moves.
    static func rewrite(
        _ group: [LiveSlice], lake: Lake, limits: PackLimits, report: inout PackedCompactionReport
    ) async {
        let cold = lake.cold
        var copied: [(slice: LiveSlice, bytes: [UInt8])] = []
        for run in runs(group) {
            let first = run[0].entry.objectStart
            let last = run[run.count - 1].entry
            let length = last.objectStart + last.objectBytes - first
            let fetched: [UInt8]
            do throws(StrataError) {
                fetched = try await cold.blob("get packed slices", key: run[0].objectKey, topic: run[0].log) {
                    try await cold.getChecked(run[0].objectKey, range: .range(offset: first, length: length))
                }.bytes
            } catch {
                for slice in run {
                    report.problems.append("\(slice.log) \(slice.entry.baseOffset)...\(slice.entry.lastOffset) "
                        + "in \(slice.objectKey) left in place: \(error)")
                }
                continue
            }
            for slice in run {
                let start = Int(slice.entry.objectStart - first)
                let bytes = Array(fetched[start ..< start + Int(slice.entry.objectBytes)])
                if let damage = await check(bytes, slice: slice, keys: cold.keys) {
                    report.problems.append("\(slice.log) \(slice.entry.baseOffset)...\(slice.entry.lastOffset) "
                        + "in \(slice.objectKey) left in place: \(damage)")
                    continue
                }
                copied.append((slice, bytes))
            }
        }
        guard !copied.isEmpty else { return }
        // Each log's slices in offset order, as the pack index requires, and next to each other
        // for its readers: the group is in the old objects' key order, which is not offset order
        // once a log has slices in several objects (a compacted object's key is younger than
        // the offload objects holding the log's later slices).
        copied.sort { ($0.slice.log, $0.slice.entry.baseOffset) < ($1.slice.log, $1.slice.entry.baseOffset) }
        let relativeKey = BucketLayout.packedKeyRelative(
            sequence: UInt64(max(0, cold.clock.nowMs())), writerId: UInt64.random(in: 0 ... UInt64.max))
        let key = cold.layout.absolute(relativeKey)
        let object: EncodedPackedObject
        do throws(StrataError) {
            let slices = copied.map { (slice, bytes) in
                (
                    entry: PackedSlice(
                        log: slice.log, baseOffset: slice.entry.baseOffset, lastOffset: slice.entry.lastOffset,
                        sliceOffset: 0, sliceBytes: Int64(bytes.count), rawCrc32c: slice.entry.rawCrc32c),
                    bytes: bytes
                )
            }
            object = try await PackedOffload.packOffPool(key: key) { () throws(FormatError) in
                try PackedObject.encode(copying: slices)
            }
            try await cold.putImmutable(key, object.bytes, topic: copied[0].slice.log, what: "upload compacted object")
            // The upload check: every slice was decoded and checked before it was copied, so the
            // stored object must be those very bytes.
            let back = try await cold.blob("read back compacted object", key: key, topic: copied[0].slice.log) {
                try await cold.getChecked(key, range: .whole)
            }
            guard back.bytes == object.bytes else {
                throw StrataError(
                    .io, "read back \(back.bytes.count) bytes that differ from the \(object.bytes.count) uploaded",
                    file: key)
            }
        } catch {
            report.problems.append(
                "compacting \(copied.count) slices into \(key) failed, every slice left in place: \(error)")
            return
        }
        report.objectsWritten.append(key)
        report.writtenBytes += Int64(object.bytes.count)
        var byLog: [String: [ManifestSegment: Move]] = [:]
        for (i, (slice, _)) in copied.enumerated() {
            byLog[slice.log, default: [:]][slice.entry] = Move(key: relativeKey, offset: object.index.slices[i].sliceOffset)
        }
        let moves = byLog
        let logs = moves.keys.sorted()
        let results = await concurrentMap(logs, atOnce: limits.commitsInFlightMax) {
            (name: String) -> Result<(slices: Int, archives: Int), StrataError> in
            do throws(StrataError) {
                return .success(try await lake.log(name).commitMovedSlices(moves[name] ?? [:]))
            } catch {
                return .failure(error)
            }
        }
        for (name, result) in zip(logs, results) {
            switch result {
            case .success(let moved):
                report.slicesMoved += moved.slices
                report.archivesRewritten += moved.archives
                if moved.slices > 0 { report.logsCommitted += 1 }
            case .failure(let error):
                report.problems.append("\(name): commit of its moved slices failed, they stay where they were: \(error)")
            }
        }
    }

    /// Dead bytes between two live slices of one object that one ranged GET reads through
    /// rather than making a second request.
    static let runGapBytesMax: Int64 = 256 * 1024

    /// The group's slices in runs, each fetched with one ranged GET: slices in one object, in
    /// place order, at most `runGapBytesMax` apart. A run spans at most one object's bytes.
    static func runs(_ group: [LiveSlice]) -> [[LiveSlice]] {
        var runs: [[LiveSlice]] = []
        for slice in group {
            if let previous = runs.last?.last, previous.objectKey == slice.objectKey,
                case let end = previous.entry.objectStart + previous.entry.objectBytes,
                slice.entry.objectStart >= end, slice.entry.objectStart - end <= runGapBytesMax
            {
                runs[runs.count - 1].append(slice)
            } else {
                runs.append([slice])
            }
        }
        return runs
    }

    /// Decodes one copied slice off the cooperative pool; nil when it holds exactly what its
    /// manifest entry says (range, raw size, CRC32C), else what is wrong. `decodeSlice` checks
    /// every frame, the segment against the slice's footer (size, CRC32C) and the footer's
    /// range and CRC32C against the entry's; the raw size is compared here.
    private static func check(_ bytes: [UInt8], slice: LiveSlice, keys: ColdKeyRing?) async -> String? {
        let entry = slice.entry
        let packed = PackedSlice(
            log: slice.log, baseOffset: entry.baseOffset, lastOffset: entry.lastOffset,
            sliceOffset: entry.objectStart, sliceBytes: entry.objectBytes, rawCrc32c: entry.rawCrc32c)
        return await offPool { () -> String? in
            do throws(FormatError) {
                let (index, _) = try PackedObject.decodeSlice(bytes, slice: packed, keys: keys)
                guard Int64(index.rawBytes) == entry.rawBytes else {
                    return "decodes to \(index.rawBytes) bytes, the manifest says \(entry.rawBytes)"
                }
                return nil
            } catch {
                return "\(error)"
            }
        }
    }
}

extension Topic {
    /// Commits one manifest version in which the entries `moves` names (each matched as a
    /// whole: an entry retention or delete-records changed or dropped since is not one) point at
    /// their slice's new place. Built under the commit lock on the newest manifest, as every
    /// commit of the log is. An archive manifest listing a moved entry is written first, again,
    /// with its entries moved, under a key of its own (`ArchiveManifest.rewrite`, a fresh random
    /// id): the manifest references it instead, and the old document is left for `scrub`.
    /// - Returns: the entries moved (0: nothing left to move, nothing committed) and the
    ///   archives written again.
    func commitMovedSlices(
        _ moves: [ManifestSegment: PackedCompaction.Move]
    ) async throws(StrataError) -> (slices: Int, archives: Int) {
        try manifestWriter.checkNotFenced()
        let committed = try await manifestWriter.commits.withLock {
            () async throws(StrataError) -> (version: UInt64, moved: Int, archives: Int)? in
            try manifestWriter.checkNotFenced()
            // A process that has not committed yet shows the cold log to be its own first, as
            // retention and every offload pass do.
            if !manifestWriter.ownershipChecked {
                guard let fresh = try await cold.latestManifest(name, refresh: true) else { return nil }
                try await verifyOwnership(fresh)
                manifestWriter.ownershipChecked = true
            }
            guard let base = try await manifestWriter.base(cold.latestManifest(name)) else { return nil }
            var next = base
            var moved = Self.move(&next.segments, moves)
            var archivesRewritten = 0
            for i in next.archives.indices {
                // Only archives whose range holds a moved entry are read.
                let range = next.archives[i].baseOffset ... next.archives[i].lastOffset
                guard moves.keys.contains(where: { range.contains($0.baseOffset) }) else { continue }
                let archive = try await cold.archive(next.archives[i], topic: name)
                var segments = archive.segments
                let movedHere = Self.move(&segments, moves)
                guard movedHere > 0 else { continue }
                let rewritten = ArchiveManifest(
                    topic: name, segments: segments, createdMs: archive.createdMs,
                    rewrite: BucketLayout.archiveRewriteId(UInt64.random(in: 0 ... UInt64.max)))
                next.archives[i] = try await cold.putArchive(rewritten, topic: name, what: "rewrite archive manifest")
                moved += movedHere
                archivesRewritten += 1
            }
            guard moved > 0 else { return nil }
            next.version += 1
            next.writerEpoch = manifestWriter.epoch(after: base)
            next.createdMs = clock.nowMs()
            try await manifestWriter.commit(next, to: cold)
            return (next.version, moved, archivesRewritten)
        }
        guard let committed else { return (0, 0) }
        await pruneManifests(current: committed.version)
        return (committed.moved, committed.archives)
    }

    /// Points the entries of `segments` that `moves` names at their new places.
    /// - Returns: how many moved.
    private static func move(
        _ segments: inout [ManifestSegment], _ moves: [ManifestSegment: PackedCompaction.Move]
    ) -> Int {
        var moved = 0
        for i in segments.indices {
            guard let move = moves[segments[i]] else { continue }
            segments[i].key = move.key
            segments[i].objectOffset = move.offset
            moved += 1
        }
        return moved
    }
}

extension Lake {
    /// Compacts packed objects (ARCHITECTURE.md §2k): every packed object whose slices still
    /// referenced by a newest manifest of this lake's logs hold less than `liveBelow` of its
    /// slices' bytes (read from its pack index), and that is at least `minAgeMs` old (an offload
    /// pass may still be committing into a younger one), has those slices copied into new packed
    /// objects and the logs' manifests moved onto them. The old objects are left for `scrub`.
    /// - Parameters:
    ///   - liveBelow: the live share (of the bytes of the object's slices) under which an object
    ///     is rewritten, in (0, 1]; 1 rewrites every object with any dead slice.
    ///   - minAgeMs: objects modified less than this long ago are left alone (0: none is too young).
    ///   - dryRun: only report what would be rewritten; nothing is written (works read-only).
    /// - Throws: `invalidArgument` for a threshold outside (0, 1] or a negative age; `io` when the
    ///   store cannot be listed or a manifest read (nothing has moved then). A slice that is
    ///   damaged or whose log's commit fails is reported in `problems` and stays where it was.
    public func compactPacked(
        liveBelow: Double = 0.5, minAgeMs: Int64 = 3_600_000, dryRun: Bool = false
    ) async throws(StrataError) -> PackedCompactionReport {
        guard liveBelow > 0, liveBelow <= 1 else {
            throw StrataError(.invalidArgument, "the live share to compact below must be in (0, 1], not \(liveBelow)")
        }
        guard minAgeMs >= 0 else {
            throw StrataError(.invalidArgument, "the minimum age of an object to compact must not be negative")
        }
        if !dryRun { try refuseIfReadOnly("compact packed objects") }
        return try await compactions.withLock { () async throws(StrataError) -> PackedCompactionReport in
            try await compactPackedHoldingLock(liveBelow: liveBelow, minAgeMs: minAgeMs, dryRun: dryRun)
        }
    }

    /// `compactPacked` under `compactions`. A cancelled pass (the background's, at close) stops
    /// before its next new object and says so in `problems`.
    private func compactPackedHoldingLock(
        liveBelow: Double, minAgeMs: Int64, dryRun: Bool
    ) async throws(StrataError) -> PackedCompactionReport {
        var report = PackedCompactionReport()
        let layout = cold.layout
        let store = cold.store
        let prefix = layout.packedPrefix
        let listed = try await cold.blob("list packed objects", key: prefix, topic: nil) {
            try await store.listAll(prefix: prefix)
        }
        var present: [String: BlobInfo] = [:]
        for object in listed where layout.isPackedKey(object.key) { present[object.key] = object }
        report.objectsListed = present.count
        guard !present.isEmpty else { return report }
        let logs = try logNames()
        report.logsRead = logs.count
        let live = try await PackedCompaction.liveSlices(logs, cold: cold)
        let now = cold.clock.nowMs()
        var indexBytesRead: Int64 = 0
        for (key, slices) in live.sorted(by: { $0.key < $1.key }) {
            guard let object = present[key] else { continue }
            let oldEnough = minAgeMs == 0 || (object.modifiedMs > 0 && now - object.modifiedMs >= minAgeMs)
            let liveBytes = slices.reduce(Int64(0)) { $0 + $1.entry.objectBytes }
            // The share is of the slices' bytes, not the object's: the pack index is not dead
            // weight, and counting it would rewrite a fully live object of tiny slices forever.
            // The object's size bounds the slices' from above, so only those passing it are read.
            guard oldEnough, Double(liveBytes) < liveBelow * Double(object.size) else { continue }
            switch try await cold.readPackIndex(key, topic: nil, bytesRead: &indexBytesRead) {
            case .found(let pack):
                guard Double(liveBytes) < liveBelow * Double(pack.slicesBytes) else { continue }
            case .missing:
                continue  // deleted since the listing (verify and scrub report a referenced one)
            case .damaged(let error):
                report.problems.append("\(key) left alone: its pack index does not parse: \(error)")
                continue
            }
            report.candidates.append(key)
            report.candidateBytes += object.size
            report.liveBytes += liveBytes
        }
        guard !dryRun else { return report }
        let limits = PackLimits(options)
        let groups = PackedCompaction.groups(report.candidates, live: live, limits: limits)
        for (i, group) in groups.enumerated() {
            if Task.isCancelled {
                report.problems.append(
                    "stopped (cancelled) before \(groups.count - i) of \(groups.count) new objects: their slices stay where they were")
                break
            }
            await PackedCompaction.rewrite(group, lake: self, limits: limits, report: &report)
        }
        if !report.objectsWritten.isEmpty {
            options.log(
                "compacted \(report.candidates.count) packed objects (\(report.candidateBytes) bytes, "
                    + "\(report.liveBytes) live) into \(report.objectsWritten.count) (\(report.writtenBytes) bytes): "
                    + "\(report.slicesMoved) slices of \(report.logsCommitted) logs moved")
        }
        return report
    }

    /// The background's pass (`LakeOptions.packedCompactionIntervalMs`, Cold/BackgroundCompaction.swift):
    /// its problems are logged, at most `problemsLoggedMax` lines of them.
    func compactInBackground() async {
        do throws(StrataError) {
            let report = try await compactPacked(liveBelow: options.packedCompactionLiveBelow)
            let problems = report.problems
            for problem in problems.prefix(Self.problemsLoggedMax) { options.log("background compaction: \(problem)") }
            if problems.count > Self.problemsLoggedMax {
                options.log("background compaction: \(problems.count - Self.problemsLoggedMax) more problems")
            }
        } catch {
            options.log("background compaction: \(error)")
        }
    }

    static let problemsLoggedMax = 8
}
