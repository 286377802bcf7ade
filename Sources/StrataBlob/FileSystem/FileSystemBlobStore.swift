import Foundation
import Glibc

/// The embedded default store (ARCHITECTURE.md §6): one file per key under a root directory.
///
/// A put writes a `.tmp-…` file beside the target, fsyncs it, then renames it into place
/// (`.overwrite`) or links it (`.ifAbsent`, so exactly one of racing writers wins), and fsyncs
/// the directory. Readers therefore see either the old or the new object, never a torn one,
/// and a crash leaves at most a `.tmp-…` file that listings ignore.
///
/// A key cannot be both an object and a "directory" of other keys here (`a` and `a/b`):
/// such a put throws `invalid`.
///
/// Every call's system calls run on a Dispatch thread (`blocking`), never on the caller's: a
/// put's two fsyncs take milliseconds, and on the cooperative pool (two threads on a 2-core
/// machine) they stalled every other task of the process, and let at most two puts wait on the
/// disk at once where the file system commits many concurrent fsyncs together.
public final class FileSystemBlobStore: BlobStore {
    /// Absolute path of the root directory, without a trailing `/`.
    public let root: String
    /// `file://` followed by `root`.
    public let location: String

    /// Opens (and creates, with missing parents, if absent) the store rooted at `root`.
    /// - Parameter root: a directory path; a relative one is taken from the current directory.
    /// - Throws: `BlobError` `denied` or `unavailable` if the directory cannot be created.
    public init(root: String) throws {
        let absolute = URL(fileURLWithPath: root).standardizedFileURL.path
        let trimmed = absolute.count > 1 && absolute.hasSuffix("/") ? String(absolute.dropLast()) : absolute
        self.root = trimmed
        self.location = "file://" + trimmed
        do {
            try Self.makeDirectories(trimmed.split(separator: "/").map(String.init), under: "")
        } catch {
            throw FileSystemErrors.map(error, operation: .put, key: nil, location: location)
        }
    }

