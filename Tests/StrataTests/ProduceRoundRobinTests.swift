import Foundation
import Testing

/// `strata produce --round-robin` (issue 16, the crash test's many-partition mode): line i of the
/// run goes to partition i mod N, every ack line names its partition, and an oversized line stops
/// the run with every earlier line committed in every partition and nothing after it.
@Suite struct ProduceRoundRobinTests {
    static func values(_ lake: String, _ partition: Int) throws -> [String] {
        let out = try CLIRun.strata([
            "consume", "--lake", lake, "rr", "--partition", "\(partition)", "--format", "json",
        ])
        try #require(out.status == 0, "\(out)")
        return try out.stdout.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try #require(object["value"] as? String)
        }
    }

    static func makeLake(partitions: Int, settings: [String] = []) throws -> String {
        let lake = NSTemporaryDirectory() + "strata-rr-\(UUID().uuidString)"
        let created = try CLIRun.strata(
            ["topics", "create", "--lake", lake, "rr", "--partitions", "\(partitions)"]
                + settings.flatMap { ["--set", $0] })
        try #require(created.status == 0, "\(created)")
        return lake
    }

    @Test func linesAreDealtOutInTurnAndEveryAckNamesItsPartition() throws {
        let lake = try Self.makeLake(partitions: 3)
        defer { try? FileManager.default.removeItem(atPath: lake) }
        let acks = lake + ".acks"
        defer { try? FileManager.default.removeItem(atPath: acks) }
        let lines = (1 ... 7).map { "line-\($0)" }
        let out = try CLIRun.strata(
            ["produce", "--lake", lake, "rr", "--round-robin", "--acks-to", acks],
            stdin: lines.joined(separator: "\n") + "\n")
        try #require(out.status == 0, "\(out)")
        #expect(try Self.values(lake, 0) == ["line-1", "line-4", "line-7"])
        #expect(try Self.values(lake, 1) == ["line-2", "line-5"])
        #expect(try Self.values(lake, 2) == ["line-3", "line-6"])

        // One read, so one batch per partition: each ack line is "<partition> <first> <last>".
        let ackLines = try String(contentsOfFile: acks, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(ackLines.sorted() == ["0 0 2", "1 0 1", "2 0 1"])

        let summary = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        #expect(summary["records"] as? Int == 7)
        let partitions = try #require(summary["partitions"] as? [[String: Any]])
        #expect(partitions.map { $0["partition"] as? Int } == [0, 1, 2])
        #expect(partitions.map { $0["records"] as? Int } == [3, 2, 2])
        #expect(partitions.map { $0["lastOffset"] as? Int } == [2, 1, 1])
    }

    @Test func anOversizedLineStopsTheRunAfterEveryLineBeforeItInEveryPartition() throws {
        let lake = try Self.makeLake(partitions: 2, settings: ["recordBytesMax=200"])
        defer { try? FileManager.default.removeItem(atPath: lake) }
        let input = ["a", "b", "c", String(repeating: "x", count: 400), "d"].joined(separator: "\n") + "\n"
        let out = try CLIRun.strata(["produce", "--lake", lake, "rr", "--round-robin"], stdin: input)
        #expect(out.status != 0, "\(out)")
        #expect(out.stderr.contains("input line 4"), "\(out)")
        #expect(out.stderr.contains("lines 1 to 3 were committed"), "\(out)")
        #expect(try Self.values(lake, 0) == ["a", "c"])
        #expect(try Self.values(lake, 1) == ["b"])
    }

    @Test func roundRobinRefusesAPartition() throws {
        let lake = try Self.makeLake(partitions: 2)
        defer { try? FileManager.default.removeItem(atPath: lake) }
        let out = try CLIRun.strata(
            ["produce", "--lake", lake, "rr", "--round-robin", "--partition", "1"], stdin: "a\n")
        #expect(out.status != 0, "\(out)")
        #expect(out.stderr.contains("--round-robin writes to every partition"), "\(out)")
        #expect(try Self.values(lake, 0).isEmpty)
        #expect(try Self.values(lake, 1).isEmpty)
    }
}
