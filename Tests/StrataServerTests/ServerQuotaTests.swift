import Foundation
import Prometheus
import Strata
import StrataKafka
import Synchronization
import Testing

@testable import StrataServer

/// The quotas (Security/Quotas.swift, ARCHITECTURE §2n "Quotas"): the rate arithmetic on an
/// injected clock, who shares a budget, the bound on what is tracked, and a throttled produce
/// over a socket that still stores its records.
@Suite struct ServerQuotaTests {
    /// A clock the test moves by hand, in nanoseconds.
    final class HandClock: Sendable {
        private let nanoseconds = Mutex<UInt64>(1_000_000_000_000)
        var now: UInt64 { nanoseconds.withLock { $0 } }
        func advance(ms: UInt64) { nanoseconds.withLock { $0 += ms * 1_000_000 } }
    }

    static func session(_ principal: String, peer: String = "test") -> ConnectionSession {
        let session = ConnectionSession(
            peer: peer, listener: Listener(name: "plaintext", tls: false, advertisedHost: "127.0.0.1", advertisedPort: 9092))
        session.principal = principal
        return session
    }

    static func produce(_ bytes: Int) -> QuotaUsage { QuotaUsage(api: .produce, requestBytes: bytes, responseBytes: 60) }

    @Test func aMeterLetsOneWindowThroughThenThrottlesTheExcess() {
        var meter = RateMeter()
        let now: UInt64 = 5_000_000_000
        // 100 units/s with a 1 s burst: 100 units at once are within it.
        #expect(meter.record(100, perSecond: 100, now: now, burstNanoseconds: 1_000_000_000) == 0)
        // 50 more: half a second over.
        #expect(meter.record(50, perSecond: 100, now: now, burstNanoseconds: 1_000_000_000) == 500_000_000)
        // Two seconds later the meter has caught up: idle, and 100 units pass again.
        #expect(meter.isIdle(at: now + 2_000_000_000))
        #expect(meter.record(100, perSecond: 100, now: now + 2_000_000_000, burstNanoseconds: 1_000_000_000) == 0)
    }

    @Test func principalsShareABudgetAndDifferentOnesDoNot() {
        let clock = HandClock()
        var options = QuotaOptions()
        options.produceBytesPerSecond = 1_000
        let quotas = Quotas(options, now: { clock.now })
        let (alice1, alice2, bob) = (Self.session("User:alice"), Self.session("User:alice"), Self.session("User:bob"))
        #expect(quotas.record(Self.produce(1_000), session: alice1) == 0, "one second's worth is the burst")
        // alice's second connection pays for the first's bytes: 500 B over is 500 ms.
        #expect(quotas.record(Self.produce(500), session: alice2) == 500)
        #expect(quotas.record(Self.produce(1_000), session: bob) == 0, "bob has a budget of his own")
        // Fetches and other APIs do not count against the produce quota.
        #expect(quotas.record(QuotaUsage(api: .fetch, requestBytes: 100, responseBytes: 1 << 20), session: alice1) == 0)
        #expect(quotas.record(QuotaUsage(api: .metadata, requestBytes: 50, responseBytes: 500), session: alice1) == 0)
        clock.advance(ms: 3_000)
        #expect(quotas.record(Self.produce(1_000), session: alice1) == 0, "caught up after waiting")
    }

