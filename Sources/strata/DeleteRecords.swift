import ArgumentParser
import Foundation
import Strata

/// `strata delete-records`: Kafka's DeleteRecords, advancing a topic's log start offset.
struct DeleteRecords: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-records",
        abstract: "Delete every record below an offset (advance the log start offset), in both tiers.",
        discussion: """
            Local segments wholly below OFFSET are deleted; the cold manifest gets a new version \
            whose log start is OFFSET, and the cold objects wholly below it are deleted after that. \
            Reads below OFFSET then fail with offsetOutOfRange. OFFSET must be in [0, high \
            watermark]; one at or below the current log start changes nothing. Prints one JSON line.

            Example:
              strata delete-records --lake /lake clicks --before 50000
            """
    )

    @OptionGroup var lakeOption: ExistingLakeOption
    @Argument(help: "Topic name.")
    var topic: String
    @OptionGroup var partitionOption: PartitionOption
    @Option(help: "The new log start offset: every record below it is deleted.")
    var before: Int64

    func run() async throws {
        let result = try await withLake(try lakeOption.open()) { lake in
            try await lake.partition(topic, partitionOption.partition).deleteRecords(before: before)
        }
        print(
            jsonLine([
                "topic": topic, "partition": partitionOption.partition,
                "previousLogStartOffset": result.previousLogStartOffset,
                "logStartOffset": result.logStartOffset, "localSegmentsDeleted": result.localSegmentsDeleted,
                "coldObjectsDeleted": result.coldObjectsDeleted,
                "manifestVersion": result.manifestVersion.map { $0 as Any } ?? NSNull(),
            ]))
    }
}
