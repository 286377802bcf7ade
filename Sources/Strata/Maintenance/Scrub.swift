import Foundation
import StrataBlob

/// One thing `Lake.scrub` found in the cold store.
public struct ScrubFinding: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A cold object (`…/segments/*.seg.zst`) no manifest version, archive or local copy references.
        case orphanObject
        /// An archive manifest no manifest version or local copy references.
        case orphanArchive
        /// The current manifest (or an archive) lists an object the store does not have.
        case missingObject
        /// Offsets between two listed segments (or archives) belong to none.
        case offsetGap
        /// Two listed segments (or archives) claim the same offsets.
        case offsetOverlap
        /// The newest manifest (or an archive it references) cannot be decoded or is invalid:
        /// orphans of that topic are not reported, since nothing can be proven unreferenced.
        case badManifest
        /// The lake's local copy of the manifest is newer than every manifest in the store, or
        /// the topic has segment objects and no manifest anywhere: the latest manifest is
        /// missing, so nothing of the topic is deleted.
        case missingManifest
        /// An object the newest manifest lists has a different size in the store (truncated or
        /// replaced).
        case sizeMismatch
        /// Info: an older manifest version (pruning removes them; not a problem).
        case oldManifest
        /// Info: a key under `topics/` that the bucket layout does not define (left alone).
        case unknownObject
        /// A file under `tables/<topic>/` that neither the table's newest metadata nor a snapshot
        /// it retains references (a lost commit's manifests, files a crash left before deleting
        /// them, data files uploaded before a commit that never happened): TableVerifyScrub.swift.
        case orphanTableFile
        /// `tables/<topic>/` of a topic that exists neither in the lake nor in the cold store
        /// (listed, never deleted by scrub).
        case orphanTable
        /// The table's newest metadata, a manifest list or a manifest it names is missing or does
        /// not decode: no table file of that topic is reported or deleted as an orphan.
        case badTable
    }

    public var topic: String
    /// Object key (with the layout prefix).
    public var key: String
    public var kind: Kind
    public var what: String
    /// Size and last modification of the object when it exists (from the listing).
    public var sizeBytes: Int64?
    public var modifiedMs: Int64?

    public init(topic: String, key: String, kind: Kind, what: String, sizeBytes: Int64? = nil, modifiedMs: Int64? = nil)
    {
        self.topic = topic
        self.key = key
        self.kind = kind
        self.what = what
        self.sizeBytes = sizeBytes
        self.modifiedMs = modifiedMs
    }

    /// Informational findings (old manifest versions, foreign keys) are not problems.
    public var isProblem: Bool { kind != .oldManifest && kind != .unknownObject }

    /// `kind topic key: what`, the line `strata inspect scrub` prints.
    public var description: String { "\(kind.rawValue) \(topic) \(key): \(what)" }
}

/// What `Lake.scrub` found and did.
public struct ScrubReport: Sendable {
    /// Everything found, problems and info, per topic in key order.
    public var findings: [ScrubFinding] = []
    /// Orphans deleted (only with `deleteOrphans`).
    public var deleted: [String] = []
    /// Orphans kept because they are younger than the grace period (an upload may be in flight)
    /// or became referenced when the manifest was read again just before deleting.
    public var kept: [String] = []
    public var objectsListed = 0
    public var topicsChecked = 0

    public init() {}

    /// Findings that are problems.
    public var problems: [ScrubFinding] { findings.filter(\.isProblem) }
    /// Problems still there after this run: everything but the orphans it deleted.
    public var remainingProblems: [ScrubFinding] {
        let gone = Set(deleted)
        return problems.filter { !gone.contains($0.key) }
    }
}

/// What the manifests of a topic reference, for orphan detection.
struct ScrubReferences: Sendable {
    /// Keys (with prefix) of every segment object and archive referenced by any manifest version
    /// the lake knows of: every version in the store, their archives and the lake's local copy.
    /// None of them is ever an orphan (issue 12.3).
    var keys: Set<String> = []
    /// Keys the newest manifest (or a newer local copy) references: these must exist.
    var required: Set<String> = []
    /// Object sizes the newest manifest states, by key.
    var expectedBytes: [String: Int64] = [:]
    var manifestKey: String? = nil
    /// Set when references could not be established: no orphan may be reported or deleted.
    var undecidable = false

