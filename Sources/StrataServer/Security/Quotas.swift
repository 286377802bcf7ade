import StrataKafka
import Synchronization

/// `strata serve`'s rate limits (docs/ARCHITECTURE.md §2n "Quotas"): produce bytes, fetch bytes
/// and requests per second, per principal (every connection of one principal shares one budget)
/// or per connection. Off by default.
public struct QuotaOptions: Sendable, Equatable {
    /// Who shares one budget.
    public enum Scope: String, Sendable, CaseIterable {
        /// All connections of one principal (`User:NAME`, `User:ANONYMOUS`): Kafka's user quotas.
        case principal
        /// Each connection alone.
        case connection
    }

    /// Produce request bytes per second (the whole request, as Kafka measures it); nil: no limit.
    public var produceBytesPerSecond: Int? = nil
    /// Fetch response bytes per second; nil: no limit.
    public var fetchBytesPerSecond: Int? = nil
    /// Requests per second (every API but ApiVersions and the SASL ones); nil: no limit.
    public var requestsPerSecond: Int? = nil
    public var scope = Scope.principal

    public init() {}

    /// True when any limit is set.
    public var enabled: Bool { produceBytesPerSecond != nil || fetchBytesPerSecond != nil || requestsPerSecond != nil }

    /// - Throws: `KafkaServerError.invalidOption` naming the flag of a limit below 1.
    func validate() throws(KafkaServerError) {
        for (flag, value) in [
            ("--quota-produce-bytes", produceBytesPerSecond), ("--quota-fetch-bytes", fetchBytesPerSecond),
            ("--quota-requests", requestsPerSecond),
        ] {
            if let value, value < 1 { throw .invalidOption("\(flag) \(value): a quota is at least 1 per second") }
        }
    }
}

/// One budget: a rate meter in the manner of a token bucket (the generic cell rate algorithm).
/// `due` is when the work recorded so far would have finished at the quota's rate; work may run
/// ahead of it by one burst window, and a client further ahead is throttled by the excess, which
/// brings its rate back to the quota: Kafka's (observed − quota) / quota × window.
struct RateMeter: Sendable {
    private(set) var dueNanoseconds: UInt64 = 0

    /// Records `amount` units at `now` against `perSecond`; the delay (ns) the client must wait.
    mutating func record(_ amount: Int, perSecond: Int, now: UInt64, burstNanoseconds: UInt64) -> UInt64 {
        let cost = UInt64((Double(amount) / Double(perSecond) * 1e9).rounded(.up))
        dueNanoseconds = max(dueNanoseconds, now) &+ cost
        let allowed = now &+ burstNanoseconds
        return dueNanoseconds > allowed ? dueNanoseconds - allowed : 0
    }

    /// True when nothing recorded is still ahead of `now`: the meter can be forgotten.
    func isIdle(at now: UInt64) -> Bool { dueNanoseconds <= now }
}

/// The three meters of one budget.
struct QuotaMeters: Sendable {
    var produce = RateMeter()
    var fetch = RateMeter()
    var requests = RateMeter()

    func isIdle(at now: UInt64) -> Bool { produce.isIdle(at: now) && fetch.isIdle(at: now) && requests.isIdle(at: now) }
}

/// What one answered request cost, for the quotas.
struct QuotaUsage: Sendable {
    var api: KafkaApiKey
    /// The request frame's bytes.
    var requestBytes: Int
    /// The encoded response's bytes.
    var responseBytes: Int
}

/// The quotas in force and the meters of the principals using them. Memory is bounded: a
/// principal whose meters have caught up with the clock is forgotten, and at most `budgetsMax`
/// principals are tracked (past it the idle ones go first; if none is idle, the table is
/// cleared, forgiving everyone's debt, rather than growing).
final class Quotas: Sendable {
    /// Work may run ahead of the quota by this much before it is throttled.
    static let burstNanoseconds: UInt64 = 1_000_000_000
    /// The longest throttle one response asks for (a client far over keeps getting it).
    static let throttleMsMax = 30_000
    static let budgetsMax = 10_000

    let options: QuotaOptions
    private let now: @Sendable () -> UInt64
    private let budgets = Mutex<[String: QuotaMeters]>([:])

    /// - Parameter now: a monotonic clock in nanoseconds (tests pass their own).
    init(_ options: QuotaOptions, now: @escaping @Sendable () -> UInt64 = { monotonicNanoseconds() }) {
        self.options = options
        self.now = now
    }

    /// Budgets tracked now (tests).
    var trackedCount: Int { budgets.withLock { $0.count } }

    /// True for the requests the quotas never count: ApiVersions and SASL come before a client
    /// knows who it is.
    static func isExempt(_ api: KafkaApiKey) -> Bool {
        api == .apiVersions || api == .saslHandshake || api == .saslAuthenticate
    }

    /// Records one answered request of `session` and returns the throttle in milliseconds it
    /// earned (0: within every quota).
    func record(_ usage: QuotaUsage, session: ConnectionSession) -> Int {
        guard options.enabled, !Self.isExempt(usage.api) else { return 0 }
        let now = now()
        switch options.scope {
        case .connection:
            return session.withQuotaMeters { Self.charge(&$0, usage, options, now) }
        case .principal:
            let principal = session.principal
            return budgets.withLock { budgets in
                if budgets[principal] == nil, budgets.count >= Self.budgetsMax {
                    budgets = budgets.filter { !$0.value.isIdle(at: now) }
                    if budgets.count >= Self.budgetsMax { budgets.removeAll(keepingCapacity: true) }
                }
                var meters = budgets[principal] ?? QuotaMeters()
                let throttle = Self.charge(&meters, usage, options, now)
                budgets[principal] = meters
                return throttle
            }
        }
    }

    /// The longest of the delays the request's kinds of work earned, in whole milliseconds.
    static func charge(_ meters: inout QuotaMeters, _ usage: QuotaUsage, _ options: QuotaOptions, _ now: UInt64) -> Int {
        var delay: UInt64 = 0
        if let perSecond = options.requestsPerSecond {
            delay = max(delay, meters.requests.record(1, perSecond: perSecond, now: now, burstNanoseconds: burstNanoseconds))
        }
        if usage.api == .produce, let perSecond = options.produceBytesPerSecond {
            delay = max(
                delay,
                meters.produce.record(usage.requestBytes, perSecond: perSecond, now: now, burstNanoseconds: burstNanoseconds))
        }
        if usage.api == .fetch, let perSecond = options.fetchBytesPerSecond {
            delay = max(
                delay,
                meters.fetch.record(usage.responseBytes, perSecond: perSecond, now: now, burstNanoseconds: burstNanoseconds))
        }
        guard delay > 0 else { return 0 }
        return min(throttleMsMax, Int((delay + 999_999) / 1_000_000))
    }
}
