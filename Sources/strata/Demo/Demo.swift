import ArgumentParser
import Foundation
import Strata

/// `strata demo`: the main job end to end on the embedded default (no server needed).
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Produce clickstream records, offload them to the cold tier, replay everything and verify it.",
        discussion: """
            Creates topics with small segments, produces --records records (95% first, then 5% that stay hot), \
            lets the offloader move sealed segments to the cold store, evicts the local copies, replays every \
            topic from offset 0 across both tiers and from a timestamp, checks every record, and prints a report. \
            Exits 1 if any record differs.

            Example:
              strata demo --records 100000 --topics 2
            """
    )

    @Option(help: "Lake directory (default: a new directory under /tmp).")
    var lake: String?
    @Option(help: "Cold store URL for a new lake (default: file://<lake>/cold).")
    var cold: String?
    @Option(help: "Records to produce in all.")
    var records: Int = 1_000_000
    @Option(help: "Topics to spread them over.")
    var topics: Int = 4
    @Option(help: "Segment size of the demo topics, bytes.")
    var segmentBytes: Int = 4 * 1024 * 1024
    @Option(
        help: ArgumentHelp(
            "Also write the produced records' events per page per UTC day to FILE (JSON), for tools/demo's closing "
                + "SQL query over the topic tables.", valueName: "file"))
    var pageTally: String?

    func validate() throws {
        guard records > 0 else { throw ValidationError("--records must be positive") }
        guard (1 ... 64).contains(topics) else { throw ValidationError("--topics must be in 1...64") }
    }

    func run() async throws {
        let directory = lake ?? NSTemporaryDirectory() + "strata-demo-\(getpid())-\(Int(Date().timeIntervalSince1970))"
        var options = LakeOptions()
        options.log = { printError("strata: \($0)") }
        let handle = try Lake.open(directory, cold: cold, options: options)
        printError("demo: lake \(directory), cold store \(handle.coldURL)")
        var run = DemoRun(lake: handle, topicCount: topics, recordCount: records, segmentBytes: segmentBytes)
        let ok: Bool
        do { ok = try await run.execute() } catch {
            await handle.close(after: error)
            throw error
        }
        try await handle.close()
        run.printReport(lakePath: directory)
        if let pageTally { try run.pages.write(to: pageTally) }
        if !ok { throw ExitCode(1) }
    }
}

/// The phases of the demo and what they measured.
struct DemoRun {
    let lake: Lake
    let topicCount: Int
    let recordCount: Int
    let segmentBytes: Int
    /// From ten minutes before 2026-01-01 UTC: a default run's records span two UTC days, so the
    /// tables hold a file per partition and day and tools/demo's per-day query has two days.
    let stream = Clickstream(startMs: 1_767_225_600_000 - 600_000)
    var phases: [(String, Double, Int64, Int)] = []  // name, seconds, bytes, records
    var verified = 0
    var mismatches = 0
    var timeSeekOK = true
    var hotSegments = 0, coldSegments = 0
    var rawBytes: Int64 = 0, storedBytes: Int64 = 0
    /// Events per page per day of every record produced (`--page-tally`).
    var pages = PageTally()

    var topicNames: [String] { (0 ..< topicCount).map { "clicks-\($0)" } }

    func count(for topic: Int) -> Int {
        recordCount / topicCount + (topic < recordCount % topicCount ? 1 : 0)
    }

    mutating func execute() async throws -> Bool {
        var config = TopicConfig()
        config.segmentBytes = segmentBytes
        config.coldFrameRawBytes = 256 * 1024
        let handles = try topicNames.map { try lake.topic($0, creatingWith: config) }
        try await produce(handles, fraction: (0, 95))
        let offloadStart = Date()
        let report = try await lake.offload(seal: true, evict: true)
        phases.append(("offload rest", Date().timeIntervalSince(offloadStart), report.rawBytes, 0))
        try await produce(handles, fraction: (95, 100))
        try await replay(handles)
        try await seekByTime(handles)
        try await tally(handles)
        return mismatches == 0 && verified == recordCount && timeSeekOK
    }

