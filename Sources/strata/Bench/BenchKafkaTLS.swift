import Foundation
import Strata

/// kafka-tls (issue 18, "Measured"): produce and fetch through `strata serve`'s TLS listener
/// against its plaintext listener, in one serve process, on the same records, in the same run:
/// plaintext produce, TLS produce, plaintext fetch, TLS fetch (each to a topic of its own, read
/// back whole). The value is the lower of the two ratios TLS / plaintext (target ≥ 0.8). The
/// certificate is a self-signed P-256 one made with `openssl` in the bench directory.
struct KafkaTLSBench {
    let options: BenchOptions
    let directory: String
    let helper: String?

    func run() async throws -> BenchReport {
        let kafka = KafkaBench(options: options, directory: directory, helper: helper)
        let poolPath = directory + "/kafka-tls-pool.bin"
        try kafka.writePool(kafka.buildPool(), to: poolPath)
        defer { removeTree(poolPath) }
        let (cert, key) = try makeCertificate()
        defer { removeTree(cert); removeTree(key) }

        let lakePath = directory + "/kafka-tls-lake"
        removeTree(lakePath)
        defer { removeTree(lakePath) }
        var config = TopicConfig()
        config.durability = .async
        config.offloadLagMs = 3_600_000
        let topics = (plain: "bench-plain", tls: "bench-tls")
        do {
            let lake = try openBenchLake(lakePath)
            for name in [topics.plain, topics.tls] { _ = try lake.topic(name, creatingWith: config) }
            try await lake.close()
        }
        let serve = try ServeProcess.start(
            lake: lakePath, log: directory + "/kafka-tls-serve.log",
            arguments: ["--tls-cert", cert, "--tls-key", key, "--tls-listen", "127.0.0.1:0"])
        let plainProduce: [String: Any]
        let tlsProduce: [String: Any]
        let plainFetch: [String: Any]
        let tlsFetch: [String: Any]
        do {
            guard let tlsAddress = serve.tlsAddress else { throw BenchError("strata serve printed no TLS listener") }
            let bytes = String(options.bytesTarget)
            plainProduce = try kafka.runHelper(
                ["produce", "--bootstrap", serve.address, "--topic", topics.plain, "--pool", poolPath, "--bytes", bytes])
            tlsProduce = try kafka.runHelper([
                "produce", "--bootstrap", tlsAddress, "--topic", topics.tls, "--pool", poolPath, "--bytes", bytes,
                "--ssl-ca", cert,
            ])
            plainFetch = try kafka.runHelper([
                "fetch", "--bootstrap", serve.address, "--topic", topics.plain, "--end", Self.records(plainProduce),
            ])
            tlsFetch = try kafka.runHelper([
                "fetch", "--bootstrap", tlsAddress, "--topic", topics.tls, "--end", Self.records(tlsProduce),
                "--ssl-ca", cert,
            ])
        } catch {
            serve.forceKill()
            throw error
        }
        try serve.stop()
        for (side, produced, fetched) in [("plaintext", plainProduce, plainFetch), ("TLS", tlsProduce, tlsFetch)] {
            guard Self.records(produced) == Self.records(fetched) else {
                throw BenchError(
                    "kafka-tls \(side): \(Self.records(produced)) records produced, \(Self.records(fetched)) fetched")
            }
        }
        func rate(_ result: [String: Any], bytes: Int64) -> Double {
            megabytesPerSecond(bytes, result["seconds"] as? Double ?? 0)
        }
        let payload = (plainProduce["payloadBytes"] as? NSNumber)?.int64Value ?? 0
        let tlsPayload = (tlsProduce["payloadBytes"] as? NSNumber)?.int64Value ?? 0
        let produceRates = (plain: rate(plainProduce, bytes: payload), tls: rate(tlsProduce, bytes: tlsPayload))
        // A fetch reads what its produce wrote: the same payload bytes.
        let fetchRates = (plain: rate(plainFetch, bytes: payload), tls: rate(tlsFetch, bytes: tlsPayload))
        let produceRatio = produceRates.plain > 0 ? produceRates.tls / produceRates.plain : 0
        let fetchRatio = fetchRates.plain > 0 ? fetchRates.tls / fetchRates.plain : 0
        let ratio = min(produceRatio, fetchRatio)
        return BenchReport(
            scenario: "kafka-tls", value: ratio, unit: "ratio TLS/plaintext",
            fields: [
                "ratio": ratio, "produceRatio": produceRatio, "fetchRatio": fetchRatio,
                "plainProduceMBps": produceRates.plain, "tlsProduceMBps": produceRates.tls,
                "plainFetchMBps": fetchRates.plain, "tlsFetchMBps": fetchRates.tls, "payloadBytes": payload,
                "fetchClient": plainFetch["client"] as? String ?? "confluent-kafka",
            ],
            summary: [
                "produce (confluent-kafka acks=all, \(humanBytes(payload))): plaintext \(format(produceRates.plain)) MB/s, "
                    + "TLS \(format(produceRates.tls)) MB/s = \(format(produceRatio))",
                "fetch from offset 0 (\(plainFetch["client"] as? String ?? "confluent-kafka")): plaintext "
                    + "\(format(fetchRates.plain)) MB/s, TLS \(format(fetchRates.tls)) MB/s = \(format(fetchRatio))",
            ])
    }

    private static func records(_ result: [String: Any]) -> String {
        String((result["records"] as? NSNumber)?.int64Value ?? 0)
    }

    /// A self-signed P-256 certificate for 127.0.0.1 and its key, made by `openssl`.
    private func makeCertificate() throws -> (cert: String, key: String) {
        let (cert, key) = (directory + "/kafka-tls-cert.pem", directory + "/kafka-tls-key.pem")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", key, "-out", cert,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError("openssl req -x509 exited \(process.terminationStatus): cannot make the TLS certificate")
        }
        return (cert, key)
    }
}
