import Foundation
import Testing

/// `strata demo --page-tally`: the events per page per UTC day that tools/demo's closing SQL query
/// over the topic tables is compared with must be those of the records the lake holds. Counted
/// here again from `strata export`'s JSON lines of the cold tier, with Foundation's JSON parser.
@Suite struct DemoPageTallyTests {
    struct Row: Codable, Hashable {
        var page: String
        var day: Int
        var events: Int
    }

    @Test func pageTallyCountsTheRecordsTheLakeHolds() async throws {
        try await withTempDirectory { dir in
            // 61,000 records at 10 ms from 23:50 UTC: the last 1,000 fall on the next day.
            let demo = try CLIRun.strata([
                "demo", "--lake", dir + "/lake", "--records", "61000", "--topics", "1", "--page-tally", dir + "/p.json",
            ])
            #expect(demo.status == 0, "\(demo)")
            let tally = try JSONDecoder().decode(
                [Row].self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/p.json")))
            let offload = try CLIRun.strata(["offload", "--lake", dir + "/lake"])  // the hot 5% too
            #expect(offload.status == 0, "\(offload)")
            let export = try CLIRun.strata(["export", "--cold", "file://\(dir)/lake/cold", "clicks-0", "--quiet"])
            #expect(export.status == 0, "\(export)")
            var counts: [String: Int] = [:]
            for line in export.stdout.split(separator: "\n") {
                let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let value = try #require(record["value"] as? String)
                let fields = try #require(try JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any])
                let page = try #require(fields["page"] as? String)
                let base = "/" + (page.dropFirst().split(separator: "/", omittingEmptySubsequences: false).first ?? "")
                let ms = try #require(record["timestamp"] as? Int)
                counts["\(base) \(ms / 86_400_000)", default: 0] += 1
            }
            let want = Set(
                counts.map { key, events in
                    let parts = key.split(separator: " ")
                    return Row(page: String(parts[0]), day: Int(parts[1])!, events: events)
                })
            #expect(Set(tally) == want)
            #expect(tally.reduce(0) { $0 + $1.events } == 61000)
            #expect(Set(tally.map(\.day)).count == 2, "the records span two UTC days")
            #expect(tally.contains { $0.page == "/products" } && !tally.contains { $0.page.hasPrefix("/products/") })
        }
    }
}
