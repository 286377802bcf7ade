import Dispatch
import StrataBlob

/// One thing `Lake.verify` found wrong: which topic, which file or object, where in it, what.
public struct VerifyProblem: Sendable, Hashable, CustomStringConvertible {
    /// What kind of damage; tells the operator what to do next.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A hot segment's file header is damaged.
        case corruptHeader
        /// A record batch fails its CRC32C or does not decode.
        case corruptBatch
        /// The active segment ends in a partial batch (a crash leftover: the next open cuts it;
        /// never acknowledged, so a warning).
        case tornTail
        /// A cold object's data frame fails to decompress, its zstd checksum or its batches.
        case corruptFrame
        /// A cold object's footer (Strata index frame or zstd seek table) is damaged.
        case badFooter
        /// A sparse index disagrees with its segment. Indexes are rebuilt from segments, so this
        /// is a warning, not corruption.
        case badIndex
        /// Offsets are missing between two batches, segments, objects or tiers.
        case offsetGap
        /// Two batches, segments, objects or tiers claim the same offsets.
        case offsetOverlap
        /// A manifest (or archive manifest) does not decode, or disagrees with an object.
        case manifestInconsistent
        /// The manifest lists an object (or archive) the store does not have.
        case missingObject
        /// A segment held in both tiers differs between them.
        case tierMismatch
        /// The lake's local copy of the manifest is newer than every manifest in the cold store:
        /// the cold store lost its latest manifest (or the lake points at the wrong store).
        case missingManifest
        /// The local copy of the manifest is older than the cold store's latest (a crash between
        /// a commit and saving the copy; the next offload refreshes it), so a warning.
        case staleManifestCopy
        /// The cold store could not be read (after retries): the cold tier was not checked, the
        /// hot tier was.
        case coldUnreachable
        /// A file of a topic's table (`tables/<topic>/`: metadata, manifest list, manifest, Parquet
        /// data file) does not decode: footer, pages (zstd checksum), rows (TableVerify.swift).
        case corruptTableFile
        /// The table's newest metadata references a file the store does not have.
        case missingTableFile
        /// The table disagrees with itself or with the cold manifest: a length or row count other
        /// than recorded, overlapping files, a table end past the manifest's, rows missing.
        case tableInconsistent
        /// A lake journal file is damaged where recovery would refuse the open (formats/journal.md).
        case corruptJournal
        /// A read-only lake found journal files a writer has not replayed yet: the segments may
        /// lack records the journal holds (a writer's open replays them), so a warning.
        case pendingJournal
        /// A topic catalog file is damaged where recovery would refuse the open, or its records
        /// contradict each other (formats/catalog.md).
        case corruptCatalog
        /// An encrypted cold object's key id is not in the key ring given (formats/keys.md): its
        /// frames were not checked. Not damage: verify again with the key.
        case missingKey
    }

    public var topic: String
    /// A hot file path or a cold object key.
    public var location: String
    /// Byte position in `location` (batch or frame start, or the field at fault); nil when the
    /// problem is the whole file or object.
    public var position: Int?
    public var what: String
    public var kind: Kind

    public init(topic: String, location: String, position: Int?, what: String, kind: Kind) {
        self.topic = topic
        self.location = location
        self.position = position
        self.what = what
        self.kind = kind
    }

    /// Warnings (rebuildable indexes, torn tails of the active segment) lose no data.
    public var isWarning: Bool {
        kind == .badIndex || kind == .tornTail || kind == .staleManifestCopy || kind == .pendingJournal
    }

    /// `topic location position kind: what`, the line `strata inspect verify` prints.
    public var description: String {
        "\(topic) \(location) \(position.map(String.init) ?? "-") \(kind.rawValue): \(what)"
    }
}

/// What `Lake.verify` checked and found.
public struct VerifyReport: Sendable {
    /// Every problem found, in the order found (hot tier, then cold tier, per topic).
    public var problems: [VerifyProblem] = []
    public var topicsChecked = 0
    /// Hot segment files read in full.
    public var segmentsChecked = 0
    /// Cold objects read in full.
    public var objectsChecked = 0
    /// Manifests and archive manifests read.
    public var manifestsChecked = 0
    public var batchesChecked = 0
    public var recordsChecked: Int64 = 0
    /// Bytes read: hot files as stored, cold objects as stored (compressed), table data files.
    public var bytesChecked: Int64 = 0
    /// Table files read: metadata, manifests and Parquet data files (TableVerify.swift).
    public var tableFilesChecked = 0
    /// Rows of table data files decoded.
    public var tableRowsChecked: Int64 = 0

    public init() {}

    /// Problems that are not warnings.
    public var errors: [VerifyProblem] { problems.filter { !$0.isWarning } }
    /// True when nothing but warnings was found.
    public var isClean: Bool { errors.isEmpty }

    mutating func add(_ problem: VerifyProblem) { problems.append(problem) }

