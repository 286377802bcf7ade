import Dispatch
import StrataBlob

/// The bounds of packed objects, from `LakeOptions` (ARCHITECTURE.md §2k).
struct PackLimits: Sendable {
    /// A packed object is closed once its slices reach about this many bytes.
    var objectBytes: Int
    /// Larger sealed segments keep an object of their own; 0 disables packing.
    var segmentBytesMax: Int
    /// Slices one packed object holds at most.
    var segmentsMax: Int
    /// Manifest commits of one packed object running at once.
    var commitsInFlightMax = 8

    init(_ options: LakeOptions) {
        objectBytes = max(1, options.packObjectBytes)
        segmentBytesMax = max(0, options.packSegmentBytesMax)
        segmentsMax = min(max(1, options.packSegmentsMax), FormatLimits.packSlicesMax)
    }
}

/// The lake-level packed offload pass (ARCHITECTURE.md §2k): the next small sealed segments of
/// many logs are encoded as standalone cold objects, concatenated into one packed object with a
/// pack index (formats/cold-object.md, "Packed objects"), put once (put-if-absent), read back
/// and checked slice by slice, and only then committed into each log's manifest as entries
/// (an object always holds slices of at least two logs; a log left alone is the offloader's),
/// pointing into it. Each log taking part is held under its `offloadPass` lock from choosing
/// its segments to its commit, so its commits stay in offset order and never race its own
/// standalone pass. A log whose commit fails (fenced, busy, store down) leaves its slice
/// unreferenced — an orphan `scrub` deletes once no manifest references the object — and is
/// offloaded again by a later pass. Local segments are evicted only after their commit
/// (`committedOffset`), as for standalone objects.
enum PackedOffload {
    /// One log's part of a packed object: its manifest as the pass read it and its slices.
    struct Part: Sendable {
        let topic: Topic
        let manifest: Manifest?
        var slices: [EncodedColdObject] = []
        var rawBytes: Int64 = 0
    }

    /// Packs the next small sealed segments of `logs` into shared objects until none is left
    /// (or nothing moves), committing each log's entries.
    /// - Parameters:
    ///   - explicit: an explicit offload (`Lake.offload`): waits for each log's running pass and
    ///     ignores `offloadLagMs`; otherwise (the background tick) busy logs are skipped.
    /// - Returns: what was committed; failures are logged and leave the segments to a later pass.
    static func run(_ logs: [Topic], options: LakeOptions, explicit: Bool) async -> OffloadReport {
        let limits = PackLimits(options)
        var total = OffloadReport()
        guard limits.segmentBytesMax > 0, let cold = logs.first?.cold else { return total }
        // One order for every pass, so two explicit passes never wait for each other's locks crosswise.
        var pending = logs.filter { $0.cold === cold }.sorted { $0.name < $1.name }
        do throws(StrataError) { try await cold.ensureLakeDescriptor() } catch {
            options.log("packed offload: \(error)")
            return total
        }
        while !pending.isEmpty {
            var leftovers: [Topic] = []
            let report = await onePass(pending, cold: cold, limits: limits, explicit: explicit, leftovers: &leftovers)
            total.add(report)
            // Logs cut off by an object's bounds go again; stop when a pass moves nothing.
            guard report.segmentsOffloaded > 0 else { break }
            pending = leftovers
        }
        return total
    }

    /// Fills packed objects from `logs` in order, one object at a time.
    private static func onePass(
        _ logs: [Topic], cold: ColdTier, limits: PackLimits, explicit: Bool, leftovers: inout [Topic]
    ) async -> OffloadReport {
        var report = OffloadReport()
        var next = 0
        while next < logs.count {
            var parts: [Part] = []
            var (bytes, slices) = (0, 0)
            while next < logs.count, slices < limits.segmentsMax, bytes < limits.objectBytes {
                let topic = logs[next]
                next += 1
                let room = (bytes: limits.objectBytes - bytes, slices: limits.segmentsMax - slices)
                let choice = await choose(topic, cold: cold, limits: limits, room: room, explicit: explicit)
                guard case .part(let part, let cutOff) = choice else {
                    if case .noRoom = choice { leftovers.append(topic) }
                    continue
                }
                if cutOff { leftovers.append(topic) }
                bytes += part.slices.reduce(0) { $0 + $1.bytes.count }
                slices += part.slices.count
                parts.append(part)
            }
            // Packing pays by sharing an object between logs; one log's segments alone stay
            // standalone objects (the offloader's), which its retention can delete outright.
            guard parts.count >= 2 else {
                for part in parts { part.topic.offloadPass.unlock() }
                continue
            }
            report.add(await pack(parts, cold: cold, limits: limits))
        }
        return report
    }

