import Foundation
import Testing

@testable import StrataBlob

/// The S3 entry of `ContractStores`: the BlobStore contract suite also runs on the test
/// server when `STRATA_S3_TEST_ENDPOINT` is set (tools/test, tools/test-s3).
enum S3ContractStores {
    static func all() -> [StoreFactory] {
        S3TestServer.isConfigured ? [s3] : []
    }

    /// AWS lists in UTF-8 byte order; SeaweedFS (`STRATA_S3_TEST_SERVER=seaweedfs`, set by
    /// tools/s3-server) lists its directory tree depth-first, as if `/` sorted before every byte.
    static func byteOrderListing() -> [StoreFactory] {
        S3TestServer.environment["STRATA_S3_TEST_SERVER"] == "seaweedfs" ? [] : all()
    }

    /// Each store gets a fresh prefix; closing deletes what the test left under it.
    static let s3 = StoreFactory(name: "s3", paginationKeyCount: 1_200, paginationPageLimit: 500) {
        let store = try S3TestServer.store("contract")
        return OpenedStore(store: store) {
            if let keys = try? await store.listAll(prefix: "").map(\.key) { try? await store.delete(keys) }
        }
    }
}

/// Pins down SeaweedFS's listing order, so a change there (towards S3's byte order) is noticed
/// and `byteOrderListing` can include it again.
@Suite(.enabled(if: S3TestServer.environment["STRATA_S3_TEST_SERVER"] == "seaweedfs", "SeaweedFS only"))
struct S3SeaweedFSListingOrderTests {
    @Test func listsDirectoriesDepthFirstNotInByteOrder() async throws {
        let store = try S3TestServer.store("order")
        let keys = ["Z", "a-1", "a.b", "a/b-d", "a/b.c", "a/b/c", "a0"]
        for key in keys { try await store.put(key, [1], mode: .overwrite) }
        let treeOrder = ["Z", "a/b/c", "a/b-d", "a/b.c", "a-1", "a.b", "a0"]
        #expect(try await store.listAll(prefix: "").map(\.key) == treeOrder)
        #expect(try await store.listAll(prefix: "", pageLimit: 2).map(\.key) == treeOrder)
        // Within one directory, and for keys without '/', both orders agree.
        #expect(try await store.listAll(prefix: "a/b/").map(\.key) == ["a/b/c"])
    }
}
