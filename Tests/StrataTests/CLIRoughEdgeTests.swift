import Foundation
import StrataBlob
import Testing

@testable import Strata

/// The last rough edges of issue 12 a reviewer found: a failed recover leaves its directory as
/// it was, scrub refuses a foreign --cold, the offload summary adds up, export's gap check,
/// and the two meanings of --to-offset said plainly.
@Suite("CLI rough edges")
struct CLIRoughEdgeTests {

    // MARK: - a failed recover changes nothing

    @Test func aFailedRecoverLeavesTheLakeDirectoryAsItWas() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        try await fixture.lake.close()
        let cold = "file://" + fixture.coldRoot
        let coldBefore = fileTree(fixture.coldRoot)
        try await withTempDirectory { dir in
            // An absent directory (with an absent parent) stays absent.
            let absent = dir + "/parent/lake"
            let unknown = CLI.run(["recover", "--lake", absent, "--cold", cold, "nosuch"])
            #expect(unknown.status == 2, "\(unknown)")
            #expect(unknown.stderr.contains("'nosuch'") && unknown.stderr.contains("its topics: orders"))
            #expect(unknown.stderr.contains("nothing was recovered"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/parent"), "\(fileTree(dir))")
            // A directory holding something else keeps exactly that; so does one known topic
            // named beside an unknown one (nothing is recovered at all).
            let existing = dir + "/existing"
            try FileManager.default.createDirectory(atPath: existing, withIntermediateDirectories: true)
            try Data("notes\n".utf8).write(to: URL(fileURLWithPath: existing + "/README"))
            let before = fileTree(existing)
            for topics in [["nosuch"], [ChainFixture.topicName, "nosuch"], ["bad/name"]] {
                let result = CLI.run(["recover", "--lake", existing, "--cold", cold] + topics)
                #expect(result.status == 2, "\(topics): \(result)")
                #expect(result.stderr.contains("nothing was recovered"))
                #expect(fileTree(existing) == before, "\(topics)")
            }
            // A store that holds no Strata lake, and one that does not exist (not created either).
            let empty = dir + "/empty-store"
            try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
            for store in [empty, dir + "/no-store"] {
                let result = CLI.run(["recover", "--lake", existing, "--cold", "file://" + store])
                #expect(result.status == 2, "\(result)")
                #expect(result.stderr.contains(store), "\(result.stderr)")
                #expect(fileTree(existing) == before)
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/no-store"))
            #expect(fileTree(empty).isEmpty)
            // The same recover with the right name works, and the cold store was never written.
            let ok = CLI.run(["recover", "--lake", absent, "--cold", cold, ChainFixture.topicName])
            #expect(ok.status == 0, "\(ok)")
            let consumed = CLI.run(["consume", "--lake", absent, ChainFixture.topicName])
            #expect(consumed.stdout.split(separator: "\n").map(String.init) == fixture.produced)
        }
        #expect(fileTree(fixture.coldRoot) == coldBefore)
    }

    /// A recover that fails after it created things (here: the second topic's directory is a
    /// file) removes what it created, and only that.
    @Test func aRecoverThatFailsMidwayRemovesWhatItCreated() async throws {
        try await withTempDirectory { dir in
            let source = try Lake.open(dir + "/source", options: ChainFixture.options())
            for name in ["first", "second"] {
                let topic = try source.topic(name, creatingWith: nil)
                try await topic.append(offsetRecords(from: 0, count: 3))
            }
            _ = try await source.offload(topic: nil, seal: true, evict: false)
            try await source.close()
            let target = dir + "/target"
            try FileManager.default.createDirectory(atPath: target + "/topics", withIntermediateDirectories: true)
            try Data("in the way\n".utf8).write(to: URL(fileURLWithPath: target + "/topics/second"))
            let before = fileTree(target)
            let error = await strataError {
                _ = try await Lake.recover(
                    into: target, cold: source.coldURL, topics: ["first", "second"], options: ChainFixture.options())
            }
            #expect(error?.code == .io, "\(String(describing: error))")
            #expect(fileTree(target) == before, "\(fileTree(target))")
            // Nothing of the failed run is in the way of the next one.
            try FileManager.default.removeItem(atPath: target + "/topics/second")
            let recovered = try await Lake.recover(
                into: target, cold: source.coldURL, topics: ["first", "second"], options: ChainFixture.options())
            #expect(recovered.map(\.topic) == ["first", "second"])
            #expect(recovered.map(\.nextOffset) == [3, 3])
        }
    }

