import Dispatch
import Foundation
import StrataBlob
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// ARCHITECTURE.md invariant 8: what waits is bounded — appends waiting for their fsync, long-polling
/// readers, cold read-ahead — and past a bound the caller hears `busy` (or read-ahead is
/// skipped), never unbounded growth.
@Suite struct BoundsTests {
    /// Holds the first group-commit fsync until released, and says when it got there.
    final class FsyncHold: Sendable {
        private let first = Mutex(true)
        private let release = DispatchSemaphore(value: 0)
        let entered: AsyncStream<Void>
        private let enteredContinuation: AsyncStream<Void>.Continuation

        init() { (entered, enteredContinuation) = AsyncStream<Void>.makeStream() }

        func hook() {
            guard
                first.withLock({ first in
                    defer { first = false }; return first
                })
            else { return }
            enteredContinuation.yield()
            // The test opens the hold; the timeout only ends a test whose bound is broken (its
            // refused append would wait for this fsync) with a failure instead of a hang.
            _ = release.wait(timeout: .now() + 20)
        }

        func open() { release.signal() }
    }

    @Test(.timeLimit(.minutes(5))) func syncAppendPastTheBoundIsBusyAndWritesNothing() async throws {
        try await withTempDirectory { dir in
            let hold = FsyncHold()
            var options = lakeOptions()
            options.syncAppendsWaitingMax = 1
            options.beforeGroupFsync = { _ in hold.hook() }
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic("sync", creatingWith: topicConfig(durability: .sync))
            let first = Task { try await topic.append(offsetRecords(from: 0, count: 1)) }
            // The leader is inside the first fsync: the first append holds the one slot.
            var entered = hold.entered.makeAsyncIterator()
            _ = await entered.next()
            let bytesBefore = topic.segments().last?.bytes

            let refused = await strataError { try await topic.append(offsetRecords(from: 1, count: 1)) }
            #expect(refused?.code == .busy)
            #expect(refused?.topic == "sync")
            #expect(topic.segments().last?.bytes == bytesBefore, "a refused append writes nothing")
            #expect(topic.writtenOffset == 1)

            hold.open()
            #expect(try await first.value.lastOffset == 0)
            // The slot is free again once the first append is acknowledged.
            #expect(try await topic.append(offsetRecords(from: 1, count: 1)).firstOffset == 1)
            #expect(try readAll(topic).map { string($0.value) } == ["v0", "v1"])
            try await lake.close()
        }
    }

