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
        let lake = try lakeOption.open()
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
        await lake.close()
        if !json {
            printTable(["TOPIC", "START", "HIGH-WATERMARK", "RECORDS", "SEGMENTS", "BYTES", "DURABILITY"], rows)
        }
    }
}

/// `strata inspect segments`: the segments of one topic.
struct InspectSegments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "segments", abstract: "List the segments of a topic and their tier.")

    @OptionGroup var lakeOption: LakeOption
    @Argument(help: "Topic name.")
    var topic: String
    @Flag(help: "One JSON object per line.")
    var json = false

    func run() async throws {
        let lake = try lakeOption.open()
        let segments: [SegmentInfo]
        do { segments = try lake.topic(topic).segments() } catch {
            await lake.close()
            throw error
        }
        await lake.close()
        var rows: [[String]] = []
        for s in segments {
            let tier = "hot"
            if json {
                print(jsonLine(["baseOffset": s.baseOffset, "lastOffset": s.lastOffset, "records": s.recordCount,
                                "bytes": s.bytes, "firstTimestamp": s.firstTimestamp.map { $0 as Any } ?? NSNull(),
                                "maxTimestamp": s.maxTimestamp.map { $0 as Any } ?? NSNull(), "tier": tier,
                                "sealed": s.sealed]))
            } else {
                rows.append(["\(s.baseOffset)", "\(s.lastOffset)", "\(s.recordCount)", humanBytes(Int64(s.bytes)),
                             humanTime(s.firstTimestamp), humanTime(s.maxTimestamp), tier, s.sealed ? "sealed" : "active"])
            }
        }
        if !json { printTable(["BASE", "LAST", "RECORDS", "BYTES", "FIRST-TIME", "MAX-TIME", "TIER", "STATE"], rows) }
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
