import Foundation
import StrataBlob
import Testing

@testable import Strata

/// Issue 12 items 2 and 3: `verify` compares the lake's local manifest copy with the cold
/// store's chain, and `scrub --delete-orphans` never deletes an object any manifest version the
/// lake knows of references — above all when the cold store lost its latest manifest.
@Suite("Manifest chain: verify and scrub never bless data loss")
struct ManifestChainTests {
    // MARK: - A missing latest manifest

    @Test func scrubKeepsEveryObjectWhenTheLatestColdManifestIsMissing() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        let objectsBefore = try fixture.coldSegmentFiles()
        let newest = try fixture.deleteNewestColdManifest()

        let report = try await fixture.lake.scrub(deleteOrphans: true, graceMs: 0)
        #expect(report.deleted.isEmpty)
        #expect(try fixture.coldSegmentFiles() == objectsBefore)
        let missing = report.problems.filter { $0.kind == .missingManifest }
        #expect(missing.map(\.key) == [newest.key], "\(report.findings)")
        #expect(missing.first?.what.contains("v\(newest.version)") == true)
        // The object only the lost version lists is not called an orphan either.
        #expect(!report.findings.contains { $0.kind == .orphanObject })
        #expect(!report.remainingProblems.isEmpty)
        // Every record is still readable once the manifest is put back.
        try fixture.restoreNewestColdManifest(newest)
        try await fixture.lake.close()
        let reopened = try Lake.open(fixture.dir, options: ChainFixture.options())
        defer { Task { try await reopened.close() } }
        #expect(try await ChainFixture.readAll(reopened.topic(ChainFixture.topicName)) == fixture.produced)
    }

    @Test func verifyReportsALocalCopyNewerThanTheColdChain() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        let newest = try fixture.deleteNewestColdManifest()
        let report = try await fixture.lake.verify(topic: ChainFixture.topicName)
        let missing = report.errors.filter { $0.kind == .missingManifest }
        #expect(missing.count == 1, "\(report.problems)")
        #expect(missing.first?.location == fixture.localCopyPath)
        #expect(missing.first?.what.contains("manifest v\(newest.version)") == true)
        #expect(missing.first?.what.contains(newest.key) == true, "names the key to restore it to")
        #expect(!report.isClean)
    }

    @Test func aColdStoreWithNoManifestAtAllIsReportedAndNothingIsDeleted() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        let objectsBefore = try fixture.coldSegmentFiles()
        try FileManager.default.removeItem(atPath: fixture.coldRoot + "/topics/\(ChainFixture.topicName)/manifest")
        let verify = try await fixture.lake.verify()
        #expect(verify.errors.map(\.kind).contains(.missingManifest), "\(verify.problems)")
        let scrub = try await fixture.lake.scrub(deleteOrphans: true, graceMs: 0)
        #expect(scrub.deleted.isEmpty)
        #expect(scrub.problems.map(\.kind).contains(.missingManifest), "\(scrub.findings)")
        #expect(try fixture.coldSegmentFiles() == objectsBefore)
    }

    @Test func segmentObjectsWithNoManifestAndNoLocalTopicAreNotDeleted() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        let objectsBefore = try fixture.coldSegmentFiles()
        try FileManager.default.removeItem(atPath: fixture.coldRoot + "/topics/\(ChainFixture.topicName)/manifest")
        try await fixture.lake.close()
        // A new lake on the same store (say, after a lost disk) knows nothing of the topic.
        let other = fixture.dir + "-other"
        defer { try? FileManager.default.removeItem(atPath: other) }
        let lake = try Lake.open(other, cold: "file://" + fixture.coldRoot, options: ChainFixture.options())
        defer { Task { try await lake.close() } }
        let scrub = try await lake.scrub(deleteOrphans: true, graceMs: 0)
        #expect(scrub.deleted.isEmpty)
        #expect(scrub.problems.map(\.kind) == [.missingManifest], "\(scrub.findings)")
        #expect(try fixture.coldSegmentFiles() == objectsBefore)
    }

    @Test func anObjectOnlyAnOlderManifestVersionListsIsNotAnOrphan() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        // A newer version that forgets the newest segment (written raw, as a buggy writer would):
        // the older versions still list it, so it must not be deleted.
        let dropped = try await fixture.commitManifestDroppingLastSegment()
        let scrub = try await fixture.lake.scrub(deleteOrphans: true, graceMs: 0)
        #expect(!scrub.deleted.contains(dropped))
        #expect(FileManager.default.fileExists(atPath: fixture.coldRoot + "/" + dropped))
    }

    // MARK: - The local copy against the chain

    @Test func aStaleLocalCopyIsAWarningNotAFailure() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        // What a crash between a commit and saving the copy leaves: the copy one version behind.
        let versions = try fixture.coldManifestVersions()
        let previous = try #require(versions.dropLast().last)
        try FileManager.default.removeItem(atPath: fixture.localCopyPath)
        try FileManager.default.copyItem(atPath: fixture.coldRoot + "/" + previous.key, toPath: fixture.localCopyPath)
        let report = try await fixture.lake.verify()
        #expect(report.isClean, "\(report.problems)")
        #expect(report.problems.map(\.kind) == [.staleManifestCopy])
        let scrub = try await fixture.lake.scrub(deleteOrphans: false)
        #expect(scrub.problems.isEmpty, "\(scrub.findings)")
    }

    @Test func aLocalCopyThatDiffersFromTheSameColdVersionIsReported() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        var copy = try Manifest.decode(Array(try Data(contentsOf: URL(fileURLWithPath: fixture.localCopyPath))))
        copy.createdMs += 1
        try Data(try copy.encode()).write(to: URL(fileURLWithPath: fixture.localCopyPath))
        let report = try await fixture.lake.verify()
        #expect(report.errors.map(\.kind) == [.manifestInconsistent], "\(report.problems)")
        #expect(report.errors.first?.location == fixture.localCopyPath)
        let scrub = try await fixture.lake.scrub(deleteOrphans: true, graceMs: 0)
        #expect(scrub.problems.map(\.kind) == [.badManifest])
    }

    @Test func verifyOfAnIntactLakeChecksTheLocalCopyAndStaysClean() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        let report = try await fixture.lake.verify()
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(try await fixture.lake.scrub(deleteOrphans: false).problems.isEmpty)
    }

    // MARK: - Scrub sees what the listing shows

    @Test func scrubReportsATruncatedObjectByItsSize() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        let victim = try #require(try fixture.coldSegmentFiles().first)
        let path = fixture.coldRoot + "/" + victim
        let size = try #require(FileIO.fileSize(atPath: path))
        try truncateFile(path, to: size / 2)
        let scrub = try await fixture.lake.scrub(deleteOrphans: false)
        #expect(scrub.problems.map(\.kind) == [.sizeMismatch], "\(scrub.findings)")
        #expect(scrub.problems.first?.key == victim)
        #expect(scrub.problems.first?.what.contains("\(size / 2) bytes") == true)
    }
}

