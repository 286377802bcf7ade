import Testing

@testable import StrataFormat

/// The one parser of which topic a key belongs to (`ColdLog`, `recover` and `scrub` all use it).
@Suite struct TopicKeyTests {
    let layout = BucketLayout(prefix: "lakes/one")

    @Test func topicComponentIsTheFirstPathComponentUnderTopics() {
        #expect(layout.topicComponent(of: "lakes/one/topics/orders/manifest/x") == "orders")
        #expect(layout.topicComponent(of: "lakes/one/topics/bad name/segments/y") == "bad name")
        #expect(layout.topicComponent(of: "lakes/one/topics/flat") == "flat")
        #expect(layout.topicComponent(of: "lakes/one/topics//x") == nil)
        #expect(layout.topicComponent(of: "lakes/one/lake.json") == nil)
        #expect(layout.topicComponent(of: "topics/orders/manifest/x") == nil)  // another prefix
    }

    @Test func manifestKeysOfAnyTopicParseBack() {
        let key = layout.manifestKey(topic: "orders.v1", version: 42)
        let parsed = layout.parseManifestKey(key)
        #expect(parsed?.topic == "orders.v1" && parsed?.version == 42)
        let notManifests = [
            layout.segmentKey(topic: "orders", baseOffset: 0, lastOffset: 9),
            "lakes/one/topics/orders/manifest/notes.txt",
            "lakes/one/topics/orders/manifest/00000000000000000001.json.tmp",
            "lakes/one/topics/a b/manifest/00000000000000000001.json",
            "lakes/one/topics/../manifest/00000000000000000001.json",
        ]
        for key in notManifests { #expect(layout.parseManifestKey(key) == nil, "\(key)") }
    }

    @Test func manifestLogsAreTheValidLogsWithAManifestVersion() {
        let keys = [
            layout.manifestKey(topic: "b", version: 1), layout.manifestKey(topic: "b", version: 2),
            layout.manifestKey(topic: "a", version: 7),
            layout.segmentKey(topic: "segments-only", baseOffset: 0, lastOffset: 1),
            "lakes/one/topics/c/manifest/readme", "lakes/one/topics/bad!/manifest/00000000000000000001.json",
            layout.manifestKey(topic: "b/10", version: 1), layout.manifestKey(topic: "b/2", version: 3),
            "lakes/one/topics/b/02/manifest/00000000000000000001.json",
        ]
        // Sorted by topic, then partition as a number (2 before 10), partition 0 first.
        #expect(layout.manifestLogs(in: keys) == ["a", "b", "b/2", "b/10"])
    }
}
