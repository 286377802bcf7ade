import ArgumentParser
import Foundation
import Strata

/// `strata inspect topics`: every topic with its offsets and what each tier holds.
struct InspectTopics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics", abstract: "List the topics of a lake with the records and bytes of each tier.",
        discussion: """
            Opens the lake read-only (works while a writer runs; nothing is created or changed). START is \
            the log start across both tiers, RECORDS = HIGH-WATERMARK - START. HOT counts the records and \
            bytes of the local segments, COLD those the latest cold manifest lists (offloaded by any \
            process, the background offloader included); a record can be in both until it is evicted. \
            NOT-IN-COLD = records above the cold tier's end, so COLD + NOT-IN-COLD = RECORDS. DAMAGE counts \
            torn tails and corrupt batches found on disk (left in place; see `inspect segments`). \
            Exit codes: 0 ok, 2 no such lake, 3 the cold store could not be read (hot figures still shown).

            Example:
              strata inspect topics --lake /lake --json
            """
    )

    @OptionGroup var lakeOption: ReadLakeOption
    @Flag(help: "One JSON object per line.")
    var json = false

    func run() async throws {
        let lake = try lakeOption.open()
        var rows: [[String]] = []
        var unreachable: StrataError? = nil
        do {
            for name in try lake.logNames() {
                let summary = await TopicSummary.load(try lake.log(name), coldKnownUnreachable: unreachable != nil)
                if unreachable == nil { unreachable = summary.coldError }
                if json { print(jsonLine(summary.json)) } else { rows.append(summary.row) }
            }
        } catch {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        if !json {
            printTable(
                [
                    "TOPIC", "START", "HIGH-WATERMARK", "RECORDS", "HOT-RECORDS", "HOT-BYTES", "COLD-RECORDS",
                    "COLD-BYTES", "NOT-IN-COLD", "SEGMENTS", "DAMAGE", "DURABILITY",
                ], rows)
        }
        if let unreachable {
            printError("warning: cold store \(lake.coldURL) could not be read, cold figures are '?': \(unreachable)")
            throw ExitCode(3)
        }
    }
}

/// One row of `inspect topics`: the hot figures from the local segments, the cold ones from
/// the latest manifest (nil when the cold store cannot be read).
struct TopicSummary {
    var name: String
    var durability: String
    var localStart: Int64
    var highWatermark: Int64
    var hotSegments: Int
    var hotBytes: Int64
    var damage: Int
    var cold: (logStart: Int64, next: Int64, segments: Int, bytes: Int64)?
    var coldError: StrataError?

    /// The summary of `topic`; with `coldKnownUnreachable` the cold store is not asked again.
    static func load(_ topic: Topic, coldKnownUnreachable: Bool) async -> TopicSummary {
        let local = topic.segments()
        var summary = TopicSummary(
            name: topic.name, durability: topic.config.durability.rawValue,
            localStart: topic.localStartOffset, highWatermark: topic.highWatermark,
            hotSegments: local.count, hotBytes: local.reduce(0) { $0 + Int64($1.bytes) },
            damage: topic.damage.count, cold: nil, coldError: nil)
        guard !coldKnownUnreachable else { return summary }
        switch await coldFigures(topic) {
        case .success(let figures): summary.cold = figures ?? (summary.localStart, summary.localStart, 0, 0)
        case .failure(let error): summary.coldError = error
        }
        return summary
    }

    /// Log start, next offset, segment count and stored bytes of the cold tier (nil: empty).
    private static func coldFigures(
        _ topic: Topic
    ) async -> Result<(logStart: Int64, next: Int64, segments: Int, bytes: Int64)?, StrataError> {
        do throws(StrataError) {
            guard let manifest = try await topic.latestManifest() else { return .success(nil) }
            let segments = try await topic.coldSegments()
            return .success(
                (
                    max(manifest.logStartOffset, 0), manifest.nextOffset, segments.count,
                    segments.reduce(0) { $0 + $1.objectBytes }
                ))
        } catch {
            return .failure(error)
        }
    }

    /// Log start across both tiers (the local start when the cold tier holds nothing).
    var start: Int64? { cold.map { $0.segments == 0 ? localStart : min(localStart, $0.logStart) } }
    var coldRecords: Int64? { cold.map { max(0, $0.next - $0.logStart) } }
    var notInCold: Int64? { cold.map { highWatermark - max($0.segments == 0 ? localStart : $0.next, localStart) } }

    var row: [String] {
        let unknown = "?"
        let startText = start.map { "\($0)" } ?? "\(localStart)+"
        let records = start.map { "\(highWatermark - $0)" } ?? unknown
        return [
            name, startText, "\(highWatermark)", records, "\(highWatermark - localStart)", humanBytes(hotBytes),
            coldRecords.map { "\($0)" } ?? unknown, cold.map { humanBytes($0.bytes) } ?? unknown,
            notInCold.map { "\($0)" } ?? unknown,
            "\(hotSegments) hot, " + (cold.map { "\($0.segments)" } ?? unknown) + " cold",
            "\(damage)", durability,
        ]
    }