    // MARK: - scrub and a foreign --cold

    @Test func scrubRefusesAColdStoreOtherThanTheLakesAsProduceDoes() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            #expect(CLI.run(["produce", "--lake", lake, "t"], stdin: "a\n").status == 0)
            let other = "file://" + dir + "/other"
            let produce = CLI.run(["produce", "--lake", lake, "--cold", other, "t"], stdin: "b\n")
            #expect(produce.status == 2, "\(produce)")
            for extra in [[], ["--delete-orphans"], ["--json"]] {
                let scrub = CLI.run(["inspect", "scrub", "--lake", lake, "--cold", other] + extra)
                #expect(scrub.status == 2, "\(extra): \(scrub)")
                #expect(scrub.stdout.isEmpty)
                #expect(scrub.stderr.contains("uses cold store file://"), "\(scrub.stderr)")
                #expect(scrub.stderr.contains("not \(other); omit --cold to use it"), "\(scrub.stderr)")
                #expect(produce.stderr.contains("not \(other); omit --cold to use it"), "\(produce.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/other"))
            let own = try #require(
                try CLI.json(CLI.run(["offload", "--lake", lake, "--json"]).stdout)["cold"] as? String)
            let scrub = CLI.run(["inspect", "scrub", "--lake", lake, "--cold", own])
            #expect(scrub.status == 0, "\(scrub)")
        }
    }

    // MARK: - the offload summary adds up

    @Test func theOffloadSummaryAddsUpAcrossRuns() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            let lines = (0 ..< 400).map { "record \($0) " + String(repeating: "z", count: 30) }
            let produce = ["produce", "--lake", lake, "t", "--segment-bytes", "1024", "--batch-records", "10"]
            #expect(CLI.run(produce, stdin: lines[..<200].joined(separator: "\n") + "\n").status == 0)
            let first = try offloadSummary(lake)
            // The second produce's background offloader may move segments before the next offload:
            // they show up in coldSegmentsBefore, not as if they had vanished.
            #expect(CLI.run(produce, stdin: lines[200...].joined(separator: "\n") + "\n").status == 0)
            let second = try offloadSummary(lake)
            let third = try offloadSummary(lake)
            for summary in [first, second, third] {
                #expect(summary.after == summary.before + summary.offloaded, "\(summary)")
            }
            // How many the producer's background offloader moved first depends on timing; all of
            // them are in the cold tier after the first offload either way.
            #expect(first.after > 1)
            #expect(second.before >= first.after)
            #expect(second.after > first.after)
            #expect(third.offloaded == 0 && third.before == second.after)
            // The text summary states the same numbers.
            let text = CLI.run(["offload", "--lake", lake])
            #expect(text.status == 0, "\(text)")
            #expect(text.stdout.contains("offloaded 0 segments now"), "\(text.stdout)")
            #expect(text.stdout.contains("holds \(third.after) segments (\(third.after) offloaded before"))
            // Every record is still there, across both tiers.
            let consumed = CLI.run(["consume", "--lake", lake, "t"])
            #expect(consumed.stdout.split(separator: "\n").map(String.init) == lines)
        }
    }

    private func offloadSummary(
        _ lake: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> (before: Int, offloaded: Int, after: Int) {
        let result = CLI.run(["offload", "--lake", lake, "--json"])
        #expect(result.status == 0, "\(result)", sourceLocation: sourceLocation)
        let json = try CLI.json(result.stdout)
        return (
            try #require(json["coldSegmentsBefore"] as? Int), try #require(json["segmentsOffloaded"] as? Int),
            try #require(json["coldSegments"] as? Int)
        )
    }

    // MARK: - export and a manifest with a gap

    /// The manifest with a gap is refused as it is read (`ExportGap`, the check on the records
    /// themselves, is behind it), so nothing of the topic is exported, to a file or to stdout.
    @Test func exportOfAManifestWithAGapFailsNamingTheMissingOffsets() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        let (dropped, manifestKey) = try await commitManifestWithAGap(fixture)
        try await fixture.lake.close()
        let missing = "offsets \(dropped.baseOffset)..<\(dropped.lastOffset + 1) are missing"
        let export = ["export", "--cold", "file://" + fixture.coldRoot, ChainFixture.topicName]
        try await withTempDirectory { dir in
            let output = dir + "/out.jsonl"
            let toFile = CLI.run(export + ["--output", output])
            #expect(toFile.status == 1, "\(toFile)")
            #expect(toFile.stderr.hasPrefix("error: corrupt: "), "\(toFile.stderr)")
            #expect(toFile.stderr.contains(missing), "\(toFile.stderr)")
            #expect(toFile.stderr.contains("file=\(manifestKey)"), "\(toFile.stderr)")
            let left = try FileManager.default.contentsOfDirectory(atPath: dir)
            #expect(left.isEmpty, "no output, no temporary file: \(left)")
            // Not even a range before the gap: the manifest itself is damaged, and stdout gets nothing.
            for range in [[], ["--to-offset", "\(dropped.baseOffset - 1)"]] {
                let toStdout = CLI.run(export + ["--format", "csv", "--quiet"] + range)
                #expect(toStdout.status == 1, "\(range): \(toStdout)")
                #expect(toStdout.stderr.contains(missing))
                #expect(toStdout.stdout.isEmpty)
            }
        }
    }

    /// Commits a manifest version that leaves out one middle segment, written raw as
    /// `VerifyScrubTests` does (the codec refuses such a manifest). Returns the segment left out and
    /// the manifest's key.
    private func commitManifestWithAGap(
        _ fixture: ChainFixture
    ) async throws -> (dropped: ManifestSegment, key: String) {
        let topic = try fixture.lake.topic(ChainFixture.topicName)
        var manifest = try #require(try await topic.latestManifest(refresh: true))
        try #require(manifest.segments.count >= 3)
        let dropped = manifest.segments.remove(at: 1)
        manifest.version += 1
        let store = try FileSystemBlobStore(root: fixture.coldRoot)
        let key = BucketLayout().manifestKey(topic: ChainFixture.topicName, version: manifest.version)
        try await store.put(key, Array(try JSONEncoder().encode(manifest)), mode: .ifAbsent)
        return (dropped, key)
    }

    // MARK: - --to-offset: exclusive in consume, inclusive in export

    @Test func toOffsetIsExclusiveInConsumeInclusiveInExportAndEachHelpSaysSo() async throws {
        func words(_ text: String) -> String { text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        let consumeHelp = words(CLI.run(["consume", "--help"]).stdout)
        #expect(
            consumeHelp.contains("--to-offset is exclusive: --from-offset 10 --to-offset 20 prints offsets 10 to 19"))
        #expect(consumeHelp.contains("strata export's --to-offset is inclusive"), "\(consumeHelp)")
        #expect(consumeHelp.contains("Stop before this offset (exclusive: the record at this offset is not printed"))
        let exportHelp = words(CLI.run(["export", "--help"]).stdout)
        #expect(
            exportHelp.contains("Offset bounds are both inclusive: --from-offset 10 --to-offset 20 writes offsets 10"))
        #expect(exportHelp.contains("strata consume's --to-offset is exclusive"), "\(exportHelp)")
        #expect(exportHelp.contains("Last offset to export (inclusive: the record at this offset is written"))

        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            let values = (0 ..< 30).map { "v\($0)" }
            #expect(
                CLI.run(["produce", "--lake", lake, "t"], stdin: values.joined(separator: "\n") + "\n").status == 0)
            #expect(CLI.run(["offload", "--lake", lake]).status == 0)
            let range = ["--from-offset", "10", "--to-offset", "20"]
            let consumed = CLI.run(["consume", "--lake", lake, "t"] + range)
            #expect(consumed.stdout.split(separator: "\n").map(String.init) == Array(values[10 ..< 20]))
            let cold = "file://" + lake + "/cold"
            let exported = CLI.run(["export", "--cold", cold, "t", "--quiet"] + range)
            #expect(exported.status == 0, "\(exported)")
            let offsets = try exported.stdout.split(separator: "\n").map { line in
                try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])["offset"]
                    as? Int
            }
            #expect(offsets == Array(10 ... 20), "offsets 10 to 20, the last one included")
        }
    }
}
