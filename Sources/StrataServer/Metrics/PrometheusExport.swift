import Prometheus

/// The Prometheus backend as `strata serve` sets it up: histogram buckets sized for what Strata
/// times (fsyncs take tens of microseconds to tens of milliseconds; requests up to a Fetch's
/// long poll of 30 s), everything else Prometheus' defaults.
public enum StrataPrometheus {
    /// fdatasync latency buckets: 50 µs to 1 s.
    public static let fsyncBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .seconds(1),
    ]
    /// Request latency buckets: 100 µs to 30 s (a Fetch waits up to its MaxWaitMs).
    public static let requestBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30),
    ]

    /// A metrics factory over `registry` with Strata's buckets.
    public static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["strata_fsync_seconds"] = fsyncBuckets
        factory.durationHistogramBuckets["strata_request_seconds"] = requestBuckets
        return factory
    }

    /// The registry's metrics in the text exposition format.
    public static func exposition(_ registry: PrometheusCollectorRegistry) -> [UInt8] {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return bytes
    }
}