    mutating func merge(_ other: VerifyReport) {
        problems += other.problems
        topicsChecked += other.topicsChecked
        segmentsChecked += other.segmentsChecked
        objectsChecked += other.objectsChecked
        manifestsChecked += other.manifestsChecked
        batchesChecked += other.batchesChecked
        recordsChecked += other.recordsChecked
        bytesChecked += other.bytesChecked
        tableFilesChecked += other.tableFilesChecked
        tableRowsChecked += other.tableRowsChecked
    }
}

/// Where `Lake.verify` is: reported before each file or object it reads.
public struct VerifyProgress: Sendable {
    public var topic: String
    /// The hot file path or cold object key about to be read.
    public var location: String
    /// Counters so far.
    public var report: VerifyReport
}

extension Lake {
    /// Reads every hot segment and every cold object of the lake (or of one topic) and checks
    /// every byte: segment headers, batch CRCs and records, sparse indexes against a rebuild,
    /// zstd frames (content checksums), cold footers against their manifest entries, manifests
    /// and archive manifests, and offset continuity within segments, across segments, across
    /// cold objects and across the cold→hot boundary; then each topic's table (`verifyTable`:
    /// metadata, manifests, every data file's rows, row counts against the cold manifests). It
    /// collects problems instead of stopping
    /// at the first, and it changes nothing (no topic is opened, no index rewritten).
    ///
    /// Cold objects are fetched whole from the store, bypassing the frame cache, so the bytes
    /// checked are the bytes stored.
    /// - Parameters:
    ///   - topic: one topic, or every topic (local or cold) when nil.
    ///   - progress: called before each file or object is read.
    /// - Returns: the problems found and what was checked.
    /// - Throws: `notFound` for an unknown topic; `invalidArgument` for a bad name; `io` when the
    ///   lake directory or the cold store cannot be read at all (after retries).
    public func verify(
        topic: String? = nil, progress: (@Sendable (VerifyProgress) -> Void)? = nil
    ) async throws(StrataError) -> VerifyReport {
        var unreachable: StrataError? = nil
        let names = try await verifyTopicNames(topic, unreachable: &unreachable)
        var report = VerifyReport()
        var packIndexes = PackIndexCache()
        for name in names {
            let hot = try verifyHot(topic: name, progress: progress, base: report)
            report.merge(hot.report)
            report.topicsChecked += 1
            // A cold outage must not hide what the hot tier holds (issue 12 item 4).
            guard unreachable == nil else { continue }
            do throws(StrataError) {
                let cold = try await verifyCold(
                    topic: name, progress: progress, base: report, packIndexes: &packIndexes)
                report.merge(cold.report)
                report.merge(verifyBoundary(topic: name, hot: hot.segments, cold: cold.segments))
            } catch  where error.code == .io {
                unreachable = error
            }
        }
        // Each topic's table once, after its logs (the writer follows the cold tier).
        for table in Self.tableTopics(ofLogs: names) where unreachable == nil {
            do throws(StrataError) {
                report.merge(try await verifyTable(topic: table, progress: progress, base: report))
            } catch  where error.code == .io {
                unreachable = error
            }
        }
        if topic == nil {
            report.merge(try verifyJournal())
            report.merge(try verifyCatalog())
        }
        if let unreachable {
            report.add(
                VerifyProblem(
                    topic: topic ?? "-", location: cold.location, position: nil,
                    what: "cold store unreachable, cold tier not checked: \(unreachable.message)",
                    kind: .coldUnreachable))
        }
        return report
    }

    /// The logs to verify: every partition of `topic` (a topic name), `topic` alone (a log name,
    /// `orders/3`), or every local and cold log (only the local ones, with `unreachable` set,
    /// when the cold store cannot be listed). The one asked for must exist in one tier.
    private func verifyTopicNames(
        _ topic: String?, unreachable: inout StrataError?
    ) async throws(StrataError) -> [String] {
        let asked = try topic.map { (name) throws(StrataError) in try validateLogName(name) }
        let local = try logNames()
        var cold: [String] = []
        do throws(StrataError) { cold = try await self.cold.logNames() } catch  where error.code == .io {
            // A topic that is not local can only be checked in the store.
            if let asked, !local.contains(where: { Self.log($0, isIn: asked) }) { throw error }
            unreachable = error
        }
        let all = Set(local).union(cold).compactMap { try? LogName.parse($0) }.sorted().map(\.description)
        guard let asked, let topic else { return all }
        let chosen = all.filter { Self.log($0, isIn: asked) }
        guard !chosen.isEmpty else {
            throw StrataError(
                .notFound, "topic '\(topic)' does not exist in \(path) nor in \(self.cold.location)", topic: topic)
        }
        return chosen
    }

    /// Whether log `name` is what `asked` names: the log itself, or (for a topic name, which
    /// parses as partition 0 and has no `/`) any partition of that topic.
    private static func log(_ name: String, isIn asked: LogName) -> Bool {
        guard asked.partition == 0, !asked.description.contains("/") else { return name == asked.description }
        return name == asked.topic || name.hasPrefix(asked.topic + "/")
    }
}

