import Foundation
import Strata
import StrataBlob

/// s3-transfer: 64 MiB objects up and down through `S3BlobStore`, against the endpoint and
/// credentials of the AWS_* environment (tools/bench starts SeaweedFS and runs boto3 on it).
struct S3Bench {
    let options: BenchOptions
    let bucket: String
    let rounds: Int

    static let objectBytes = 64 * 1024 * 1024

    /// Best of `rounds` uploads (PutObject or multipart, as the store decides) and whole-object
    /// downloads; the value is the round trip: 2 × 64 MiB over the best upload plus the best
    /// download time.
    func run() async throws -> BenchReport {
        let config = try S3Config.fromEnvironment(bucket: bucket, prefix: "strata-bench/")
        let store = try S3BlobStore(config: config)
        var rng = SplitMix64(seed: options.seed)
        let payload = [UInt8](unsafeUninitializedCapacity: Self.objectBytes) { buffer, count in
            for i in stride(from: 0, to: Self.objectBytes, by: 8) {
                withUnsafeBytes(of: rng.next()) { word in
                    for j in 0 ..< 8 { buffer[i + j] = word[j] }
                }
            }
            count = Self.objectBytes
        }
        var ups: [Double] = [], downs: [Double] = []
        for round in 0 ..< rounds {
            let key = "object-\(round)"
            let (_, up) = try await timed { try await store.put(key, payload, mode: .overwrite) }
            let (data, down) = try await timed { try await store.get(key, range: .whole) }
            guard data.bytes.count == payload.count, data.bytes == payload else {
                throw StrataError(.corrupt, "downloaded object differs from the upload", file: key)
            }
            ups.append(up)
            downs.append(down)
        }
        try await store.delete((0 ..< rounds).map { "object-\($0)" })
        let (up, down) = (ups.min() ?? 0, downs.min() ?? 0)
        let bytes = Int64(Self.objectBytes)
        let roundTrip = megabytesPerSecond(2 * bytes, up + down)
        return BenchReport(
            scenario: "s3-transfer", value: roundTrip, unit: "MB/s round trip",
            fields: [
                "uploadMBps": megabytesPerSecond(bytes, up), "downloadMBps": megabytesPerSecond(bytes, down),
                "objectBytes": bytes, "rounds": rounds, "endpoint": config.endpoint.absoluteString,
            ],
            summary: [
                "64 MiB best of \(rounds): upload \(format(megabytesPerSecond(bytes, up))) MB/s, "
                    + "download \(format(megabytesPerSecond(bytes, down))) MB/s (\(config.endpoint.absoluteString))"
            ])
    }
}