    /// Packed objects (ARCHITECTURE.md §2k) the newest manifest has slices in, with the end of
    /// its last slice there: the object must exist and be at least that long.
    var packedRequired: [String: Int64] = [:]

    /// - Parameter keepsPacked: false for an older version superseded longer ago than the grace
    ///   period: its packed slices no longer keep their objects.
    mutating func add(
        _ segments: [ManifestSegment], layout: BucketLayout, required isRequired: Bool, keepsPacked: Bool = true
    ) {
        for segment in segments {
            let key = layout.absolute(segment.key)
            if segment.isPacked && !keepsPacked { continue }
            keys.insert(key)
            if segment.isPacked {
                // Checked once for all logs by `scrubPacked`, against the `packed/` listing.
                if isRequired { packedRequired[key] = max(packedRequired[key] ?? 0, segment.objectStart + segment.objectBytes) }
                continue
            }
            if isRequired {
                required.insert(key)
                expectedBytes[key] = segment.objectBytes
            }
        }
    }
}

extension Lake {
    /// Lists every object under `topics/` in the cold store and reports orphans (segment objects
    /// and archive manifests that no manifest version of their topic in the store, none of their
    /// archives and not the lake's local copy references), objects the newest manifest lists that
    /// are missing or have another size, a missing latest manifest (the local copy is newer than
    /// the store's chain), and gaps and overlaps between the segments the newest manifest lists.
    /// Older manifest versions are listed as info only. A packed object (`packed/`) is an orphan
    /// when no newest manifest, no local copy and no older version superseded less than `graceMs`
    /// ago references a slice of it (what compaction and retention leave behind).
    ///
    /// With `deleteOrphans`, orphans older than `graceMs` (by their store modification time and
    /// the lake's clock) are deleted, after the manifests have been read again and have been
    /// found still not to reference them. A topic whose manifests cannot all be read, or whose
    /// latest manifest is missing, is never touched.
    /// - Parameters:
    ///   - deleteOrphans: delete old enough orphans; otherwise only report.
    ///   - graceMs: orphans modified less than this long ago are kept (an upload may not be
    ///     committed yet). Objects whose modification time the store cannot tell are kept
    ///     unless `graceMs` is 0.
    /// - Returns: findings, deleted keys and kept keys.
    /// - Throws: `io` when the store cannot be listed or read (after retries); nothing is
    ///   deleted after a failure to re-read a manifest.
    public func scrub(deleteOrphans: Bool, graceMs: Int64 = 3_600_000) async throws(StrataError) -> ScrubReport {
        if deleteOrphans { try refuseIfReadOnly("delete orphans") }
        let prefix = cold.layout.topicsPrefix
        let store = cold.store
        let listed = try await cold.blob("list objects", key: prefix, topic: nil) {
            try await store.listAll(prefix: prefix)
        }
        var report = ScrubReport()
        report.objectsListed = listed.count
        var byTopic: [String: [BlobInfo]] = [:]
        for object in listed {
            let topic = cold.layout.logComponent(of: object.key) ?? ""
            byTopic[topic, default: []].append(object)
        }
        // A local topic whose manifest copy has nothing in the store behind it lost its chain.
        for name in try logNames() where byTopic[name] == nil && FileIO.exists(paths.topicManifestCopy(name)) {
            byTopic[name] = []
        }
        var packed = PackedScrubState()
        for (topic, objects) in byTopic.sorted(by: { $0.key < $1.key }) {
            let orphans = try await scrubTopic(
                topic, objects: objects, graceMs: graceMs, packed: &packed, report: &report)
            report.topicsChecked += 1
            guard deleteOrphans, !orphans.isEmpty else { continue }
            try await deleteOrphanObjects(orphans, topic: topic, graceMs: graceMs, report: &report)
        }
        let logs = byTopic.keys.filter { LogName.isValid($0) }.sorted()
        try await scrubPacked(packed, logs: logs, deleteOrphans: deleteOrphans, graceMs: graceMs, report: &report)
        let coldTopics = Set(byTopic.keys.map { String($0.prefix { $0 != "/" }) })
        try await scrubTables(coldTopics: coldTopics, deleteOrphans: deleteOrphans, graceMs: graceMs, report: &report)
        return report
    }

