import StrataTesting
import Testing

@testable import StrataBlob

@Suite("FaultyBlobStore")
struct FaultyBlobStoreTests {
    /// A fixed mix of calls; returns which failed, as a fingerprint of the faults.
    private func drive(_ store: FaultyBlobStore, calls: Int) async -> [Bool] {
        var failed: [Bool] = []
        for index in 0 ..< calls {
            do {
                switch index % 3 {
                case 0: try await store.put("k\(index % 5)", bytes("value"), mode: .overwrite)
                case 1: _ = try await store.get("k0", range: .whole)
                default: _ = try await store.list(prefix: "", continuation: nil, limit: 10)
                }
                failed.append(false)
            } catch {
                failed.append(true)
            }
        }
        return failed
    }

    @Test func theSameSeedGivesTheSameFaults() async throws {
        let plan = FaultPlan(unavailableFraction: 0.2, truncatedGetFraction: 0.3, failAfterPutFraction: 0.1)
        func run(seed: UInt64) async throws -> ([Bool], [InjectedFault], FaultCounters) {
            let inner = MemoryBlobStore()
            try await inner.put("k0", bytes("value"), mode: .overwrite)
            let store = FaultyBlobStore(wrapping: inner, plan: plan, seed: seed)
            return (await drive(store, calls: 300), store.faultLog, store.counters)
        }
        let first = try await run(seed: 7)
        let second = try await run(seed: 7)
        let other = try await run(seed: 8)
        #expect(first.0 == second.0)
        #expect(first.1 == second.1)
        #expect(first.2 == second.2)
        #expect(first.1 != other.1)
        #expect(first.2.failedBefore > 0 && first.2.failedAfter > 0 && first.2.truncatedGets > 0)
    }

    @Test func failsExactlyTheNumberedCall() async throws {
        let plan = FaultPlan(failCalls: [FaultPlan.FailCall(callNumber: 3)])
        let store = FaultyBlobStore(wrapping: MemoryBlobStore(), plan: plan, seed: 1)
        #expect(await drive(store, calls: 6) == [false, false, true, false, false, false])
        #expect(store.counters.failedBefore == 1)
        #expect(store.faultLog == [.failedBefore(call: 3, operation: .list, code: .unavailable)])
    }

    @Test func failsTheNumberedCallOfOneOperationOnly() async throws {
        let plan = FaultPlan(failCalls: [FaultPlan.FailCall(callNumber: 2, operation: .head, code: .denied)])
        let store = FaultyBlobStore(wrapping: MemoryBlobStore(), plan: plan, seed: 1)
        try await store.put("k", bytes("v"), mode: .overwrite)
        _ = try await store.head("k")
        try await store.put("k", bytes("w"), mode: .overwrite)
        await expectBlobError(.denied) { _ = try await store.head("k") }
        _ = try await store.head("k")
        #expect(store.counters.callsByOperation == [.put: 2, .head: 3])
    }

    @Test func failedFractionStaysWithinBounds() async throws {
        let plan = FaultPlan(unavailableFraction: 0.25, unavailableOperations: [.head])
        let inner = MemoryBlobStore()
        try await inner.put("k", [], mode: .overwrite)
        let store = FaultyBlobStore(wrapping: inner, plan: plan, seed: 99)
        var failures = 0
        for _ in 0 ..< 2_000 {
            do { _ = try await store.head("k") } catch let error as BlobError where error.isRetryable { failures += 1 }
        }
        try await store.put("k", [], mode: .overwrite)  // Not a head: never failed.
        #expect((400 ... 600).contains(failures))  // Mean 500, standard deviation about 19.
        #expect(store.counters.failedBefore == failures)
        #expect(store.counters.calls == 2_001)
    }

    @Test func truncatedGetsReturnFewerBytesThanAsked() async throws {
        let inner = MemoryBlobStore()
        try await inner.put("obj", [UInt8](repeating: 1, count: 100), mode: .overwrite)
        let store = FaultyBlobStore(wrapping: inner, plan: FaultPlan(truncatedGetFraction: 1), seed: 3)
        for _ in 0 ..< 50 {
            let data = try await store.get("obj", range: .range(offset: 10, length: 80))
            #expect(data.bytes.count < 80)
            #expect(data.offset == 10 && data.objectSize == 100)
        }
        #expect(store.counters.truncatedGets == 50)
    }

    @Test func failAfterPutStoresTheObjectButReportsUnavailable() async throws {
        let inner = MemoryBlobStore()
        let plan = FaultPlan(failCalls: [FaultPlan.FailCall(callNumber: 1, operation: .put, afterInner: true)])
        let store = FaultyBlobStore(wrapping: inner, plan: plan, seed: 5)
        await expectBlobError(.unavailable) { try await store.put("manifest/1", bytes("v1"), mode: .ifAbsent) }
        #expect(inner.keys() == ["manifest/1"])
        // The retry of an ambiguous ifAbsent put meets its own object.
        await expectBlobError(.preconditionFailed) { try await store.put("manifest/1", bytes("v1"), mode: .ifAbsent) }
        #expect(store.counters.failedAfter == 1)
    }

    @Test func healingThePlanStopsFaults() async throws {
        let store = FaultyBlobStore(wrapping: MemoryBlobStore(), plan: FaultPlan(unavailableFraction: 1), seed: 2)
        await expectBlobError(.unavailable) { try await store.put("k", [], mode: .overwrite) }
        store.setPlan(.none)
        try await store.put("k", [], mode: .overwrite)
        #expect(store.location.hasPrefix("faulty+memory://"))
    }
}
