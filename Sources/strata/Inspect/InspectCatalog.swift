import ArgumentParser
import Foundation
import Strata

/// `strata inspect catalog`: every topic the lake's catalog holds (formats/catalog.md).
struct InspectCatalog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog", abstract: "List what the lake's topic catalog holds: every topic, its partitions and config.",
        discussion: """
            Opens the lake read-only (works while a writer runs; nothing is created or changed) and \
            prints the catalog file read, then one row per topic: its partition count, the id of its \
            stored config (topics sharing a config share it), DELETING when a delete began and has not \
            finished (`strata topics delete NAME` finishes it), and the log starts delete-records moved \
            and the start offsets recover set. A lake written before the catalog, not yet opened by a \
            writer, is read from its old per-topic files (FILE is `-`). With --configs, each stored \
            config is printed once. `inspect verify` checks the catalog's records.

            Example:
              strata inspect catalog --lake /lake --json
            """
    )

    @OptionGroup var lakeOption: ReadLakeOption
    @Flag(help: "One JSON object per line: a first line about the file, then one per topic.")
    var json = false
    @Flag(help: "Also print each stored config (as JSON), once per config id.")
    var configs = false

    func run() async throws {
        let lake = try lakeOption.open()
        let listing = lake.catalogListing()
        let ids = Set(listing.topics.map(\.configID)).sorted()
        let file: [String: Any] = [
            "file": listing.file ?? NSNull(), "fileBytes": listing.fileBytes, "topics": listing.topics.count,
            "configs": listing.configCount,
        ]
        if json {
            print(jsonLine(file))
            for entry in listing.topics {
                print(
                    jsonLine([
                        "topic": entry.name, "partitions": entry.partitions, "configId": entry.configID,
                        "deleting": entry.deleting, "logStarts": entry.logStarts, "startOffsets": entry.startOffsets,
                    ]))
            }
        } else {
            print(
                "catalog \(listing.file ?? "- (old per-topic files)") bytes=\(listing.fileBytes) "
                    + "topics=\(listing.topics.count) configs=\(listing.configCount)")
            printTable(
                ["TOPIC", "PARTITIONS", "CONFIG", "STATE", "LOG-STARTS", "START-OFFSETS"],
                listing.topics.map { entry in
                    [
                        entry.name, String(entry.partitions), String(entry.configID),
                        entry.deleting ? "DELETING" : "live", Self.offsets(entry.logStarts),
                        Self.offsets(entry.startOffsets),
                    ]
                })
        }
        if configs {
            for id in ids {
                guard let config = lake.catalogConfig(id: id) else { continue }
                if json {
                    print(jsonLine(["configId": id, "config": configObject(config)]))
                } else {
                    print("config \(id): \(jsonLine(configObject(config)))")
                }
            }
        }
        try await lake.close()
    }

    static func offsets(_ offsets: [String: Int64]) -> String {
        offsets.isEmpty ? "-" : offsets.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }
}
