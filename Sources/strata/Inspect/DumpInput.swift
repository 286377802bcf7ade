import Foundation
import Glibc

/// Why `strata inspect dump` cannot read its path, said the way an operator can act on it
/// (Foundation says "NSCocoaErrorDomain error 256" for a directory and "permission" for
/// `/dev/null`).
struct DumpInputError: Error {
    var message: String
    /// 2 when the path is the wrong kind of thing (usage), 3 when reading it failed (I/O).
    var exitCode: Int32
}

/// The whole file at `path`, when it is a regular, non-empty file that can be read.
func readDumpInput(_ path: String) -> Result<[UInt8], DumpInputError> {
    var info = stat()
    guard stat(path, &info) == 0 else {
        let reason = String(cString: strerror(errno))
        let code: Int32 = errno == ENOENT || errno == ENOTDIR ? 2 : 3
        return .failure(DumpInputError(message: "cannot read \(path): \(reason)", exitCode: code))
    }
    let what = "give a hot segment file (<lake>/topics/<topic>/<base>.seg) or a cold object (.seg.zst)"
    switch info.st_mode & S_IFMT {
    case S_IFREG: break
    case S_IFDIR:
        return .failure(DumpInputError(message: "\(path) is a directory, not a segment file: \(what)", exitCode: 2))
    default:
        return .failure(
            DumpInputError(
                message: "\(path) is not a regular file (a device, pipe or socket): \(what)",
                exitCode: 2))
    }
    guard info.st_size > 0 else {
        return .failure(
            DumpInputError(
                message: "\(path) is empty (0 bytes): it holds no segment header; \(what)",
                exitCode: 1))
    }
    guard let handle = FileHandle(forReadingAtPath: path) else {
        let reason = String(cString: strerror(errno))
        return .failure(DumpInputError(message: "cannot open \(path): \(reason)", exitCode: 3))
    }
    defer { try? handle.close() }
    do {
        return .success([UInt8](try handle.readToEnd() ?? Data()))
    } catch {
        return .failure(DumpInputError(message: "cannot read \(path): \(error.localizedDescription)", exitCode: 3))
    }
}
