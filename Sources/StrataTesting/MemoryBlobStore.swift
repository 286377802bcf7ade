import Foundation
import StrataBlob
import Synchronization

/// A thread-safe in-process store with the same semantics as the filesystem and S3 stores,
/// for tests. No URL reaches it: a store that dies with the process is no cold tier. Tests can
/// reach inside (`keys()`, `setRaw`, `corrupt`) to simulate damage the real stores would suffer.
public final class MemoryBlobStore: BlobStore {
    private struct Object {
        var key: String
        var bytes: [UInt8]
        var modifiedMs: Int64
    }

    /// `memory://` followed by the store's name.
    public let location: String
    /// Objects by the UTF-8 bytes of their key: `String` equality would merge canonically
    /// equivalent keys that the other stores keep apart.
    private let objects = Mutex<[[UInt8]: Object]>([:])
    private let nowMs: @Sendable () -> Int64

    /// Creates an empty store.
    /// - Parameters:
    ///   - name: shows in `location` as `memory://<name>`.
    ///   - nowMs: the clock for `modifiedMs`, milliseconds since the Unix epoch.
    public init(name: String = "default", nowMs: @escaping @Sendable () -> Int64 = MemoryBlobStore.wallClockMs) {
        self.location = "memory://" + name
        self.nowMs = nowMs
    }

    /// Milliseconds since the Unix epoch from the system clock.
    public static let wallClockMs: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

    private static let registry = Mutex<[String: MemoryBlobStore]>([:])

    /// The process-wide store called `name`, created on first use, so opening `memory://name`
    /// twice (e.g. a lake reopened in a test) finds the same objects.
    public static func named(_ name: String) -> MemoryBlobStore {
        registry.withLock { stores in
            if let store = stores[name] { return store }
            let store = MemoryBlobStore(name: name)
            stores[name] = store
            return store
        }
    }

    /// Stores a copy of `bytes`. Throws `invalid` for a bad key, `preconditionFailed` for
    /// `.ifAbsent` on an existing key.
    public func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
        try BlobKey.validate(key, location: location)
        let modifiedMs = nowMs()
        let stored = objects.withLock { objects in
            if mode == .ifAbsent, objects[Array(key.utf8)] != nil { return false }
            objects[Array(key.utf8)] = Object(key: key, bytes: bytes, modifiedMs: modifiedMs)
            return true
        }
        guard stored else { throw BlobError(.preconditionFailed, "key exists", key: key, location: location) }
    }

    /// Reads `range` of `key`. Throws `notFound`, `invalid` (bad key or range).
    public func get(_ key: String, range: ByteRange) async throws -> BlobData {
        let object = try existing(key)
        let size = Int64(object.bytes.count)
        let (offset, length) = try range.resolve(size: size, key: key, location: location)
        let bytes = Array(object.bytes[Int(offset) ..< Int(offset + length)])
        return BlobData(bytes: bytes, offset: offset, objectSize: size)
    }

    /// Size and time of the last put. Throws `notFound`, `invalid` for a bad key.
    public func head(_ key: String) async throws -> BlobInfo {
        let object = try existing(key)
        return BlobInfo(key: key, size: Int64(object.bytes.count), modifiedMs: object.modifiedMs)
    }

    /// Keys in UTF-8 byte order; the continuation is the last key returned.
    /// Throws `invalid` for `limit < 1`; larger limits are cut to `BlobLimits.listPageMax`.
    public func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage {
        let pageLimit = try BlobKey.pageLimit(limit, location: location)
        let matching = objects.withLock { objects in
            objects.values
                .filter { BlobKey.hasPrefix($0.key, prefix) }
                .filter { object in continuation.map { BlobKey.precedes($0, object.key) } ?? true }
                .map { BlobInfo(key: $0.key, size: Int64($0.bytes.count), modifiedMs: $0.modifiedMs) }
        }
        let sorted = matching.sorted { BlobKey.precedes($0.key, $1.key) }
        guard sorted.count > pageLimit else { return BlobListPage(objects: sorted, continuation: nil) }
        let page = Array(sorted.prefix(pageLimit))
        return BlobListPage(objects: page, continuation: page.last?.key)
    }

    /// Deletes `keys`; missing ones are skipped. Throws `invalid` (deleting nothing) for a bad key.
    public func delete(_ keys: [String]) async throws {
        for key in keys { try BlobKey.validate(key, location: location) }
        objects.withLock { objects in
            for key in keys { objects[Array(key.utf8)] = nil }
        }
    }

    // MARK: - Test hooks

    /// Every key, in UTF-8 byte order.
    public func keys() -> [String] {
        objects.withLock { $0.values.map(\.key) }.sorted(by: BlobKey.precedes)
    }

    /// Replaces the stored bytes of `key` without the checks of `put` (e.g. to plant a torn object).
    public func setRaw(_ key: String, _ bytes: [UInt8]) {
        let modifiedMs = nowMs()
        objects.withLock { $0[Array(key.utf8)] = Object(key: key, bytes: bytes, modifiedMs: modifiedMs) }
    }

    /// Flips bits of the byte at `position` of `key`: `byte ^= xor`.
    /// - Throws: `notFound` if there is no such key, `invalid` if `position` is outside the object.
    public func corrupt(key: String, at position: Int, xor: UInt8 = 0xFF) throws {
        let outcome: BlobError.Code? = objects.withLock { objects in
            guard var object = objects[Array(key.utf8)] else { return .notFound }
            guard object.bytes.indices.contains(position) else { return .invalid }
            object.bytes[position] ^= xor
            objects[Array(key.utf8)] = object
            return nil
        }
        if let outcome {
            throw BlobError(outcome, "cannot corrupt byte \(position)", key: key, location: location)
        }
    }

    private func existing(_ key: String) throws -> Object {
        try BlobKey.validate(key, location: location)
        guard let object = objects.withLock({ $0[Array(key.utf8)] }) else {
            throw BlobError(.notFound, "no such key", key: key, location: location)
        }
        return object
    }
}
