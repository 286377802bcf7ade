import Foundation
import StrataBlob
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// The background loop compacts packed objects every `LakeOptions.packedCompactionIntervalMs`
/// (ARCHITECTURE.md §2k, "Compaction"; Cold/BackgroundCompaction.swift), in a pass of its own
/// that `close` stops and waits for.
@Suite struct BackgroundCompactionTests {
    static let hourMs: Int64 = 3_600_000

    /// Packed offload's test options with the background on, compacting every `intervalMs`.
    static func options(store: any BlobStore, clock: ManualClock, intervalMs: Int64, log: LogSink) -> LakeOptions {
        var options = PackedOffloadTests.options(store: store, objectBytes: 1 << 20, clock: clock)
        options.backgroundOffload = true
        options.packedCompactionIntervalMs = intervalMs
        options.log = log.log
        return options
    }

    /// A lake with 8 small topics offloaded into one packed object, then 6 of them deleted.
    static func mostlyDeadLake(
        _ dir: String, store: any BlobStore, clock: ManualClock, intervalMs: Int64, log: LogSink
    ) async throws -> (lake: Lake, kept: [Topic], old: String) {
        let lake = try Lake.open(dir, options: options(store: store, clock: clock, intervalMs: intervalMs, log: log))
        let topics = try await PackedOffloadTests.produce(lake, logs: 8)
        let report = try await lake.offload(seal: true, evict: true)
        #expect(report.packedObjects == 1)
        let old = try #require(try await PackedOffloadTests.packedKeys(store).first)
        for topic in topics[2...] { _ = try await lake.deleteTopic(topic.name) }
        return (lake, Array(topics[..<2]), old)
    }

    @Test func aMostlyDeadObjectIsCompactedOnceTheIntervalPasses() async throws {
        let clock = ManualClock()
        let store = MemoryBlobStore(nowMs: { clock.nowMs() })
        let log = LogSink()
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let (lake, kept, old) = try await Self.mostlyDeadLake(
            dir, store: store, clock: clock, intervalMs: 2 * Self.hourMs, log: log)

        // Old enough to compact, but the first pass is one interval after the open.
        clock.advance(ms: Self.hourMs + Self.hourMs / 2)
        await lake.backgroundTick()
        #expect(try await PackedOffloadTests.packedKeys(store) == [old])

        clock.advance(ms: Self.hourMs)
        await lake.backgroundTick()
        let keys = try await PackedOffloadTests.packedKeys(store)
        #expect(keys.count == 2)
        let new = try #require(keys.first { $0 != old })
        for topic in kept {
            let entries = try await PackedCompactionTests.entries(store, topic)
            #expect(entries.map(\.key) == [new], "\(topic.name)")
        }
        #expect(log.contains("compacted 1 packed objects"))
        #expect(!log.contains("background compaction:"), "\(log.messages)")
        try await PackedOffloadTests.expectAllRecords(kept)
        #expect(try await lake.verify().problems == [])

        // Not again before the next interval; then the new object is all live: nothing to do.
        clock.advance(ms: Self.hourMs)
        await lake.backgroundTick()
        clock.advance(ms: Self.hourMs)
        await lake.backgroundTick()
        #expect(Set(try await PackedOffloadTests.packedKeys(store)) == Set(keys))
        try await lake.close()
    }

    @Test func noPassWithTheIntervalZeroOrTheBackgroundOff() async throws {
        for (interval, background) in [(Int64(0), true), (Self.hourMs, false)] {
            let clock = ManualClock()
            let store = MemoryBlobStore(nowMs: { clock.nowMs() })
            let dir = try ColdFixture.makeDirectory()
            defer { ColdFixture.remove(dir) }
            var options = Self.options(store: store, clock: clock, intervalMs: interval, log: LogSink())
            options.backgroundOffload = background
            let lake = try Lake.open(dir, options: options)
            let topics = try await PackedOffloadTests.produce(lake, logs: 4)
            _ = try await lake.offload(seal: true, evict: true)
            for topic in topics[1...] { _ = try await lake.deleteTopic(topic.name) }
            let before = try await PackedOffloadTests.packedKeys(store)
            for _ in 0 ..< 3 {
                clock.advance(ms: 2 * Self.hourMs)
                await lake.backgroundTick()
            }
            #expect(try await PackedOffloadTests.packedKeys(store) == before, "interval \(interval), background \(background)")
            try await lake.close()
        }
    }

