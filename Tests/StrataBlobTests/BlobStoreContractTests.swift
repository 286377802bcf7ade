import Foundation
import Testing

@testable import StrataBlob

/// The behaviour every `BlobStore` promises (ARCHITECTURE.md §6), run against each store in
/// `ContractStores.all()`.
@Suite("BlobStore contract")
struct BlobStoreContractTests {
    @Test(arguments: ContractStores.all())
    func putThenGetReturnsTheSameBytes(factory: StoreFactory) async throws {
        try await withStore(factory) { store in
            let payload = (0 ..< 10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try await store.put("topics/t/segments/1.seg.zst", payload, mode: .overwrite)
            try await store.put("empty", [], mode: .overwrite)
            let data = try await store.get("topics/t/segments/1.seg.zst", range: .whole)
            #expect(data == BlobData(bytes: payload, offset: 0, objectSize: 10_000))
            #expect(try await store.get("empty", range: .whole) == BlobData(bytes: [], offset: 0, objectSize: 0))
        }
    }

    @Test(arguments: ContractStores.all())
    func overwriteReplacesTheObject(factory: StoreFactory) async throws {
        try await withStore(factory) { store in
            try await store.put("k", bytes("first version"), mode: .overwrite)
            try await store.put("k", bytes("second"), mode: .overwrite)
            #expect(try await store.get("k", range: .whole).bytes == bytes("second"))
            #expect(try await store.head("k").size == 6)
        }
    }

    @Test(arguments: ContractStores.all())
    func ifAbsentOnAnExistingKeyFailsAndKeepsTheOriginal(factory: StoreFactory) async throws {
        try await withStore(factory) { store in
            try await store.put("manifest/00000000000000000001.json", bytes("v1"), mode: .ifAbsent)
            await expectBlobError(.preconditionFailed) {
                try await store.put("manifest/00000000000000000001.json", bytes("stale writer"), mode: .ifAbsent)
            }
            #expect(try await store.get("manifest/00000000000000000001.json", range: .whole).bytes == bytes("v1"))
            #expect(try await store.listAll(prefix: "").map(\.key) == ["manifest/00000000000000000001.json"])
        }
    }

    @Test(arguments: ContractStores.all())
    func concurrentIfAbsentPutsHaveExactlyOneWinner(factory: StoreFactory) async throws {
        try await withStore(factory) { store in
            let writerCount = 24
            let winners = try await withThrowingTaskGroup(of: Int?.self) { group in
                for writer in 0 ..< writerCount {
                    group.addTask {
                        do {
                            try await store.put("race/manifest", bytes("writer \(writer)"), mode: .ifAbsent)
                            return writer
                        } catch let error as BlobError where error.code == .preconditionFailed {
                            return nil
                        }
                    }
                }
                return try await group.reduce(into: [Int]()) { if let winner = $1 { $0.append(winner) } }
            }
            try #require(winners.count == 1)
            #expect(try await store.get("race/manifest", range: .whole).bytes == bytes("writer \(winners[0])"))
        }
    }

    @Test(arguments: ContractStores.all())
    func rangesAreCutAtTheEndAndRejectedPastIt(factory: StoreFactory) async throws {
        try await withStore(factory) { store in
            try await store.put("r", bytes("0123456789"), mode: .overwrite)
            let middle = try await store.get("r", range: .range(offset: 3, length: 4))
            #expect(middle == BlobData(bytes: bytes("3456"), offset: 3, objectSize: 10))
            let pastEnd = try await store.get("r", range: .range(offset: 7, length: 100))
            #expect(pastEnd == BlobData(bytes: bytes("789"), offset: 7, objectSize: 10))
            let atEnd = try await store.get("r", range: .range(offset: 10, length: 5))
            #expect(atEnd == BlobData(bytes: [], offset: 10, objectSize: 10))
            #expect(try await store.get("r", range: .suffix(length: 3)).bytes == bytes("789"))
            let longSuffix = try await store.get("r", range: .suffix(length: 50))
            #expect(longSuffix == BlobData(bytes: bytes("0123456789"), offset: 0, objectSize: 10))
            await expectBlobError(.invalid) { _ = try await store.get("r", range: .range(offset: 11, length: 1)) }
            await expectBlobError(.invalid) { _ = try await store.get("r", range: .range(offset: -1, length: 1)) }
            await expectBlobError(.invalid) { _ = try await store.get("r", range: .suffix(length: -1)) }
        }
    }

    @Test(arguments: ContractStores.all())
    func headReportsSizeAndTime(factory: StoreFactory) async throws {
        try await withStore(factory) { store in
            let beforeMs = Int64(Date().timeIntervalSince1970 * 1000) - 5_000
            try await store.put("a/b", [UInt8](repeating: 7, count: 1234), mode: .overwrite)
            let info = try await store.head("a/b")
            #expect(info.key == "a/b")
            #expect(info.size == 1234)
            #expect(info.modifiedMs > beforeMs)
        }
    }

    @Test(arguments: ContractStores.all())
    func missingKeysAreNotFound(factory: StoreFactory) async throws {
        try await withStore(factory) { store in
            try await store.put("dir/present", bytes("x"), mode: .overwrite)
            await expectBlobError(.notFound) { _ = try await store.get("absent", range: .whole) }
            await expectBlobError(.notFound) { _ = try await store.head("absent") }
            await expectBlobError(.notFound) { _ = try await store.get("dir/absent", range: .suffix(length: 1)) }
            // A "directory" of keys is not an object.
            await expectBlobError(.notFound) { _ = try await store.head("dir") }
            await expectBlobError(.notFound) { _ = try await store.get("dir", range: .whole) }
        }
    }

    @Test(arguments: ContractStores.all())
    func listPaginatesInKeyOrderWithinThePrefix(factory: StoreFactory) async throws {
        try await withStore(factory) { store in
            let keys = (0 ..< factory.paginationKeyCount).map { index in
                "p/\(index % 7)/k" + String(format: "%05d", index)
            }
            for key in keys.shuffled() { try await store.put(key, bytes(key), mode: .overwrite) }
            try await store.put("other/k", [], mode: .overwrite)
            try await store.put("p-sibling", [], mode: .overwrite)

            var pages: [BlobListPage] = []
            var token: String?
            repeat {
                let page = try await store.list(prefix: "p/", continuation: token, limit: factory.paginationPageLimit)
                pages.append(page)
                token = page.continuation
            } while token != nil && pages.count <= keys.count

            let expectedPageCount = (keys.count + factory.paginationPageLimit - 1) / factory.paginationPageLimit
            #expect(pages.count == expectedPageCount)
            #expect(pages.allSatisfy { $0.objects.count <= factory.paginationPageLimit })
            #expect(pages.flatMap(\.objects).map(\.key) == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            #expect(pages.flatMap(\.objects).allSatisfy { $0.size == Int64($0.key.utf8.count) })
        }
    }

    @Test(arguments: ContractStores.byteOrderListing())
    func listSortsByUTF8BytesAcrossSubdirectories(factory: StoreFactory) async throws {
        try await withStore(factory) { store in
            // In byte order: '-' 0x2D < '.' 0x2E < '/' 0x2F < '0' 0x30; "e\u{301}" (0x65 …) < "é" (0xC3 …),
            // two keys although Swift's == calls them equal.
            let expected = ["Z", "a-1", "a.b", "a/b-d", "a/b.c", "a/b/c", "a0", "e\u{301}", "é"]
            for key in expected.reversed() { try await store.put(key, bytes(key), mode: .overwrite) }
            #expect(try await store.listAll(prefix: "").map(\.key) == expected)
            #expect(try await store.listAll(prefix: "", pageLimit: 1).map(\.key) == expected)
            #expect(try await store.listAll(prefix: "a/b", pageLimit: 2).map(\.key) == ["a/b-d", "a/b.c", "a/b/c"])
            #expect(try await store.listAll(prefix: "a/b/").map(\.key) == ["a/b/c"])
            #expect(try await store.listAll(prefix: "nothing").isEmpty)
            let afterMiddle = try await store.list(prefix: "", continuation: "a/b.c", limit: 2)
            #expect(afterMiddle.objects.map(\.key) == ["a/b/c", "a0"])
        }
    }

    @Test(arguments: ContractStores.all())
    func listRejectsNonPositiveLimits(factory: StoreFactory) async throws {
        try await withStore(factory) { store in
            await expectBlobError(.invalid) { _ = try await store.list(prefix: "", continuation: nil, limit: 0) }
        }
    }

    @Test(arguments: ContractStores.all())
    func deleteRemovesKeysAndIgnoresMissingOnes(factory: StoreFactory) async throws {
        try await withStore(factory) { store in
            for key in ["d/1", "d/2", "d/sub/3", "keep"] { try await store.put(key, bytes(key), mode: .overwrite) }
            try await store.delete(["d/1", "missing", "d/sub/3", "d/sub/missing", "nodir/x"])
            #expect(try await store.listAll(prefix: "").map(\.key) == ["d/2", "keep"])
            try await store.delete([])
            await expectBlobError(.notFound) { _ = try await store.head("d/1") }
        }
    }

    @Test(arguments: ContractStores.all())
    func invalidKeysAreRejectedAndWriteNothing(factory: StoreFactory) async throws {
        let badKeys = [
            "", "/abs", "a//b", "trailing/", "a/./b", "../x", "a/..", ".", "x\0y", ".tmp-1", "a/.tmp-x",
            String(repeating: "k", count: BlobLimits.keyBytesMax + 1),
        ]
        try await withStore(factory) { store in
            try await store.put("keep", bytes("x"), mode: .overwrite)
            for key in badKeys {
                await expectBlobError(.invalid) { try await store.put(key, bytes("bad"), mode: .overwrite) }
                await expectBlobError(.invalid) { try await store.put(key, bytes("bad"), mode: .ifAbsent) }
                await expectBlobError(.invalid) { _ = try await store.get(key, range: .whole) }
                await expectBlobError(.invalid) { _ = try await store.head(key) }
                await expectBlobError(.invalid) { try await store.delete(["keep", key]) }
            }
            #expect(try await store.listAll(prefix: "").map(\.key) == ["keep"])
        }
    }
}
