import Foundation

/// How `put` treats an existing object.
public enum PutMode: Sendable, Equatable {
    /// Replace whatever is there.
    case overwrite
    /// Create only if no object has the key; otherwise fail with `BlobError.Code.preconditionFailed`.
    /// This is the fencing primitive for manifests (S3 `If-None-Match: *`, filesystem `link`).
    case ifAbsent
}

/// Which bytes of an object `get` returns.
public enum ByteRange: Sendable, Equatable {
    case whole
    /// `length` bytes from `offset`; a range running past the end is cut at the end.
    case range(offset: Int64, length: Int64)
    /// The last `length` bytes (the whole object if it is shorter).
    case suffix(length: Int64)
}

/// Metadata of one stored object.
public struct BlobInfo: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// Last modification, milliseconds since the Unix epoch (0 when the store cannot tell).
    public var modifiedMs: Int64

    public init(key: String, size: Int64, modifiedMs: Int64) {
        self.key = key
        self.size = size
        self.modifiedMs = modifiedMs
    }
}

/// Bytes returned by `get`, with where they sit in the object.
public struct BlobData: Sendable, Equatable {
    public var bytes: [UInt8]
    /// Position of `bytes[0]` in the object.
    public var offset: Int64
    /// Size of the whole object.
    public var objectSize: Int64

    public init(bytes: [UInt8], offset: Int64, objectSize: Int64) {
        self.bytes = bytes
        self.offset = offset
        self.objectSize = objectSize
    }
}

/// One page of a listing, keys in ascending byte order.
public struct BlobListPage: Sendable, Equatable {
    public var objects: [BlobInfo]
    /// Pass back to `list` to get the next page; nil on the last page.
    public var continuation: String?

    public init(objects: [BlobInfo], continuation: String?) {
        self.objects = objects
        self.continuation = continuation
    }
}

/// The small object-store interface everything in Strata's cold tier is written against
/// (ARCHITECTURE.md §6). Keys are `/`-separated relative paths built by `Keys`; stores never interpret them
/// beyond that.
public protocol BlobStore: Sendable {
    /// Where the store points, safe to print (never contains secrets), e.g. `file:///var/cold`.
    var location: String { get }

    /// Stores `bytes` under `key`. Throws `preconditionFailed` for `.ifAbsent` on an existing key.
    func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws

    /// Reads `range` of `key`. Throws `notFound`; `invalid` for a range starting past the end.
    func get(_ key: String, range: ByteRange) async throws -> BlobData

    /// Size and modification time of `key`. Throws `notFound`.
    func head(_ key: String) async throws -> BlobInfo

    /// Up to `limit` objects whose keys start with `prefix`, after `continuation`.
    func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage

    /// Deletes `keys`; keys that do not exist are not an error.
    func delete(_ keys: [String]) async throws
}

/// The one error type of the blob layer.
public struct BlobError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The key does not exist.
        case notFound
        /// A conditional put lost: the key already exists.
        case preconditionFailed
        /// Transient: the store could not be reached or asked to slow down. Retrying may help.
        case unavailable
        /// The request was wrong (bad key, bad range, bad configuration). Retrying will not help.
        case invalid
        /// The store refused the credentials or the permission.
        case denied
        /// Bytes came back damaged or short.
        case corrupt
    }

    public var code: Code
    public var message: String
    /// The object key concerned, if any.
    public var key: String?
    /// `BlobStore.location` of the store that failed.
    public var location: String
    public var cause: String?

    public init(_ code: Code, _ message: String, key: String? = nil, location: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.key = key
        self.location = location
        self.cause = cause
    }

    public var isRetryable: Bool { code == .unavailable }

    public var description: String {
        var text = "blob \(code.rawValue): \(message) [\(location)"
        if let key { text += " key=\(key)" }
        text += "]"
        if let cause { text += " (\(cause))" }
        return text
    }
}

extension BlobStore {
    /// Lists every object under `prefix`, following continuation tokens.
    public func listAll(prefix: String, pageLimit: Int = 1000) async throws -> [BlobInfo] {
        var result: [BlobInfo] = []
        var token: String? = nil
        repeat {
            let page = try await list(prefix: prefix, continuation: token, limit: pageLimit)
            result.append(contentsOf: page.objects)
            token = page.continuation
        } while token != nil
        return result
    }
}
