import Foundation
import StrataBlob
import StrataFormat
import StrataIceberg
import StrataParquet
import StrataTesting
import Testing

@testable import Strata

/// Fixtures of the table writer tests: a topic whose records span several UTC days, and the
/// table read back from the store with the pure readers (`IcebergTable.restoring`,
/// `RecordTableReader`), independently of the writer's own loading code.
enum TableFixture {
    static let topicName = "orders"
    /// 2023-11-14 22:13:20 UTC: records of a few thousand milliseconds apart cross midnight.
    static let baseMs: Int64 = 1_700_000_000_000
    static let dayMs: Int64 = 86_400_000

    /// Record `i` of partition `p`: timestamps march through three UTC days with steps back
    /// across midnight; keys, values and headers sometimes absent or empty.
    static func record(_ i: Int, partition p: Int32) -> ProducerRecord {
        let key: [UInt8]? = i % 5 == 0 ? nil : Array("k\(p)-\(i % 13)".utf8)
        let value: [UInt8]? = i % 17 == 0 ? nil : i % 19 == 0 ? [] : Array("v\(p)-\(i)-".utf8) + [UInt8(i & 0xFF)]
        var headers: [RecordHeader] = []
        if i % 3 == 0 { headers.append(RecordHeader(key: "h\(i % 4)", value: i % 2 == 0 ? nil : [UInt8(i & 0x7F)])) }
        if i % 6 == 0 { headers.append(RecordHeader(key: "h\(i % 4)", value: Array("again".utf8))) }
        let step = dayMs / 300  // 300 records a day
        let timestamp = baseMs + Int64(i) * step - (i % 7 == 0 ? step * 3 : 0)
        return ProducerRecord(key: key, value: value, headers: headers, timestamp: timestamp)
    }

    static func expected(_ i: Int, partition p: Int32) -> Record {
        let r = record(i, partition: p)
        return Record(offset: Int64(i), timestamp: r.timestamp ?? 0, key: r.key, value: r.value, headers: r.headers)
    }

    static func config(segmentBytes: Int = 8 * 1024) -> TopicConfig {
        var config = ColdFixture.smallSegments(segmentBytes: segmentBytes, frameBytes: 2 * 1024)
        config.localRetentionMs = nil
        return config
    }

    /// Options for table tests: no background loop, retries that never sleep, small files.
    static func options(store: any BlobStore, clock: ManualClock, log: LogSink = LogSink()) -> LakeOptions {
        var options = ColdFixture.options(store: store, clock: clock)
        options.log = log.log
        options.tableFileBytesTarget = 6 * 1024
        return options
    }

    static func produce(_ topic: Topic, _ range: Range<Int>, partition: Int32) async throws {
        var i = range.lowerBound
        while i < range.upperBound {
            let end = min(range.upperBound, i + 40)
            _ = try await topic.append((i ..< end).map { record($0, partition: partition) })
            i = end
        }
    }

    /// A table as the store holds it, read with the pure readers only.
    struct Read {
        var table: IcebergTable
        var version: Int
        /// Per partition, every row of every live file, sorted by offset.
        var rows: [Int32: [Record]]
        /// Per live file: its path, day and rows.
        var files: [(path: String, day: Int32, records: [Record])]
    }

    /// Reads `topic`'s table through its version hint (nil when there is no table).
    static func read(_ store: any BlobStore, topic: String = topicName) async throws -> Read? {
        let prefix = "tables/\(topic)/"
        let keys = try await store.listAll(prefix: prefix).map(\.key)
        guard keys.contains(prefix + "metadata/version-hint.text") else { return nil }
        let hint = try await store.get(prefix + "metadata/version-hint.text", range: .whole).bytes
        let version = try #require(Int(String(decoding: hint, as: UTF8.self)))
        let metadata = try await store.get(prefix + "metadata/v\(version).metadata.json", range: .whole).bytes
        let location = try #require(try JSONValue.parse(metadata, field: "m")["location"]?.stringValue)
        var files: [String: [UInt8]] = [:]
        for key in keys {
            files[location + "/" + key.dropFirst(prefix.count)] = try await store.get(key, range: .whole).bytes
        }
        let table = try IcebergTable.restoring(metadata: metadata, version: version) { files[$0] }
        var rows: [Int32: [Record]] = [:]
        var described: [(String, Int32, [Record])] = []
        for file in table.liveFiles {
            let bytes = try #require(files[file.path], "live file \(file.path) is missing")
            let (partitions, records) = try RecordTableReader.records(bytes)
            #expect(Set(partitions) == [file.partition])
            #expect(records.map(\.offset) == records.map(\.offset).sorted())
            #expect(Int64(records.count) == file.recordCount)
            rows[file.partition, default: []] += records
            described.append((file.path, file.day, records))
        }
        for p in rows.keys { rows[p]?.sort { $0.offset < $1.offset } }
        return Read(table: table, version: version, rows: rows, files: described)
    }

    /// Data file keys in the store.
    static func dataKeys(_ store: any BlobStore, topic: String = topicName) async throws -> Set<String> {
        Set(try await store.listAll(prefix: "tables/\(topic)/data/").map(\.key))
    }
}
