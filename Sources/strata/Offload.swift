import ArgumentParser
import Foundation
import Strata

/// `strata offload`: move sealed segments to the cold tier now.
struct Offload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Seal active segments and offload every sealed segment to the cold store now.",
        discussion: "With --evict, every local segment committed to the cold tier is then deleted locally; reads of those offsets go to the cold tier."
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
        do { report = try await lake.offload(topic: topic, seal: true, evict: evict) } catch {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        if json {
            print(jsonLine(["segmentsOffloaded": report.segmentsOffloaded, "rawBytes": report.rawBytes,
                            "objectBytes": report.objectBytes, "segmentsEvicted": report.segmentsEvicted, "cold": lake.coldURL]))
        } else {
            let ratio = report.objectBytes > 0 ? String(format: "%.2f", Double(report.rawBytes) / Double(report.objectBytes)) : "-"
            print("offloaded \(report.segmentsOffloaded) segments (\(humanBytes(report.rawBytes)) raw → \(humanBytes(report.objectBytes)) stored, ratio \(ratio)) to \(lake.coldURL); evicted \(report.segmentsEvicted) local segments")
        }
    }
}
