// Linux only (Strata targets Linux); calls are qualified `Glibc.` where Swift names clash.
import Glibc

/// A failed system call: which call, on which path, and the errno it set.
package struct Errno: Error, Sendable, CustomStringConvertible {
    package var code: Int32
    package var call: String
    /// The file or directory the call was about.
    package var path: String

    package init(code: Int32, call: String, path: String) {
        self.code = code
        self.call = call
        self.path = path
    }

    /// The C library's text for `code`, e.g. "No such file or directory".
    package var text: String { String(cString: strerror(code)) }

    package var description: String { "\(call) \(path): \(text) (errno \(code))" }
}

/// `stat(2)`; a free function because inside `Posix` the name `stat` means `Posix.stat`.
private func statFollowingLinks(_ path: String, _ info: inout stat) -> Int32 {
    stat(path, &info)
}

/// A directory entry as listings need it.
package struct DirectoryEntry: Sendable {
    package var name: String
    package var isDirectory: Bool
}

/// The one layer over the POSIX calls of the project (the hot tier's `FileIO` and the
/// filesystem store both go through it): it retries `EINTR`, loops on partial transfers, opens
/// every descriptor with `O_CLOEXEC` (a child process must not inherit segment files or the
/// lake lock), and turns `-1` into a thrown `Errno` naming the call and the path.
package enum Posix {
    /// `open(2)` with `O_CLOEXEC` added to `flags`.
    package static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(Errno) -> Int32 {
        Int32(try retryingEINTR("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) })
    }

    package static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only if the file ends first.
    /// - Returns: the bytes read.
    package static func pread(
        _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String
    ) throws(Errno) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            let got = try retryingEINTR("pread", path) {
                Glibc.pread(fd, base + done, buffer.count - done, off_t(offset) + off_t(done))
            }
            if got == 0 { break }
            done += got
        }
        return done
    }

    /// Reads up to `count` bytes at `offset`; fewer only if the file ends first.
    package static func read(_ fd: Int32, at offset: Int64, count: Int, path: String) throws(Errno) -> [UInt8] {
        var failure: Errno?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(Errno) {
                initialized = try pread(fd, into: UnsafeMutableRawBufferPointer(buffer), at: offset, path: path)
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return bytes
    }

    /// Writes every byte of `bytes` at `offset`, looping over partial writes.
    package static func writeAll(
        _ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String
    ) throws(Errno) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            done += try retryingEINTR("pwrite", path) {
                Glibc.pwrite(fd, base + done, bytes.count - done, off_t(offset) + off_t(done))
            }
        }
    }

    /// Writes `first` then `second` at `offset` with one `pwritev(2)` (no copy into one buffer),
    /// looping over partial writes.
    package static func writeAll(
        _ fd: Int32, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, at offset: Int64, path: String
    ) throws(Errno) {
        let total = first.count + second.count
        var done = 0
        while done < total {
            if done >= first.count {
                let rest = UnsafeRawBufferPointer(rebasing: second[(done - first.count)...])
                try writeAll(fd, rest, at: offset + Int64(done), path: path)
                return
            }
            let head = UnsafeRawBufferPointer(rebasing: first[done...])
            let count: Int32 = second.isEmpty ? 1 : 2
            let at = off_t(offset) + off_t(done)
            // On the stack: this runs once per journal entry, and an array literal is a heap
            // allocation unless the optimizer happens to promote it.
            done += try withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { v throws(Errno) in
                v[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress), iov_len: head.count)
                v[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress), iov_len: second.count)
                return try retryingEINTR("pwritev", path) { Glibc.pwritev(fd, v.baseAddress, count, at) }
            }
        }
    }

    /// Writes every byte of `bytes` at `offset`, looping over partial writes.
    package static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int64 = 0, path: String) throws(Errno) {
        let failure: Errno? = bytes.withUnsafeBytes { raw in
            do throws(Errno) {
                try writeAll(fd, raw, at: offset, path: path)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    package static func fsync(_ fd: Int32, path: String) throws(Errno) {
        _ = try retryingEINTR("fsync", path) { Glibc.fsync(fd) }
    }

    package static func fdatasync(_ fd: Int32, path: String) throws(Errno) {
        _ = try retryingEINTR("fdatasync", path) { Glibc.fdatasync(fd) }
    }

    package static func ftruncate(_ fd: Int32, size: Int64, path: String) throws(Errno) {
        _ = try retryingEINTR("ftruncate", path) { Glibc.ftruncate(fd, off_t(size)) }
    }

    /// Makes a directory's entries (created, renamed, unlinked names) durable.
    package static func fsyncDirectory(_ path: String) throws(Errno) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path: path)
    }

    /// `syncfs(2)`: writes back and makes durable every file of the filesystem holding `path`
    /// (data, metadata and directory entries), in one call; reports writeback errors the
    /// filesystem saw since (Linux 5.8 and later).
    /// - Throws: `ENOSYS` where the C library has no `syncfs` (callers then sync file by file).
    package static func syncFilesystem(containing path: String) throws(Errno) {
        guard let syncfs = libcSyncfs else { throw Errno(code: ENOSYS, call: "syncfs", path: path) }
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        _ = try retryingEINTR("syncfs", path) { syncfs(fd) }
    }

    private static let libcSyncfs = libcFunction("syncfs", as: (@convention(c) (Int32) -> Int32).self)

    /// A function of the loaded C library that Swift's Glibc module does not export (declared
    /// only under `_GNU_SOURCE`, or in a header it leaves out), looked up by name; nil where the
    /// library lacks it. Call it once and keep the result.
    package static func libcFunction<Function>(_ name: String, as type: Function.Type) -> Function? {
        guard let symbol = dlsym(nil, name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }

    package static func rename(_ from: String, _ to: String) throws(Errno) {
        _ = try retryingEINTR("rename", to) { Glibc.rename(from, to) }
    }

    package static func link(_ from: String, _ to: String) throws(Errno) {
        _ = try retryingEINTR("link", to) { Glibc.link(from, to) }
    }

    package static func unlink(_ path: String) throws(Errno) {
        _ = try retryingEINTR("unlink", path) { Glibc.unlink(path) }
    }

    /// Creates `path`; returns false if something already has that name.
    package static func makeDirectory(_ path: String) throws(Errno) -> Bool {
        if Glibc.mkdir(path, 0o755) == 0 { return true }
        if errno == EEXIST { return false }
        throw Errno(code: errno, call: "mkdir", path: path)
    }

    /// Whether anything has the name `path` (`access(F_OK)`; a dangling symlink does not count).
    package static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    package static func stat(_ path: String) throws(Errno) -> stat {
        var info = Glibc.stat()
        _ = try retryingEINTR("stat", path) { statFollowingLinks(path, &info) }
        return info
    }

    package static func fstat(_ fd: Int32, path: String) throws(Errno) -> stat {
        var info = Glibc.stat()
        _ = try retryingEINTR("fstat", path) { Glibc.fstat(fd, &info) }
        return info
    }

    /// Names in `path` except `.` and `..`, with whether each is a directory (symlinks followed;
    /// one that leads nowhere, or an entry removed meanwhile, is left out). Names that are not
    /// valid UTF-8 are left out too: no key, topic or segment can have one.
    package static func listDirectory(_ path: String) throws(Errno) -> [DirectoryEntry] {
        guard let dir = opendir(path) else { throw Errno(code: errno, call: "opendir", path: path) }
        defer { closedir(dir) }
        var entries: [DirectoryEntry] = []
        while let entry = readdir(dir) {
            let type = entry.pointee.d_type
            let name = withUnsafePointer(to: &entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(validatingCString: $0) }
            }
            guard let name, name != ".", name != ".." else { continue }
            if type == UInt8(DT_DIR) || type == UInt8(DT_REG) {
                entries.append(DirectoryEntry(name: name, isDirectory: type == UInt8(DT_DIR)))
            } else if let info = try? stat(path + "/" + name) {
                // DT_UNKNOWN (some filesystems) or a symlink: ask stat.
                entries.append(DirectoryEntry(name: name, isDirectory: isDirectory(info)))
            }
        }
        return entries
    }

    package static func isRegularFile(_ info: stat) -> Bool {
        (info.st_mode & S_IFMT) == S_IFREG
    }

    package static func isDirectory(_ info: stat) -> Bool {
        (info.st_mode & S_IFMT) == S_IFDIR
    }

    package static func modifiedMs(_ info: stat) -> Int64 {
        Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000
    }

    private static func retryingEINTR<R: BinaryInteger>(
        _ call: String, _ path: String, _ body: () -> R
    ) throws(Errno) -> Int {
        while true {
            let result = body()
            if result >= 0 { return Int(result) }
            if errno != EINTR { throw Errno(code: errno, call: call, path: path) }
        }
    }
}
