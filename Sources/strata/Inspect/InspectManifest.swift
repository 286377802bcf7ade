import ArgumentParser
import Foundation
import Strata

/// `strata inspect manifest`: the latest committed manifest of a topic.
struct InspectManifest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest", abstract: "Show a topic's latest cold-tier manifest.",
        discussion: """
            Example:
              strata inspect manifest --lake /lake clicks
            """)

    @OptionGroup var lakeOption: ReadLakeOption
    @Argument(help: "Topic name.")
    var topic: String
    @OptionGroup var partitionOption: PartitionOption
    @Flag(help: "Print the manifest JSON exactly as stored.")
    var json = false

    func run() async throws {
        let lake = try lakeOption.open()
        let manifest: Manifest?
        do { manifest = try await lake.partition(topic, partitionOption.partition).latestManifest(refresh: true) } catch
        {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        guard let manifest else {
            printError("topic \(topic) has nothing in the cold tier yet (\(lake.coldURL))")
            throw ExitCode(1)
        }
        if json {
            print(String(decoding: try manifest.encode(), as: UTF8.self))
            return
        }
        print(
            "topic \(manifest.topic) manifest v\(manifest.version) epoch \(manifest.writerEpoch) written "
                + "\(humanTime(manifest.createdMs))"
        )
        print(
            "offsets \(manifest.logStartOffset)..<\(manifest.nextOffset); \(manifest.segments.count) segments, "
                + "\(manifest.archives.count) archives"
        )
        var rows: [[String]] = manifest.archives.map {
            ["\($0.baseOffset)", "\($0.lastOffset)", "-", "-", "archive of \($0.segmentCount)", $0.key]
        }
        for s in manifest.segments {
            rows.append([
                "\(s.baseOffset)", "\(s.lastOffset)", "\(s.recordCount)", humanBytes(s.rawBytes),
                humanBytes(s.objectBytes) + " / \(s.frameCount) frames", s.key,
            ])
        }
        printTable(["BASE", "LAST", "RECORDS", "RAW", "STORED", "KEY"], rows)
    }
}
