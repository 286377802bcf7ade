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

    /// A pinned file is never closed under its user; the cache shrinks back once it is unpinned.
    @Test func aPinnedFileStaysOpenAndTheCacheShrinksWhenItIsUnpinned() async throws {
        try await withTempDirectory { dir in
            let cache = FileCache(capacity: 2)
            let paths = (0 ..< 6).map { dir + "/f\($0)" }
            let pinned = try cache.pin(paths[0], create: true)
            for path in paths.dropFirst() { try cache.withFile(path, create: true) { _ in } }
            #expect(fcntl(pinned, F_GETFD) >= 0, "the pinned descriptor is still open")
            #expect(cache.openCount <= 3)
            cache.unpin(paths[0])
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
