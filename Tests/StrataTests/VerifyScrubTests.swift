import Foundation
import StrataBlob
import Testing

@testable import Strata

/// `Lake.verify` and `Lake.scrub` (issue 6 items 2 and 3) and their CLI commands.
@Suite("Verify and scrub")
struct VerifyScrubTests {
    // MARK: - verify

    @Test func verifyIsCleanOnALakeWithHotAndColdSegments() async throws {
        let fixture = try await VerifyFixture.make()
        defer { fixture.remove() }
        let report = try await fixture.lake.verify()
        #expect(report.problems == [])
        #expect(report.isClean)
        let cold = try await fixture.topic.coldSegments()
        let hot = fixture.topic.segments()
        #expect(report.objectsChecked == cold.count)
        #expect(report.segmentsChecked == hot.count)
        // Segments held in both tiers are read in both.
        let expectedRecords =
            cold.reduce(Int64(0)) { $0 + $1.recordCount } + hot.reduce(Int64(0)) { $0 + $1.recordCount }
        #expect(report.recordsChecked == expectedRecords)
        #expect(report.topicsChecked == 1)
        #expect(report.manifestsChecked >= 1)
    }

    @Test func verifyNamesAFlippedByteInAColdFrameAndInAHotBatch() async throws {
        let fixture = try await VerifyFixture.make()
        defer { fixture.remove() }
        let coldDamage = try await fixture.damageColdFrame()
        let hotDamage = try fixture.damageHotBatch()
        let report = try await fixture.lake.verify()
        let found = Set(report.errors.map { Located(location: $0.location, position: $0.position, kind: $0.kind) })
        #expect(
            found == [
                Located(location: coldDamage.key, position: coldDamage.position, kind: .corruptFrame),
                Located(location: hotDamage.path, position: hotDamage.position, kind: .corruptBatch),
            ])
        #expect(report.errors.allSatisfy { $0.topic == VerifyFixture.topicName })
        #expect(!report.isClean)
        // The damaged batch is skipped by its length, so the batches after it are still checked.
        let clean = try await VerifyFixture.make()
        defer { clean.remove() }
        let cleanReport = try await clean.lake.verify()
        #expect(report.batchesChecked == cleanReport.batchesChecked - 1 - coldDamage.batchCount)
    }

    @Test func verifyReportsAMissingColdObject() async throws {
        let fixture = try await VerifyFixture.make()
        defer { fixture.remove() }
        let victim = try await fixture.coldOnlySegments()[3]
        try FileManager.default.removeItem(atPath: fixture.coldRoot + "/" + victim.key)
        let report = try await fixture.lake.verify(topic: VerifyFixture.topicName)
        #expect(report.errors.map(\.kind) == [.missingObject])
        #expect(report.errors.map(\.location) == [victim.key])
    }

    @Test func verifyReportsABadIndexAsAWarningOnly() async throws {
        let fixture = try await VerifyFixture.make()
        defer { fixture.remove() }
        let segment = try #require(fixture.topic.segments().first { $0.sealed })
        let indexPath = String(segment.path.dropLast(4)) + ".idx"
        try flipByte(atPath: indexPath, position: 20)
        let report = try await fixture.lake.verify()
        #expect(report.isClean)
        #expect(report.problems.map(\.kind) == [.badIndex])
        #expect(report.problems.map(\.location) == [indexPath])
    }

    @Test func verifyOfAnUnknownTopicIsNotFound() async throws {
        let fixture = try await VerifyFixture.make()
        defer { fixture.remove() }
        await #expect(throws: StrataError.self) { _ = try await fixture.lake.verify(topic: "nope") }
        do {
            _ = try await fixture.lake.verify(topic: "nope")
        } catch {
            #expect(error.code == .notFound)
        }
    }

    // MARK: - scrub

    @Test func scrubFindsAPlantedOrphanAndAMissingObject() async throws {
        let fixture = try await VerifyFixture.make()
        defer { fixture.remove() }
        let orphanKey = try await fixture.plantOrphan()
        let victim = try await fixture.coldOnlySegments()[2]
        try FileManager.default.removeItem(atPath: fixture.coldRoot + "/" + victim.key)
        let report = try await fixture.lake.scrub(deleteOrphans: false)
        let problems = Set(report.problems.map { "\($0.kind.rawValue) \($0.key)" })
        #expect(problems == ["orphanObject \(orphanKey)", "missingObject \(victim.key)"])
        #expect(report.findings.contains { $0.kind == .oldManifest })
        #expect(report.deleted.isEmpty)
        #expect(FileManager.default.fileExists(atPath: fixture.coldRoot + "/" + orphanKey))
    }

    @Test func scrubDeletesOnlyOldEnoughOrphansAndNothingReferenced() async throws {
        let fixture = try await VerifyFixture.make()
        defer { fixture.remove() }
        let orphanKey = try await fixture.plantOrphan()
        let orphanPath = fixture.coldRoot + "/" + orphanKey

        let young = try await fixture.lake.scrub(deleteOrphans: true, graceMs: 36_000_000)
        #expect(young.deleted.isEmpty)
        #expect(young.kept == [orphanKey])
        #expect(young.remainingProblems.map(\.key) == [orphanKey])
        #expect(FileManager.default.fileExists(atPath: orphanPath))

        let old = try await fixture.lake.scrub(deleteOrphans: true, graceMs: 0)
        #expect(old.deleted == [orphanKey])
        #expect(old.remainingProblems.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: orphanPath))
        for segment in try await fixture.topic.coldSegments() {
            #expect(FileManager.default.fileExists(atPath: fixture.coldRoot + "/" + segment.key))
        }
        #expect(try await fixture.readAll() == fixture.produced)
        #expect(try await fixture.lake.scrub(deleteOrphans: false).problems.isEmpty)
        #expect(try await fixture.lake.verify().problems.isEmpty)
    }

    @Test func scrubReportsAGapAndThenDeletesNothingOfThatTopic() async throws {
        let fixture = try await VerifyFixture.make()
        defer { fixture.remove() }
        let orphanKey = try await fixture.plantOrphan()
        let dropped = try await fixture.commitManifestWithAGap()
        let report = try await fixture.lake.scrub(deleteOrphans: true, graceMs: 0)
        #expect(report.problems.map(\.kind) == [.offsetGap])
        #expect(report.problems.first?.what.contains("\(dropped.baseOffset)..<\(dropped.lastOffset + 1)") == true)
        #expect(report.deleted.isEmpty)
        #expect(FileManager.default.fileExists(atPath: fixture.coldRoot + "/" + orphanKey))
        #expect(FileManager.default.fileExists(atPath: fixture.coldRoot + "/" + dropped.key))
    }

    // MARK: - CLI

    @Test
    func cliVerifyAndScrubExitCodesAndLocations() async throws {
        let fixture = try await VerifyFixture.make()
        defer { fixture.remove() }
        try await fixture.lake.close()
        let clean = try runStrata(["inspect", "verify", "--lake", fixture.dir])
        #expect(clean.status == 0, "\(clean.stdout) \(clean.stderr)")
        #expect(clean.stdout.isEmpty)
        #expect(try runStrata(["inspect", "scrub", "--lake", fixture.dir]).status == 0)

        let coldDamage = try await fixture.damageColdFrame()
        let hotDamage = try fixture.damageHotBatch()
        let damaged = try runStrata(["inspect", "verify", "--lake", fixture.dir])
        #expect(damaged.status == 1, "\(damaged.stderr)")
        #expect(
            damaged.stdout.contains("\(VerifyFixture.topicName) \(coldDamage.key) \(coldDamage.position) corruptFrame"))
        #expect(
            damaged.stdout.contains("\(VerifyFixture.topicName) \(hotDamage.path) \(hotDamage.position) corruptBatch"))
        #expect(damaged.stdout.split(separator: "\n").count == 2)
        let json = try runStrata(["inspect", "verify", "--lake", fixture.dir, "--json"])
        #expect(json.status == 1)
        #expect(json.stdout.split(separator: "\n").count == 3)  // two problems, one summary

        let orphanKey = try await fixture.plantOrphan()
        let scrub = try runStrata(["inspect", "scrub", "--lake", fixture.dir])
        #expect(scrub.status == 1)
        #expect(scrub.stdout.contains("orphanObject \(VerifyFixture.topicName) \(orphanKey)"))
        let usage = try runStrata(["inspect", "verify", "--lake", fixture.dir + "/missing"])
        #expect(usage.status == 2)
    }
}

