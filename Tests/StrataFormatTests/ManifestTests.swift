import Foundation
import Testing

@testable import StrataFormat

@Suite struct ManifestTests {
    static let topic = "orders"

    static func segment(_ base: Int64, _ last: Int64) -> ManifestSegment {
        ManifestSegment(
            baseOffset: base, lastOffset: last, firstTimestamp: 10, maxTimestamp: 20, recordCount: last - base + 1,
            rawBytes: 4096, objectBytes: 1024, rawCrc32c: 0xABCD, frameCount: 2,
            key: BucketLayout.segmentKeyRelative(topic: topic, baseOffset: base, lastOffset: last))
    }

    static func sample() -> Manifest {
        Manifest(
            topic: topic, version: 3, writerEpoch: 1, logStartOffset: 5, nextOffset: 300,
            config: ManifestTopicConfig(frameRawBytesTarget: 1 << 20, compressionLevel: 3, retentionMs: 86_400_000),
            segments: [segment(100, 199), segment(200, 299)],
            archives: [
                ArchiveReference(
                    baseOffset: 0, lastOffset: 99, segmentCount: 2,
                    key: BucketLayout.archiveKeyRelative(topic: topic, baseOffset: 0, lastOffset: 99))
            ],
            createdMs: 1_700_000_000_000)
    }

    @Test func roundTripIsDeterministic() throws {
        let manifest = Self.sample()
        let bytes = try manifest.encode()
        let decoded = try Manifest.decode(bytes, expectedTopic: Self.topic, expectedVersion: 3)
        #expect(decoded == manifest)
        #expect(try decoded.encode() == bytes)
        #expect(!bytes.contains(UInt8(ascii: " ")) && !bytes.contains(UInt8(ascii: "\n")))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"archives":[{"baseOffset":0,"#))
        #expect(!text.contains("\\/"))
    }

    @Test func emptyManifest() throws {
        let empty = Manifest(topic: "t", version: 1, writerEpoch: 0, logStartOffset: 0, nextOffset: 0, createdMs: 0)
        #expect(try Manifest.decode(try empty.encode()) == empty)
    }

    /// Each broken invariant is rejected, naming the field.
    @Test func invalidManifestIsRejected() {
        let cases: [(String, (inout Manifest) -> Void)] = [
            ("manifest.version", { (m: inout Manifest) in m.version = 0 }),
            ("manifest.topic", { (m: inout Manifest) in m.topic = "a/b" }),
            ("manifest.formatVersion", { (m: inout Manifest) in m.formatVersion = 2 }),
            (
                "manifest.segments[1].baseOffset",
                { (m: inout Manifest) in m.segments[1] = ManifestTests.segment(201, 299) }
            ),
            (
                "manifest.segments[0].baseOffset",
                { (m: inout Manifest) in
                    m.archives[0].lastOffset = 98;
                    m.archives[0].key =
                        BucketLayout.archiveKeyRelative(topic: ManifestTests.topic, baseOffset: 0, lastOffset: 98)
                }
            ),
            (
                "manifest.segments[0].key",
                { (m: inout Manifest) in m.segments[0].key = "topics/other/segments/x.seg.zst" }
            ),
            ("manifest.segments[0].recordCount", { (m: inout Manifest) in m.segments[0].recordCount = 99 }),
            ("manifest.segments[0].maxTimestamp", { (m: inout Manifest) in m.segments[0].maxTimestamp = 9 }),
            ("manifest.segments[0].frameCount", { (m: inout Manifest) in m.segments[0].frameCount = 0 }),
            (
                "manifest.archives[0].key",
                { (m: inout Manifest) in m.archives[0].key = "topics/orders/archive/0-99.json" }
            ),
            ("manifest.archives[0].segmentCount", { (m: inout Manifest) in m.archives[0].segmentCount = 0 }),
            ("manifest.nextOffset", { (m: inout Manifest) in m.nextOffset = 301 }),
            ("manifest.logStartOffset", { (m: inout Manifest) in m.logStartOffset = 301 }),
            (
                "manifest.logStartOffset",
                { (m: inout Manifest) in
                    m.archives = []; m.logStartOffset = 50
                }
            ),
            ("manifest.config.frameRawBytesTarget", { (m: inout Manifest) in m.config.frameRawBytesTarget = 0 }),
        ]
        for (field, breakIt) in cases {
            var manifest = Self.sample()
            breakIt(&manifest)
            let error = formatError { () throws(FormatError) in try manifest.validate() }
            #expect(error?.field == field, "\(String(describing: error))")
            #expect(formatError { () throws(FormatError) in try manifest.encode() } == error)
        }
    }