    /// Scrubs one topic's objects; returns its orphans.
    private func scrubTopic(
        _ topic: String, objects: [BlobInfo], graceMs: Int64, packed: inout PackedScrubState,
        report: inout ScrubReport
    ) async throws(StrataError) -> [BlobInfo] {
        guard LogName.isValid(topic) else {
            report.findings += objects.map {
                ScrubFinding(
                    topic: topic, key: $0.key, kind: .unknownObject, what: "not under a valid topic or partition name",
                    sizeBytes: $0.size, modifiedMs: $0.modifiedMs)
            }
            return []
        }
        let present = Set(objects.map(\.key))
        let references = try await scrubReferences(topic, graceMs: graceMs, report: &report)
        packed.merge(references)
        for object in objects where object.key != references.manifestKey {
            if let kind = objectKind(object.key, topic: topic), kind == .oldManifest {
                report.findings.append(
                    ScrubFinding(
                        topic: topic, key: object.key, kind: .oldManifest,
                        what: "older manifest version (pruned by the offloader)",
                        sizeBytes: object.size, modifiedMs: object.modifiedMs))
            } else if objectKind(object.key, topic: topic) == nil {
                report.findings.append(
                    ScrubFinding(
                        topic: topic, key: object.key, kind: .unknownObject,
                        what: "not a key of the bucket layout; left alone",
                        sizeBytes: object.size, modifiedMs: object.modifiedMs))
            }
        }
        try await reportMissing(references.required.subtracting(present).sorted(), topic: topic, report: &report)
        reportSizeMismatches(objects, references: references, topic: topic, report: &report)
        guard !references.undecidable else { return [] }
        // No manifest in the store and no topic in this lake: the chain may be lost rather than
        // never written (an upload of this lake's own topic that crashed before its first
        // commit is the only orphan without a manifest), so nothing is provably an orphan.
        let segments = objects.filter { objectKind($0.key, topic: topic) == .orphanObject }
        if references.manifestKey == nil, !segments.isEmpty,
            !catalog.exists(String(topic.prefix { $0 != "/" }))
        {
            report.findings.append(
                ScrubFinding(
                    topic: topic, key: cold.layout.manifestPrefix(topic: topic), kind: .missingManifest,
                    what: "\(segments.count) segment objects but no manifest in the store and no topic in \(path): "
                        + "the manifest chain is lost or belongs to another lake; nothing of this topic is deleted"))
            // A lost chain may have had slices in packed objects too.
            packed.undecidable = true
            return []
        }
        var orphans: [BlobInfo] = []
        for object in objects where !references.keys.contains(object.key) {
            guard let kind = objectKind(object.key, topic: topic), kind == .orphanObject || kind == .orphanArchive
            else { continue }
            let what =
                references.manifestKey == nil
                ? "the topic has no manifest yet (an upload before the first commit)"
                : "no manifest version in the store, no archive and not the lake's local copy references it"
            report.findings.append(
                ScrubFinding(
                    topic: topic, key: object.key, kind: kind, what: what,
                    sizeBytes: object.size, modifiedMs: object.modifiedMs))
            orphans.append(object)
        }
        return orphans
    }

    /// What a key under the topic is: a segment object or archive (orphan candidates), a
    /// manifest version, or nil for anything the layout does not define.
    private func objectKind(_ key: String, topic: String) -> ScrubFinding.Kind? {
        let layout = cold.layout
        if (try? layout.parseSegmentKey(key, topic: topic)) != nil { return .orphanObject }
        if (try? layout.parseArchiveKey(key, topic: topic)) != nil { return .orphanArchive }
        if (try? layout.parseManifestKey(key, topic: topic)) != nil { return .oldManifest }
        return nil
    }

    /// Objects of the newest manifest whose listed size is not the size it states.
    private func reportSizeMismatches(
        _ objects: [BlobInfo], references: ScrubReferences, topic: String, report: inout ScrubReport
    ) {
        for object in objects {
            guard let expected = references.expectedBytes[object.key], expected != object.size else { continue }
            let what =
                "\(object.size) bytes in the store, the manifest says \(expected) "
                + "(truncated or replaced; `strata inspect verify` checks its bytes)"
            report.findings.append(
                ScrubFinding(
                    topic: topic, key: object.key, kind: .sizeMismatch, what: what,
                    sizeBytes: object.size, modifiedMs: object.modifiedMs))
        }
    }

