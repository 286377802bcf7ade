import ArgumentParser
import Foundation
import Strata

/// `strata offload`: move sealed segments to the cold tier now.
struct Offload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Seal active segments and offload every sealed segment to the cold store now.",
        discussion: """
            With --evict, every local segment committed to the cold tier is then deleted locally; reads of \
            those offsets go to the cold tier.

            Example:
              strata offload --lake /lake clicks --evict
            """
    )

    @OptionGroup var lakeOption: LakeOption
    @Argument(help: "Only this topic (default: every topic).")
    var topic: String?
    @Flag(help: "Delete every local segment already committed to the cold tier.")
    var evict = false
    @Flag(help: "Print a JSON line instead of text.")
    var json = false

    func run() async throws {
        let lake = try lakeOption.open(background: false)
        let report: OffloadReport
        let coldBefore: Int, coldAfter: Int
        do {
            // Counted before and after, so segments offloaded earlier (by a producer's background
            // offloader) show up in the summary instead of making it look as if nothing moved.
            coldBefore = try await coldSegmentCount(lake)
            report = try await lake.offload(topic: topic, seal: true, evict: evict)
            coldAfter = try await coldSegmentCount(lake)
        } catch {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        if json {
            print(
                jsonLine([
                    "segmentsOffloaded": report.segmentsOffloaded, "rawBytes": report.rawBytes,
                    "objectBytes": report.objectBytes, "segmentsEvicted": report.segmentsEvicted,
                    "cold": lake.coldURL, "coldSegmentsBefore": coldBefore, "coldSegments": coldAfter,
                ]))
        } else {
            let ratio =
                report.objectBytes > 0
                ? String(format: "%.2f", Double(report.rawBytes) / Double(report.objectBytes)) : "-"
            print(
                "offloaded \(report.segmentsOffloaded) segments now (\(humanBytes(report.rawBytes)) raw → "
                    + "\(humanBytes(report.objectBytes)) stored, ratio \(ratio)) to \(lake.coldURL); the cold tier "
                    + "holds "
                    + "\(coldAfter) segments (\(coldBefore) offloaded before, e.g. in the background); "
                    + "evicted \(report.segmentsEvicted) local segments")
        }
        // A corrupt segment stops its topic's offload (other topics went on): exit 1, say what to run.
        for blocked in report.blocked { printError("offload blocked: \(blocked)") }
        for topic in report.blockedTopics {
            printError(
                "hint: `strata repair --lake \(lakeOption.lake) \(repairArguments(topic)) --quarantine` moves the damage aside"
            )
        }
        if !report.blocked.isEmpty { throw ExitCode(1) }
    }

    /// Segments the cold tier holds for the topics this run offloads.
    private func coldSegmentCount(_ lake: Lake) async throws -> Int {
        var count = 0
        let logs = try lake.logNames()
        for name in topic.map({ t in logs.filter { $0 == t || $0.hasPrefix(t + "/") } }) ?? logs {
            let handle = try lake.log(name)
            _ = try await handle.latestManifest(refresh: true)
            count += try await handle.coldSegments().count
        }
        return count
    }
}

/// `orders` or `orders --partition 3` for the log `orders/3`: how `strata repair` names it.
func repairArguments(_ log: String) -> String {
    guard let parsed = try? LogName.parse(log), parsed.partition > 0 else { return log }
    return "\(parsed.topic) --partition \(parsed.partition)"
}
