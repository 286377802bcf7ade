import StrataTesting
import Testing

@testable import Strata

/// The test clock itself: sleepers wake exactly when the time passes their deadline, and a
/// cancelled sleeper (a lake closing its background loop) ends at once.
@Suite struct ManualClockTests {
    @Test(.timeLimit(.minutes(5))) func sleepersWakeAtTheirDeadlineInOrder() async throws {
        let clock = ManualClock(startMs: 1_000)
        async let short: Int64 = {
            try await clock.sleep(ms: 10); return clock.nowMs()
        }()
        async let long: Int64 = {
            try await clock.sleep(ms: 30); return clock.nowMs()
        }()
        await clock.waitForSleepers(2)
        #expect(clock.sleeperDeadlinesMs == [1_010, 1_030])
        clock.advance(ms: 9)
        #expect(clock.sleeperCount == 2)
        clock.advance(ms: 1)
        #expect(try await short == 1_010)
        #expect(clock.sleeperDeadlinesMs == [1_030])
        clock.advance(ms: 100)
        #expect(try await long == 1_110)
        #expect(clock.sleeperCount == 0)
        // No time to wait: returns at once.
        try await clock.sleep(ms: 0)
    }

    @Test(.timeLimit(.minutes(5))) func cancellingASleeperEndsItWithCancellationError() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(ms: 60_000) }
        await clock.waitForSleepers(1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
        // Already cancelled before sleeping: throws without registering.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(ms: 5)
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        #expect(clock.sleeperCount == 0)
    }
}