    @Test func connectionScopeGivesEachConnectionItsOwnBudget() {
        let clock = HandClock()
        var options = QuotaOptions()
        options.requestsPerSecond = 10
        options.scope = .connection
        let quotas = Quotas(options, now: { clock.now })
        let (first, second) = (Self.session("User:alice"), Self.session("User:alice"))
        let metadata = QuotaUsage(api: .metadata, requestBytes: 40, responseBytes: 400)
        for _ in 0 ..< 10 { #expect(quotas.record(metadata, session: first) == 0) }
        #expect(quotas.record(metadata, session: first) == 100, "the 11th request in a second: 100 ms over")
        #expect(quotas.record(metadata, session: second) == 0, "the other connection is not charged")
        // ApiVersions and SASL are never counted or throttled.
        for api: KafkaApiKey in [.apiVersions, .saslHandshake, .saslAuthenticate] {
            #expect(quotas.record(QuotaUsage(api: api, requestBytes: 40, responseBytes: 400), session: first) == 0)
        }
        #expect(quotas.trackedCount == 0, "connection budgets live in their sessions")
    }

    @Test func throttlesAreCappedAndFetchesAreChargedByTheirAnswer() {
        let clock = HandClock()
        var options = QuotaOptions()
        options.fetchBytesPerSecond = 1
        let quotas = Quotas(options, now: { clock.now })
        let session = Self.session("User:reader")
        let fetch = QuotaUsage(api: .fetch, requestBytes: 100, responseBytes: 1 << 20)
        #expect(quotas.record(fetch, session: session) == Quotas.throttleMsMax)
        #expect(quotas.record(fetch, session: session) == Quotas.throttleMsMax, "the debt stays")
        #expect(quotas.record(Self.produce(1 << 20), session: session) == 0, "produce has a quota of its own (none)")
    }

    @Test func theTrackedPrincipalsAreBounded() {
        let clock = HandClock()
        var options = QuotaOptions()
        options.requestsPerSecond = 1_000
        let quotas = Quotas(options, now: { clock.now })
        let metadata = QuotaUsage(api: .metadata, requestBytes: 40, responseBytes: 400)
        for i in 0 ..< Quotas.budgetsMax { _ = quotas.record(metadata, session: Self.session("User:u\(i)")) }
        #expect(quotas.trackedCount == Quotas.budgetsMax)
        clock.advance(ms: 10)  // every meter caught up: all idle
        for i in 0 ..< 100 { _ = quotas.record(metadata, session: Self.session("User:new\(i)")) }
        #expect(quotas.trackedCount == 100, "the idle principals were forgotten, the new ones tracked")
    }

    @Test func badQuotaFlagsAreTypedErrorsNamingTheFlag() {
        var options = KafkaServerOptions()
        options.security.quotas.produceBytesPerSecond = 0
        #expect(throws: KafkaServerError.self) { try options.validate() }
        do { try options.validate() } catch { #expect("\(error)".contains("--quota-produce-bytes 0")) }
    }

    /// Over a socket: a produce over a tiny byte quota is answered at once with ThrottleTimeMs
    /// and stored; the connection's next request is still answered (after the wait); the
    /// throttle is counted.
    @Test func aThrottledProduceIsStoredAndAnsweredWithItsThrottle() async throws {
        let (registry, metrics) = ServerMetricsTests.metered()
        try await withServer(configure: {
            $0.security.quotas.produceBytesPerSecond = 200
            $0.metrics = metrics
        }) { server in
            _ = try await server.lake.createTopic("limited", config: TopicConfig())
            let client = try server.connect()
            let values = (0 ..< 8).map { "value-\($0)-" + String(repeating: "x", count: 40) }
            let produced = try await client.call(
                .produce, version: 9, Requests.produce("limited", records: kafkaBatch(values)))
            let part = try firstPartition(produced, topics: "Responses", partitions: "PartitionResponses")
            #expect(try part.int16("ErrorCode") == 0)
            let throttle = try produced.int32("ThrottleTimeMs")
            #expect(throttle > 0, "a request of several hundred bytes at 200 B/s is over the quota")
            #expect(try server.lake.topic("limited").highWatermark == Int64(values.count), "nothing dropped")
            let metadata = try await client.call(.metadata, version: 12, Requests.metadata(["limited"]))
            #expect(try metadata.structs("Topics")?.count == 1, "the connection goes on after the wait")
            #expect(ServerMetricsTests.value(registry, #"strata_throttled_requests_total{api="Produce"}"#) == 1)
            #expect(
                ServerMetricsTests.value(registry, #"strata_throttle_milliseconds_total{api="Produce"}"#)
                    == Double(throttle))
        }
    }
}
