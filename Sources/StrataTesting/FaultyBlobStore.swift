import StrataBlob
import Synchronization

/// The five calls of `BlobStore`, for counting and targeting faults.
public enum BlobOperation: String, Sendable, CaseIterable {
    case put, get, head, list, delete
}

/// What a `FaultyBlobStore` injects. Fractions are probabilities per call in `0 ... 1`.
public struct FaultPlan: Sendable, Equatable {
    /// Fail one numbered call.
    public struct FailCall: Sendable, Equatable {
        /// 1-based; counts only calls of `operation` when it is set, else every call.
        public var callNumber: Int
        public var operation: BlobOperation?
        public var code: BlobError.Code
        /// Run the call on the inner store first and fail afterwards: the caller cannot tell
        /// whether it took effect (a put that landed, then the connection dropped).
        public var afterInner: Bool

        public init(
            callNumber: Int, operation: BlobOperation? = nil, code: BlobError.Code = .unavailable,
            afterInner: Bool = false
        ) {
            self.callNumber = callNumber
            self.operation = operation
            self.code = code
            self.afterInner = afterInner
        }
    }

    public var failCalls: [FailCall]
    /// Calls failed with `unavailable` before reaching the inner store.
    public var unavailableFraction: Double
    /// Which operations `unavailableFraction` applies to.
    public var unavailableOperations: Set<BlobOperation>
    /// Gets returning fewer bytes than asked (offset and object size unchanged), as a flaky
    /// network would; callers must notice by length or checksum.
    public var truncatedGetFraction: Double
    /// Puts that reach the inner store and then throw `unavailable` (the ambiguous success).
    public var failAfterPutFraction: Double
    /// Added to every call, plus a uniform `0 ... latencyJitterMs`.
    public var latencyMs: Int
    public var latencyJitterMs: Int

    public init(
        failCalls: [FailCall] = [],
        unavailableFraction: Double = 0,
        unavailableOperations: Set<BlobOperation> = Set(BlobOperation.allCases),
        truncatedGetFraction: Double = 0,
        failAfterPutFraction: Double = 0,
        latencyMs: Int = 0,
        latencyJitterMs: Int = 0
    ) {
        self.failCalls = failCalls
        self.unavailableFraction = unavailableFraction
        self.unavailableOperations = unavailableOperations
        self.truncatedGetFraction = truncatedGetFraction
        self.failAfterPutFraction = failAfterPutFraction
        self.latencyMs = max(0, latencyMs)
        self.latencyJitterMs = max(0, latencyJitterMs)
    }

    /// Injects nothing.
    public static let none = FaultPlan()
}

/// One fault a `FaultyBlobStore` injected; `call` is the 1-based number among all calls.
public enum InjectedFault: Sendable, Equatable {
    case failedBefore(call: Int, operation: BlobOperation, code: BlobError.Code)
    case failedAfter(call: Int, operation: BlobOperation, code: BlobError.Code)
    case truncatedGet(call: Int, keptBytes: Int, askedBytes: Int)
}

/// Calls seen and faults injected by a `FaultyBlobStore`.
public struct FaultCounters: Sendable, Equatable {
    public var callsByOperation: [BlobOperation: Int] = [:]
    public var calls = 0
    /// Injected failures that never reached the inner store.
    public var failedBefore = 0
    /// Injected failures after the inner store did the work.
    public var failedAfter = 0
    public var truncatedGets = 0

    /// Every injected fault.
    public var faults: Int { failedBefore + failedAfter + truncatedGets }
}

/// Wraps a store and injects failures, latency and short reads, deterministically from a seed:
/// the same seed and the same sequence of calls give the same faults (ARCHITECTURE.md §6, STYLE: fault
/// injection at several depths). Concurrent calls draw in the order they arrive.
public final class FaultyBlobStore: BlobStore {
    private struct State {
        var plan: FaultPlan
        var generator: SplitMix64
        var counters = FaultCounters()
        var log: [InjectedFault] = []
    }

    /// What one call will suffer, drawn when it starts.
    private struct Decision {
        var call: Int
        var operation: BlobOperation
        var failBefore: BlobError.Code?
        var failAfter: BlobError.Code?
        var truncate: Bool
        var truncateDraw: UInt64
        var latencyMs: Int
    }

    /// The wrapped store.
    public let inner: any BlobStore
    /// `faulty+` followed by the inner store's location.
    public let location: String
    private let state: Mutex<State>

    /// - Parameters:
    ///   - inner: the store calls go to when no fault stops them.
    ///   - plan: what to inject; change it later with `setPlan`.
    ///   - seed: seeds the `SplitMix64` all random choices come from.
    public init(wrapping inner: any BlobStore, plan: FaultPlan, seed: UInt64) {
        self.inner = inner
        self.location = "faulty+" + inner.location
        self.state = Mutex(State(plan: plan, generator: SplitMix64(seed: seed)))
    }

