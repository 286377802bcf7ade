import StrataTesting
import Testing

@testable import StrataBlob

@Suite("MemoryBlobStore")
struct MemoryBlobStoreTests {
    @Test func testHooksSeeAndDamageObjects() async throws {
        let store = MemoryBlobStore(name: "hooks", nowMs: { 42 })
        #expect(store.location == "memory://hooks")
        try await store.put("b", bytes("abc"), mode: .overwrite)
        store.setRaw("a/torn", bytes("xy"))
        #expect(store.keys() == ["a/torn", "b"])
        try store.corrupt(key: "b", at: 1, xor: 0x01)
        #expect(try await store.get("b", range: .whole).bytes == bytes("acc"))
        #expect(try await store.head("b").modifiedMs == 42)
        #expect(throws: BlobError.self) { try store.corrupt(key: "missing", at: 0) }
        #expect(throws: BlobError.self) { try store.corrupt(key: "b", at: 3) }
    }

    @Test func namedStoresAreSharedWithinTheProcess() async throws {
        let first = MemoryBlobStore.named("shared-test")
        try await first.put("k", bytes("v"), mode: .overwrite)
        #expect(MemoryBlobStore.named("shared-test") === first)
        #expect(MemoryBlobStore.named("other-test") !== first)
    }

    @Test func pagesAreCappedAtTheListMaximum() async throws {
        let store = MemoryBlobStore()
        for index in 0 ..< BlobLimits.listPageMax + 5 { store.setRaw("k\(index)", []) }
        let page = try await store.list(prefix: "", continuation: nil, limit: 5_000)
        #expect(page.objects.count == BlobLimits.listPageMax)
        #expect(page.continuation != nil)
    }
}