    /// What `choose` found for one log.
    enum Choice {
        /// Nothing to pack (no small sealed segment, busy, fenced, or an error, logged).
        case nothing
        /// Its next segment does not fit in what is left of this object: try it in the next.
        case noRoom
        /// Its part, whose lock `pack` releases; `cutOff` when small segments were left behind.
        case part(Part, cutOff: Bool)
    }

    /// Takes `topic`'s pass lock and encodes its next small sealed segments that fit in `room`
    /// (always at least one into an empty object).
    private static func choose(
        _ topic: Topic, cold: ColdTier, limits: PackLimits, room: (bytes: Int, slices: Int), explicit: Bool
    ) async -> Choice {
        guard topic.readOnlyView == nil, !topic.isClosed, (try? topic.manifestWriter.checkNotFenced()) != nil,
            topic.localSegments().contains(where: { $0.sealed && !$0.isEmpty })
        else { return .nothing }
        if explicit {
            await topic.offloadPass.lock()
        } else if !topic.offloadPass.tryLock() {
            return .nothing
        }
        let emptyObject = room.bytes == limits.objectBytes && room.slices == limits.segmentsMax
        do throws(StrataError) {
            try topic.manifestWriter.checkNotFenced()
            let manifest = try await startingManifest(topic, cold: cold)
            var part = Part(topic: topic, manifest: manifest)
            var (end, bytes) = (manifest?.nextOffset, 0)
            let lagMs = explicit ? 0 : topic.config.offloadLagMs
            var cutOff = false
            while let segment = try topic.nextToOffload(committedEnd: end, lagMs: lagMs) {
                // Damaged and large segments are the standalone offloader's (it reports a damaged one).
                guard segment.corruption == nil, segment.segmentBytes <= limits.segmentBytesMax else { break }
                guard part.slices.count < room.slices else {
                    cutOff = true
                    break
                }
                let (_, encoded) = try await topic.encodeOffPool(segment)
                guard bytes + encoded.bytes.count <= room.bytes || (emptyObject && part.slices.isEmpty) else {
                    cutOff = true
                    break
                }
                bytes += encoded.bytes.count
                part.rawBytes += Int64(segment.segmentBytes)
                part.slices.append(encoded)
                end = segment.nextOffset
            }
            guard !part.slices.isEmpty else {
                topic.offloadPass.unlock()
                return cutOff ? .noRoom : .nothing
            }
            return .part(part, cutOff: cutOff)
        } catch {
            if error.code == .fenced { topic.manifestWriter.fence(error) }
            if error.code != .corrupt { topic.log("packed offload topic=\(topic.name): \(error)") }
            topic.offloadPass.unlock()
            return .nothing
        }
    }

    /// The manifest a log's pass builds on; the first pass of a process asks the store and shows
    /// the cold log to be this lake's (as `offloadSealed` does).
    private static func startingManifest(_ topic: Topic, cold: ColdTier) async throws(StrataError) -> Manifest? {
        let firstPass = !topic.manifestWriter.ownershipChecked
        let manifest = try await cold.latestManifest(topic.name, refresh: firstPass)
        if firstPass {
            if let manifest { try await topic.verifyOwnership(manifest) }
            topic.manifestWriter.ownershipChecked = true
        }
        return manifest
    }

    /// Puts one packed object of `parts`, checks it, commits each log's entries, and releases
    /// every part's pass lock.
    private static func pack(_ parts: [Part], cold: ColdTier, limits: PackLimits) async -> OffloadReport {
        var report = OffloadReport()
        let relativeKey = BucketLayout.packedKeyRelative(
            sequence: UInt64(max(0, cold.clock.nowMs())), writerId: UInt64.random(in: 0 ... UInt64.max))
        let key = cold.layout.absolute(relativeKey)
        do throws(StrataError) {
            let slices = parts.flatMap(\.slices)
            let object = try await packOffPool(key: key) { () throws(FormatError) in try PackedObject.encode(slices) }
            try await cold.putImmutable(key, object.bytes, topic: parts[0].topic.name, what: "upload packed object")
            try await verify(key, expected: object, cold: cold, topic: parts[0].topic.name)
            var offsets = object.index.slices.map(\.sliceOffset)[...]
            let entries = parts.map { part in
                part.slices.map { slice in
                    var entry = ManifestSegment(slice.index)
                    entry.key = relativeKey
                    entry.objectOffset = offsets.popFirst() ?? 0
                    return entry
                }
            }
            report.packedObjects = 1
            report.add(await commitAll(parts, entries: entries, limits: limits))
        } catch {
            cold.log("packed offload of \(parts.count) logs into \(key) failed, retried by a later pass: \(error)")
            for part in parts { part.topic.offloadPass.unlock() }
        }
        return report
    }