// MARK: - Hot tier

/// What verify learnt about one hot segment file, for the cross-tier checks.
struct VerifiedHotSegment: Sendable {
    var path: String
    var baseOffset: Int64
    /// One past the last valid record (the scan's end).
    var nextOffset: Int64
    var rawCrc32c: UInt32
    var bytes: Int
    /// The whole file checked clean.
    var clean: Bool
}

extension Lake {
    /// Checks every `.seg` file of the topic directory, read straight from disk.
    func verifyHot(
        topic: String, progress: (@Sendable (VerifyProgress) -> Void)?, base: VerifyReport
    ) throws(StrataError) -> (report: VerifyReport, segments: [VerifiedHotSegment]) {
        var report = VerifyReport()
        var segments: [VerifiedHotSegment] = []
        let directory = paths.topicDirectory(topic)
        guard FileIO.exists(directory) else { return (report, []) }
        let bases = try FileIO.listDirectory(directory).compactMap(LakePaths.segmentBaseOffset(fileName:)).sorted()
        for (i, baseOffset) in bases.enumerated() {
            let path = paths.segment(topic, baseOffset: baseOffset)
            progress?(VerifyProgress(topic: topic, location: path, report: mergedCounters(base, report)))
            let bytes: [UInt8]
            do throws(StrataError) { bytes = try FileIO.readWholeFile(path) } catch  where error.code == .notFound {
                continue  // evicted while we listed: the cold tier holds it now
            }
            let isActive = i == bases.count - 1
            var check = HotSegmentCheck(topic: topic, path: path, baseOffset: baseOffset, isActive: isActive)
            let segment = check.run(bytes)
            if !isActive { check.checkIndex(paths.index(topic, baseOffset: baseOffset), segmentBytes: bytes.count) }
            if let previous = segments.last {
                report.add(
                    contentsOf: continuity(
                        topic: topic, previousEnd: previous.nextOffset, nextBase: baseOffset,
                        location: path, position: 8, what: "after \(previous.path)"))
            }
            report.merge(check.report)
            report.segmentsChecked += 1
            report.bytesChecked += Int64(bytes.count)
            segments.append(segment)
        }
        return (report, segments)
    }

    /// Cross-tier checks: the hot log must start inside or right after the cold log, and a
    /// segment held in both tiers must be the same bytes.
    func verifyBoundary(topic: String, hot: [VerifiedHotSegment], cold: [ManifestSegment]) -> VerifyReport {
        var report = VerifyReport()
        guard let firstHot = hot.first, let lastCold = cold.last else { return report }
        let coldEnd = lastCold.lastOffset + 1
        if firstHot.baseOffset > coldEnd {
            report.add(
                VerifyProblem(
                    topic: topic, location: firstHot.path, position: 8,
                    what:
                        "offsets \(coldEnd)..<\(firstHot.baseOffset) are in neither tier: the cold log ends at "
                        + "\(coldEnd), the hot log starts at \(firstHot.baseOffset)",
                    kind: .offsetGap))
        }
        let coldByBase = Dictionary(cold.map { ($0.baseOffset, $0) }, uniquingKeysWith: { a, _ in a })
        for segment in hot where segment.baseOffset < coldEnd && segment.clean {
            guard let entry = coldByBase[segment.baseOffset] else {
                report.add(
                    VerifyProblem(
                        topic: topic, location: segment.path, position: nil,
                        what:
                            "segment starts at \(segment.baseOffset), inside the cold tier but not at a cold object's "
                            + "start",
                        kind: .tierMismatch))
                continue
            }
            if entry.lastOffset + 1 != segment.nextOffset || entry.rawCrc32c != segment.rawCrc32c
                || entry.rawBytes != Int64(segment.bytes)
            {
                report.add(
                    VerifyProblem(
                        topic: topic, location: segment.path, position: nil,
                        what:
                            "hot copy (offsets ..<\(segment.nextOffset), \(segment.bytes) bytes, crc32c "
                            + "0x\(String(segment.rawCrc32c, radix: 16))) differs from cold object \(entry.key) "
                            + "(..<\(entry.lastOffset + 1), \(entry.rawBytes) bytes, crc32c "
                            + "0x\(String(entry.rawCrc32c, radix: 16)))",
                        kind: .tierMismatch))
            }
        }
        return report
    }
}

/// A gap or an overlap between the end of one run of offsets and the start of the next.
func continuity(
    topic: String, previousEnd: Int64, nextBase: Int64, location: String, position: Int?, what: String
) -> [VerifyProblem] {
    if nextBase > previousEnd {
        return [
            VerifyProblem(
                topic: topic, location: location, position: position,
                what: "offsets \(previousEnd)..<\(nextBase) are missing (\(what))", kind: .offsetGap)
        ]
    }
    if nextBase < previousEnd {
        return [
            VerifyProblem(
                topic: topic, location: location, position: position,
                what: "starts at offset \(nextBase), but offsets up to \(previousEnd - 1) came before (\(what))",
                kind: .offsetOverlap)
        ]
    }
    return []
}

