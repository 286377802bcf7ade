import Foundation
import Testing

@testable import StrataBlob

@Suite("FileSystemBlobStore")
struct FileSystemBlobStoreTests {
    @Test func locationIsTheAbsoluteRootAndTheRootIsCreated() throws {
        let parent = try TemporaryDirectory()
        defer { parent.remove() }
        let store = try FileSystemBlobStore(root: parent.path + "/new/cold/")
        #expect(store.root == parent.path + "/new/cold")
        #expect(store.location == "file://" + parent.path + "/new/cold")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: store.root, isDirectory: &isDirectory) && isDirectory.boolValue)
    }

    @Test func putLeavesNoTemporaryFiles() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let store = try FileSystemBlobStore(root: root.path)
        try await store.put("a/b/c", bytes("1"), mode: .overwrite)
        try await store.put("a/b/c", bytes("2"), mode: .overwrite)
        try await store.put("a/b/d", bytes("3"), mode: .ifAbsent)
        await expectBlobError(.preconditionFailed) { try await store.put("a/b/d", bytes("4"), mode: .ifAbsent) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path + "/a/b").sorted() == ["c", "d"])
    }

    @Test func leftoverTempFilesFromACrashAreNotListed() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let store = try FileSystemBlobStore(root: root.path)
        try await store.put("seg/real", bytes("ok"), mode: .overwrite)
        // What a crash between create and rename leaves behind.
        #expect(FileManager.default.createFile(atPath: root.path + "/seg/.tmp-00c0ffee", contents: Data([1, 2])))
        #expect(FileManager.default.createFile(atPath: root.path + "/.tmp-1234", contents: Data([3])))
        #expect(try await store.listAll(prefix: "").map(\.key) == ["seg/real"])
        #expect(try await store.listAll(prefix: "seg/.tmp").isEmpty)
    }

    @Test func objectsSurviveReopeningTheRoot() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        try await FileSystemBlobStore(root: root.path).put("topics/t/lake.json", bytes("{}"), mode: .overwrite)
        let reopened = try FileSystemBlobStore(root: root.path)
        #expect(try await reopened.get("topics/t/lake.json", range: .whole).bytes == bytes("{}"))
    }

    @Test func aKeyUnderAnObjectIsInvalidAndWritesNothing() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let store = try FileSystemBlobStore(root: root.path)
        try await store.put("a", bytes("object"), mode: .overwrite)
        await expectBlobError(.invalid) { try await store.put("a/b", bytes("x"), mode: .overwrite) }
        try await store.put("d/e", bytes("x"), mode: .overwrite)
        await expectBlobError(.invalid) { try await store.put("d", bytes("x"), mode: .overwrite) }
        await expectBlobError(.notFound) { _ = try await store.head("a/b") }
        #expect(try await store.listAll(prefix: "").map(\.key) == ["a", "d/e"])
    }

    @Test(.enabled(if: getuid() != 0, "root ignores permissions"))
    func unreadableRootIsDeniedNotMissing() async throws {
        let root = try TemporaryDirectory()
        defer {
            try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root.path)
            root.remove()
        }
        let store = try FileSystemBlobStore(root: root.path)
        try await store.put("k", bytes("x"), mode: .overwrite)
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: root.path)
        await expectBlobError(.denied) { _ = try await store.get("k", range: .whole) }
        await expectBlobError(.denied) { try await store.put("k2", bytes("x"), mode: .overwrite) }
    }

    @Test func errnosMapToCodesThatTellTheCallerWhatToDo() {
        func code(_ errno: Int32, _ operation: FileSystemErrors.Operation) -> BlobError.Code {
            FileSystemErrors.map(
                Errno(code: errno, call: "test", path: "/x/k"), operation: operation, key: "k",
                location: "file:///x"
            )
            .code
        }
        #expect(code(ENOENT, .read) == .notFound)
        #expect(code(ENOTDIR, .read) == .notFound)
        #expect(code(ENOTDIR, .put) == .invalid)
        #expect(code(EACCES, .put) == .denied)
        #expect(code(EPERM, .delete) == .denied)
        #expect(code(ENOSPC, .put) == .unavailable)
        #expect(code(EIO, .read) == .unavailable)
        let failed = Errno(code: ENOSPC, call: "pwrite", path: "/x/.tmp-1")
        let error = FileSystemErrors.map(failed, operation: .put, key: "k", location: "l")
        #expect(error.cause?.contains("pwrite /x/.tmp-1: No space left on device") == true)
    }
}