    /// Appends records [from%, to%) of every topic, in batches, the topics concurrently.
    private mutating func produce(_ handles: [Topic], fraction: (Int, Int)) async throws {
        let start = Date()
        let plan = handles.enumerated().map { (i, t) in
            (t, i, Int64(count(for: i) * fraction.0 / 100), Int64(count(for: i) * fraction.1 / 100))
        }
        let total = plan.reduce(0) { $0 + Int($1.3 - $1.2) }
        let progress = Progress(label: "produce", total: total)
        let generator = stream
        let (bytes, pages) = try await withThrowingTaskGroup(of: (Int64, PageTally).self) { group in
            for (topic, stream, from, to) in plan {
                group.addTask {
                    try await Self.produceRange(
                        topic, stream: stream, from: from, to: to, using: generator, progress: progress)
                }
            }
            var total: (Int64, PageTally) = (0, PageTally())
            for try await (bytes, pages) in group {
                total.0 += bytes
                total.1.add(pages)
            }
            return total
        }
        self.pages.add(pages)
        progress.finish()
        phases.append(("produce \(fraction.0)-\(fraction.1)%", Date().timeIntervalSince(start), bytes, total))
    }

    private static func produceRange(
        _ topic: Topic, stream: Int, from: Int64, to: Int64, using gen: Clickstream,
        progress: Progress
    ) async throws -> (Int64, PageTally) {
        var bytes: Int64 = 0
        var pages = PageTally()
        var next = from
        while next < to {
            let end = min(to, next + 1000)
            let batch = (next ..< end).map { gen.record($0, stream: stream) }
            let result = try await topic.append(batch)
            guard result.firstOffset == next else {
                throw StrataError(.corrupt, "expected offset \(next), got \(result.firstOffset)", topic: topic.name)
            }
            bytes += batch.reduce(0) { $0 + Int64($1.value?.count ?? 0) + Int64($1.key?.count ?? 0) }
            for record in batch { pages.count(record) }
            progress.add(batch.count)
            next = end
        }
        return (bytes, pages)
    }

    /// Reads every topic from offset 0 and compares each record with the generator.
    private mutating func replay(_ handles: [Topic]) async throws {
        let start = Date()
        let progress = Progress(label: "replay", total: recordCount)
        var bytes: Int64 = 0
        for (i, topic) in handles.enumerated() {
            var cursor = try await Cursor(topic: topic, start: .offset(0))
            var expected: Int64 = 0
            while true {
                let batch = try await cursor.next()
                if batch.isEmpty { break }
                for record in batch {
                    let want = stream.record(expected, stream: i)
                    if record.offset == expected, record.value == want.value, record.key == want.key,
                        record.timestamp == want.timestamp
                    {
                        verified += 1
                    } else {
                        mismatches += 1
                    }
                    bytes += Int64(record.value?.count ?? 0) + Int64(record.key?.count ?? 0)
                    expected += 1
                }
                progress.add(batch.count)
            }
            if expected != Int64(count(for: i)) { mismatches += 1 }
        }
        progress.finish()
        phases.append(("replay", Date().timeIntervalSince(start), bytes, verified + mismatches))
    }

    /// Seeks each topic by a timestamp in its cold part and one in its hot part.
    private mutating func seekByTime(_ handles: [Topic]) async throws {
        for (i, topic) in handles.enumerated() {
            for target in [Int64(count(for: i) / 3), Int64(count(for: i) * 97 / 100)] {
                var cursor = try await Cursor(topic: topic, start: .timestamp(stream.timestamp(target)))
                let first = try await cursor.next().first
                if first?.offset != target || first?.value != stream.record(target, stream: i).value {
                    timeSeekOK = false
                }
            }
        }
    }

    private mutating func tally(_ handles: [Topic]) async throws {
        for topic in handles {
            hotSegments += topic.segments().filter { $0.recordCount > 0 }.count
            let cold = try await topic.coldSegments()
            coldSegments += cold.count
            storedBytes += cold.reduce(0) { $0 + $1.objectBytes }
            rawBytes += cold.reduce(0) { $0 + $1.rawBytes }
        }
    }

