import StrataBlob
import Synchronization

/// Request and byte counters of the cold tier, for `consume --stats`, benchmarks and the tests
/// that prove a cold seek costs at most two requests.
public struct BlobStats: Sendable, Equatable {
    public var requests = 0
    public var getRequests = 0
    public var putRequests = 0
    public var bytesRead: Int64 = 0
    public var bytesWritten: Int64 = 0
}

/// Wraps the cold store and counts what goes through it.
final class CountingBlobStore: BlobStore {
    let inner: any BlobStore
    private let stats = Mutex(BlobStats())
    let metrics: EngineMetrics

    init(_ inner: any BlobStore, metrics: EngineMetrics) {
        self.inner = inner
        self.metrics = metrics
    }

    /// Runs one request, counting its failure by kind (strata_blob_errors_total).
    private func counted<T>(_ call: () async throws -> T) async throws -> T {
        do { return try await call() } catch {
            metrics.blobFailed(error)
            throw error
        }
    }

    var location: String { inner.location }
    var snapshot: BlobStats { stats.withLock { $0 } }

    func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
        stats.withLock {
            $0.requests += 1
            $0.putRequests += 1
            $0.bytesWritten += Int64(bytes.count)
        }
        metrics.blobPuts.increment()
        metrics.blobBytesWritten.increment(by: bytes.count)
        try await counted { try await inner.put(key, bytes, mode: mode) }
    }

    func get(_ key: String, range: ByteRange) async throws -> BlobData {
        stats.withLock {
            $0.requests += 1
            $0.getRequests += 1
        }
        metrics.blobGets.increment()
        let data = try await counted { try await inner.get(key, range: range) }
        stats.withLock { $0.bytesRead += Int64(data.bytes.count) }
        metrics.blobBytesRead.increment(by: data.bytes.count)
        return data
    }

    func head(_ key: String) async throws -> BlobInfo {
        stats.withLock { $0.requests += 1 }
        metrics.blobHeads.increment()
        return try await counted { try await inner.head(key) }
    }

    func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage {
        stats.withLock { $0.requests += 1 }
        metrics.blobLists.increment()
        return try await counted { try await inner.list(prefix: prefix, continuation: continuation, limit: limit) }
    }

    func delete(_ keys: [String]) async throws {
        stats.withLock { $0.requests += 1 }
        metrics.blobDeletes.increment()
        try await counted { try await inner.delete(keys) }
    }
}