// MARK: - Fixture

private struct Located: Hashable {
    var location: String
    var position: Int?
    var kind: VerifyProblem.Kind
}

/// A lake with cold-only segments (offloaded and evicted), segments in both tiers (offloaded,
/// kept) and hot-only segments (sealed but not offloaded, plus the active one).
private struct VerifyFixture {
    static let topicName = "orders"
    let dir: String
    let lake: Lake
    let topic: Topic
    let coldRoot: String
    let produced: [String]

    static func make() async throws -> VerifyFixture {
        let dir = FileManager.default.temporaryDirectory.path + "/strata-verify-" + UUID().uuidString
        var options = LakeOptions()
        options.backgroundOffload = false
        options.log = { _ in }
        let lake = try Lake.open(dir, options: options)
        var config = Strata.TopicConfig()
        config.segmentBytes = 2048  // about 5 batches per segment
        config.coldFrameRawBytes = 512  // one batch per frame: several frames per object
        config.localRetentionMs = nil
        let topic = try lake.topic(topicName, creatingWith: config)
        var produced: [String] = []
        for phase in 0 ..< 3 {
            for batch in 0 ..< 20 {
                let values = (0 ..< 5).map {
                    "phase \(phase) batch \(batch) record \($0) " + String(repeating: "v", count: 24)
                }
                try await topic.append(
                    values.map { ProducerRecord(key: Array("k\($0.count)".utf8), value: Array($0.utf8)) })
                produced += values
            }
            if phase == 0 { _ = try await lake.offload(topic: topicName, seal: true, evict: true) }
            if phase == 1 { _ = try await lake.offload(topic: topicName, seal: true, evict: false) }
        }
        let coldRoot = String(lake.coldURL.dropFirst("file://".count))
        return VerifyFixture(dir: dir, lake: lake, topic: topic, coldRoot: coldRoot, produced: produced)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Cold segments no longer held locally.
    func coldOnlySegments() async throws -> [ManifestSegment] {
        let localStart = topic.segments().first?.baseOffset ?? 0
        let segments = try await topic.coldSegments().filter { $0.lastOffset < localStart }
        try #require(segments.count >= 4)
        return segments
    }

    /// Flips a byte in the middle of frame 2 of a cold-only object; returns where verify must
    /// point (the frame's start) and how many batches the frame held.
    func damageColdFrame() async throws -> (key: String, position: Int, batchCount: Int) {
        let segment = try await coldOnlySegments()[1]
        let path = coldRoot + "/" + segment.key
        let index = try ColdObjectFooter.parse(object: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        let frame = index.frames[2]
        try flipByte(atPath: path, position: frame.objectOffset + frame.compressedBytes / 2)
        return (segment.key, frame.objectOffset, frame.batchCount)
    }

    /// Flips a byte inside the records of the second batch of a hot-only sealed segment;
    /// returns the file and the batch's position.
    func damageHotBatch() throws -> (path: String, position: Int) {
        // The last sealed segment was rolled after the last offload: it is in the hot tier only.
        let segment = try #require(topic.segments().filter { $0.sealed }.last)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: segment.path)))
        let (_, scan) = try withBytes(bytes) { (raw) throws(FormatError) in try SegmentScanner.scanFile(raw) }
        let batch = scan.batches[1]
        try flipByte(atPath: segment.path, position: batch.position + BatchHeader.size + 10)
        return (segment.path, batch.position)
    }

    /// A copy of a real object under a segment key no manifest references.
    func plantOrphan() async throws -> String {
        let store = try FileSystemBlobStore(root: coldRoot)
        let source = try await topic.coldSegments()[0]
        let bytes = try await store.get(source.key, range: .whole).bytes
        let key = BucketLayout().segmentKey(topic: Self.topicName, baseOffset: 900_000, lastOffset: 900_004)
        try await store.put(key, bytes, mode: .ifAbsent)
        return key
    }

    /// Commits a manifest version that leaves out one middle segment (written raw: the codec
    /// refuses such a manifest). Returns the segment left out.
    func commitManifestWithAGap() async throws -> ManifestSegment {
        var manifest = try #require(try await topic.latestManifest(refresh: true))
        try #require(manifest.segments.count >= 3)
        let dropped = manifest.segments.remove(at: 1)
        manifest.version += 1
        let store = try FileSystemBlobStore(root: coldRoot)
        let bytes = Array(try JSONEncoder().encode(manifest))
        try await store.put(
            BucketLayout().manifestKey(topic: Self.topicName, version: manifest.version), bytes, mode: .ifAbsent)
        return dropped
    }

    /// Every record value from offset 0 to the high watermark, across both tiers.
    func readAll() async throws -> [String] {
        var values: [String] = []
        var next: Int64 = 0
        while next < topic.highWatermark {
            let result = try await topic.read(from: next)
            values += result.records.map { String(decoding: $0.value ?? [], as: UTF8.self) }
            next = result.nextOffset
        }
        return values
    }
}

private func flipByte(atPath path: String, position: Int) throws {
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(position))
    let old = try #require(try handle.read(upToCount: 1)?.first)
    try handle.seek(toOffset: UInt64(position))
    try handle.write(contentsOf: Data([old ^ 0x5A]))
}

// MARK: - CLI helpers

private func runStrata(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let outcome = try CLIRun.strata(arguments)
    return (outcome.status, outcome.stdout, outcome.stderr)
}
