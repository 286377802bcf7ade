import Foundation
import Glibc
import Logging
import Prometheus
import Strata
import StrataKafka
import Synchronization
import Testing

@testable import StrataServer

/// The server's metrics, the `/metrics` endpoint and the log handler (ARCHITECTURE.md
/// "Observability"). Each test's server has a registry of its own (`KafkaServerOptions.metrics`).
@Suite struct ServerMetricsTests {
    static func metered(topicLabelsMax: Int = 100) -> (PrometheusCollectorRegistry, ServerMetrics) {
        let registry = PrometheusCollectorRegistry()
        let factory = StrataPrometheus.factory(registry: registry)
        return (registry, ServerMetrics(factory: factory, topicLabelsMax: topicLabelsMax))
    }

    /// The value of the sample `name{labels}` in the registry's text output (nil: absent).
    static func value(_ registry: PrometheusCollectorRegistry, _ sample: String) -> Double? {
        for line in registry.emitToString().split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == sample { return Double(parts[1]) }
        }
        return nil
    }

    static func produce(_ client: KafkaTestClient, _ topic: String, _ values: [String]) async throws {
        let response = try await client.call(.produce, version: 9, Requests.produce(topic, records: kafkaBatch(values)))
        let partition = try firstPartition(response, topics: "Responses", partitions: "PartitionResponses")
        #expect(try partition.int16("ErrorCode") == 0, "\(partition)")
    }

    @Test func produceAndFetchMoveThePerTopicCountersAndTheRequestHistogram() async throws {
        let (registry, metrics) = Self.metered()
        try await withServer(configure: { $0.metrics = metrics }) { server in
            let client = try server.connect()
            _ = try await client.call(.createTopics, version: 5, Requests.createTopic("a"))
            let batch = kafkaBatch(["x", "y", "z"])
            try await Self.produce(client, "a", ["x", "y", "z"])
            try await Self.produce(client, "a", ["w"])
            #expect(Self.value(registry, #"strata_produced_records_total{topic="a"}"#) == 4)
            #expect(Self.value(registry, #"strata_produced_batches_total{topic="a"}"#) == 2)
            #expect(
                Self.value(registry, #"strata_produced_bytes_total{topic="a"}"#)
                    == Double(batch.count + kafkaBatch(["w"]).count))

            let fetched = try await client.call(.fetch, version: 12, Requests.fetch("a", offset: 0))
            let records = try #require(
                try firstPartition(fetched, topics: "Responses", partitions: "Partitions").bytes("Records"))
            #expect(Self.value(registry, #"strata_fetched_records_total{topic="a"}"#) == 4)
            #expect(Self.value(registry, #"strata_fetched_bytes_total{topic="a"}"#) == Double(records.count))
            #expect(ServerMetrics.recordCount(kafkaBatches: records) == 4)

            #expect(Self.value(registry, #"strata_requests_total{api="Produce"}"#) == 2)
            #expect(Self.value(registry, #"strata_requests_total{api="Fetch"}"#) == 1)
            #expect(Self.value(registry, #"strata_request_seconds_count{api="Produce"}"#) == 2)
            // Strata's request buckets, not Prometheus' defaults (which start at 5 ms).
            #expect(Self.value(registry, #"strata_request_seconds_bucket{api="Produce",le="0.0001"}"#) != nil)
            await server.server.refreshMetrics()
            #expect(Self.value(registry, "strata_connections") == 1)
        }
    }

    /// A refused partition counts under its Kafka error name; an accepted one does not.
    @Test func refusedProducePartitionsCountByErrorCode() async throws {
        let (registry, metrics) = Self.metered()
        try await withServer(configure: { $0.metrics = metrics }) { server in
            let client = try server.connect()
            _ = try await client.call(.createTopics, version: 5, Requests.createTopic("a"))
            try await Self.produce(client, "a", ["fine"])
            #expect(registry.emitToString().contains("strata_produce_errors_total") == false)
            for _ in 0 ..< 2 {
                let response = try await client.call(
                    .produce, version: 9, Requests.produce("a", partition: 7, records: kafkaBatch(["lost"])))
                let partition = try firstPartition(response, topics: "Responses", partitions: "PartitionResponses")
                #expect(try partition.int16("ErrorCode") == KafkaErrorCode.unknownTopicOrPartition.rawValue)
            }
            let invalid = try await client.call(.produce, version: 9, Requests.produce("a", records: nil))
            let part = try firstPartition(invalid, topics: "Responses", partitions: "PartitionResponses")
            #expect(try part.int16("ErrorCode") == KafkaErrorCode.invalidRecord.rawValue)
            #expect(Self.value(registry, #"strata_produce_errors_total{code="UNKNOWN_TOPIC_OR_PARTITION"}"#) == 2)
            #expect(Self.value(registry, #"strata_produce_errors_total{code="INVALID_RECORD"}"#) == 1)
            #expect(Self.value(registry, #"strata_produced_records_total{topic="a"}"#) == 1)
        }
    }

    @Test func topicsPastTheLabelCapCountUnderOther() async throws {
        let (registry, metrics) = Self.metered(topicLabelsMax: 2)
        try await withServer(configure: { $0.metrics = metrics }) { server in
            let client = try server.connect()
            for name in ["t1", "t2", "t3", "t4"] {
                _ = try await client.call(.createTopics, version: 5, Requests.createTopic(name))
                try await Self.produce(client, name, ["a", "b"])
            }
            #expect(Self.value(registry, #"strata_produced_records_total{topic="t1"}"#) == 2)
            #expect(Self.value(registry, #"strata_produced_records_total{topic="t2"}"#) == 2)
            #expect(Self.value(registry, #"strata_produced_records_total{topic="t3"}"#) == nil)
            #expect(Self.value(registry, #"strata_produced_records_total{topic="_other"}"#) == 4)
            let series = registry.emitToString().split(separator: "\n").filter {
                $0.hasPrefix("strata_produced_records_total{")
            }
            #expect(series.count == 3)
        }
    }

    @Test func theEndpointServesMetricsAnd404sOtherPaths() async throws {
        let (registry, metrics) = Self.metered()
        metrics.produced(topic: "e", kafkaBatch: kafkaBatch(["1", "2"]))
        let endpoint = MetricsEndpoint(host: "127.0.0.1", port: 0) { StrataPrometheus.exposition(registry) }
        let (_, port) = try await endpoint.start()
        let ok = try await Self.httpGet(port: port, path: "/metrics")
        #expect(ok.hasPrefix("HTTP/1.1 200 OK"), "\(ok)")
        #expect(ok.contains("Content-Type: \(MetricsEndpoint.contentType)"))
        #expect(ok.contains(#"strata_produced_records_total{topic="e"} 2"#))
        let missing = try await Self.httpGet(port: port, path: "/other")
        #expect(missing.hasPrefix("HTTP/1.1 404"), "\(missing)")
        #expect(!missing.contains("strata_produced"))
        await endpoint.shutdown()
    }

    @Test func anAddressThatCannotBeBoundIsATypedErrorNamingTheFlag() async throws {
        let endpoint = MetricsEndpoint(host: "203.0.113.7", port: 9644) { [] }
        let error = await #expect(throws: MetricsEndpointError.self) { _ = try await endpoint.start() }
        #expect(
            error?.description.contains("--metrics-listen 203.0.113.7:9644") == true, "\(String(describing: error))")
        await endpoint.shutdown()
    }

    @Test func jsonLinesParseAndLevelsFilter() throws {
        let lines = Mutex<[String]>([])
        let logger = Logger(label: "strata.test") { label in
            StrataLogHandler(
                label: label, format: .json, level: .notice, sink: { line in lines.withLock { $0.append(line) } })
        }
        logger.info("not shown: below notice")
        logger.notice("quoted \"name\"\nsecond line", metadata: ["topic": "t", "sasl_password": "hunter2"])
        logger.error("failed", metadata: ["partition": "3"])
        let written = lines.withLock { $0 }
        #expect(written.count == 2)
        let first = try #require(
            try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: String])
        #expect(first["level"] == "notice")
        #expect(first["msg"] == "quoted \"name\"\nsecond line")
        #expect(first["logger"] == "strata.test")
        #expect(first["topic"] == "t")
        #expect(first["sasl_password"] == "[redacted]")
        #expect(!written[0].contains("hunter2"))
        #expect(first["ts"]?.hasSuffix("Z") == true && first["ts"]?.count == 24)
        let second = try #require(try JSONSerialization.jsonObject(with: Data(written[1].utf8)) as? [String: String])
        #expect(second["level"] == "error" && second["partition"] == "3")
    }

    @Test func textLinesAreOneLinePerEvent() {
        let line = StrataLogHandler.line(
            format: .text, timestampMs: 1_700_000_000_123, level: .warning, label: "strata.serve",
            message: "two\nlines", metadata: ["b": "2", "a": "1"])
        #expect(line == "2023-11-14T22:13:20.123Z warning strata.serve: two lines a=1 b=2")
    }

    /// One HTTP/1.1 GET over a plain socket; the whole answer (the server closes after it).
    static func httpGet(port: Int, path: String) async throws -> String {
        try await offPool {
            let fd = try loopbackSocket(port: port)
            defer { close(fd) }
            let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
            guard send(fd, request, request.count, 0) == request.count else {
                throw SocketError(description: "send: errno \(errno)")
            }
            var answer: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                answer += buffer[..<n]
            }
            return String(decoding: answer, as: UTF8.self)
        }
    }
}