    var json: [String: Any] {
        func orNull(_ value: Int64?) -> Any { value.map { $0 as Any } ?? NSNull() }
        return [
            "topic": name, "startOffset": orNull(start), "localStartOffset": localStart,
            "highWatermark": highWatermark, "records": orNull(start.map { highWatermark - $0 }),
            "hotRecords": highWatermark - localStart, "hotBytes": hotBytes, "segments": hotSegments,
            "bytes": hotBytes, "coldRecords": orNull(coldRecords), "coldBytes": orNull(cold?.bytes),
            "coldSegments": cold.map { $0.segments as Any } ?? NSNull(), "notInCold": orNull(notInCold),
            "coldReachable": cold != nil, "damage": damage, "durability": durability,
        ]
    }
}

/// `strata inspect segments`: the segments of one topic in both tiers.
struct InspectSegments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segments", abstract: "List the segments of a topic and their tier (hot, cold or both).",
        discussion: """
            Opens the lake read-only (works while a writer runs). An empty active segment shows as \
            'empty'. Damage found on disk (a torn tail, a corrupt batch) is shown in STATE and left in \
            place. When the cold store cannot be read the hot segments are still listed and the \
            command exits 3.

            Example:
              strata inspect segments --lake /lake clicks
            """
    )

    @OptionGroup var lakeOption: ReadLakeOption
    @Argument(help: "Topic name.")
    var topic: String
    @OptionGroup var partitionOption: PartitionOption
    @Flag(help: "One JSON object per line.")
    var json = false

    struct Row {
        var base: Int64, last: Int64, bytes: Int64, first: Int64?, max: Int64?, hot: Bool, cold: Bool, state: String
        var damage: SegmentDamage? = nil
        var isEmpty: Bool { last < base }
    }

    func run() async throws {
        let lake = try lakeOption.open()
        let local: [SegmentInfo]
        let damage: [SegmentDamage]
        var cold: [ManifestSegment] = []
        var unreachable: StrataError? = nil
        do {
            let handle = try lake.partition(topic, partitionOption.partition)
            local = handle.segments()
            damage = handle.damage
            do { cold = try await handle.coldSegments() } catch  where error.code == .io {
                unreachable = error
            }
        } catch {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        printRows(rows(local: local, cold: cold, damage: damage))
        if let unreachable {
            printError(
                "warning: cold store \(lake.coldURL) is unreachable, only hot segments are listed: "
                    + "\(unreachable)")
            throw ExitCode(3)
        }
    }

    private func rows(local: [SegmentInfo], cold: [ManifestSegment], damage: [SegmentDamage]) -> [Row] {
        var rows: [Int64: Row] = [:]
        for c in cold {
            rows[c.baseOffset] = Row(
                base: c.baseOffset, last: c.lastOffset, bytes: c.rawBytes, first: c.firstTimestamp,
                max: c.maxTimestamp, hot: false, cold: true, state: "sealed")
        }
        let damaged = Dictionary(damage.map { ($0.baseOffset, $0) }, uniquingKeysWith: { a, _ in a })
        for s in local {
            let inCold = rows[s.baseOffset]?.last == s.lastOffset
            var state = s.sealed ? "sealed" : s.lastOffset < s.baseOffset ? "active (empty)" : "active"
            if let d = damaged[s.baseOffset] {
                state += ", \(d.kind.rawValue) at byte \(d.position) (\(d.bytes) bytes)"
            }
            rows[s.baseOffset] = Row(
                base: s.baseOffset, last: s.lastOffset, bytes: Int64(s.bytes),
                first: s.firstTimestamp, max: s.maxTimestamp, hot: true, cold: inCold,
                state: state, damage: damaged[s.baseOffset])
        }
        return rows.values.sorted { $0.base < $1.base }
    }

    private func printRows(_ rows: [Row]) {
        var table: [[String]] = []
        for r in rows {
            let tier = r.hot && r.cold ? "both" : r.hot ? "hot" : "cold"
            if json {
                var object: [String: Any] = [
                    "baseOffset": r.base, "lastOffset": r.isEmpty ? NSNull() : r.last, "records": r.last - r.base + 1,
                    "bytes": r.bytes, "firstTimestamp": r.first.map { $0 as Any } ?? NSNull(),
                    "maxTimestamp": r.max.map { $0 as Any } ?? NSNull(), "tier": tier, "state": r.state,
                ]
                if let d = r.damage {
                    object["damage"] = [
                        "kind": d.kind.rawValue, "position": d.position, "bytes": d.bytes,
                        "what": d.what,
                    ]
                }
                print(jsonLine(object))
            } else {
                table.append([
                    "\(r.base)", r.isEmpty ? "-" : "\(r.last)", r.isEmpty ? "0" : "\(r.last - r.base + 1)",
                    humanBytes(r.bytes), humanTime(r.first), humanTime(r.max), tier, r.state,
                ])
            }
        }
        if !json {
            printTable(["BASE", "LAST", "RECORDS", "RAW-BYTES", "FIRST-TIME", "MAX-TIME", "TIER", "STATE"], table)
        }
    }
}

/// Prints rows under headers, columns padded to their widest cell.
func printTable(_ headers: [String], _ rows: [[String]]) {
    var widths = headers.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    func format(_ row: [String]) -> String {
        row.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ").replacingOccurrences(of: " +$", with: "", options: .regularExpression)
    }
    print(format(headers))
    rows.forEach { print(format($0)) }
}
