import Foundation
import Testing

@testable import Strata

/// ARCHITECTURE.md invariant 8: open files are bounded by an LRU, so more topics than the cap work.
@Suite struct ResourceTests {
    @Test func moreTopicsThanTheFileCap() async throws {
        try await withTempDirectory { dir in
            let cap = 8, topicCount = 50, rounds = 6
            let lake = try Lake.open(dir, options: lakeOptions(maxOpenFiles: cap))
            let names = (0 ..< topicCount).map { "topic-\($0)" }
            var topics: [Topic] = []
            for name in names {
                topics.append(try lake.topic(name, creatingWith: topicConfig(segmentBytes: 1024)))
                #expect(lake.files.openCount <= cap)
            }
            for round in 0 ..< rounds {
                for (i, topic) in topics.enumerated() {
                    let first = Int64(round * 10)
                    let result = try await topic.append(offsetRecords(from: first, count: 10) { _ in Int64(i) })
                    #expect(result.firstOffset == first)
                    #expect(lake.files.openCount <= cap)
                }
            }
            // Concurrently too: pinned files may briefly exceed the cap, idle ones may not.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for topic in topics {
                    group.addTask {
                        try await topic.append(offsetRecords(from: Int64(rounds * 10), count: 10))
                        _ = try topic.readLocal(from: 0)
                    }
                }
                try await group.waitForAll()
            }
            #expect(lake.files.openCount <= cap)
            for round in 0 ... rounds {
                for topic in topics {
                    let records = try topic.readLocal(from: Int64(round * 10), maxBytes: 1).records
                    #expect(records.first.map { string($0.value) } == "v\(round * 10)")
                    #expect(lake.files.openCount <= cap)
                }
            }
            for topic in topics {
                #expect(try readAll(topic).map { string($0.value) } == (0 ..< (rounds + 1) * 10).map { "v\($0)" })
            }
            #expect(lake.files.openCount <= cap)
            #expect(lake.files.openCalls > topicCount, "the LRU must have closed and reopened files")
            #expect(topics.allSatisfy { $0.segments().count > 1 })
            try await lake.close()

            let reopened = try Lake.open(dir, options: lakeOptions(maxOpenFiles: cap))
            #expect(try reopened.topicNames() == names.sorted())
            for name in names {
                #expect(try readAll(reopened.topic(name)).count == (rounds + 1) * 10)
                #expect(reopened.files.openCount <= cap)
            }
            try await reopened.close()
        }
    }
}

/// Only one process (one `Lake`) may have a lake open.
@Suite struct LockTests {
    @Test func secondOpenIsLockedAndChangesNothing() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("t", creatingWith: nil)
            try await topic.append(offsetRecords(from: 0, count: 3))
            let before = fileTree(dir)
            // flock is per open file description: a second open in this process conflicts too.
            let error = strataError { _ = try Lake.open(dir, options: lakeOptions()) }
            #expect(error?.code == .locked)
            #expect(error?.file == dir + "/LOCK")
            #expect(fileTree(dir) == before)
            // The first lake is unaffected.
            try await topic.append(offsetRecords(from: 3, count: 1))
            #expect(try readAll(topic).count == 4)
            try await lake.close()

            let reopened = try Lake.open(dir, options: lakeOptions())
            #expect(try readAll(reopened.topic("t")).count == 4)
            try await reopened.close()
        }
    }

    @Test func droppedLakeReleasesItsLock() async throws {
        try await withTempDirectory { dir in
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                try await lake.topic("t", creatingWith: nil).append(offsetRecords(from: 0, count: 2))
            }
            let reopened = try Lake.open(dir, options: lakeOptions())
            #expect(try readAll(reopened.topic("t")).count == 2)
            try await reopened.close()
        }
    }
}
