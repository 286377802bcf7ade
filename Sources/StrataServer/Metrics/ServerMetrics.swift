import CoreMetrics
import Glibc
import Strata
import StrataKafka
import Synchronization

/// The server's metrics (ARCHITECTURE.md "Observability"): requests and their latency per API,
/// records and bytes produced and fetched per topic, open connections, consumer group lag.
///
/// Topic labels are bounded: the first `topicLabelsMax` topics seen get a label value of their
/// own, every later one counts under `topic="_other"`, so a lake of a million topics makes at
/// most `topicLabelsMax + 1` series per metric. Group lag series are bounded by
/// `groupLagSeriesMax` the same way (the rest are left out and counted).
public final class ServerMetrics: Sendable {
    /// Distinct topic label values by default (`--metrics-topics-max`).
    public static let topicLabelsMaxDefault = 100
    /// Group lag series (group, topic, partition) at most by default.
    public static let groupLagSeriesMaxDefault = 10_000
    /// The label value of every topic past the cap.
    public static let otherTopic = "_other"

    /// The counters of one topic label value.
    final class TopicCounters: Sendable {
        let producedBatches: Counter
        let producedRecords: Counter
        let producedBytes: Counter
        let fetchedRecords: Counter
        let fetchedBytes: Counter

        init(topic: String, factory: any MetricsFactory) {
            let dimensions = [("topic", topic)]
            producedBatches = Counter(label: "strata_produced_batches_total", dimensions: dimensions, factory: factory)
            producedRecords = Counter(label: "strata_produced_records_total", dimensions: dimensions, factory: factory)
            producedBytes = Counter(label: "strata_produced_bytes_total", dimensions: dimensions, factory: factory)
            fetchedRecords = Counter(label: "strata_fetched_records_total", dimensions: dimensions, factory: factory)
            fetchedBytes = Counter(label: "strata_fetched_bytes_total", dimensions: dimensions, factory: factory)
        }
    }

    /// One API's request counter and latency timer.
    struct ApiMetrics: Sendable {
        let requests: Counter
        let seconds: Timer
        /// Answers that carried a throttle (the quotas), and their milliseconds.
        let throttled: Counter
        let throttleMilliseconds: Counter
    }

    let factory: any MetricsFactory
    let topicLabelsMax: Int
    let groupLagSeriesMax: Int
    /// By API key (`KafkaApiKey.rawValue`): an array, so a request costs no lookup by name.
    private let apis: [ApiMetrics?]
    private let topics = Mutex<[String: TopicCounters]>([:])
    private let other: TopicCounters
    let connections: Gauge
    let groupLagSeriesDropped: Gauge
    /// The lag gauges of the last scrape, so a series that is gone (group deleted, offsets
    /// expired) is removed instead of showing its last value forever.
    private let groupLag = Mutex<[GroupLagKey: Gauge]>([:])
    /// `strata_produce_errors_total{code}`, made on a code's first use (codes are a closed set).
    private let produceErrors = Mutex<[KafkaErrorCode: Counter]>([:])

    struct GroupLagKey: Hashable, Sendable {
        var group: String
        var topic: String
        var partition: Int32
    }

    /// - Parameters:
    ///   - factory: where the metrics go (`MetricsSystem.factory` in `strata serve`).
    ///   - topicLabelsMax: distinct topic label values before `_other` (≥ 0).
    ///   - groupLagSeriesMax: consumer group lag series at most (≥ 0).
    public init(
        factory: any MetricsFactory, topicLabelsMax: Int = ServerMetrics.topicLabelsMaxDefault,
        groupLagSeriesMax: Int = ServerMetrics.groupLagSeriesMaxDefault
    ) {
        self.factory = factory
        self.topicLabelsMax = max(0, topicLabelsMax)
        self.groupLagSeriesMax = max(0, groupLagSeriesMax)
        let keyMax = Int(KafkaApiKey.allCases.map(\.rawValue).max() ?? 0)
        var apis = [ApiMetrics?](repeating: nil, count: keyMax + 1)
        for api in KafkaApis.all {
            let dimensions = [("api", api.name)]
            apis[Int(api.key.rawValue)] = ApiMetrics(
                requests: Counter(label: "strata_requests_total", dimensions: dimensions, factory: factory),
                seconds: Timer(label: "strata_request_seconds", dimensions: dimensions, factory: factory),
                throttled: Counter(label: "strata_throttled_requests_total", dimensions: dimensions, factory: factory),
                throttleMilliseconds: Counter(
                    label: "strata_throttle_milliseconds_total", dimensions: dimensions, factory: factory))
        }
        self.apis = apis
        other = TopicCounters(topic: Self.otherTopic, factory: factory)
        connections = Gauge(label: "strata_connections", factory: factory)
        groupLagSeriesDropped = Gauge(label: "strata_consumer_group_lag_series_dropped", factory: factory)
    }

    /// The process's server metrics, from `MetricsSystem.factory` as bootstrapped when first used.
    public static let global = ServerMetrics(factory: MetricsSystem.factory)

    /// The counters for `topic`: its own while fewer than `topicLabelsMax` topics have labels,
    /// else `_other`'s. One lock and lookup per topic of a request, not per record.
    func counters(_ topic: String) -> TopicCounters {
        topics.withLock { known in
            if let counters = known[topic] { return counters }
            guard known.count < topicLabelsMax else { return other }
            let counters = TopicCounters(topic: topic, factory: factory)
            known[topic] = counters
            return counters
        }
    }

