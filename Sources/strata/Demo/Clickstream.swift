import Strata
import StrataBlob

/// Deterministic clickstream-like records for the demo and the benchmarks: the same seed and
/// index always give the same key, value and timestamp, so a replay can be checked without
/// storing what was written.
public struct Clickstream: Sendable {
    public let seed: UInt64
    /// Timestamp of record 0 (ms since the epoch); record `i` is `i * stepMs` later.
    public let startMs: Int64
    public let stepMs: Int64

    static let pages = [
        "/", "/search", "/cart", "/checkout", "/account", "/help", "/products", "/deals", "/blog", "/login",
    ]
    static let referrers = [
        "https://www.google.com/", "https://news.ycombinator.com/", "", "https://t.co/x", "https://example.com/",
    ]
    static let agents = [
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148",
        "curl/8.5.0",
    ]
    static let events = ["view", "view", "view", "click", "scroll", "add_to_cart", "purchase"]

    public init(seed: UInt64 = 42, startMs: Int64 = 1_767_225_600_000, stepMs: Int64 = 10) {
        self.seed = seed
        self.startMs = startMs
        self.stepMs = stepMs
    }

    public func timestamp(_ index: Int64) -> Int64 { startMs + index * stepMs }

    /// Record `index` of stream `stream` (e.g. a topic number).
    public func record(_ index: Int64, stream: Int = 0) -> ProducerRecord {
        // Odd multipliers spread index and stream over the seed; the same record for the same inputs.
        let spread = UInt64(bitPattern: index) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(stream) &* 0xBF58_476D_1CE4_E5B9
        var rng = SplitMix64.mix(seed ^ spread)
        func next(_ bound: Int) -> Int {
            rng = SplitMix64.mix(rng)
            return Int(rng % UInt64(bound))
        }
        let user = next(50_000)
        let page = Self.pages[next(Self.pages.count)]
        let product = next(10_000)
        let value = """
            {"event":"\(Self.events[next(Self.events.count)])","user":"u\(user)","session":"s\(user)-\(next(100))",\
            "page":"\(page)\(page == "/products" ? "/\(product)" : "")","referrer":"\(Self.referrers[next(Self.referrers.count)])",\
            "ua":"\(Self.agents[next(Self.agents.count)])","latencyMs":\(next(900) + 20),"seq":\(index)}
            """
        return ProducerRecord(key: Array("u\(user)".utf8), value: Array(value.utf8), timestamp: timestamp(index))
    }
}