/// Counters of `a` and `b` together (for progress reports).
func mergedCounters(_ a: VerifyReport, _ b: VerifyReport) -> VerifyReport {
    var merged = a
    merged.merge(b)
    merged.problems = []
    return merged
}

extension VerifyReport {
    mutating func add(contentsOf problems: [VerifyProblem]) { self.problems += problems }
}

/// The checks of one hot segment file: header, every batch (CRC and records), offset
/// continuity inside it, and its sparse index against a rebuild. Pure over the file's bytes.
struct HotSegmentCheck {
    let topic: String
    let path: String
    let baseOffset: Int64
    let isActive: Bool
    var report = VerifyReport()
    /// Every batch that checked, for the index rebuild.
    private var batches: [ScannedBatch] = []
    private var clean = true

    init(topic: String, path: String, baseOffset: Int64, isActive: Bool) {
        self.topic = topic
        self.path = path
        self.baseOffset = baseOffset
        self.isActive = isActive
    }

    mutating func problem(_ position: Int?, _ what: String, _ kind: VerifyProblem.Kind) {
        report.add(VerifyProblem(topic: topic, location: path, position: position, what: what, kind: kind))
        if kind != .badIndex { clean = false }
    }

    /// Scans the whole file; after a damaged batch whose header still gives its length, it
    /// resumes after it so one flipped byte does not hide the rest of the segment.
    mutating func run(_ bytes: [UInt8]) -> VerifiedHotSegment {
        let next = bytes.withUnsafeBytes { raw in scanAll(raw) }
        return VerifiedHotSegment(
            path: path, baseOffset: baseOffset, nextOffset: next, rawCrc32c: CRC32C.checksum(bytes),
            bytes: bytes.count, clean: clean)
    }

    private mutating func scanAll(_ raw: UnsafeRawBufferPointer) -> Int64 {
        // A crash while rolling leaves the new active file shorter than its header; it never
        // held an acknowledged record and opening the topic recreates it (SegmentLoader.openActive).
        if isActive && raw.count < SegmentHeader.size {
            problem(
                0, "the active segment has a torn header (\(raw.count) bytes); opening the topic recreates it",
                .tornTail)
            return baseOffset
        }
        let header: SegmentHeader
        do throws(FormatError) { header = try SegmentHeader.decode(raw) } catch {
            problem(error.position, "segment header: \(error)", .corruptHeader)
            return baseOffset
        }
        if header.baseOffset != baseOffset {
            problem(8, "header says base offset \(header.baseOffset), the file name says \(baseOffset)", .corruptHeader)
        }
        var position = SegmentHeader.size
        var expected = baseOffset
        while position < raw.count {
            let scan = SegmentScanner.scan(raw, from: position, expectedOffset: expected)
            for batch in scan.batches { decodeRecords(raw, batch) }
            batches += scan.batches
            guard let stop = scan.stopError else { return scan.nextOffset }
            guard let next = resume(raw, after: stop, at: scan.validEnd, expected: scan.nextOffset) else {
                return scan.nextOffset
            }
            (position, expected) = next
        }
        return expected
    }

    /// Reports why a scan stopped and returns where to resume (nil: the rest is unreadable).
    private mutating func resume(
        _ raw: UnsafeRawBufferPointer, after stop: FormatError, at batchStart: Int, expected: Int64
    ) -> (Int, Int64)? {
        let header = try? BatchCodec.parseHeader(raw, at: batchStart)
        if stop.field == "batch.baseOffset", let header {
            problem(
                batchStart, "batch starts at offset \(header.baseOffset), expected \(expected)",
                header.baseOffset > expected ? .offsetGap : .offsetOverlap)
            return (batchStart, header.baseOffset)
        }
        let rest = raw.count - batchStart
        // Only a tail holding no later valid batch is torn; corruption followed by valid batches
        // is never cut (formats/segment.md).
        if isActive, case .torn = SegmentScanner.classifyTail(raw, at: batchStart, expectedOffset: expected) {
            problem(
                batchStart,
                "the active segment ends in \(rest) bytes that hold no valid batch (a torn write); opening the topic "
                    + "moves them into quarantine/",
                .tornTail)
            return nil
        }
        guard let header, header.batchLength <= rest else {
            problem(
                batchStart, "batch at offset \(expected): \(stop); the remaining \(rest) bytes cannot be checked",
                .corruptBatch)
            return nil
        }
        problem(batchStart, "batch at offsets \(header.baseOffset)...\(header.lastOffset): \(stop)", .corruptBatch)
        return (batchStart + header.batchLength, header.nextOffset)
    }

    /// Decodes every record of a batch whose CRC checked (catches a writer that checksummed
    /// bad records).
    private mutating func decodeRecords(_ raw: UnsafeRawBufferPointer, _ batch: ScannedBatch) {
        do throws(FormatError) {
            let decoded = try BatchCodec.decode(raw, at: batch.position)
            report.batchesChecked += 1
            report.recordsChecked += Int64(decoded.records.count)
        } catch {
            problem(
                batch.position, "batch at offsets \(batch.header.baseOffset)...\(batch.header.lastOffset): \(error)",
                .corruptBatch)
        }
    }