    // MARK: Calls from the dispatcher and handlers (one line each at their call sites).

    /// A request of `api` was answered `nanoseconds` after it was decoded.
    func answered(_ api: KafkaApiKey, nanoseconds: UInt64) {
        guard let metrics = apis[Int(api.rawValue)] else { return }
        metrics.requests.increment()
        metrics.seconds.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    /// An answer to `api` carried a throttle of `milliseconds` (the quotas).
    func throttled(_ api: KafkaApiKey, milliseconds: Int) {
        guard let metrics = apis[Int(api.rawValue)] else { return }
        metrics.throttled.increment()
        metrics.throttleMilliseconds.increment(by: milliseconds)
    }

    /// A partition of a Produce request was refused with `code`: nothing of it was stored.
    /// Labelled by the Kafka name of the code, not by topic (a refused name may be anything).
    func produceFailed(_ code: KafkaErrorCode) {
        let counter = produceErrors.withLock { known in
            if let counter = known[code] { return counter }
            let counter = Counter(
                label: "strata_produce_errors_total", dimensions: [("code", Self.kafkaName(code))], factory: factory)
            known[code] = counter
            return counter
        }
        counter.increment()
    }

    /// Kafka's name of an error code: `unknownTopicOrPartition` is UNKNOWN_TOPIC_OR_PARTITION.
    static func kafkaName(_ code: KafkaErrorCode) -> String {
        var name = ""
        for character in String(describing: code) {
            if character.isUppercase, !name.isEmpty { name.append("_") }
            name.append(contentsOf: character.uppercased())
        }
        return name
    }

    /// One partition's Kafka record batch (as the client sent it, compressed or not) was
    /// appended to `topic`.
    func produced(topic: String, kafkaBatch: [UInt8]) {
        let counters = counters(topic)
        counters.producedBatches.increment()
        counters.producedRecords.increment(by: Self.recordCount(kafkaBatches: kafkaBatch))
        counters.producedBytes.increment(by: kafkaBatch.count)
    }

    /// A Fetch answered these Kafka record batches of one of `topic`'s partitions.
    func fetched(topic: String, kafkaBatches: [UInt8]) {
        guard !kafkaBatches.isEmpty else { return }
        let counters = counters(topic)
        counters.fetchedRecords.increment(by: Self.recordCount(kafkaBatches: kafkaBatches))
        counters.fetchedBytes.increment(by: kafkaBatches.count)
    }

    /// The records of whole Kafka batches laid end to end: each batch's `recordCount` header
    /// field (bytes 57..<61), stepping by `batchLength` (bytes 8..<12) — one read per batch, not
    /// per record. A truncated tail (never sent by the handlers) ends the count.
    static func recordCount(kafkaBatches bytes: [UInt8]) -> Int {
        func int32(_ at: Int) -> Int {
            Int(
                Int32(
                    bitPattern: UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8
                        | UInt32(bytes[at + 3])))
        }
        var position = 0
        var records = 0
        while position + KafkaBatchHeader.size <= bytes.count {
            records += max(0, int32(position + 57))
            let length = int32(position + 8)
            guard length > 0 else { break }
            position += KafkaBatchHeader.lengthFieldEnd + length
        }
        return records
    }

    // MARK: Sampled at scrape time.

    /// Sets the lag gauges to `lags` (at most `groupLagSeriesMax` of them, the rest counted as
    /// dropped) and removes the series of the last scrape that are gone.
    func recordGroupLag(_ lags: [(GroupLagKey, Int64)], series: Int) {
        let kept = lags.prefix(groupLagSeriesMax)
        groupLagSeriesDropped.record(max(0, series - kept.count))
        let stale: [Gauge] = groupLag.withLock { gauges in
            var next: [GroupLagKey: Gauge] = [:]
            for (key, lag) in kept {
                let gauge =
                    gauges.removeValue(forKey: key)
                    ?? Gauge(
                        label: "strata_consumer_group_lag_records",
                        dimensions: [("group", key.group), ("topic", key.topic), ("partition", "\(key.partition)")],
                        factory: factory)
                gauge.record(lag)
                next[key] = gauge
            }
            defer { gauges = next }
            return Array(gauges.values)
        }
        for gauge in stale { gauge.destroy() }
    }
}

/// The monotonic clock in nanoseconds (request latency).
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

extension RequestDispatcher {
    var metrics: ServerMetrics { options.metrics ?? .global }
}

extension KafkaServer {
    /// Samples what a scrape shows but no request moves: open connections, consumer group lag
    /// (committed offset against the partition's high watermark, for every committed offset of
    /// every group, up to the series bound; partitions that are not open are opened).
    public func refreshMetrics() async {
        let metrics = options.metrics ?? .global
        metrics.connections.record(connectionCount)
        guard let store = groupStore else { return }
        var lags: [(ServerMetrics.GroupLagKey, Int64)] = []
        var series = 0
        for (group, stored) in await store.groups().sorted(by: { $0.key < $1.key }) {
            for (partition, committed) in stored.offsets.sorted(by: { $0.key < $1.key }) {
                series += 1
                guard lags.count < metrics.groupLagSeriesMax else { continue }
                guard let log = try? EngineCalls.partition(lake, partition.topic, partition.partition) else { continue }
                let key = ServerMetrics.GroupLagKey(
                    group: group, topic: partition.topic, partition: partition.partition)
                lags.append((key, max(0, log.highWatermark - committed.offset)))
            }
        }
        metrics.recordGroupLag(lags, series: series)
    }
}