    /// Writes `bytes` under `key` durably (file and directory fsynced before returning).
    /// - Throws: `invalid` for a bad key, `preconditionFailed` for `.ifAbsent` on an existing key,
    ///   `denied`, `unavailable` (e.g. disk full).
    public func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
        try BlobKey.validate(key, location: location)
        try await blocking { try self.putBlocking(key, bytes, mode: mode) }
    }

    private func putBlocking(_ key: String, _ bytes: [UInt8], mode: PutMode) throws {
        let components = key.split(separator: "/").map(String.init)
        let directory = ([root] + components.dropLast()).joined(separator: "/")
        let target = root + "/" + key
        do {
            let temp = try writeTempFile(bytes, in: directory, keyComponents: components)
            defer { try? Posix.unlink(temp) }  // After a rename this finds nothing: harmless.
            try publish(temp, as: target, mode: mode, key: key)
            try Posix.fsyncDirectory(directory)
        } catch let error as BlobError {
            throw error
        } catch {
            throw FileSystemErrors.map(error, operation: .put, key: key, location: location)
        }
    }

    /// Reads `range` of `key` with `pread`.
    /// - Throws: `notFound`, `invalid` (bad key or range), `corrupt` if the file reads short.
    public func get(_ key: String, range: ByteRange) async throws -> BlobData {
        try BlobKey.validate(key, location: location)
        return try await blocking { try self.getBlocking(key, range: range) }
    }

    private func getBlocking(_ key: String, range: ByteRange) throws -> BlobData {
        do {
            let path = root + "/" + key
            let fd = try Posix.open(path, O_RDONLY)
            defer { Posix.close(fd) }
            let size = try regularFileSize(try Posix.fstat(fd, path: path), key: key)
            let (offset, length) = try range.resolve(size: size, key: key, location: location)
            let bytes = try Posix.read(fd, at: offset, count: Int(length), path: path)
            guard bytes.count == Int(length) else {
                throw BlobError(
                    .corrupt, "read \(bytes.count) of \(length) bytes at \(offset)", key: key,
                    location: location)
            }
            return BlobData(bytes: bytes, offset: offset, objectSize: size)
        } catch let error as BlobError {
            throw error
        } catch {
            throw FileSystemErrors.map(error, operation: .read, key: key, location: location)
        }
    }

    /// Size and modification time from `stat`.
    /// - Throws: `notFound`, `invalid` for a bad key.
    public func head(_ key: String) async throws -> BlobInfo {
        try BlobKey.validate(key, location: location)
        do {
            let info = try Posix.stat(root + "/" + key)
            let size = try regularFileSize(info, key: key)
            return BlobInfo(key: key, size: size, modifiedMs: Posix.modifiedMs(info))
        } catch let error as BlobError {
            throw error
        } catch {
            throw FileSystemErrors.map(error, operation: .read, key: key, location: location)
        }
    }

    /// Walks the tree in key order, visiting only directories that can hold keys after
    /// `continuation` that start with `prefix`. The continuation is the last key returned.
    /// - Throws: `invalid` for `limit < 1`; `denied`/`unavailable` if the root cannot be read.
    public func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage {
        let pageLimit = try BlobKey.pageLimit(limit, location: location)
        let found = try await blocking { () throws -> [BlobInfo] in
            var walk = FileSystemListing(prefix: prefix, after: continuation, wanted: pageLimit + 1)
            do {
                try walk.visit(directory: self.root, keyPrefix: "")
            } catch {
                throw FileSystemErrors.map(error, operation: .list, key: nil, location: self.location)
            }
            return walk.found
        }
        guard found.count > pageLimit else { return BlobListPage(objects: found, continuation: nil) }
        let page = Array(found.prefix(pageLimit))
        return BlobListPage(objects: page, continuation: page.last?.key)
    }

    /// Unlinks every key, then fsyncs the directories touched. Missing keys are skipped.
    /// - Throws: `invalid` if any key is bad (then nothing is deleted), `denied`, `unavailable`.
    public func delete(_ keys: [String]) async throws {
        for key in keys { try BlobKey.validate(key, location: location) }
        try await blocking { try self.deleteBlocking(keys) }
    }

    private func deleteBlocking(_ keys: [String]) throws {
        var directories = Set<String>()
        for key in keys {
            let path = root + "/" + key
            do {
                try Posix.unlink(path)
                directories.insert(String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]))
            } catch  where [ENOENT, ENOTDIR, EISDIR].contains(error.code) {
                continue  // Not an object: nothing to delete.
            } catch {
                throw FileSystemErrors.map(error, operation: .delete, key: key, location: location)
            }
        }
        for directory in directories.sorted() {
            do {
                try Posix.fsyncDirectory(directory)
            } catch {
                throw FileSystemErrors.map(error, operation: .delete, key: nil, location: location)
            }
        }
    }

    // MARK: - Put steps

    /// Writes and fsyncs `bytes` into a fresh `.tmp-…` file in `directory`, creating the
    /// key's directories on first need. Returns the temp file's path.
    private func writeTempFile(_ bytes: [UInt8], in directory: String, keyComponents: [String]) throws -> String {
        let temp = directory + "/" + BlobKey.tempPrefix + String(UInt64.random(in: .min ... .max), radix: 16)
        let flags = O_WRONLY | O_CREAT | O_EXCL
        let fd: Int32
        do {
            fd = try Posix.open(temp, flags, mode: 0o644)
        } catch  where error.code == ENOENT {
            try Self.makeDirectories(Array(keyComponents.dropLast()), under: root)
            fd = try Posix.open(temp, flags, mode: 0o644)
        }
        defer { Posix.close(fd) }
        do {
            try Posix.writeAll(fd, bytes, path: temp)
            try Posix.fsync(fd, path: temp)
        } catch {
            try? Posix.unlink(temp)
            throw error
        }
        return temp
    }

    /// Moves the finished temp file to `target`: rename replaces, link fails if the name exists.
    private func publish(_ temp: String, as target: String, mode: PutMode, key: String) throws {
        switch mode {
        case .overwrite:
            try Posix.rename(temp, target)
        case .ifAbsent:
            do {
                try Posix.link(temp, target)
            } catch  where error.code == EEXIST {
                throw BlobError(.preconditionFailed, "key exists", key: key, location: location)
            }
        }
    }

    /// Creates `base/c1`, `base/c1/c2`, … as needed, fsyncing the parent of each one created
    /// so the new directory entry survives a crash.
    private static func makeDirectories(_ components: [String], under base: String) throws(Errno) {
        var path = base
        for component in components {
            let parent = path.isEmpty ? "/" : path
            path += "/" + component
            if try Posix.makeDirectory(path) {
                try Posix.fsyncDirectory(parent)
            }
        }
    }

    private func regularFileSize(_ info: stat, key: String) throws -> Int64 {
        guard Posix.isRegularFile(info) else {
            throw BlobError(
                .notFound, "no such key (a directory of keys has that name)", key: key,
                location: location)
        }
        return Int64(info.st_size)
    }
}

/// Runs `body` on a Dispatch thread and resumes with its result: blocking system calls (fsync,
/// reads that miss the page cache, directory walks) stay off Swift's cooperative pool.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