    /// Commits each part's entries (a bounded number at once); every part's lock is released.
    private static func commitAll(
        _ parts: [Part], entries: [[ManifestSegment]], limits: PackLimits
    ) async -> OffloadReport {
        await withTaskGroup(of: OffloadReport.self) { group in
            var report = OffloadReport()
            var running = 0
            for (part, partEntries) in zip(parts, entries) {
                if running >= limits.commitsInFlightMax, let done = await group.next() {
                    report.add(done)
                    running -= 1
                }
                group.addTask { await commit(part, entries: partEntries) }
                running += 1
            }
            for await done in group { report.add(done) }
            return report
        }
    }

    /// Commits one log's entries and releases its pass lock. A failed commit leaves the slice
    /// unreferenced (an orphan for `scrub`); the segments stay local and go in a later pass.
    private static func commit(_ part: Part, entries: [ManifestSegment]) async -> OffloadReport {
        let topic = part.topic
        defer { topic.offloadPass.unlock() }
        var report = OffloadReport()
        do throws(StrataError) {
            try topic.manifestWriter.checkNotFenced()
            let next = try await topic.commitNext(after: part.manifest, adding: entries)
            topic.manifestWriter.committedOffset = next.nextOffset
            await topic.pruneManifests(current: next.version)
            report.segmentsOffloaded = entries.count
            report.rawBytes = part.rawBytes
            report.objectBytes = entries.reduce(0) { $0 + $1.objectBytes }
        } catch {
            if error.code == .fenced { topic.manifestWriter.fence(error) }
            topic.log("packed offload commit topic=\(topic.name) failed, its slice is left unreferenced: \(error)")
        }
        return report
    }

    /// Concatenation and pack index (`encode`) off the cooperative pool (up to
    /// `packObjectBytes` of copying); packed offload's and compaction's.
    static func packOffPool(
        key: String, _ encode: @escaping @Sendable () throws(FormatError) -> EncodedPackedObject
    ) async throws(StrataError) -> EncodedPackedObject {
        let result = await offPool { Result { () throws(FormatError) in try encode() } }
        switch result {
        case .success(let object): return object
        case .failure(let error): throw StrataError(.invalidArgument, "cannot pack: \(error)", file: key)
        }
    }

    /// Reads the packed object back and checks what `Offloader.verifyUpload` checks, per slice:
    /// its size, the pack index, every frame, and the raw size and CRC32C of its segment.
    static func verify(
        _ key: String, expected: EncodedPackedObject, cold: ColdTier, topic: String
    ) async throws(StrataError) {
        // Slice by slice: one decoded segment at a time, never all of an object's at once.
        let wanted = expected.index.slices
        let keys = cold.keys
        try await cold.checkUpload(
            key, bytes: expected.bytes.count, topic: topic, what: "read back packed object",
            mismatch: "uploaded packed object does not decode to its segments"
        ) { (data) throws(FormatError) in
            var same = true
            var i = 0
            // `forEachSlice` has checked each slice's segment against its footer (size, CRC32C)
            // and the footer against the slice's entry: the entry equal to the one encoded is
            // all that is left to compare, with no second CRC pass over the segment.
            let pack = try PackedObject.forEachSlice(data, keys: keys) { (slice, _, _) throws(FormatError) in
                same = same && i < wanted.count && slice == wanted[i]
                i += 1
            }
            return same && pack.slices.count == wanted.count
        }
    }
}

extension Lake {
    /// Packs the next small sealed segments of `logs` (every open log when nil) into shared
    /// objects now (ARCHITECTURE.md §2k); what it leaves (large or damaged segments, failed
    /// commits) is the standalone offloader's or a later pass's.
    func offloadPacked(_ logs: [Topic], explicit: Bool = true) async -> OffloadReport {
        guard !isReadOnly else { return OffloadReport() }
        return await PackedOffload.run(logs, options: options, explicit: explicit)
    }
}