    /// Confirms with `head` that listed-as-absent references are really missing (a listing may
    /// lag behind a put on some stores).
    private func reportMissing(_ keys: [String], topic: String, report: inout ScrubReport) async throws(StrataError) {
        let store = cold.store
        for key in keys {
            do {
                _ = try await cold.blob("head object", key: key, topic: topic) { try await store.head(key) }
            } catch  where error.code == .notFound {
                report.findings.append(
                    ScrubFinding(
                        topic: topic, key: key, kind: .missingObject,
                        what: "referenced by the newest manifest but not in \(cold.location)"))
            }
        }
    }
}

// MARK: - References and deletion

extension Lake {
    /// Reads every manifest version of `topic` (listing the store afresh), their archives and the
    /// lake's local copy, and collects every key they reference. The newest version's gaps,
    /// overlaps and undecodable documents are reported; documents are decoded without
    /// validation first so a gap is reported as a gap. A local copy newer than the store's chain
    /// is a missing manifest.
    ///
    /// With `graceMs`, an older version superseded (its successor created) at least that long
    /// ago no longer keeps packed objects: a reader of it has had the grace period to move on,
    /// and otherwise a slice compaction moved or retention dropped would pin its shared object
    /// until the log commits `manifestVersionsKept` more times, which an idle log never does.
    /// Its standalone objects and archives still count (retention deletes those itself).
    func scrubReferences(
        _ topic: String, graceMs: Int64? = nil, report: inout ScrubReport
    ) async throws(StrataError) -> ScrubReferences {
        let layout = cold.layout
        let prefix = layout.manifestPrefix(topic: topic)
        let store = cold.store
        let listed = try await cold.blob("list manifests", key: prefix, topic: topic) {
            try await store.listAll(prefix: prefix)
        }
        let versions = listed.compactMap { try? layout.parseManifestKey($0.key, topic: topic) }.sorted(by: >)
        var references = ScrubReferences()
        var decoded: [UInt64: Manifest] = [:]
        if let newest = versions.first {
            decoded[newest] = try await scrubNewest(topic, version: newest, references: &references, report: &report)
        }
        let now = cold.clock.nowMs()
        var successor = versions.first
        for version in versions.dropFirst() {
            let supersededMs = successor.flatMap { decoded[$0] }?.createdMs
            let lapsed = graceMs.map { grace in supersededMs.map { now - $0 >= grace } ?? false } ?? false
            decoded[version] = try await scrubOlder(
                topic, version: version, keepsPacked: !lapsed, references: &references, report: &report)
            successor = version
        }
        try await scrubLocalCopy(
            topic, newest: versions.first, decoded: decoded, references: &references,
            report: &report)
        return references
    }

    /// The newest version: continuity, validity, and its references (which must exist).
    private func scrubNewest(
        _ topic: String, version newest: UInt64, references: inout ScrubReferences, report: inout ScrubReport
    ) async throws(StrataError) -> Manifest? {
        let layout = cold.layout
        let key = layout.manifestKey(topic: topic, version: newest)
        references.manifestKey = key
        guard let manifest: Manifest = try await scrubDocument(key, topic: topic, report: &report) else {
            references.undecidable = true
            return nil
        }
        var ranges = manifest.archives.map { ($0.baseOffset, $0.lastOffset, $0.key) }
        ranges += manifest.segments.map { ($0.baseOffset, $0.lastOffset, $0.key) }
        let breaks = scrubContinuity(ranges, topic: topic, key: key)
        report.findings += breaks
        do throws(FormatError) {
            try manifest.validate()
            guard manifest.topic == topic, manifest.version == newest else {
                throw FormatError(
                    .invalidValue, field: "manifest", position: 0, "is topic \(manifest.topic) v\(manifest.version)")
            }
        } catch {
            references.undecidable = true
            if breaks.isEmpty {
                report.findings.append(ScrubFinding(topic: topic, key: key, kind: .badManifest, what: "\(error)"))
            }
        }
        try await addReferences(of: manifest, topic: topic, required: true, references: &references, report: &report)
        return manifest
    }

