import ArgumentParser
import Foundation
import Strata

/// `strata table`: the Iceberg tables the lake keeps of its topics (issue 15, formats/table.md).
struct Table: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or rebuild the Iceberg tables of a lake's topics (Parquet in the cold store).",
        discussion: """
            Every topic whose config has table=true (the default) is also an Iceberg v2 table: after each \
            offload the lake writes the newly committed cold segments as Parquet data files (ZSTD; columns \
            partition, offset, timestamp, key, value, headers) under tables/<topic>/ in the cold store, \
            next to topics/, and commits a snapshot (metadata/v<N>.metadata.json, catalog-less layout). \
            The table never runs ahead of the committed cold manifest and lags it by at most one offload \
            pass. Engines read it with no Strata process running, from the bucket or the directory:

              pyiceberg: StaticTable.from_metadata(
                           "s3://b/tables/orders/metadata/v3.metadata.json")
              DuckDB:    select count(*) from iceberg_scan('s3://b/tables/orders')
              Parquet:   read_parquet('<cold>/tables/orders/data/**/*.parquet')

            Example:
              strata table status --lake /lake orders
              strata table rebuild --lake /lake orders
            """,
        subcommands: [TableStatusCommand.self, TableRebuild.self]
    )
}

/// `strata table status`: per topic and partition, how far the table is behind the cold tier.
struct TableStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each topic's table: snapshots, files, rows, and its lag behind the cold manifests.",
        discussion: """
            Opens the lake read-only (works beside a running writer; nothing is written). Per topic: the \
            table's location, metadata version, snapshots, live data files, bytes, rows and value-schema \
            mismatches; per partition: LOG-START, MANIFEST-END (one past the last offset the committed cold \
            manifest holds), TABLE-END (one past the last offset the table holds), LAG-OFFSETS = \
            MANIFEST-END - TABLE-END, LAG-SEGMENTS (committed cold segments not yet in the table), FILES, \
            BYTES, ROWS. A topic with table=false says so. --json prints one JSON object per topic (the \
            same fields, per partition too, and dataFilePaths: the current snapshot's data files, which a \
            reader that does not read Iceberg metadata should read instead of a glob of data/, where files \
            an older snapshot still references stay). Exit codes: 0 ok, 2 no such lake or topic, 3 I/O or store error.

            Example:
              strata table status --lake /lake --json
            """
    )

    @OptionGroup var lakeOption: ReadLakeOption
    @Argument(help: "Only this topic (default: every topic of the lake).")
    var topic: String?
    @Flag(help: "One JSON object per topic.")
    var json = false

    func run() async throws {
        let lake = try lakeOption.open()
        try await withLake(lake) { lake in
            let names = try topic.map { [$0] } ?? lake.topicNames()
            for name in names {
                let status = try await lake.tableStatus(name)
                print(json ? try Self.json(status) : Self.text(status))
            }
        }
    }

    static func json(_ status: TableStatus) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var object = try JSONSerialization.jsonObject(with: try encoder.encode(status)) as? [String: Any] ?? [:]
        // lagOffsets is computed, not stored: add it so a script need not subtract.
        if var partitions = object["partitions"] as? [[String: Any]] {
            for (i, p) in status.partitions.enumerated() where i < partitions.count {
                partitions[i]["lagOffsets"] = p.lagOffsets
            }
            object["partitions"] = partitions
        }
        return jsonLine(object)
    }

    static func text(_ status: TableStatus) -> String {
        var lines: [String] = []
        let state = status.enabled ? "" : " (table=false: not kept in step)"
        let current = status.currentSnapshotId.map(String.init) ?? "none"
        lines.append(
            "\(status.topic)\(state): \(status.location), metadata v\(status.metadataVersion), "
                + "\(status.snapshots) snapshots (current \(current)), \(status.dataFiles) files, "
                + "\(humanBytes(status.dataBytes)), \(status.rows) rows, \(status.valueMismatches) value mismatches")
        let headers = [
            "PARTITION", "LOG-START", "MANIFEST-END", "TABLE-END", "LAG-OFFSETS", "LAG-SEGMENTS", "FILES", "BYTES",
            "ROWS",
        ]
        let rows = status.partitions.map { p in
            [
                String(p.partition), String(p.logStartOffset), String(p.manifestEnd), String(p.tableEnd),
                String(p.lagOffsets), String(p.lagSegments), String(p.dataFiles), humanBytes(p.dataBytes),
                String(p.rows),
            ]
        }
        lines.append(Self.table(headers, rows))
        return lines.joined(separator: "\n")
    }

    /// Columns padded to their widest cell, as `printTable` prints them.
    static func table(_ headers: [String], _ rows: [[String]]) -> String {
        let widths = headers.indices.map { i in ([headers] + rows).map { $0[i].count }.max() ?? 0 }
        return ([headers] + rows).map { row in
            row.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}

/// `strata table rebuild`: the topic's table written again from the cold objects alone.
struct TableRebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Write a topic's table again from its cold objects (one snapshot replacing every data file).",
        discussion: """
            Takes the lake's writer lock (stop a running `strata serve` first). Reads every segment of the \
            committed cold manifests, writes new Parquet data files and commits one snapshot that replaces \
            every live data file; the files it no longer reads are then deleted. Use it after `strata \
            inspect verify` reports a damaged table file. Exit codes: 0 ok, 2 no such lake or topic, \
            3 I/O or store error or the lake is locked.

            Example:
              strata table rebuild --lake /lake orders
            """
    )

    @OptionGroup var lakeOption: ExistingLakeOption
    @Argument(help: "Topic whose table to rebuild.")
    var topic: String

    func run() async throws {
        let lake = try lakeOption.open()
        let report = try await withLake(lake) { lake in try await lake.rebuildTable(topic) }
        print(
            "rebuilt table of \(topic): \(report.snapshotsCommitted) snapshots, \(report.filesAdded) files "
                + "(\(report.rowsAdded) rows, \(humanBytes(report.bytesAdded))) written, \(report.filesRemoved) "
                + "removed, \(report.valueMismatches) value mismatches; \(humanBytes(report.rawBytesRead)) of cold "
                + "segments read")
    }
}
