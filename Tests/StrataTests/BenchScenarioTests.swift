import Foundation
import Testing

/// The counts the issue 15 and 16 benches report are the work they did (no timing is asserted:
/// timing belongs to `tools/bench`). Run on tiny sizes through the built binary.
@Suite(.serialized) struct BenchScenarioTests {
    static func result(_ arguments: [String]) throws -> [String: Any] {
        let out = try CLIRun.strata(["bench"] + arguments)
        try #require(out.status == 0, "\(out)")
        let line = try #require(out.stdout.split(separator: "\n").last(where: { $0.contains("\"result\"") }))
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func appendSyncPartitionsAcknowledgesEveryAppendOfEveryPartition() throws {
        let dir = NSTemporaryDirectory() + "strata-bench-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let report = try Self.result(["append-sync-partitions", "--producers", "4", "--appends", "25", "--dir", dir])
        #expect(report["acks"] as? Int == 100)
        #expect(report["partitions"] as? Int == 4)
        let fsyncs = try #require(report["fsyncs"] as? Int)
        #expect(fsyncs >= 1 && fsyncs <= 100, "a sync ack costs at most one fsync of its partition: \(fsyncs)")
    }

    @Test func tableWriteWritesEveryRecordAndTableQueryAgreesWithTheProducedRecords() throws {
        let dir = NSTemporaryDirectory() + "strata-bench-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let write = try Self.result(["table-write", "--quick", "--mib", "1", "--dir", dir])
        let expected = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: dir + "/table-lake/bench-expected.json")))
                as? [String: [Int]])
        let produced = expected.values.reduce(0) { $0 + $1[0] }
        #expect(produced > 0)
        #expect(write["rows"] as? Int == produced)
        #expect(write["segments"] as? Int == 4)
        #expect(write["parquetFiles"] as? Int == 4)
        #expect((write["parquetBytes"] as? Int ?? 0) > 0)
        #expect((write["coldObjectBytes"] as? Int ?? 0) > 0)
        // The script exits 1 (and the bench with it) unless both engines' answers equal the produced records'.
        let query = try Self.result(["table-query", "--quick", "--mib", "1", "--dir", dir])
        #expect(query["rows"] as? Int == produced)
        #expect(query["parquetFiles"] as? Int == 4)
    }
}
