import Foundation
import StrataBlob
import StrataTesting
import Testing

@testable import Strata

/// Findings of the review of partitions and producer ids, each pinned: concurrent growth never
/// shrinks, a partition opened while its topic is deleted never outlives the delete, a crash
/// leftover count is not taken up, readers see growth, and a rebuilt lake hands out new ids.
@Suite struct PartitionRaceTests {

    @Test func concurrentGrowthNeverShrinksTheCount() async throws {
        try await ColdFixture.withLake { lake, _ in
            for round in 0 ..< 30 {
                let name = "grow\(round)"
                _ = try await lake.createTopic(name, config: TopicConfig(), partitions: 2)
                async let big: Void = lake.createPartitions(name, count: 8)
                async let small: Void = lake.createPartitions(name, count: 4)
                // Either order is fine (the later smaller one is refused); the result is 8.
                _ = try? await big
                _ = try? await small
                #expect(try lake.partitionCount(name) == 8)
                #expect(try lake.storedPartitionCount(name) == 8)
            }
        }
    }

    @Test func aPartitionOpenedDuringItsTopicsDeleteDoesNotHauntTheNextTopic() async throws {
        try await ColdFixture.withLake { lake, _ in
            for _ in 0 ..< 40 {
                _ = try await lake.createTopic("haunt", config: TopicConfig(), partitions: 2)
                async let opened = Task { try? lake.partition("haunt", 1) }.value
                _ = try await lake.deleteTopic("haunt")
                _ = await opened
                _ = try await lake.createTopic("haunt", config: TopicConfig(), partitions: 2)
                let result = try await lake.partition("haunt", 1).append([ProducerRecord(value: [1])])
                #expect(result.firstOffset == 0)
                _ = try await lake.deleteTopic("haunt")
            }
        }
    }

    @Test func aCountLeftByACrashedCreateIsNotTakenUp() async throws {
        try await withTempDirectory { dir in
            do {
                let lake = try Lake.open(dir, options: ColdFixture.options(store: MemoryBlobStore()))
                try await lake.close()
            }
            // What a create that crashed between `partitions` and `topic.json` leaves.
            try FileManager.default.createDirectory(atPath: dir + "/topics/left", withIntermediateDirectories: true)
            try "8\n".write(toFile: dir + "/topics/left/partitions", atomically: true, encoding: .utf8)
            do {
                let lake = try Lake.open(dir, options: ColdFixture.options(store: MemoryBlobStore()))
                _ = try lake.topic("left", creatingWith: nil)
                #expect(try lake.partitionCount("left") == 1)
                try await lake.close()
            }
            let lake = try Lake.open(dir, options: ColdFixture.options(store: MemoryBlobStore()))
            #expect(try lake.partitionCount("left") == 1)
            try await lake.close()
        }
    }

    @Test func aReaderSeesPartitionsTheWriterAdds() async throws {
        try await ColdFixture.withLake { lake, dir in
            _ = try await lake.createTopic("seen", config: TopicConfig())
            let reader = try Lake.openReadOnly(dir, options: ColdFixture.options(store: MemoryBlobStore()))
            #expect(try reader.partitionCount("seen") == 1)
            try await lake.createPartitions("seen", count: 4)
            _ = try await lake.partition("seen", 2).append([ProducerRecord(value: Array("r".utf8))])
            #expect(try reader.partitionCount("seen") == 4)
            #expect(try reader.logNames() == ["seen", "seen/2"])
            #expect(try readAll(try reader.partition("seen", 2)).count == 1)
            try await reader.close()
        }
    }

    @Test func aLakeWithoutItsProducerIdFileStartsAboveTheOldIds() async throws {
        let clock = ManualClock()
        try await ColdFixture.withLake(clock: clock) { lake, dir in
            let first = try lake.allocateProducerId().producerId
            #expect(first == clock.nowMs() * 1024)
            // `recover` rebuilds a lake whose disk died: the file is gone, later in time.
            try await lake.close()
            try FileManager.default.removeItem(atPath: dir + "/producer-ids")
            clock.advance(ms: 1)
            let rebuilt = try Lake.open(dir, options: ColdFixture.options(store: MemoryBlobStore(), clock: clock))
            #expect(try rebuilt.allocateProducerId().producerId > first + ProducerIdAllocator.blockSize)
            try await rebuilt.close()
        }
    }
}
