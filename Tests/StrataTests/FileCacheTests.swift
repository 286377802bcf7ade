import Foundation
import Glibc
import Testing

@testable import Strata

/// The descriptor LRU (Hot/FileCache.swift, invariant 8).
@Suite struct FileCacheTests {
    /// Files a, b, c in a cache of 3; a used again; opening d closes b, the least recently used,
    /// and a, c, d stay open (using them opens nothing).
    @Test func theLeastRecentlyUsedUnpinnedFileIsClosedFirst() async throws {
        try await withTempDirectory { dir in
            let cache = FileCache(capacity: 3)
            let paths = ["a", "b", "c", "d"].map { dir + "/" + $0 }
            for path in paths.prefix(3) { try cache.withFile(path, create: true) { _ in } }
            try cache.withFile(paths[0]) { _ in }
            try cache.withFile(paths[3], create: true) { _ in }
            #expect(cache.openCount == 3)
            let opens = cache.openCalls
            for path in [paths[0], paths[2], paths[3]] { try cache.withFile(path) { _ in } }
            #expect(cache.openCalls == opens, "a, c and d stayed open")
            try cache.withFile(paths[1]) { _ in }
            #expect(cache.openCalls == opens + 1, "b was closed and opens again")
            #expect(cache.openCount == 3)
        }
    }

    /// A segment's creator hands its descriptor over: the first write opens nothing, and the
    /// adopted descriptor counts against the capacity like any other. A path whose old file is
    /// still pinned (doomed) does not take a handed descriptor; the next open of the path gets a
    /// new one while the old reader keeps its own, and each unpin releases only its own (unpin
    /// went by path, so the old reader's released the new file's pin and the doomed descriptor
    /// leaked).
    @Test func anAdoptedDescriptorIsUsedAndAReplacedFilesPinsStayApart() async throws {
        try await withTempDirectory { dir in
            let cache = FileCache(capacity: 2)
            let paths = ["a", "b", "c"].map { dir + "/" + $0 }
            let a = open(paths[0], O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            cache.adopt(paths[0], fd: a)
            let opens = cache.openCalls
            try cache.withFile(paths[0]) { fd in #expect(fd == a) }
            #expect(cache.openCalls == opens, "the adopted descriptor was not used")
            for path in paths.dropFirst() { try cache.withFile(path, create: true) { _ in } }
            #expect(cache.openCount == 2, "the adopted descriptor counts against the capacity")
            try cache.withFile(paths[0]) { _ in }
            #expect(cache.openCalls == opens + 3, "the least recently used descriptor, adopted or not, was closed")

            // (Closed descriptors are not probed: a parallel test may already hold the number.)
            let old = try cache.pin(paths[2])
            cache.invalidate(paths[2])  // replaced while a reader holds it
            let count = cache.openCount
            cache.adopt(paths[2], fd: open(paths[2], O_RDWR | O_CLOEXEC))
            #expect(cache.openCount == count, "the handed descriptor was taken beside the doomed one")
            let new = try cache.pin(paths[2])
            #expect(new != old, "the doomed descriptor was handed out")
            #expect(fcntl(old, F_GETFD) >= 0, "the reader's descriptor stays open")
            cache.unpin(paths[2], fd: old)
            cache.invalidate(paths[2])  // still pinned by `new`: doomed, not closed
            #expect(fcntl(new, F_GETFD) >= 0, "the old reader's unpin took the new descriptor's pin")
            cache.unpin(paths[2], fd: new)
        }
    }

    /// A pinned file is never closed under its user; the cache shrinks back once it is unpinned.
    @Test func aPinnedFileStaysOpenAndTheCacheShrinksWhenItIsUnpinned() async throws {
        try await withTempDirectory { dir in
            let cache = FileCache(capacity: 2)
            let paths = (0 ..< 6).map { dir + "/f\($0)" }
            let pinned = try cache.pin(paths[0], create: true)
            for path in paths.dropFirst() { try cache.withFile(path, create: true) { _ in } }
            #expect(fcntl(pinned, F_GETFD) >= 0, "the pinned descriptor is still open")
            #expect(cache.openCount <= 3)
            cache.unpin(paths[0], fd: pinned)
            #expect(cache.openCount <= 2)
        }
    }

    /// Many files through a small cache: the count never passes the capacity (plus pins) and the
    /// queue of uses stays bounded.
    @Test func manyFilesThroughASmallCacheStayWithinItsCapacity() async throws {
        try await withTempDirectory { dir in
            let cache = FileCache(capacity: 8)
            let paths = (0 ..< 200).map { dir + "/g\($0)" }
            for round in 0 ..< 5 {
                for (i, path) in paths.enumerated() where (i + round) % 3 != 0 {
                    try cache.withFile(path, create: true) { _ in }
                    #expect(cache.openCount <= 8)
                }
            }
        }
    }
}