    /// An older version: only its references count (they are never orphans). One that cannot be
    /// read makes the topic undecidable; one pruned since the listing is simply gone.
    private func scrubOlder(
        _ topic: String, version: UInt64, keepsPacked: Bool, references: inout ScrubReferences,
        report: inout ScrubReport
    ) async throws(StrataError) -> Manifest? {
        let key = cold.layout.manifestKey(topic: topic, version: version)
        var scratch = ScrubReport()
        guard let manifest: Manifest = try await scrubDocument(key, topic: topic, report: &scratch) else {
            if !scratch.findings.isEmpty {
                references.undecidable = true
                report.findings += scratch.findings.map {
                    var finding = $0
                    finding.what += "; what this version references cannot be known, so nothing of the topic is deleted"
                    return finding
                }
            }
            return nil
        }
        try await addReferences(
            of: manifest, topic: topic, required: false, keepsPacked: keepsPacked, references: &references,
            report: &scratch)
        return manifest
    }

    /// The lake's local copy of the manifest: newer than the store's chain means the latest
    /// manifest is missing; the same version must say the same.
    private func scrubLocalCopy(
        _ topic: String, newest: UInt64?, decoded: [UInt64: Manifest], references: inout ScrubReferences,
        report: inout ScrubReport
    ) async throws(StrataError) {
        let path = paths.topicManifestCopy(topic)
        guard FileIO.exists(path) else { return }
        let copy: Manifest
        switch LocalManifestCopy.read(path, topic: topic) {
        case .failure(let message):
            references.undecidable = true
            report.findings.append(
                ScrubFinding(
                    topic: topic, key: path, kind: .badManifest,
                    what: "the local copy of the manifest is unreadable (\(message)); "
                        + "nothing of this topic is deleted"))
            return
        case .success(let manifest): copy = manifest
        }
        let isNewer = copy.version > (newest ?? 0)
        if isNewer {
            references.undecidable = true
            let chain = newest.map { "the store's newest is v\($0)" } ?? "the store has no manifest for the topic"
            report.findings.append(
                ScrubFinding(
                    topic: topic, key: cold.layout.manifestKey(topic: topic, version: copy.version),
                    kind: .missingManifest,
                    what: "the local copy \(path) is v\(copy.version) (\(LocalManifestCopy.summary(copy))), \(chain): "
                        + "the latest manifest is missing; nothing of this topic is deleted. "
                        + "Restore it by copying the local copy to this key"))
        } else if let same = decoded[copy.version], same != copy {
            references.undecidable = true
            report.findings.append(
                ScrubFinding(
                    topic: topic, key: path, kind: .badManifest,
                    what: "the local copy of v\(copy.version) differs from the store's; "
                        + "nothing of this topic is deleted"))
        }
        var scratch = ScrubReport()
        try await addReferences(of: copy, topic: topic, required: isNewer, references: &references, report: &scratch)
    }

    /// Adds the segments and archives `manifest` references, reading archives not seen yet.
    private func addReferences(
        of manifest: Manifest, topic: String, required: Bool, keepsPacked: Bool = true,
        references: inout ScrubReferences, report: inout ScrubReport
    ) async throws(StrataError) {
        let layout = cold.layout
        references.add(manifest.segments, layout: layout, required: required, keepsPacked: keepsPacked)
        for reference in manifest.archives {
            let key = layout.absolute(reference.key)
            if !required && references.keys.contains(key) { continue }
            references.keys.insert(key)
            if required { references.required.insert(key) }
            guard let segments = try await scrubArchive(reference, topic: topic, report: &report) else {
                references.undecidable = true
                continue
            }
            references.add(segments, layout: layout, required: required, keepsPacked: keepsPacked)
        }
    }

    /// The segments of an archive, or nil (with a finding unless it is simply missing) when it
    /// cannot be trusted.
    private func scrubArchive(
        _ reference: ArchiveReference, topic: String, report: inout ScrubReport
    ) async throws(StrataError) -> [ManifestSegment]? {
        let key = cold.layout.absolute(reference.key)
        guard let archive: ArchiveManifest = try await scrubDocument(key, topic: topic, report: &report) else {
            return nil
        }
        let breaks = scrubContinuity(
            archive.segments.map { ($0.baseOffset, $0.lastOffset, $0.key) }, topic: topic, key: key)
        report.findings += breaks
        do throws(FormatError) {
            try archive.validate()
            guard archive.reference == reference, archive.topic == topic else {
                throw FormatError(
                    .invalidValue, field: "archive", position: 0,
                    "holds \(archive.topic) \(archive.baseOffset)...\(archive.lastOffset) "
                        + "(\(archive.segments.count) segments), the manifest expects "
                        + "\(reference.baseOffset)...\(reference.lastOffset) (\(reference.segmentCount))"
                )
            }
            return archive.segments
        } catch {
            if breaks.isEmpty {
                report.findings.append(ScrubFinding(topic: topic, key: key, kind: .badManifest, what: "\(error)"))
            }
            return nil
        }
    }

