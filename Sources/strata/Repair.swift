import ArgumentParser
import Foundation
import Strata

/// `strata repair`: move a topic's damaged bytes aside so it takes appends and offloads again.
struct Repair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move the damaged bytes of a topic's local log into its quarantine/ directory, so it takes appends.",
        discussion: """
            Finds the first local batch that fails its checks, moves the bytes from it to the end of its segment, \
            and every later local segment whole, into <lake>/topics/<topic>/quarantine/ (kept, never deleted), and \
            prints each move. The next append continues after the last kept record: offsets of valid batches that \
            followed the damage are reused, their records stay in the quarantine files. A topic that scans clean is \
            left as it is.

            Example:
              strata repair --lake /data/lake orders --quarantine
            """
    )

    @OptionGroup var lakeOption: ExistingLakeOption
    @Argument(help: "Topic to repair.")
    var topic: String
    @OptionGroup var partitionOption: PartitionOption
    @Flag(help: "Move the damaged bytes into quarantine/ (required: repair changes the log).")
    var quarantine = false
    @Flag(help: "Print a JSON line instead of text.")
    var json = false

    func validate() throws {
        guard quarantine else {
            throw ValidationError(
                "--quarantine is required: repair moves damaged bytes into the topic's quarantine/ directory")
        }
    }

    func run() async throws {
        let handle = try lakeOption.open()
        let report: RepairReport
        do { report = try await handle.partition(topic, partitionOption.partition).repairQuarantine() } catch {
            await handle.close(after: error)
            throw error
        }
        try await handle.close()
        if json {
            let moved = report.moved.map {
                ["source": $0.source, "position": $0.position, "bytes": $0.bytes, "kept": $0.kept] as [String: Any]
            }
            print(
                jsonLine([
                    "topic": report.topic, "damage": report.damage ?? NSNull(), "moved": moved,
                    "nextOffset": report.nextOffset,
                ]))
            return
        }
        guard let damage = report.damage else {
            print("\(topic): every local segment checks clean; nothing moved")
            return
        }
        print("\(topic): \(damage)")
        for file in report.moved {
            let range = "\(file.position)..<\(file.position + file.bytes)"
            print("moved \(file.source) bytes \(range) (\(file.bytes) bytes) → \(file.kept)")
        }
        print("\(topic): appends continue at offset \(report.nextOffset)")
    }
}