    /// Replaces the plan (e.g. to heal the store); counters, log and random sequence go on.
    public func setPlan(_ plan: FaultPlan) {
        state.withLock { $0.plan = plan }
    }

    /// Calls and faults so far.
    public var counters: FaultCounters { state.withLock { $0.counters } }

    /// The faults injected so far, oldest first, at most `BlobLimits.faultLogEntriesMax`.
    public var faultLog: [InjectedFault] { state.withLock { $0.log } }

    public func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
        let decision = try await begin(.put, key: key)
        try await inner.put(key, bytes, mode: mode)
        try finish(decision, key: key)
    }

    public func get(_ key: String, range: ByteRange) async throws -> BlobData {
        let decision = try await begin(.get, key: key)
        var data = try await inner.get(key, range: range)
        try finish(decision, key: key)
        if decision.truncate, !data.bytes.isEmpty {
            let kept = Int(decision.truncateDraw % UInt64(data.bytes.count))
            record(.truncatedGet(call: decision.call, keptBytes: kept, askedBytes: data.bytes.count))
            data.bytes.removeLast(data.bytes.count - kept)
        }
        return data
    }

    public func head(_ key: String) async throws -> BlobInfo {
        let decision = try await begin(.head, key: key)
        let info = try await inner.head(key)
        try finish(decision, key: key)
        return info
    }

    public func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage {
        let decision = try await begin(.list, key: nil)
        let page = try await inner.list(prefix: prefix, continuation: continuation, limit: limit)
        try finish(decision, key: nil)
        return page
    }

    public func delete(_ keys: [String]) async throws {
        let decision = try await begin(.delete, key: keys.first)
        try await inner.delete(keys)
        try finish(decision, key: keys.first)
    }

    // MARK: - Injection

    /// Counts the call, draws its fate, waits the latency and throws a before-the-call fault.
    private func begin(_ operation: BlobOperation, key: String?) async throws -> Decision {
        let decision = state.withLock { Self.decide(operation, state: &$0) }
        if decision.latencyMs > 0 {
            try await Task.sleep(for: .milliseconds(decision.latencyMs))
        }
        if let code = decision.failBefore {
            record(.failedBefore(call: decision.call, operation: operation, code: code))
            throw BlobError(
                code, "injected fault before \(operation.rawValue) (call \(decision.call))", key: key,
                location: location)
        }
        return decision
    }

    private func finish(_ decision: Decision, key: String?) throws {
        guard let code = decision.failAfter else { return }
        record(.failedAfter(call: decision.call, operation: decision.operation, code: code))
        throw BlobError(
            code,
            "injected fault after \(decision.operation.rawValue) reached the store "
                + "(call \(decision.call))", key: key, location: location)
    }

    /// Every call draws the same four numbers whatever the plan, so changing one fraction does
    /// not shift the faults chosen for the others.
    private static func decide(_ operation: BlobOperation, state: inout State) -> Decision {
        state.counters.calls += 1
        let operationCall = (state.counters.callsByOperation[operation] ?? 0) + 1
        state.counters.callsByOperation[operation] = operationCall
        let plan = state.plan
        let draws = (
            state.generator.nextUnit(), state.generator.nextUnit(), state.generator.next(),
            state.generator.next()
        )
        let numbered = plan.failCalls.first { failCall in
            failCall.callNumber
                == (failCall.operation == nil
                    ? state.counters.calls
                    : failCall.operation == operation ? operationCall : -1)
        }
        var decision = Decision(
            call: state.counters.calls, operation: operation, failBefore: nil, failAfter: nil,
            truncate: operation == .get && draws.1 < plan.truncatedGetFraction, truncateDraw: draws.2,
            latencyMs: plan.latencyMs + Int(draws.3 % UInt64(plan.latencyJitterMs + 1)))
        if let numbered {
            if numbered.afterInner { decision.failAfter = numbered.code } else { decision.failBefore = numbered.code }
        } else if plan.unavailableOperations.contains(operation), draws.0 < plan.unavailableFraction {
            decision.failBefore = .unavailable
        } else if operation == .put, draws.1 < plan.failAfterPutFraction {
            decision.failAfter = .unavailable
        }
        return decision
    }

    private func record(_ fault: InjectedFault) {
        state.withLock { state in
            switch fault {
            case .failedBefore: state.counters.failedBefore += 1
            case .failedAfter: state.counters.failedAfter += 1
            case .truncatedGet: state.counters.truncatedGets += 1
            }
            if state.log.count < BlobLimits.faultLogEntriesMax { state.log.append(fault) }
        }
    }
}