    /// Fetches and decodes a JSON document without validating it; nil when it is missing
    /// (the caller reports that) or does not decode (reported here).
    private func scrubDocument<T: Decodable & Sendable>(
        _ key: String, topic: String, report: inout ScrubReport
    ) async throws(StrataError) -> T? {
        let store = cold.store
        let bytes: [UInt8]
        do {
            bytes = try await cold.blob("get \(key)", key: key, topic: topic) {
                try await store.get(key, range: .whole)
            }.bytes
        } catch  where error.code == .notFound {
            return nil
        }
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch {
            report.findings.append(
                ScrubFinding(topic: topic, key: key, kind: .badManifest, what: "does not decode: \(error)"))
            return nil
        }
    }

    /// Gaps and overlaps between consecutive `(base, last, key)` ranges of one document.
    private func scrubContinuity(_ ranges: [(Int64, Int64, String)], topic: String, key: String) -> [ScrubFinding] {
        var findings: [ScrubFinding] = []
        for (previous, next) in zip(ranges, ranges.dropFirst()) {
            let expected = previous.1 + 1
            if next.0 > expected {
                findings.append(
                    ScrubFinding(
                        topic: topic, key: key, kind: .offsetGap,
                        what: "offsets \(expected)..<\(next.0) are in no segment (between \(previous.2) and \(next.2))")
                )
            } else if next.0 < expected {
                findings.append(
                    ScrubFinding(
                        topic: topic, key: key, kind: .offsetOverlap,
                        what: "offsets \(next.0)...\(min(previous.1, next.1)) are in both \(previous.2) and \(next.2)"))
            }
        }
        return findings
    }

    /// The keys of `orphans` old enough to delete (`graceMs` ≤ 0: all); the younger ones go to
    /// `report.kept`. Cold objects and table files share this age gate.
    func olderThanGrace(_ orphans: [BlobInfo], graceMs: Int64, report: inout ScrubReport) -> [String] {
        let now = cold.clock.nowMs()
        let oldEnough = { (object: BlobInfo) -> Bool in
            graceMs <= 0 || (object.modifiedMs > 0 && now - object.modifiedMs >= graceMs)
        }
        report.kept += orphans.filter { !oldEnough($0) }.map(\.key)
        return orphans.filter(oldEnough).map(\.key)
    }

    /// Deletes the orphans older than the grace period that the newest manifest, read again
    /// right now, still does not reference.
    func deleteOrphanObjects(
        _ orphans: [BlobInfo], topic: String, graceMs: Int64, report: inout ScrubReport
    ) async throws(StrataError) {
        let candidates = olderThanGrace(orphans, graceMs: graceMs, report: &report)
        guard !candidates.isEmpty else { return }
        var scratch = ScrubReport()
        let fresh = try await scrubReferences(topic, graceMs: graceMs, report: &scratch)
        guard !fresh.undecidable else {
            report.kept += candidates
            return
        }
        let victims = candidates.filter { !fresh.keys.contains($0) }
        report.kept += candidates.filter { fresh.keys.contains($0) }
        report.deleted += try await deleteInBatches(victims, what: "delete orphans", topic: topic)
    }

    /// Keys per delete request (S3 DeleteObjects takes at most 1,000).
    static let scrubDeleteBatchMax = 1000
}

// MARK: - Packed objects

/// What the manifests of every log say about packed objects (ARCHITECTURE.md §2k): a packed
/// object is referenced while any manifest version, archive or local copy of any log lists a
/// slice of it.
struct PackedScrubState: Sendable {
    var referenced: Set<String> = []
    /// Keys (with prefix) the newest manifests need, with the end of their last slice.
    var required: [String: Int64] = [:]
    /// Some log's references could not be established: no packed object may be called an orphan.
    var undecidable = false

