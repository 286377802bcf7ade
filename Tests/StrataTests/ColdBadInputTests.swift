import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// Bad input around the cold tier (ARCHITECTURE.md invariants 7 and 9): typed errors, nothing
/// changed, and corruption that is reported, never skipped.
@Suite struct ColdBadInputTests {
    @Test func unknownColdSchemeIsRejectedNamingTheAcceptedOnes() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        do {
            _ = try Lake.open(dir + "/lake", cold: "ftp://x", options: ColdFixture.options())
            Issue.record("ftp:// accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("ftp://x"))
            for scheme in ["file://", "s3://"] { #expect(error.message.contains(scheme)) }
            #expect(!error.message.contains("memory://"), "the in-memory store is a test double")
            let accepted = error.message.components(separatedBy: "accepted:").count - 1
            #expect(accepted == 1, "the accepted forms are listed once: \(error.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/lake/lake.json"))
    }

    @Test func reopeningWithAnotherColdURLIsRejected() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let lake = try Lake.open(dir + "/lake", cold: "file://\(dir)/cold-one", options: ColdFixture.options())
        try await lake.close()
        do {
            _ = try Lake.open(dir + "/lake", cold: "file://\(dir)/cold-two", options: ColdFixture.options())
            Issue.record("a second cold URL accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("cold-one"))
        }
        // Omitting the URL uses the remembered one.
        let again = try Lake.open(dir + "/lake", options: ColdFixture.options())
        #expect(again.coldURL == "file://\(dir)/cold-one")
        try await again.close()
    }

    @Test func unusableColdDirectoryIsATypedErrorAndIsNotRemembered() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        _ = FileManager.default.createFile(atPath: dir + "/plain", contents: Data("not a directory".utf8))
        do {
            _ = try Lake.open(dir + "/lake", cold: "file://\(dir)/plain/cold", options: ColdFixture.options())
            Issue.record("a cold directory under a regular file accepted")
        } catch {
            #expect(error.code == .io)
            #expect(error.description.contains("\(dir)/plain/cold"))
        }
        // Nothing was remembered: the lake opens with a good URL afterwards.
        let lake = try Lake.open(dir + "/lake", cold: "file://\(dir)/cold", options: ColdFixture.options())
        try await lake.close()
    }

    /// A flipped bit in one frame of an evicted object: the read fails with `corrupt` naming
    /// the object and the frame, the cursor returns every record before the frame and none after.
    @Test func corruptColdFrameIsReportedAndNeverSkipped() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        let lake = try Lake.open(dir, options: ColdFixture.options(store: store))
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< 10_000)
        _ = try await lake.offload(evict: true)

        let manifest = try #require(try await ColdFixture.storedManifest(store))
        let victim = manifest.segments[manifest.segments.count / 2]
        let index = try ColdObjectFooter.parse(object: try await store.get(victim.key, range: .whole).bytes)
        #expect(index.frames.count >= 3)
        let frame = index.frames[1]
        try store.corrupt(key: victim.key, at: frame.objectOffset + frame.compressedBytes / 2, xor: 0x10)

        var cursor = try await Cursor(topic: topic, start: .offset(0))
        var records: [Record] = []
        var failure: StrataError? = nil
        for _ in 0 ..< 10_000 {
            do {
                let batch = try await cursor.next()
                if batch.isEmpty { break }
                records += batch
            } catch {
                failure = error
                break
            }
        }
        let error = try #require(failure)
        #expect(error.code == .corrupt)
        #expect(error.file == victim.key)
        #expect(error.message.contains("frame 1"))
        #expect(records.count == Int(frame.firstOffset))
        #expect(ColdFixture.firstMismatch(records, 0 ..< Int(frame.firstOffset)) == nil)
        // Asking again fails again at the same place: the cursor does not move past the damage.
        #expect(cursor.nextOffset == frame.firstOffset)
        do {
            _ = try await cursor.next()
            Issue.record("the damaged frame read on the second try")
        } catch {
            #expect(error.code == .corrupt)
        }
        #expect(cursor.nextOffset == frame.firstOffset)
        // Reading past the damaged frame on purpose still works.
        var after = try await Cursor(topic: topic, start: .offset(frame.lastOffset + 1))
        #expect(try await after.next().first == ColdFixture.expected(Int(frame.lastOffset + 1)))
        try await lake.close()
    }
}
