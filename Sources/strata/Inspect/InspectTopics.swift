import ArgumentParser
import Foundation
import Strata

/// `strata inspect topics`: every topic with its offsets and size.
struct InspectTopics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "topics", abstract: "List the topics of a lake.")

    @OptionGroup var lakeOption: LakeOption
    @Flag(help: "One JSON object per line.")
    var json = false

    func run() async throws {
        let lake = try lakeOption.open(background: false)
        var rows: [[String]] = []
        for name in try lake.topicNames() {
            let topic = try lake.topic(name)
            let segments = topic.segments()
            let bytes = segments.reduce(0) { $0 + $1.bytes }
            let (start, end) = (topic.localStartOffset, topic.highWatermark)
            if json {
                print(jsonLine(["topic": name, "startOffset": start, "highWatermark": end, "records": end - start,
                                "segments": segments.count, "bytes": bytes, "durability": topic.config.durability.rawValue]))
            } else {
                rows.append([name, "\(start)", "\(end)", "\(end - start)", "\(segments.count)", humanBytes(Int64(bytes)),
                             topic.config.durability.rawValue])
            }
        }
        try await lake.close()
        if !json {
            printTable(["TOPIC", "START", "HIGH-WATERMARK", "RECORDS", "SEGMENTS", "BYTES", "DURABILITY"], rows)
        }
    }
}

/// `strata inspect segments`: the segments of one topic in both tiers.
struct InspectSegments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segments", abstract: "List the segments of a topic and their tier (hot, cold or both).")

    @OptionGroup var lakeOption: LakeOption
    @Argument(help: "Topic name.")
    var topic: String
    @Flag(help: "One JSON object per line.")
    var json = false

    struct Row {
        var base: Int64, last: Int64, bytes: Int64, first: Int64?, max: Int64?, hot: Bool, cold: Bool, state: String
    }

    func run() async throws {
        let lake = try lakeOption.open(background: false)
        let local: [SegmentInfo]
        let cold: [ManifestSegment]
        do {
            let handle = try lake.topic(topic)
            local = handle.segments()
            cold = try await handle.coldSegments()
        } catch {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        var rows: [Int64: Row] = [:]
        for c in cold {
            rows[c.baseOffset] = Row(base: c.baseOffset, last: c.lastOffset, bytes: c.rawBytes, first: c.firstTimestamp,
                                     max: c.maxTimestamp, hot: false, cold: true, state: "sealed")
        }
        for s in local {
            let inCold = rows[s.baseOffset]?.last == s.lastOffset
            rows[s.baseOffset] = Row(base: s.baseOffset, last: s.lastOffset, bytes: Int64(s.bytes), first: s.firstTimestamp,
                                     max: s.maxTimestamp, hot: true, cold: inCold, state: s.sealed ? "sealed" : "active")
        }
        let sorted = rows.values.sorted { $0.base < $1.base }
        var table: [[String]] = []
        for r in sorted {
            let tier = r.hot && r.cold ? "both" : r.hot ? "hot" : "cold"
            if json {
                print(jsonLine(["baseOffset": r.base, "lastOffset": r.last, "records": r.last - r.base + 1, "bytes": r.bytes,
                                "firstTimestamp": r.first.map { $0 as Any } ?? NSNull(),
                                "maxTimestamp": r.max.map { $0 as Any } ?? NSNull(), "tier": tier, "state": r.state]))
            } else {
                table.append(["\(r.base)", "\(r.last)", "\(r.last - r.base + 1)", humanBytes(r.bytes), humanTime(r.first),
                              humanTime(r.max), tier, r.state])
            }
        }
        if !json { printTable(["BASE", "LAST", "RECORDS", "RAW-BYTES", "FIRST-TIME", "MAX-TIME", "TIER", "STATE"], table) }
    }
}

/// Prints rows under headers, columns padded to their widest cell.
func printTable(_ headers: [String], _ rows: [[String]]) {
    var widths = headers.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    func format(_ row: [String]) -> String {
        row.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
    print(format(headers))
    rows.forEach { print(format($0)) }
}
