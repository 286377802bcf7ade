import Foundation
import StrataTesting
import Testing

@testable import StrataBlob

/// A store under test plus how to clean up after it.
struct OpenedStore: Sendable {
    let store: any BlobStore
    let close: @Sendable () async -> Void
}

/// How to make a fresh, empty store of one kind for the contract suite.
struct StoreFactory: Sendable, CustomTestStringConvertible {
    let name: String
    /// Size of the pagination test, chosen to keep each store's run quick.
    let paginationKeyCount: Int
    let paginationPageLimit: Int
    let open: @Sendable () async throws -> OpenedStore

    var testDescription: String { name }
}

/// Every store the contract suite runs against. To add S3, append a factory here (e.g. when
/// `STRATA_TEST_S3_URL` is set) whose `open` makes a fresh prefix and whose `close` deletes it.
enum ContractStores {
    static func all() -> [StoreFactory] {
        [memory, fileSystem] + S3ContractStores.all()
    }

    /// The stores whose listings follow UTF-8 byte order even across `/` (SeaweedFS walks its
    /// directory tree instead; S3ContractTests pins down that order).
    static func byteOrderListing() -> [StoreFactory] {
        [memory, fileSystem] + S3ContractStores.byteOrderListing()
    }

    static let memory = StoreFactory(name: "memory", paginationKeyCount: 2_500, paginationPageLimit: 1_000) {
        OpenedStore(store: MemoryBlobStore(name: "contract-\(UUID().uuidString)"), close: {})
    }

    static let fileSystem = StoreFactory(name: "filesystem", paginationKeyCount: 300, paginationPageLimit: 100) {
        let root = try TemporaryDirectory()
        return OpenedStore(store: try FileSystemBlobStore(root: root.path), close: { root.remove() })
    }
}

/// A unique directory under the system temp directory.
struct TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        path =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("strata-blob-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs `body` with a fresh store from `factory` and cleans up afterwards, also on failure.
func withStore(_ factory: StoreFactory, _ body: (any BlobStore) async throws -> Void) async throws {
    let opened = try await factory.open()
    do {
        try await body(opened.store)
    } catch {
        await opened.close()
        throw error
    }
    await opened.close()
}

/// Expects `body` to throw a `BlobError` with `code`.
func expectBlobError(
    _ code: BlobError.Code, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected BlobError.\(code), nothing thrown", sourceLocation: sourceLocation)
    } catch let error as BlobError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected BlobError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
}

func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}
