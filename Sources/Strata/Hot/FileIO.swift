#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The thin system-call layer of the hot tier. Every failure becomes a `StrataError(.io)`
/// naming the file and the errno text; short reads and writes are looped here, not by callers.
enum FileIO {
    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    static func ioError(_ what: String, _ path: String, errno code: Int32 = errno) -> StrataError {
        StrataError(code == ENOENT ? .notFound : .io, "\(what) failed: \(errnoText(code))", file: path, cause: "errno \(code)")
    }

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(StrataError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw ioError("open", path) }
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at end of file.
    static func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws(StrataError) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            let n = Glibc.pread(fd, base + done, buffer.count - done, off_t(offset + done))
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("pread", path)
            }
            done += n
        }
        return done
    }

    /// Reads `count` bytes at `offset` (fewer at end of file).
    static func read(_ fd: Int32, count: Int, at offset: Int, path: String) throws(StrataError) -> [UInt8] {
        var failure: StrataError? = nil
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(StrataError) {
                initialized = try pread(fd, into: UnsafeMutableRawBufferPointer(buffer), at: offset, path: path)
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return bytes
    }

    static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(StrataError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let n = Glibc.pwrite(fd, base + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("pwrite", path)
            }
            done += n
        }
    }

    static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(StrataError) {
        let result: StrataError? = bytes.withUnsafeBytes { raw in
            do throws(StrataError) { try pwriteAll(fd, raw, at: offset, path: path); return nil } catch { return error }
        }
        if let result { throw result }
    }

    static func fdatasync(_ fd: Int32, path: String) throws(StrataError) {
        while Glibc.fdatasync(fd) != 0 {
            if errno != EINTR { throw ioError("fdatasync", path) }
        }
    }

    static func ftruncate(_ fd: Int32, _ size: Int, path: String) throws(StrataError) {
        while Glibc.ftruncate(fd, off_t(size)) != 0 {
            if errno != EINTR { throw ioError("ftruncate", path) }
        }
    }

    static func fileSize(_ fd: Int32, path: String) throws(StrataError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ioError("fstat", path) }
        return Int(st.st_size)
    }

    static func fileSize(atPath path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    /// fsyncs a directory so a created, renamed or removed entry survives power loss.
    static func fsyncDirectory(_ path: String) throws(StrataError) {
        let fd = try open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        while fsync(fd) != 0 {
            if errno != EINTR { throw ioError("fsync directory", path) }
        }
    }

    /// Creates `path` and its missing parents.
    static func makeDirectories(_ path: String) throws(StrataError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw ioError("mkdir", current) }
        }
    }

    static func listDirectory(_ path: String) throws(StrataError) -> [String] {
        guard let dir = opendir(path) else { throw ioError("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func remove(_ path: String) throws(StrataError) {
        if unlink(path) != 0 && errno != ENOENT { throw ioError("unlink", path) }
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
            _ = unlink(temp)
            throw error
        }
        guard rename(temp, path) == 0 else { throw ioError("rename", path) }
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