    @Test(.timeLimit(.minutes(5))) func longPollPastTheBoundIsBusy() async throws {
        try await withTempDirectory { dir in
            let clock = ManualClock()
            var options = lakeOptions(clock: clock)
            options.readWaitersMax = 2
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic("poll", creatingWith: nil)
            await clock.waitForSleepers(1)  // the lake's background loop
            let cursor = try await Cursor(topic: topic, start: .latest)
            async let a: [Record] = {
                var c = cursor; return try await c.next(waitMs: 1_000)
            }()
            async let b: [Record] = {
                var c = cursor; return try await c.next(waitMs: 1_000)
            }()
            await clock.waitForSleepers(3)  // both polls armed their timeouts

            let refused: StrataError? = await withTaskGroup(of: StrataError?.self) { group in
                group.addTask {
                    await strataError {
                        var c = cursor; _ = try await c.next(waitMs: 1_000)
                    }
                }
                group.addTask {
                    // Only a broken bound lets a third poll arm its timeout: end it, don't hang.
                    await clock.waitForSleepers(4)
                    if !Task.isCancelled { clock.advance(ms: 1_000) }
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            #expect(refused?.code == .busy)
            try await topic.append(offsetRecords(from: 0, count: 1))
            #expect(try await a.map(\.offset) == [0])
            #expect(try await b.map(\.offset) == [0])

            // Woken waiters leave the queue: a new poll waits (and times out) again.
            let later = try await Cursor(topic: topic, start: .latest)
            async let c: [Record] = {
                var c = later; return try await c.next(waitMs: 1_000)
            }()
            await clock.waitForSleepers(2)
            clock.advance(ms: 1_000)
            #expect(try await c.isEmpty)
            try await lake.close()
        }
    }

    @Test func lakeOptionsOutOfRangeAreRejected() async throws {
        try await withTempDirectory { dir in
            for field in ["syncAppendsWaitingMax", "readWaitersMax", "coldPrefetchTasksMax", "backgroundIntervalMs"] {
                var options = lakeOptions()
                switch field {
                case "syncAppendsWaitingMax": options.syncAppendsWaitingMax = 0
                case "readWaitersMax": options.readWaitersMax = 0
                case "coldPrefetchTasksMax": options.coldPrefetchTasksMax = -1
                default: options.backgroundIntervalMs = 0
                }
                let error = strataError { _ = try Lake.open(dir, options: options) }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message.contains(field) == true, "\(field)")
            }
            #expect(fileTree(dir).isEmpty, "a refused open creates nothing")
            // A read-only open takes the same options and refuses them the same way.
            try await Lake.open(dir, options: lakeOptions()).close()
            var options = lakeOptions()
            options.readWaitersMax = 0
            let readOnly = strataError { _ = try Lake.openReadOnly(dir, options: options) }
            #expect(readOnly?.code == .invalidArgument && readOnly?.message.contains("readWaitersMax") == true)
        }
    }

    @Test(.timeLimit(.minutes(5))) func coldReadAheadPastTheBoundIsSkipped() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let gated = GatedBlobStore(MemoryBlobStore())
        var options = ColdFixture.options(store: gated)
        options.coldPrefetchTasksMax = 2
        let lake = try Lake.open(dir, options: options)
        let config = ColdFixture.smallSegments(segmentBytes: 64 * 1024, frameBytes: 2 * 1024)
        let topic = try lake.topic(ColdFixture.topicName, creatingWith: config)
        try await ColdFixture.produce(topic, 0 ..< 1_000, batch: 20)
        _ = try await lake.offload(evict: true)
        let segment = try #require(try await topic.latestManifest()?.segments.first)
        let index = try await lake.cold.footer(of: segment, topic: topic.name)
        try #require(index.frames.count >= 6)

        // Frame GETs wait at the gate, so every read-ahead started is still running below.
        gated.close()
        lake.cold.prefetch(Array(1 ... 5), of: index, key: segment.key, topic: topic.name)
        #expect(lake.cold.prefetchTasks.count == 2)
        lake.cold.prefetch([1, 2, 3], of: index, key: segment.key, topic: topic.name)
        #expect(lake.cold.prefetchTasks.count == 2, "frames already being fetched are not fetched twice")
        await gated.waitForWaiters(2)
        gated.open()
        for task in lake.cold.prefetchTasks { await task.value }
        #expect(lake.cold.prefetchTasks.isEmpty)
        let cached = (1 ... 5).filter {
            lake.cold.frames.contains(ColdTier.FrameKey(objectKey: segment.key, frameNumber: $0))
        }
        #expect(cached == [1, 2])
        try await lake.close()
    }
}

/// A store whose ranged GETs (or segment uploads) wait while the gate is closed, so a test can
/// hold calls in flight and count them.
final class GatedBlobStore: BlobStore {
    enum Gated: Sendable {
        case rangedGets, segmentPuts
    }

    private struct State {
        var open = true
        var waiting: [CheckedContinuation<Void, Never>] = []
        var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    let inner: any BlobStore
    let gated: Gated
    private let state = Mutex(State())

    init(_ inner: any BlobStore, gating gated: Gated = .rangedGets) {
        self.inner = inner
        self.gated = gated
    }

    var location: String { inner.location }

    func close() { state.withLock { $0.open = false } }

    func open() {
        let released = state.withLock { s in
            s.open = true
            defer { s.waiting = [] }
            return s.waiting
        }
        for continuation in released { continuation.resume() }
    }

    /// Returns once at least `count` GETs wait at the gate.
    func waitForWaiters(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s in
                guard s.waiting.count < count else { return true }
                s.watchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private func pass() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (wait, ready) = state.withLock { s -> (Bool, [CheckedContinuation<Void, Never>]) in
                guard !s.open else { return (false, []) }
                s.waiting.append(continuation)
                let ready = s.watchers.filter { $0.count <= s.waiting.count }.map(\.continuation)
                s.watchers.removeAll { $0.count <= s.waiting.count }
                return (true, ready)
            }
            if !wait { continuation.resume() }
            for watcher in ready { watcher.resume() }
        }
    }

    func get(_ key: String, range: ByteRange) async throws -> BlobData {
        if gated == .rangedGets, case .range = range { await pass() }
        return try await inner.get(key, range: range)
    }

    func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
        if gated == .segmentPuts, key.contains("/segments/") { await pass() }
        try await inner.put(key, bytes, mode: mode)
    }
    func head(_ key: String) async throws -> BlobInfo { try await inner.head(key) }
    func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage {
        try await inner.list(prefix: prefix, continuation: continuation, limit: limit)
    }
    func delete(_ keys: [String]) async throws { try await inner.delete(keys) }
}
