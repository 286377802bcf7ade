import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// One rule for topic names and one parser of topics out of keys, used by every entry point.
@Suite struct TopicNameRuleTests {
    @Test func aBadNameIsRejectedNamingTheByte() throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let lake = try Lake.open(dir, options: ColdFixture.options(store: MemoryBlobStore()))
        let error = #expect(throws: StrataError.self) { _ = try lake.topic("ab/c", creatingWith: nil) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.position == 2)
        #expect(error?.message.contains("'ab/c' at byte 2") == true, "\(String(describing: error))")
        #expect(try lake.topicNames().isEmpty)
    }

    /// Foreign keys under `topics/` (a name no topic can have, a stray file in a manifest
    /// directory) are not topics: the lake, `ColdLog` and `recover` agree, and recover does not
    /// fail on them.
    @Test func foreignKeysAreNotTopicsAnywhere() async throws {
        let root = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(root) }
        let store = MemoryBlobStore()
        let first = try Lake.open(root + "/a", options: ColdFixture.options(store: store))
        let topic = try first.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< 100)
        _ = try await first.offload(seal: true, evict: false)
        try await first.close()
        for key in ["topics/bad name/manifest/00000000000000000001.json", "topics/other/manifest/notes.txt"] {
            try await store.put(key, Array("{}".utf8), mode: .overwrite)
        }

        var options = ColdLogOptions()
        options.store = store
        let log = try ColdLog.open("file:///unused-the-store-is-injected", options: options)
        #expect(try await log.topicNames() == [ColdFixture.topicName])
        let rebuilt = try Lake.open(root + "/b", options: ColdFixture.options(store: store))
        #expect(try await rebuilt.coldTopicNames() == [ColdFixture.topicName])
        let recovered = try await rebuilt.recover()
        #expect(recovered.map(\.topic) == [ColdFixture.topicName])
        #expect(recovered.first?.nextOffset == 100)
        try await rebuilt.close()
    }
}