    /// Compares the `.idx` file with the index rebuilt from the batches (only when the segment
    /// scanned clean: a rebuild from a damaged segment proves nothing).
    mutating func checkIndex(_ indexPath: String, segmentBytes: Int) {
        guard clean else { return }
        let bytes: [UInt8]
        do throws(StrataError) { bytes = try FileIO.readWholeFile(indexPath) } catch {
            indexProblem(
                indexPath, nil, "sealed segment has no readable index (\(error.message)); it is rebuilt on open")
            return
        }
        let decoded = withBytesResult(bytes) { (raw) throws(FormatError) in
            try SparseIndex.decode(raw, expectedBaseOffset: baseOffset, segmentBytes: segmentBytes)
        }
        switch decoded {
        case .failure(let error):
            indexProblem(indexPath, error.position, "\(error); it is rebuilt on open")
        case .success(let index):
            var rebuilt = SparseIndex(baseOffset: baseOffset, intervalBytes: index.intervalBytes)
            for batch in batches { rebuilt.add(batch.header, position: batch.position) }
            if let difference = Self.difference(index, rebuilt) {
                indexProblem(indexPath, nil, "index disagrees with its segment: \(difference)")
            }
        }
    }

    private mutating func indexProblem(_ indexPath: String, _ position: Int?, _ what: String) {
        report.add(VerifyProblem(topic: topic, location: indexPath, position: position, what: what, kind: .badIndex))
    }

    static func difference(_ stored: SparseIndex, _ rebuilt: SparseIndex) -> String? {
        if stored.nextOffset != rebuilt.nextOffset {
            return "next offset \(stored.nextOffset), segment ends at \(rebuilt.nextOffset)"
        }
        if stored.firstTimestamp != rebuilt.firstTimestamp || stored.maxTimestamp != rebuilt.maxTimestamp {
            return
                "timestamps \(stored.firstTimestamp)...\(stored.maxTimestamp), segment has "
                + "\(rebuilt.firstTimestamp)...\(rebuilt.maxTimestamp)"
        }
        if stored.offsetEntries != rebuilt.offsetEntries { return "offset entries differ from a rebuild" }
        if stored.timeEntries != rebuilt.timeEntries { return "time entries differ from a rebuild" }
        return nil
    }
}

// MARK: - Cold tier

extension Lake {
    /// Checks every manifest version, the archives of the newest one, and every object it lists.
    /// Returns the cold segments (oldest first) for the cross-tier checks. `packIndexes` is
    /// shared by the whole verify run, so a packed object's pack index is read once, not once
    /// per log with a slice in it.
    func verifyCold(
        topic: String, progress: (@Sendable (VerifyProgress) -> Void)?, base: VerifyReport,
        packIndexes: inout PackIndexCache
    ) async throws(StrataError) -> (report: VerifyReport, segments: [ManifestSegment]) {
        var report = VerifyReport()
        let chain = try await verifyManifests(topic: topic, report: &report)
        verifyLocalCopy(topic: topic, chain: chain, report: &report)
        guard let manifest = chain.newest else { return (report, []) }
        let segments = try await verifyArchives(manifest, report: &report) + manifest.segments
        var previous: ManifestSegment? = nil
        for entry in segments {
            let blobKey = cold.layout.absolute(entry.key)
            // A slice of a packed object is checked as the object it is, named `<key>@<offset>`.
            let key = entry.isPacked ? "\(blobKey)@\(entry.objectStart)" : blobKey
            progress?(VerifyProgress(topic: topic, location: key, report: mergedCounters(base, report)))
            if let previous {
                report.add(
                    contentsOf: continuity(
                        topic: topic, previousEnd: previous.lastOffset + 1, nextBase: entry.baseOffset,
                        location: key, position: nil, what: "after cold object \(previous.key)"))
            }
            previous = entry
            if entry.isPacked {
                let cached: PackIndexCache.Entry
                if let hit = packIndexes.entries[blobKey] {
                    cached = hit
                    // A damaged or missing pack index is a problem of every log with a slice there.
                    for problem in hit.problems {
                        var mine = problem
                        mine.topic = topic
                        report.add(mine)
                    }
                } else {
                    var found = VerifyReport()
                    let index = try await verifyPackIndex(blobKey, topic: topic, report: &found)
                    cached = PackIndexCache.Entry(index: index, problems: found.problems)
                    packIndexes.insert(blobKey, cached)
                    report.merge(found)
                }
                if let pack = cached.index {
                    verifySliceEntry(entry, in: pack, key: key, topic: topic, report: &report)
                }
            }
            guard
                let object = try await fetchForVerify(
                    blobKey, topic: topic, what: "get object", range: entry.blobRange, report: &report)
            else {
                continue
            }
            report.merge(await Self.checkOffPool(object, entry: entry, key: key, topic: topic, keys: cold.keys))
            report.objectsChecked += 1
            report.bytesChecked += Int64(object.count)
        }
        return (report, segments)
    }