    func printReport(lakePath: String) {
        print("Strata demo report")
        print("  lake            \(lakePath)")
        print("  records         \(recordCount) in \(topicCount) topics")
        let compression =
            rawBytes > 0 && storedBytes > 0 ? String(format: "%.2fx", Double(rawBytes) / Double(storedBytes)) : "-"
        print(
            "  raw offloaded   \(humanBytes(rawBytes)) → stored \(humanBytes(storedBytes)) (compression \(compression))"
        )
        print("  segments        \(coldSegments) cold, \(hotSegments) hot (non-empty local)")
        for (name, seconds, bytes, records) in phases {
            let rate = seconds > 0 ? Double(bytes) / seconds / 1_000_000 : 0
            let recs = seconds > 0 && records > 0 ? String(format: ", %.0f records/s", Double(records) / seconds) : ""
            let label = name.padding(toLength: 16, withPad: " ", startingAt: 0)
            print("  " + label + String(format: "%7.2f s  %8.1f MB/s", seconds, rate) + recs)
        }
        print("  time seeks      \(timeSeekOK ? "ok" : "WRONG")")
        if mismatches == 0 && verified == recordCount && timeSeekOK {
            print("  verified        \(verified)/\(recordCount) records: every record verified")
        } else {
            print("  verified        \(verified)/\(recordCount) records, \(mismatches) mismatches: VERIFICATION FAILED")
        }
    }
}

/// Events per page per UTC day of produced clickstream records: the answer tools/demo's SQL query
/// over the topic tables must give. The page is the value's `page` up to its second `/`
/// (`/products/17` counts as `/products`).
struct PageTally: Sendable {
    /// "page day-number" → events (day number: days since 1970-01-01 UTC).
    private(set) var counts: [String: Int] = [:]
    private static let marker = Array(#""page":""#.utf8)

    mutating func count(_ record: ProducerRecord) {
        guard let value = record.value, let timestamp = record.timestamp else { return }
        let day = Int(timestamp >= 0 ? timestamp / 86_400_000 : (timestamp - 86_399_999) / 86_400_000)
        counts["\(Self.page(value)) \(day)", default: 0] += 1
    }

    mutating func add(_ other: PageTally) { counts.merge(other.counts, uniquingKeysWith: +) }

    static func page(_ value: [UInt8]) -> String {
        guard value.count >= marker.count,
            let start = (0 ... value.count - marker.count).first(where: {
                value[$0 ..< $0 + marker.count].elementsEqual(marker)
            })
        else { return "" }
        var end = start + marker.count
        var slashes = 0
        while end < value.count, value[end] != UInt8(ascii: "\"") {
            if value[end] == UInt8(ascii: "/") {
                slashes += 1
                if slashes == 2 { break }
            }
            end += 1
        }
        return String(decoding: value[(start + marker.count) ..< end], as: UTF8.self)
    }

    struct Row: Codable {
        var page: String
        var day: Int
        var events: Int
    }

    /// `[{"day": N, "events": N, "page": …}, …]` sorted by day, then page.
    func write(to path: String) throws {
        let rows = counts.map { key, events in
            let parts = key.split(separator: " ", omittingEmptySubsequences: false)
            return Row(page: String(parts[0]), day: Int(parts[1]) ?? 0, events: events)
        }.sorted { ($0.day, $0.page) < ($1.day, $1.page) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(rows).write(to: URL(fileURLWithPath: path))
    }
}

/// A progress line on stderr, at most once a second.
final class Progress: @unchecked Sendable {
    private let lock = NSLock()
    private let label: String
    private let total: Int
    private var done = 0
    private var lastPrint = Date()
    private let start = Date()

    init(label: String, total: Int) {
        self.label = label
        self.total = total
    }

    func add(_ n: Int) {
        lock.lock()
        done += n
        let now = Date()
        let due = now.timeIntervalSince(lastPrint) >= 1
        if due { lastPrint = now }
        let snapshot = done
        lock.unlock()
        if due { printError(line(snapshot, now)) }
    }

    func finish() {
        lock.lock()
        let snapshot = done
        lock.unlock()
        printError(line(snapshot, Date()))
    }

    private func line(_ done: Int, _ now: Date) -> String {
        let seconds = max(0.001, now.timeIntervalSince(start))
        return String(format: "demo: %@ %d/%d records (%.0f/s)", label as NSString, done, total, Double(done) / seconds)
    }
}
