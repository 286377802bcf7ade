import Foundation
import Testing

@testable import Strata

/// `recover` (issue 4): a node whose disk died rebuilds its lake from the cold store alone.
@Suite struct RecoverTests {
    @Test func recoverOnAnEmptyDirectoryReproducesEveryOffloadedRecord() async throws {
        let root = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(root) }
        let cold = "file://\(root)/cold"
        let first = try Lake.open(root + "/lake", cold: cold, options: ColdFixture.options())
        for name in ["a", "b"] {
            let topic = try first.topic(name, creatingWith: ColdFixture.smallSegments())
            try await ColdFixture.produce(topic, 0 ..< 6_000)
        }
        _ = try await first.offload(seal: true, evict: false)
        try await first.close()
        try FileManager.default.removeItem(atPath: root + "/lake")  // the disk died

        let rebuilt = try Lake.open(root + "/new", cold: cold, options: ColdFixture.options())
        let recovered = try await rebuilt.recover()
        #expect(recovered.map(\.topic) == ["a", "b"])
        #expect(recovered.allSatisfy { $0.logStartOffset == 0 && $0.nextOffset == 6_000 })
        for name in ["a", "b"] {
            let topic = try rebuilt.topic(name)
            var cursor = try await Cursor(topic: topic, start: .earliest)
            let records = try await ColdFixture.readAll(&cursor, until: 6_000)
            #expect(records == (0 ..< 6_000).map(ColdFixture.expected))
            // New appends continue after the recovered offsets.
            let ack = try await topic.append([ProducerRecord(value: Array("after".utf8))])
            #expect(ack.firstOffset == 6_000)
        }
        try await rebuilt.close()
    }

    @Test func recoverRefusesToOverwriteAnExistingTopic() async throws {
        let root = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(root) }
        let lake = try Lake.open(root + "/lake", options: ColdFixture.options())
        let topic = try lake.topic("a", creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< 3_000)
        _ = try await lake.offload(seal: true, evict: false)
        let before = try FileManager.default.contentsOfDirectory(atPath: root + "/lake/topics/a").sorted()
        let error = await strataError { _ = try await lake.recover(topics: ["a"]) }
        #expect(error?.code == .invalidArgument)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/lake/topics/a").sorted() == before)
        let missing = await strataError { _ = try await lake.recover(topics: ["nothing-here"]) }
        #expect(missing?.code == .notFound)
        try await lake.close()
    }
}