    /// Decodes every manifest version of the topic.
    private func verifyManifests(
        topic: String, report: inout VerifyReport
    ) async throws(StrataError) -> VerifiedManifests {
        let prefix = cold.layout.manifestPrefix(topic: topic)
        let store = cold.store
        let listed = try await cold.blob("list manifests", key: prefix, topic: topic) {
            try await store.listAll(prefix: prefix)
        }
        var versions: [(UInt64, String)] = []
        for object in listed {
            if let version = try? cold.layout.parseManifestKey(object.key, topic: topic) {
                versions.append((version, object.key))
            }
        }
        var chain = VerifiedManifests(newestListed: versions.map(\.0).max())
        for (version, key) in versions.sorted(by: { $0.0 > $1.0 }) {
            guard let bytes = try await fetchForVerify(key, topic: topic, what: "get manifest", report: &report) else {
                continue
            }
            report.manifestsChecked += 1
            report.bytesChecked += Int64(bytes.count)
            do throws(FormatError) {
                let manifest = try Manifest.decode(bytes, expectedTopic: topic, expectedVersion: version)
                if chain.newest == nil { chain.newest = manifest }
                chain.decoded[version] = manifest
            } catch {
                report.add(
                    VerifyProblem(
                        topic: topic, location: key, position: nil, what: "manifest v\(version): \(error)",
                        kind: .manifestInconsistent))
            }
        }
        return chain
    }

    /// Reads and checks the archives `manifest` references; returns their segments in order.
    private func verifyArchives(
        _ manifest: Manifest, report: inout VerifyReport
    ) async throws(StrataError) -> [ManifestSegment] {
        var segments: [ManifestSegment] = []
        let topic = manifest.topic
        for reference in manifest.archives {
            let key = cold.layout.absolute(reference.key)
            guard let bytes = try await fetchForVerify(key, topic: topic, what: "get archive manifest", report: &report)
            else {
                continue
            }
            report.manifestsChecked += 1
            report.bytesChecked += Int64(bytes.count)
            do throws(FormatError) {
                segments += try ArchiveManifest.decode(bytes, topic: topic, reference: reference).segments
            } catch {
                report.add(
                    VerifyProblem(
                        topic: topic, location: key, position: nil,
                        what: "archive manifest (offsets \(reference.baseOffset)...\(reference.lastOffset)): \(error)",
                        kind: .manifestInconsistent))
            }
        }
        return segments
    }

    /// The whole object straight from the store (no cache); nil, with a `missingObject`
    /// problem, when it does not exist.
    private func fetchForVerify(
        _ key: String, topic: String, what: String, range: ByteRange = .whole, report: inout VerifyReport
    ) async throws(StrataError) -> [UInt8]? {
        let store = cold.store
        do {
            return try await cold.blob(what, key: key, topic: topic) { try await store.get(key, range: range) }.bytes
        } catch  where error.code == .notFound {
            report.add(
                VerifyProblem(
                    topic: topic, location: key, position: nil,
                    what: "listed by the manifest but not in the store (\(cold.location))", kind: .missingObject))
            return nil
        }
    }

    /// The pack index of the packed object `key` (suffix reads, no cache); nil, with a problem,
    /// when it is missing or damaged.
    private func verifyPackIndex(
        _ key: String, topic: String, report: inout VerifyReport
    ) async throws(StrataError) -> PackIndex? {
        switch try await cold.readPackIndex(key, topic: topic, bytesRead: &report.bytesChecked) {
        case .found(let pack): return pack
        case .missing:
            report.add(
                VerifyProblem(
                    topic: topic, location: key, position: nil,
                    what: "packed object listed by the manifest but not in the store (\(cold.location))",
                    kind: .missingObject))
        case .damaged(let error):
            report.add(
                VerifyProblem(
                    topic: topic, location: key, position: error.position, what: "pack index: \(error)",
                    kind: .badFooter))
        }
        return nil
    }

    /// The pack index must list the manifest's slice as the manifest does.
    private func verifySliceEntry(
        _ entry: ManifestSegment, in pack: PackIndex, key: String, topic: String, report: inout VerifyReport
    ) {
        let slice = pack.slice(log: topic, baseOffset: entry.baseOffset)
        guard let slice, slice.lastOffset == entry.lastOffset, slice.sliceOffset == entry.objectStart,
            slice.sliceBytes == entry.objectBytes, slice.rawCrc32c == entry.rawCrc32c
        else {
            let found = slice.map {
                "\($0.baseOffset)...\($0.lastOffset) at \($0.sliceOffset) (\($0.sliceBytes) bytes, crc "
                    + "0x\(String($0.rawCrc32c, radix: 16)))"
            } ?? "no slice of \(topic) at \(entry.baseOffset)"
            report.add(
                VerifyProblem(
                    topic: topic, location: key, position: nil,
                    what: "the pack index disagrees with the manifest entry \(entry.baseOffset)...\(entry.lastOffset) "
                        + "at \(entry.objectStart) (\(entry.objectBytes) bytes): it lists \(found)",
                    kind: .manifestInconsistent))
            return
        }
    }