    @Test func badCompactionOptionsRefuseTheOpen() throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        var options = ColdFixture.options(store: MemoryBlobStore())
        options.packedCompactionLiveBelow = 0
        #expect(throws: StrataError.self) { _ = try Lake.open(dir, options: options) }
        options.packedCompactionLiveBelow = 0.5
        options.packedCompactionIntervalMs = -1
        #expect(throws: StrataError.self) { _ = try Lake.open(dir, options: options) }
    }

    /// A close while a pass waits on the store stops the pass and waits for it: when close
    /// returns nothing of the pass runs any more, and every record reads back after a reopen.
    @Test func closeStopsARunningPassAndWaitsForIt() async throws {
        let clock = ManualClock()
        let inner = MemoryBlobStore(nowMs: { clock.nowMs() })
        let store = GatedBlobStore(inner)
        let log = LogSink()
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let (lake, kept, _) = try await Self.mostlyDeadLake(
            dir, store: store, clock: clock, intervalMs: Self.hourMs, log: log)
        clock.advance(ms: 2 * Self.hourMs)
        store.close()
        let tick = Task { await lake.backgroundTick() }
        // The pass's ranged GET of the live slices waits at the gate.
        await store.waitForWaiters(1)
        #expect(lake.compaction.running != nil)
        let closing = Task { try await lake.close() }
        while !lake.compaction.isStopped { await Task.yield() }
        store.open()
        try await closing.value
        #expect(lake.compaction.running == nil)
        await tick.value

        let reopened = try Lake.open(dir, options: PackedOffloadTests.options(store: inner, objectBytes: 1 << 20, clock: clock))
        try await PackedOffloadTests.expectAllRecords(try kept.map { try reopened.topic($0.name) })
        #expect(try await reopened.verify().problems == [])
        try await reopened.close()
    }

    /// A pass cancelled by `close` while it writes its first of two new objects finishes that
    /// one and commits its moves (the lake is not yet closed to the pass's log opens), and
    /// writes no other: the second group's slices stay in the old object, and the pass says so.
    @Test func aCancelledPassStopsBeforeItsNextNewObject() async throws {
        let clock = ManualClock()
        let inner = MemoryBlobStore(nowMs: { clock.nowMs() })
        let store = GatedBlobStore(inner)
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let (first, kept, old) = try await Self.mostlyDeadLake(
            dir, store: store, clock: clock, intervalMs: Self.hourMs, log: LogSink())
        try await first.close()
        // One slice per new object: the two kept logs make two groups.
        let log = LogSink()
        var options = Self.options(store: store, clock: clock, intervalMs: Self.hourMs, log: log)
        options.packSegmentsMax = 1
        let lake = try Lake.open(dir, options: options)
        clock.advance(ms: 2 * Self.hourMs)
        store.close()
        let tick = Task { await lake.backgroundTick() }
        await store.waitForWaiters(1)
        let closing = Task { try await lake.close() }
        while !lake.compaction.isStopped { await Task.yield() }
        store.open()
        try await closing.value
        await tick.value

        let keys = try await PackedOffloadTests.packedKeys(inner)
        #expect(keys.count == 2, "\(keys)")
        let new = try #require(keys.first { $0 != old })
        var locations: [String] = []
        for topic in kept { locations += try await PackedCompactionTests.entries(inner, topic).map(\.key) }
        #expect(locations.sorted() == [new, old].sorted(), "one log moved, the other stayed")
        #expect(log.contains("stopped (cancelled) before 1 of 2 new objects"), "\(log.messages)")
        #expect(!log.contains("commit of its moved slices failed"), "\(log.messages)")
        let reopened = try Lake.open(dir, options: PackedOffloadTests.options(store: inner, objectBytes: 1 << 20, clock: clock))
        try await PackedOffloadTests.expectAllRecords(try kept.map { try reopened.topic($0.name) })
        #expect(try await reopened.verify().problems == [])
        try await reopened.close()
    }
}
