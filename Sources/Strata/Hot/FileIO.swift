import Glibc
import StrataBlob

/// The hot tier's face of the one POSIX layer (`Posix` in StrataBlob, which retries `EINTR`,
/// loops over short transfers and opens everything `O_CLOEXEC`): the same calls, with each
/// failure turned into a `StrataError` (`notFound` for `ENOENT`, else `io`) naming the call,
/// the file and the errno.
enum FileIO {
    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    static func ioError(_ what: String, _ path: String, errno code: Int32 = errno) -> StrataError {
        StrataError(
            code == ENOENT ? .notFound : .io, "\(what) failed: \(errnoText(code))", file: path,
            cause: "errno \(code)")
    }

    static func ioError(_ error: Errno) -> StrataError {
        ioError(error.call, error.path, errno: error.code)
    }

    /// Runs POSIX calls, mapping their `Errno` to the engine's error.
    private static func mapping<T>(_ body: () throws(Errno) -> T) throws(StrataError) -> T {
        do throws(Errno) { return try body() } catch { throw ioError(error) }
    }

    /// `open(2)`; the descriptor is always `O_CLOEXEC`.
    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(StrataError) -> Int32 {
        try mapping { () throws(Errno) in try Posix.open(path, flags, mode: mode) }
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at end of file.
    static func pread(
        _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String
    ) throws(StrataError) -> Int {
        try mapping { () throws(Errno) in try Posix.pread(fd, into: buffer, at: Int64(offset), path: path) }
    }

    /// Reads `count` bytes at `offset` (fewer at end of file).
    static func read(_ fd: Int32, count: Int, at offset: Int, path: String) throws(StrataError) -> [UInt8] {
        try mapping { () throws(Errno) in try Posix.read(fd, at: Int64(offset), count: count, path: path) }
    }

    static func pwriteAll(
        _ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String
    ) throws(StrataError) {
        try mapping { () throws(Errno) in try Posix.writeAll(fd, bytes, at: Int64(offset), path: path) }
    }

    /// `first` then `second` at `offset`, one `pwritev` (neither copied into the other).
    static func pwriteAll(
        _ fd: Int32, _ first: [UInt8], _ second: [UInt8], at offset: Int, path: String
    ) throws(StrataError) {
        try mapping { () throws(Errno) in
            // `withUnsafeBytes` rethrows untyped, so the typed error is carried out as a value.
            let failure: Errno? = first.withUnsafeBytes { head in
                second.withUnsafeBytes { tail in
                    do throws(Errno) {
                        try Posix.writeAll(fd, head, tail, at: Int64(offset), path: path)
                        return nil
                    } catch { return error }
                }
            }
            if let failure { throw failure }
        }
    }

    static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(StrataError) {
        try mapping { () throws(Errno) in try Posix.writeAll(fd, bytes, at: Int64(offset), path: path) }
    }

    static func fdatasync(_ fd: Int32, path: String) throws(StrataError) {
        try mapping { () throws(Errno) in try Posix.fdatasync(fd, path: path) }
    }

    /// `sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE)`: starts writeback of those
    /// dirty pages and returns without waiting for it. A hint, never a durability step: it
    /// neither waits nor flushes the device cache, and a writeback error it causes is recorded
    /// in the file and reported by the next `fdatasync` (this call does not consume it). Returns
    /// false where the call is missing or fails; callers lose nothing but the head start.
    @discardableResult
    static func startWriteback(_ fd: Int32, offset: Int, count: Int) -> Bool {
        guard let call = syncFileRange, count > 0 else { return false }
        let syncFileRangeWrite: UInt32 = 2  // SYNC_FILE_RANGE_WRITE, <fcntl.h>
        return call(fd, Int64(offset), Int64(count), syncFileRangeWrite) == 0
    }

    /// glibc's `sync_file_range`, which the Glibc module does not export (it needs _GNU_SOURCE).
    private static let syncFileRange = Posix.libcFunction(
        "sync_file_range", as: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32).self)

    static func ftruncate(_ fd: Int32, _ size: Int, path: String) throws(StrataError) {
        try mapping { () throws(Errno) in try Posix.ftruncate(fd, size: Int64(size), path: path) }
    }

    static func fileSize(_ fd: Int32, path: String) throws(StrataError) -> Int {
        Int(try mapping { () throws(Errno) in try Posix.fstat(fd, path: path) }.st_size)
    }

    static func fileSize(atPath path: String) -> Int? {
        (try? Posix.stat(path)).map { Int($0.st_size) }
    }

    static func exists(_ path: String) -> Bool { Posix.exists(path) }

    static func close(_ fd: Int32) { Posix.close(fd) }

    /// fsyncs a directory so a created, renamed or removed entry survives power loss.
    static func fsyncDirectory(_ path: String) throws(StrataError) {
        try mapping { () throws(Errno) in try Posix.fsyncDirectory(path) }
    }

    /// Creates `path` and its missing parents; true when `path` itself was made by this call.
    /// One `mkdir` when the parent exists (a new topic's directory): parents are walked only on
    /// ENOENT, deepest existing one first.
    @discardableResult
    static func makeDirectories(_ path: String) throws(StrataError) -> Bool {
        var path = Substring(path)
        while path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        let directory = String(path)
        do throws(Errno) {
            return try Posix.makeDirectory(directory)
        } catch where error.code == ENOENT {
            guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { throw ioError(error) }
            try makeDirectories(String(path[..<slash]))
            return try mapping { () throws(Errno) in try Posix.makeDirectory(directory) }
        } catch {
            throw ioError(error)
        }
    }

    /// Names in `path` (not `.` and `..`), sorted; see `Posix.listDirectory` for what it leaves out.
    static func listDirectory(_ path: String) throws(StrataError) -> [String] {
        try mapping { () throws(Errno) in try Posix.listDirectory(path) }.map(\.name).sorted()
    }

    /// Unlinks `path`; a missing file is not an error.
    static func remove(_ path: String) throws(StrataError) {
        do throws(Errno) { try Posix.unlink(path) } catch  where error.code == ENOENT {} catch { throw ioError(error) }
    }

    /// Replaces `path` with `bytes` so that readers see either the old or the new file, even
    /// across power loss: temp file, fsync, rename, directory fsync.
    static func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(StrataError) {
        // A unique temp name: two writers of one path must not share (and clobber) a temp file.
        let temp = path + ".\(UInt64.random(in: 0...UInt64.max)).tmp"
        let fd = try open(temp, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do throws(StrataError) {
            try pwriteAll(fd, bytes, at: 0, path: temp)
            try fdatasync(fd, path: temp)
            close(fd)
        } catch {
            close(fd)
            try? Posix.unlink(temp)
            throw error
        }
        try mapping { () throws(Errno) in try Posix.rename(temp, path) }
        try fsyncDirectory(parent(of: path))
    }

    static func readWholeFile(_ path: String) throws(StrataError) -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY)
        defer { close(fd) }
        return try read(fd, count: try fileSize(fd, path: path), at: 0, path: path)
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