    @Test func decodeRejectsBadDocuments() throws {
        let good = String(decoding: try Self.sample().encode(), as: UTF8.self)
        let cases: [(String, String, FormatError.Code)] = [
            (
                good.replacingOccurrences(of: #""formatVersion":1"#, with: #""formatVersion":9"#),
                "manifest.formatVersion", .unsupportedVersion
            ),
            (good.replacingOccurrences(of: #","writerEpoch":1"#, with: ""), "manifest.writerEpoch", .invalidValue),
            (
                good.replacingOccurrences(of: #""version":3"#, with: #""version":"3""#), "manifest.version",
                .invalidValue
            ),
            (
                good.replacingOccurrences(of: #""baseOffset":200"#, with: #""baseOffset":201"#),
                "manifest.segments[1].baseOffset", .invalidValue
            ),
            ("{", "manifest", .invalidValue),
        ]
        for (text, field, code) in cases {
            let error = formatError { () throws(FormatError) in try Manifest.decode(Array(text.utf8)) }
            #expect(error?.field == field, "\(String(describing: error))")
            #expect(error?.code == code)
        }
        let wrongVersion = formatError { () throws(FormatError) in
            try Manifest.decode(Array(good.utf8), expectedVersion: 4)
        }
        #expect(wrongVersion?.field == "manifest.version")
    }

    @Test func archiveManifest() throws {
        let archive = ArchiveManifest(
            topic: Self.topic, segments: [Self.segment(0, 49), Self.segment(50, 99)], createdMs: 5)
        let bytes = try archive.encode()
        let reference = archive.reference
        #expect(reference.key == "topics/orders/archive/00000000000000000000-00000000000000000099.json")
        #expect(try ArchiveManifest.decode(bytes, topic: Self.topic, reference: reference) == archive)
        var other = reference
        other.segmentCount = 3
        #expect(
            formatError { () throws(FormatError) in try ArchiveManifest.decode(bytes, reference: other) }?.field
                == "archive")
        var gap = archive
        gap.segments[1] = Self.segment(51, 99)
        #expect(formatError { () throws(FormatError) in try gap.validate() }?.field == "archive.segments[1].baseOffset")
    }

    @Test func lakeDescriptor() throws {
        let lake = LakeDescriptor(createdMs: 9)
        #expect(try LakeDescriptor.decode(try lake.encode()) == lake)
        #expect(
            formatError { () throws(FormatError) in
                try LakeDescriptor.decode(Array(#"{"formatVersion":2,"createdMs":1}"#.utf8))
            }?
            .code == .unsupportedVersion)
    }
}

@Suite struct KeysTests {
    @Test func keysRoundTrip() throws {
        let layout = BucketLayout(prefix: "lakes/prod")
        #expect(layout.prefix == "lakes/prod/")
        #expect(layout.lakeKey == "lakes/prod/lake.json")
        let manifest = layout.manifestKey(topic: "orders", version: 42)
        #expect(manifest == "lakes/prod/topics/orders/manifest/00000000000000000042.json")
        #expect(try layout.parseManifestKey(manifest, topic: "orders") == 42)
        #expect(try layout.parseManifestKey(layout.manifestKey(topic: "o", version: .max), topic: "o") == .max)
        let segment = layout.segmentKey(topic: "orders", baseOffset: 100, lastOffset: Int64.max - 1)
        #expect(segment == "lakes/prod/topics/orders/segments/00000000000000000100-09223372036854775806.seg.zst")
        let range = try layout.parseSegmentKey(segment, topic: "orders")
        #expect(range.baseOffset == 100 && range.lastOffset == Int64.max - 1)
        let archive = layout.archiveKey(topic: "orders", baseOffset: 0, lastOffset: 99)
        #expect(try layout.parseArchiveKey(archive, topic: "orders").lastOffset == 99)
        #expect(
            layout.relative(segment)
                == BucketLayout.segmentKeyRelative(topic: "orders", baseOffset: 100, lastOffset: Int64.max - 1))
        #expect(BucketLayout().manifestKey(topic: "t", version: 1) == "topics/t/manifest/00000000000000000001.json")
    }

    @Test func keyParsersRejectForeignKeys() {
        let layout = BucketLayout()
        for key in [
            "topics/orders/manifest/42.json", "topics/orders/manifest/0000000000000000004x.json",
            "topics/other/manifest/00000000000000000042.json", "topics/orders/manifest/99999999999999999999.json",
        ] {
            #expect(
                formatError { () throws(FormatError) in try layout.parseManifestKey(key, topic: "orders") }?.field
                    == "manifestKey", "\(key)")
        }
        for key in [
            "topics/orders/segments/00000000000000000100-00000000000000000099.seg.zst",
            "topics/orders/segments/00000000000000000100.seg.zst",
            "topics/orders/segments/09999999999999999999-09999999999999999999.seg.zst",
            "topics/orders/segments/00000000000000000100-00000000000000000199.seg",
        ] {
            #expect(
                formatError { () throws(FormatError) in try layout.parseSegmentKey(key, topic: "orders") }?.field
                    == "segmentKey", "\(key)")
        }
    }

    /// A rewritten archive's key is its range's with `-<16 lowercase hex>` before `.json`;
    /// anything else there is not an archive key, and a manifest referencing it is refused.
    @Test func archiveRewriteKeys() throws {
        let layout = BucketLayout(prefix: "lakes/prod")
        let key = layout.archiveKey(topic: "orders/3", baseOffset: 10, lastOffset: 99, rewrite: "00ff00ff00ff00ff")
        #expect(key == "lakes/prod/topics/orders/3/archive/00000000000000000010-00000000000000000099-00ff00ff00ff00ff.json")
        #expect(try layout.parseArchiveKey(key, topic: "orders/3") == (10, 99))
        #expect(BucketLayout.archiveRewriteId(0xab) == "00000000000000ab")
        let plain = "lakes/prod/topics/orders/3/archive/00000000000000000010-00000000000000000099"
        for bad in [
            plain + "-00FF00FF00FF00FF.json", plain + "-00ff00ff00ff00f.json", plain + "-00ff00ff00ff00ffa.json",
            plain + "-.json", plain + "00ff00ff00ff00ff.json", "lakes/prod/topics/orders/3/archive/-00ff00ff00ff00ff.json",
            "lakes/prod/topics/orders/3/archive/.json",
        ] {
            #expect(
                formatError { () throws(FormatError) in try layout.parseArchiveKey(bad, topic: "orders/3") }?.field
                    == "archiveKey", "\(bad)")
        }
        let reference = ArchiveReference(
            baseOffset: 10, lastOffset: 99, segmentCount: 1, key: try #require(layout.relative(key)))
        try ManifestRules.checkArchive(reference, topic: "orders/3", field: "a", expectedBase: 10)
        for bad in ["-00FF00FF00FF00FF.json", "-00ff00ff00ff00f.json", ".json.json", "-00ff00ff00ff00ff.jsonx"] {
            var wrong = reference
            wrong.key = "topics/orders/3/archive/00000000000000000010-00000000000000000099" + bad
            #expect(
                formatError { () throws(FormatError) in
                    try ManifestRules.checkArchive(wrong, topic: "orders/3", field: "a", expectedBase: 10)
                }?.field == "a.key", "\(bad)")
        }
    }

    @Test func hotFileNames() {
        #expect(BucketLayout.hotSegmentFileName(baseOffset: 5) == "00000000000000000005.seg")
        #expect(BucketLayout.hotIndexFileName(baseOffset: 5) == "00000000000000000005.idx")
        let parsed = BucketLayout.parseHotFileName("00000000000000000005.idx")
        #expect(parsed?.baseOffset == 5 && parsed?.kind == .index)
        #expect(BucketLayout.parseHotFileName("00000000000000000005.seg.tmp") == nil)
        #expect(BucketLayout.parseHotFileName("5.seg") == nil)
    }

    @Test func topicNames() {
        for good in ["a", "orders.v1", "A-Z_0.9", String(repeating: "x", count: 249), "...", ".a"] {
            #expect(TopicName.isValid(good), "\(good)")
        }
        let bad: [(String, FormatError.Code)] = [
            ("", .outOfBounds), (".", .invalidValue), ("..", .invalidValue), ("a/b", .invalidValue),
            (String(repeating: "x", count: 250), .outOfBounds), ("café", .invalidValue), ("a b", .invalidValue),
            ("日本", .invalidValue), ("a\u{0}", .invalidValue),
        ]
        for (name, code) in bad {
            let error = formatError { () throws(FormatError) in try TopicName.validate(name) }
            #expect(error?.code == code, "\(name)")
            #expect(error?.field == "topic")
        }
        #expect(formatError { () throws(FormatError) in try TopicName.validate("ab/c") }?.position == 2)
    }
}