    /// Decompression is CPU work: keep it off the two-thread cooperative pool.
    private static func checkOffPool(
        _ object: [UInt8], entry: ManifestSegment, key: String, topic: String, keys: ColdKeyRing?
    ) async -> VerifyReport {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    returning: ColdObjectCheck.run(object, entry: entry, key: key, topic: topic, keys: keys))
            }
        }
    }
}

/// Pack indexes read by one verify run, by packed object key, so each is read once per run (a
/// packed object holds slices of up to 4,096 logs). Bounded: past `objectsMax` objects the
/// oldest entry is dropped (and read again if a later log needs it).
struct PackIndexCache {
    struct Entry {
        /// nil when the pack index is missing or damaged (`problems` says how).
        var index: PackIndex?
        var problems: [VerifyProblem]
    }

    static let objectsMax = 1_024
    private(set) var entries: [String: Entry] = [:]
    private var order: [String] = []
    private var dropped = 0

    mutating func insert(_ key: String, _ entry: Entry) {
        if entries.updateValue(entry, forKey: key) == nil { order.append(key) }
        while entries.count > Self.objectsMax, dropped < order.count {
            entries[order[dropped]] = nil
            dropped += 1
        }
        if dropped > Self.objectsMax {
            order.removeFirst(dropped)
            dropped = 0
        }
    }
}

/// The checks of one whole cold object: size, footer, footer against the manifest entry, every
/// frame (zstd checksum, batch CRCs, records), offset continuity between frames and the CRC of
/// the segment the frames rebuild. Pure over the object's bytes.
struct ColdObjectCheck {
    let topic: String
    let key: String
    /// Opens the frames of encrypted objects.
    var keys: ColdKeyRing? = nil
    var report = VerifyReport()

    mutating func problem(_ position: Int?, _ what: String, _ kind: VerifyProblem.Kind) {
        report.add(VerifyProblem(topic: topic, location: key, position: position, what: what, kind: kind))
    }

    static func run(
        _ object: [UInt8], entry: ManifestSegment, key: String, topic: String, keys: ColdKeyRing? = nil
    ) -> VerifyReport {
        var check = ColdObjectCheck(topic: topic, key: key, keys: keys)
        if Int64(object.count) != entry.objectBytes {
            check.problem(
                nil, "object is \(object.count) bytes, the manifest says \(entry.objectBytes)", .manifestInconsistent)
        }
        let index: ColdObjectIndex
        do throws(FormatError) { index = try ColdObjectFooter.parse(object: object) } catch {
            check.problem(error.position, "footer: \(error)", .badFooter)
            return check.report
        }
        check.compare(index, with: entry)
        object.withUnsafeBytes { raw in check.checkFrames(raw, index: index) }
        return check.report
    }

    /// The footer must say what the manifest entry says.
    mutating func compare(_ index: ColdObjectIndex, with entry: ManifestSegment) {
        var differences: [String] = []
        func differ<T: Equatable>(_ name: String, _ footer: T, _ manifest: T) {
            if footer != manifest { differences.append("\(name) \(footer) vs \(manifest)") }
        }
        differ("topic", index.topic, topic)
        differ("baseOffset", index.baseOffset, entry.baseOffset)
        differ("lastOffset", index.lastOffset, entry.lastOffset)
        differ("recordCount", index.recordCount, entry.recordCount)
        differ("firstTimestamp", index.firstTimestamp, entry.firstTimestamp)
        differ("maxTimestamp", index.maxTimestamp, entry.maxTimestamp)
        differ("rawBytes", Int64(index.rawBytes), entry.rawBytes)
        differ("rawCrc32c", index.rawCrc32c, entry.rawCrc32c)
        differ("frameCount", index.frames.count, entry.frameCount)
        if !differences.isEmpty {
            problem(
                index.indexFrameOffset,
                "footer disagrees with the manifest entry (footer vs manifest): "
                    + differences.joined(separator: ", "), .manifestInconsistent)
        }
    }

