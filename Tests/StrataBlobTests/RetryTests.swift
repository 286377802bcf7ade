import StrataTesting
import Testing

@testable import StrataBlob

@Suite("withRetries")
struct RetryTests {
    private let unavailable = BlobError(.unavailable, "flaky", location: "memory://t")

    @Test func retriesUnavailableUpToTheBoundThenThrows() async throws {
        let recorder = RecordedWaits()
        let policy = RetryPolicy(attemptsMax: 4, baseDelayMs: 100, delayMaxMs: 250)
        var attempts = 0
        await expectBlobError(.unavailable) {
            _ = try await withRetries(policy, environment: recorder.environment()) { () async throws -> Int in
                attempts += 1
                throw unavailable
            }
        }
        #expect(attempts == 4)
        let waits = recorder.recorded
        #expect(waits.count == 3)
        for (index, wait) in waits.enumerated() {
            #expect((0 ... policy.delayCapMs(afterAttempt: index + 1)).contains(wait))
        }
    }

    @Test func doesNotRetryNotFound() async throws {
        let recorder = RecordedWaits()
        var attempts = 0
        await expectBlobError(.notFound) {
            try await withRetries(RetryPolicy(), environment: recorder.environment()) {
                attempts += 1
                throw BlobError(.notFound, "gone", location: "memory://t")
            }
        }
        #expect(attempts == 1)
        #expect(recorder.recorded.isEmpty)
    }

    @Test func returnsOnceATransientFaultPasses() async throws {
        let inner = MemoryBlobStore()
        try await inner.put("k", bytes("v"), mode: .overwrite)
        let plan = FaultPlan(failCalls: [.init(callNumber: 1), .init(callNumber: 2)])
        let store = FaultyBlobStore(wrapping: inner, plan: plan, seed: 4)
        let recorder = RecordedWaits()
        let data = try await withRetries(RetryPolicy(attemptsMax: 3), environment: recorder.environment()) {
            try await store.get("k", range: .whole)
        }
        #expect(data.bytes == bytes("v"))
        #expect(recorder.recorded.count == 2)
    }

    @Test func waitsReplayFromTheSeed() async throws {
        func waits(seed: UInt64) async -> [Int64] {
            let recorder = RecordedWaits()
            await expectBlobError(.unavailable) {
                try await withRetries(RetryPolicy(attemptsMax: 6), environment: recorder.environment(seed: seed)) {
                    throw unavailable
                }
            }
            return recorder.recorded
        }
        #expect(await waits(seed: 1) == waits(seed: 1))
        #expect(await waits(seed: 1) != waits(seed: 2))
    }

    @Test func delayCapsDoubleUpToTheMaximum() {
        let policy = RetryPolicy(attemptsMax: 100, baseDelayMs: 50, delayMaxMs: 1_000)
        #expect((1 ... 6).map(policy.delayCapMs(afterAttempt:)) == [50, 100, 200, 400, 800, 1_000])
        #expect(policy.delayCapMs(afterAttempt: 99) == 1_000)
        #expect(RetryPolicy(attemptsMax: 0).attemptsMax == 1)
    }
}