    mutating func merge(_ references: ScrubReferences) {
        referenced.formUnion(references.keys)
        required.merge(references.packedRequired) { max($0, $1) }
        if references.undecidable { undecidable = true }
    }
}

extension Lake {
    /// Scrubs `packed/`: packed objects the newest manifests need must exist and hold their
    /// slices; one no manifest of any log references is an orphan (deleted behind the age gate,
    /// after every log's manifests are read again). Retention and topic delete never delete
    /// packed objects: this is the only place they go.
    func scrubPacked(
        _ packed: PackedScrubState, logs: [String], deleteOrphans: Bool, graceMs: Int64, report: inout ScrubReport
    ) async throws(StrataError) {
        let layout = cold.layout
        let prefix = layout.packedPrefix
        let store = cold.store
        let listed = try await cold.blob("list packed objects", key: prefix, topic: nil) {
            try await store.listAll(prefix: prefix)
        }
        report.objectsListed += listed.count
        var present: [String: BlobInfo] = [:]
        for object in listed {
            guard layout.isPackedKey(object.key) else {
                report.findings.append(
                    ScrubFinding(
                        topic: "-", key: object.key, kind: .unknownObject, what: "not a packed object key; left alone",
                        sizeBytes: object.size, modifiedMs: object.modifiedMs))
                continue
            }
            present[object.key] = object
        }
        try await reportPackedMissing(packed.required, present: present, report: &report)
        guard !packed.undecidable else { return }
        let orphans = present.values.filter { !packed.referenced.contains($0.key) }.sorted { $0.key < $1.key }
        for object in orphans {
            report.findings.append(
                ScrubFinding(
                    topic: "-", key: object.key, kind: .orphanObject,
                    what: "packed object no manifest version, archive or local copy of any log references",
                    sizeBytes: object.size, modifiedMs: object.modifiedMs))
        }
        guard deleteOrphans, !orphans.isEmpty else { return }
        let candidates = olderThanGrace(orphans, graceMs: graceMs, report: &report)
        guard !candidates.isEmpty else { return }
        // Read every log's manifests again: a commit since the first reading keeps its object.
        var fresh = PackedScrubState()
        for log in logs {
            var scratch = ScrubReport()
            fresh.merge(try await scrubReferences(log, graceMs: graceMs, report: &scratch))
        }
        guard !fresh.undecidable else {
            report.kept += candidates
            return
        }
        let victims = candidates.filter { !fresh.referenced.contains($0) }
        report.kept += candidates.filter { fresh.referenced.contains($0) }
        report.deleted += try await deleteInBatches(victims, what: "delete packed orphans", topic: nil)
    }

    /// Deletes `keys` in batches of `scrubDeleteBatchMax`; returns them once all are deleted
    /// (a failed batch throws, and the keys of earlier batches are gone).
    private func deleteInBatches(_ keys: [String], what: String, topic: String?) async throws(StrataError) -> [String] {
        let store = cold.store
        var start = 0
        while start < keys.count {
            let chunk = Array(keys[start ..< min(keys.count, start + Self.scrubDeleteBatchMax)])
            try await cold.blob(what, key: chunk.first, topic: topic) { try await store.delete(chunk) }
            start += chunk.count
        }
        return keys
    }

    /// Needed packed objects that are missing (confirmed with `head`) or shorter than a slice.
    private func reportPackedMissing(
        _ required: [String: Int64], present: [String: BlobInfo], report: inout ScrubReport
    ) async throws(StrataError) {
        let store = cold.store
        for (key, end) in required.sorted(by: { $0.key < $1.key }) {
            if let object = present[key] {
                guard object.size < end else { continue }
                report.findings.append(
                    ScrubFinding(
                        topic: "-", key: key, kind: .sizeMismatch,
                        what: "\(object.size) bytes in the store, a manifest's slice ends at \(end) (truncated)",
                        sizeBytes: object.size, modifiedMs: object.modifiedMs))
                continue
            }
            do {
                _ = try await cold.blob("head packed object", key: key, topic: nil) { try await store.head(key) }
            } catch where error.code == .notFound {
                report.findings.append(
                    ScrubFinding(
                        topic: "-", key: key, kind: .missingObject,
                        what: "a newest manifest has slices in it but it is not in \(cold.location)"))
            }
        }
    }
}