    /// Decodes every frame (frames are independent, so one bad frame does not stop the rest).
    mutating func checkFrames(_ raw: UnsafeRawBufferPointer, index: ColdObjectIndex) {
        var crc: UInt32 = 0
        var rawBytes = 0
        var intact = true
        var expected = index.baseOffset
        if let encryption = index.encryption, keys?.ids.contains(encryption.keyId) != true {
            // Not damage: the frames cannot be opened here; say which key would open them.
            let held = keys.map { "the key ring holds \($0.ids.joined(separator: ", "))" } ?? "no key ring was given"
            problem(
                index.indexFrameOffset,
                "encrypted with key id '\(encryption.keyId)', which is not in the key ring (\(held)): its "
                    + "\(index.frames.count) frames were not checked", .missingKey)
            return
        }
        for frame in index.frames {
            if frame.firstOffset != expected {
                problem(
                    frame.objectOffset,
                    "frame \(frame.frameNumber) starts at offset \(frame.firstOffset), expected \(expected)",
                    frame.firstOffset > expected ? .offsetGap : .offsetOverlap)
            }
            expected = frame.lastOffset + 1
            do throws(FormatError) {
                let content = try ColdObject.decodeFrame(
                    UnsafeRawBufferPointer(rebasing: raw[frame.objectRange]), frame: frame, keys: keys)
                try countRecords(content, frame: frame)
                crc = CRC32C.checksum(content, continuing: crc)
                rawBytes += content.count
            } catch {
                intact = false
                // decodeFrame already starts its message with the frame number.
                let label = "frame \(frame.frameNumber): "
                let message =
                    error.message.hasPrefix(label) ? String(error.message.dropFirst(label.count)) : error.message
                problem(
                    frame.objectOffset,
                    "frame \(frame.frameNumber) (offsets \(frame.firstOffset)...\(frame.lastOffset)): "
                        + "\(error.code.rawValue) in \(error.field) at byte \(error.position): \(message)",
                    .corruptFrame)
            }
        }
        if expected != index.lastOffset + 1 {
            problem(
                index.indexFrameOffset, "frames end at offset \(expected - 1), the footer says \(index.lastOffset)",
                .badFooter)
        }
        guard intact else { return }
        if crc != index.rawCrc32c || rawBytes != index.rawBytes {
            problem(
                index.indexFrameOffset,
                "frames rebuild \(rawBytes) bytes with crc32c 0x\(String(crc, radix: 16)), "
                    + "the footer says \(index.rawBytes) bytes, 0x\(String(index.rawCrc32c, radix: 16))", .badFooter)
        }
    }

    /// Checks every record of the frame's batches against the rules `BatchCodec.decode`
    /// enforces, in place: `decodeFrame` checked each batch's header and CRC already, so neither
    /// is checked again and no record is copied out (issue 17: each byte checked once).
    private mutating func countRecords(_ content: [UInt8], frame: ColdFrame) throws(FormatError) {
        let start = frame.rawOffset == 0 ? SegmentHeader.size : 0
        let (batches, records) = try withBytes(content) { (buffer) throws(FormatError) -> (Int, Int64) in
            var at = start
            var counts = (0, Int64(0))
            while at < buffer.count {
                let header = try BatchCodec.parseHeader(buffer, at: at, basePosition: frame.rawOffset)
                guard header.batchLength <= buffer.count - at else {
                    throw FormatError(
                        .truncated, field: "batch", position: frame.rawOffset + at,
                        "batch of \(header.batchLength) bytes, \(buffer.count - at) present")
                }
                try BatchCodec.checkRecords(buffer, at: at, header: header, basePosition: frame.rawOffset)
                counts.0 += 1
                counts.1 += Int64(header.recordCount)
                at += header.batchLength
            }
            return counts
        }
        report.batchesChecked += batches
        report.recordsChecked += records
    }
}

// MARK: - Journal

extension Lake {
    /// Checks every lake journal file (formats/journal.md): its header and the CRC of every
    /// entry (and of the batch it carries). A torn tail of the newest file is a warning (the next
    /// writer's open quarantines it); damage followed by a valid entry, or in an older file, is
    /// corruption. A read-only lake reports each journal file as pending: a writer that crashed
    /// left it, and its segments may lack what it holds until a writer opens the lake.
    func verifyJournal() throws(StrataError) -> VerifyReport {
        var report = VerifyReport()
        guard FileIO.exists(paths.journalDirectory) else { return report }
        let sequences = try FileIO.listDirectory(paths.journalDirectory)
            .compactMap(LakePaths.journalSequence(fileName:)).sorted()
        for sequence in sequences {
            let path = paths.journalFile(sequence: sequence)
            // A writer may delete the file meanwhile (a checkpoint): nothing to check then.
            guard let bytes = try? FileIO.readWholeFile(path) else { continue }
            report.bytesChecked += Int64(bytes.count)
            let scan = bytes.withUnsafeBytes { JournalFormat.scan($0) }
            report.batchesChecked += scan.entries.count
            if isReadOnly {
                report.add(
                    VerifyProblem(
                        topic: "-", location: path, position: nil,
                        what:
                            "journal file with \(scan.entries.count) entries not replayed yet (a writer's open replays "
                            + "it)", kind: .pendingJournal))
            }
            guard let stop = scan.stopError else { continue }
            let torn = scan.resumePosition == nil && sequence == sequences.last
            var what = "journal entry damaged: \(stop)"
            if let resume = scan.resumePosition { what += "; a valid entry follows at byte \(resume)" }
            report.add(
                VerifyProblem(
                    topic: "-", location: path, position: scan.validEnd, what: what,
                    kind: torn ? .tornTail : .corruptJournal))
        }
        return report
    }
}
