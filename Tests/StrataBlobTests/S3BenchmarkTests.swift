import Foundation
import Testing

@testable import StrataBlob

/// Not a test of correctness: upload and download throughput of a 64 MiB object, printed for
/// tools/s3-bench, which runs boto3 against the same server in the same run and prints ratios.
@Suite(
    .enabled(
        if: S3TestServer.isConfigured && S3TestServer.environment["STRATA_S3_BENCH"] == "1", "set STRATA_S3_BENCH=1"))
struct S3BenchmarkTests {
    static let objectBytes = 64 << 20
    static let repetitionCount = 3

    @Test func upload64MiBThenDownload() async throws {
        let store = try S3TestServer.store("bench")
        let bytes = s3TestBytes(count: Self.objectBytes, seed: 5)
        var putSeconds: [Double] = []
        var getSeconds: [Double] = []
        for repetition in 0 ..< Self.repetitionCount {
            let started = Date()
            try await store.put("obj-\(repetition)", bytes, mode: .overwrite)
            let uploaded = Date()
            let back = try await store.get("obj-\(repetition)", range: .whole)
            let downloaded = Date()
            #expect(back.bytes.count == bytes.count)
            putSeconds.append(uploaded.timeIntervalSince(started))
            getSeconds.append(downloaded.timeIntervalSince(uploaded))
        }
        let mib = Double(Self.objectBytes) / Double(1 << 20)
        print("STRATA_BENCH put_mib_s=\(mib / (putSeconds.min() ?? 1)) get_mib_s=\(mib / (getSeconds.min() ?? 1))")
        try await store.delete((0 ..< Self.repetitionCount).map { "obj-\($0)" })
    }
}