// MARK: - Fixture

/// A lake whose topic has several committed versions: every segment offloaded (and evicted),
/// one commit per segment, so the newest version lists one object no older version does.
struct ChainFixture {
    static let topicName = "orders"
    let dir: String
    let lake: Lake
    let coldRoot: String
    let produced: [String]
    var localCopyPath: String { dir + "/topics/\(Self.topicName)/manifest.json" }

    static func options() -> LakeOptions {
        var options = LakeOptions()
        options.backgroundOffload = false
        options.log = { _ in }
        return options
    }

    static func make() async throws -> ChainFixture {
        let dir = FileManager.default.temporaryDirectory.path + "/strata-chain-" + UUID().uuidString
        let lake = try Lake.open(dir, options: options())
        var config = TopicConfig()
        config.segmentBytes = 1024
        config.durability = .async
        let topic = try lake.topic(topicName, creatingWith: config)
        var produced: [String] = []
        for batch in 0 ..< 12 {
            let values = (0 ..< 4).map { "batch \(batch) record \($0) " + String(repeating: "x", count: 40) }
            try await topic.append(values.map { ProducerRecord(value: Array($0.utf8)) })
            produced += values
        }
        _ = try await lake.offload(topic: topicName, seal: true, evict: true)
        let coldRoot = String(lake.coldURL.dropFirst("file://".count))
        return ChainFixture(dir: dir, lake: lake, coldRoot: coldRoot, produced: produced)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Keys of the topic's segment objects, sorted.
    func coldSegmentFiles() throws -> [String] {
        let relative = "topics/\(Self.topicName)/segments"
        let names = try FileManager.default.contentsOfDirectory(atPath: coldRoot + "/" + relative)
        return names.map { relative + "/" + $0 }.sorted()
    }

    /// Manifest versions in the store, oldest first.
    func coldManifestVersions() throws -> [(version: UInt64, key: String)] {
        let layout = BucketLayout()
        let relative = "topics/\(Self.topicName)/manifest"
        let versions = try FileManager.default.contentsOfDirectory(atPath: coldRoot + "/" + relative).compactMap {
            try? layout.parseManifestKey(relative + "/" + $0, topic: Self.topicName)
        }
        try #require(versions.count >= 2)
        return versions.sorted().map { ($0, layout.manifestKey(topic: Self.topicName, version: $0)) }
    }

    /// Deletes the newest manifest object (the lake's local copy keeps it); returns it.
    func deleteNewestColdManifest() throws -> (version: UInt64, key: String, bytes: Data) {
        let newest = try #require(try coldManifestVersions().last)
        let path = coldRoot + "/" + newest.key
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try FileManager.default.removeItem(atPath: path)
        return (newest.version, newest.key, bytes)
    }

    func restoreNewestColdManifest(_ newest: (version: UInt64, key: String, bytes: Data)) throws {
        try newest.bytes.write(to: URL(fileURLWithPath: coldRoot + "/" + newest.key))
    }

    /// Commits a version listing every segment but the last; returns the key left out.
    func commitManifestDroppingLastSegment() async throws -> String {
        let newest = try #require(try coldManifestVersions().last)
        let stored = try Data(contentsOf: URL(fileURLWithPath: coldRoot + "/" + newest.key))
        var manifest = try Manifest.decode(Array(stored))
        let dropped = try #require(manifest.segments.last)
        manifest.segments.removeLast()
        manifest.version += 1
        manifest.nextOffset = dropped.baseOffset
        let bytes = try manifest.encode()
        let store = try FileSystemBlobStore(root: coldRoot)
        let key = BucketLayout().manifestKey(topic: Self.topicName, version: manifest.version)
        try await store.put(key, bytes, mode: .ifAbsent)
        // The lake's copy follows the store, as it would had this lake committed it.
        try Data(bytes).write(to: URL(fileURLWithPath: localCopyPath))
        return dropped.key
    }

    static func readAll(_ topic: Topic) async throws -> [String] {
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
