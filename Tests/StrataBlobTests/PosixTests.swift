import Foundation
import Glibc
import Testing

@testable import StrataBlob

/// The one POSIX layer: every descriptor is close-on-exec, and failures name call and path.
@Suite struct PosixTests {
    static func temporaryPath(_ name: String = #function) -> String {
        NSTemporaryDirectory() + "strata-posix-\(name.filter(\.isLetter))-\(UUID().uuidString.prefix(8))"
    }

    @Test func everyDescriptorIsCloseOnExecEvenWhenTheFlagsForgetIt() throws {
        let path = Self.temporaryPath()
        defer { unlink(path) }
        let fd = try Posix.open(path, O_RDWR | O_CREAT)
        defer { Posix.close(fd) }
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test func failuresNameTheCallThePathAndTheErrno() throws {
        let missing = Self.temporaryPath() + "/nothing"
        let error = #expect(throws: Errno.self) { _ = try Posix.open(missing, O_RDONLY) }
        #expect(error?.code == ENOENT && error?.call == "open" && error?.path == missing)
        #expect(error?.description == "open \(missing): No such file or directory (errno \(ENOENT))")
        #expect((#expect(throws: Errno.self) { try Posix.unlink(missing) })?.call == "unlink")
    }

    @Test func writesAndReadsLoopToTheEndOfTheFile() throws {
        let path = Self.temporaryPath()
        defer { unlink(path) }
        let fd = try Posix.open(path, O_RDWR | O_CREAT | O_TRUNC)
        defer { Posix.close(fd) }
        let bytes = (0 ..< 100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try Posix.writeAll(fd, bytes, at: 10, path: path)
        try Posix.fdatasync(fd, path: path)
        #expect(try Posix.fstat(fd, path: path).st_size == 100_010)
        #expect(try Posix.read(fd, at: 10, count: 200_000, path: path) == bytes)  // short only at the end
        try Posix.ftruncate(fd, size: 5, path: path)
        #expect(try Posix.read(fd, at: 0, count: 10, path: path).count == 5)
    }
}
