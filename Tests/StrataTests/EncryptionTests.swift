import Foundation
import StrataBlob
import StrataFormat
import StrataTesting
import Testing

@testable import Strata

/// Encryption at rest through the engine (ARCHITECTURE.md §2m): offload seals, cold reads open,
/// rotation keeps old objects readable while their key is in the ring, a missing key is named.
@Suite struct EncryptionTests {
    static let keyA = (id: "A", key: [UInt8]((0 ..< 32).map { UInt8($0) }))
    static let keyB = (id: "B", key: [UInt8]((0 ..< 32).map { UInt8(255 - $0) }))

    static func options(_ store: MemoryBlobStore, ring: [(id: String, key: [UInt8])]) throws -> LakeOptions {
        var options = ColdFixture.options(store: store)
        options.encryption = .aes256gcm
        options.keyRing = try ColdKeyRing(keys: ring)
        return options
    }

    /// Every cold object of the topic, parsed: its key id (nil: plain).
    static func objectKeyIds(_ store: MemoryBlobStore) async throws -> [String: String?] {
        var ids: [String: String?] = [:]
        for key in store.keys() where key.hasSuffix(".seg.zst") {
            let bytes = try await store.get(key, range: .whole).bytes
            ids[key] = try ColdObjectFooter.parse(object: bytes).encryption?.keyId
        }
        return ids
    }

    static func readEverything(_ topic: Topic, until end: Int) async throws -> [Record] {
        var cursor = try await Cursor(topic: topic, start: .offset(0))
        return try await ColdFixture.readAll(&cursor, until: Int64(end))
    }

    @Test func rotationSealsNewObjectsWithTheNewestKeyAndOldOnesStayReadable() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        let config = ColdFixture.smallSegments(segmentBytes: 16 * 1024, frameBytes: 4 * 1024)
        do {
            let lake = try Lake.open(dir, options: try Self.options(store, ring: [Self.keyA]))
            let topic = try lake.topic(ColdFixture.topicName, creatingWith: config)
            try await ColdFixture.produce(topic, 0 ..< 2_000)
            _ = try await lake.offload(evict: true)
            try await lake.close()
        }
        let first = try await Self.objectKeyIds(store)
        #expect(!first.isEmpty)
        #expect(first.values.allSatisfy { $0 == "A" }, "\(first)")
        // Nothing of a record's value is readable in the bucket: record 1's value bytes.
        let probe = try #require(ColdFixture.record(1).value)
        for key in first.keys {
            let bytes = try await store.get(key, range: .whole).bytes
            #expect(bytes.firstRange(of: probe) == nil, "\(key) holds plaintext")
        }
        do {
            let lake = try Lake.open(dir, options: try Self.options(store, ring: [Self.keyB, Self.keyA]))
            let topic = try lake.topic(ColdFixture.topicName)
            try await ColdFixture.produce(topic, 2_000 ..< 4_000)
            _ = try await lake.offload(evict: true)
            let records = try await Self.readEverything(topic, until: 4_000)
            #expect(records.count == 4_000)
            #expect(ColdFixture.firstMismatch(records, 0 ..< 4_000) == nil)
            try await lake.close()
        }
        let second = try await Self.objectKeyIds(store)
        let added = second.filter { first[$0.key] == nil }
        #expect(!added.isEmpty)
        #expect(added.values.allSatisfy { $0 == "B" }, "\(added)")
        // Key A dropped from the ring: the objects sealed with it are refused, naming it.
        let lake = try Lake.open(dir, options: try Self.options(store, ring: [Self.keyB]))
        let topic = try lake.topic(ColdFixture.topicName)
        var failure: (any Error)? = nil
        do { _ = try await Self.readEverything(topic, until: 4_000) } catch { failure = error }
        let error = try #require(failure as? StrataError)
        #expect(error.message.contains("'A'"), "\(error)")
        #expect(!error.message.contains("\(Self.keyA.key)"))
        try await lake.close()
    }

    @Test func aFlippedBitInAnEncryptedFrameIsAnAuthenticationFailureNamingTheObject() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let store = MemoryBlobStore()
        let lake = try Lake.open(dir, options: try Self.options(store, ring: [Self.keyA]))
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
        try await ColdFixture.produce(topic, 0 ..< 1_000)
        _ = try await lake.offload(evict: true)
        let object = try #require(store.keys().first { $0.hasSuffix(".seg.zst") })
        try store.corrupt(key: object, at: 20)
        var failure: (any Error)? = nil
        do { _ = try await Self.readEverything(topic, until: 1_000) } catch { failure = error }
        let error = try #require(failure as? StrataError)
        #expect(error.code == .corrupt)
        #expect(error.file == object || error.message.contains(object), "\(error)")
        #expect(error.message.contains("frame 0"), "\(error)")
        try await lake.close()
    }
}
