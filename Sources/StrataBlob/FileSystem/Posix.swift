// Linux only (DESIGN: Swift on Linux); calls are qualified `Glibc.` where Swift names clash.
import Glibc

/// A failed system call: which call and the errno it set.
struct Errno: Error, CustomStringConvertible {
    var code: Int32
    var call: String

    var description: String {
        "\(call): \(String(cString: strerror(code))) (errno \(code))"
    }
}

/// `stat(2)`; a free function because inside `Posix` the name `stat` means `Posix.stat`.
private func statFollowingLinks(_ path: String, _ info: inout stat) -> Int32 {
    stat(path, &info)
}

/// A directory entry as the filesystem store's listing needs it.
struct DirectoryEntry {
    var name: String
    var isDirectory: Bool
}

/// Thin layer over the POSIX calls of the filesystem store: it retries `EINTR`, loops on
/// partial transfers and turns `-1` into a thrown `Errno`, so the store reads as logic only.
enum Posix {
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(Errno) -> Int32 {
        Int32(try retryingEINTR("open") { Glibc.open(path, flags, mode) })
    }

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Writes every byte of `bytes` at `offset`, looping over partial writes.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int64 = 0) throws(Errno) {
        var done = 0
        while done < bytes.count {
            let written = try retryingEINTR("pwrite") {
                bytes.withUnsafeBytes { buffer in
                    pwrite(fd, buffer.baseAddress.map { $0 + done }, buffer.count - done, off_t(offset) + off_t(done))
                }
            }
            done += written
        }
    }

    /// Reads up to `count` bytes at `offset`; fewer only if the file ends first.
    static func read(_ fd: Int32, at offset: Int64, count: Int) throws(Errno) -> [UInt8] {
        var failure: Errno?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = 0
            while initialized < count {
                let got = pread(fd, buffer.baseAddress.map { $0 + initialized }, count - initialized,
                                off_t(offset) + off_t(initialized))
                if got > 0 {
                    initialized += got
                } else if got == 0 {
                    return
                } else if errno != EINTR {
                    failure = Errno(code: errno, call: "pread")
                    return
                }
            }
        }
        if let failure { throw failure }
        return bytes
    }

    static func fsync(_ fd: Int32) throws(Errno) {
        _ = try retryingEINTR("fsync") { Glibc.fsync(fd) }
    }

    /// Makes a directory's entries (created, renamed, unlinked names) durable.
    static func fsyncDirectory(_ path: String) throws(Errno) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(fd) }
        try fsync(fd)
    }

    static func rename(_ from: String, _ to: String) throws(Errno) {
        _ = try retryingEINTR("rename") { Glibc.rename(from, to) }
    }

    static func link(_ from: String, _ to: String) throws(Errno) {
        _ = try retryingEINTR("link") { Glibc.link(from, to) }
    }

    static func unlink(_ path: String) throws(Errno) {
        _ = try retryingEINTR("unlink") { Glibc.unlink(path) }
    }

    /// Creates `path`; returns false if something already has that name.
    static func makeDirectory(_ path: String) throws(Errno) -> Bool {
        if Glibc.mkdir(path, 0o755) == 0 { return true }
        if errno == EEXIST { return false }
        throw Errno(code: errno, call: "mkdir")
    }

    static func stat(_ path: String) throws(Errno) -> stat {
        var info = Glibc.stat()
        _ = try retryingEINTR("stat") { statFollowingLinks(path, &info) }
        return info
    }

    static func fstat(_ fd: Int32) throws(Errno) -> stat {
        var info = Glibc.stat()
        _ = try retryingEINTR("fstat") { Glibc.fstat(fd, &info) }
        return info
    }

    /// Names in `path` except `.` and `..`, with whether each is a directory (symlinks followed).
    /// Names that are not valid UTF-8 are skipped: no key can name them.
    static func listDirectory(_ path: String) throws(Errno) -> [DirectoryEntry] {
        guard let dir = opendir(path) else { throw Errno(code: errno, call: "opendir") }
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

    static func isRegularFile(_ info: stat) -> Bool {
        (info.st_mode & S_IFMT) == S_IFREG
    }

    static func isDirectory(_ info: stat) -> Bool {
        (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func modifiedMs(_ info: stat) -> Int64 {
        Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000
    }

    private static func retryingEINTR<R: BinaryInteger>(_ call: String, _ body: () -> R) throws(Errno) -> Int {
        while true {
            let result = body()
            if result >= 0 { return Int(result) }
            if errno != EINTR { throw Errno(code: errno, call: call) }
        }
    }
}
