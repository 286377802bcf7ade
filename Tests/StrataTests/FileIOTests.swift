import Foundation
import Glibc
import Testing

@testable import Strata

/// The hot tier's files go through the one POSIX layer: close-on-exec, typed errors naming the file.
@Suite struct FileIOTests {
    @Test func filesOpenedForTheHotTierAreCloseOnExec() throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let path = dir + "/file"
        let fd = try FileIO.open(path, flags: O_RDWR | O_CREAT)
        defer { FileIO.close(fd) }
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test func failuresAreStrataErrorsNamingTheFileAndTheCall() throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let missing = dir + "/missing"
        let notFound = #expect(throws: StrataError.self) { _ = try FileIO.readWholeFile(missing) }
        #expect(notFound?.code == .notFound && notFound?.file == missing)
        #expect(notFound?.message == "open failed: No such file or directory", "\(String(describing: notFound))")
        #expect(notFound?.cause == "errno \(ENOENT)")
        try FileIO.remove(missing)  // nothing to remove is fine
        try FileIO.writeAtomically(dir + "/a", [1, 2, 3])
        let clash = #expect(throws: StrataError.self) { try FileIO.makeDirectories(dir + "/a/b") }
        #expect(clash?.code == .io && clash?.file == dir + "/a/b" && clash?.message.hasPrefix("mkdir failed") == true)
        #expect(try FileIO.readWholeFile(dir + "/a") == [1, 2, 3])
        #expect(try FileIO.listDirectory(dir) == ["a"])
    }
}
