import Foundation
import StrataBlob
import StrataFormat
import StrataIceberg
import StrataParquet
import StrataTesting
import Testing

@testable import Strata

/// End to end (issue 15, "Typed columns"): a topic with a value schema, values that match, match
/// partly and do not match, offloaded: the table's schema carries the typed columns, every row
/// holds what its value says (hand-written answers), the raw bytes of every record are kept, and
/// the mismatches are counted in the snapshot and the table status.
@Suite struct TypedColumnsTableTests {
    @Test func aTopicWithAValueSchemaGetsTypedColumnsAndCountsMismatches() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let lake = try Lake.open(dir, options: TableFixture.options(store: store, clock: ManualClock()))
            var config = TableFixture.config()
            config.valueSchema = TypedColumnsVector.schemaJSON
            _ = try await lake.createTopic("clicks", config: config, partitions: 2)
            let records = TypedColumnsVector.records()
            for p: Int32 in 0 ..< 2 {
                _ = try await lake.partition("clicks", p).append(
                    records.map { ProducerRecord(key: $0.key, value: $0.value, headers: [], timestamp: $0.timestamp) })
            }
            _ = try await lake.offload(topic: "clicks")

            let read = try #require(try await TableFixture.read(store, topic: "clicks"))
            let schema = try TableValueSchema.parse(icebergJSON: TypedColumnsVector.schemaJSON)
            #expect(read.table.valueSchema == schema)
            #expect(read.table.metadataJSON["last-column-id"] == .int(Int64(schema.lastColumnId)))
            for p: Int32 in 0 ..< 2 { #expect(read.rows[p] == records, "partition \(p): every raw value kept") }

            var typed: [Int32: [[String: String]?]] = [:]
            for file in read.table.liveFiles {
                let key = "tables/clicks/" + file.path.dropFirst(read.table.location.count + 1)
                let bytes = try await store.get(String(key), range: .whole).bytes
                let rows = try RecordTableReader.valueFields(bytes, schema: schema)
                typed[file.partition, default: []] += rows.map { $0.map { typedText($0, schema) } }
            }
            for p: Int32 in 0 ..< 2 { #expect(typed[p] == TypedColumnsVector.expected, "partition \(p)") }

            let mismatches = String(2 * TypedColumnsVector.mismatches)
            let summary = try #require(read.table.currentSnapshot?.summary)
            let at = try #require(summary.firstIndex(of: "strata.value-mismatches"))
            #expect(summary[at + 1] == mismatches, "\(summary)")
            let status = try await lake.tableStatus("clicks")
            #expect(status.valueMismatches == Int64(mismatches))
            try await lake.close()
        }
    }
}

extension TypedColumnsTableTests {
    /// A table's files share one schema: after `valueSchema` changes, a pass refuses (naming the
    /// rebuild) and changes nothing, and a rebuild starts a new table with the new schema past
    /// the old versions, holding every record again.
    @Test func aChangedValueSchemaNeedsARebuildWhichStartsANewTable() async throws {
        try await withTempDirectory { dir in
            let store = MemoryBlobStore()
            let lake = try Lake.open(dir, options: TableFixture.options(store: store, clock: ManualClock()))
            var config = TableFixture.config()
            config.valueSchema = TypedColumnsVector.schemaJSON
            _ = try await lake.createTopic("clicks", config: config, partitions: 1)
            let records = TypedColumnsVector.records()
            let producer = records.map {
                ProducerRecord(key: $0.key, value: $0.value, headers: [], timestamp: $0.timestamp)
            }
            _ = try await lake.topic("clicks").append(producer)
            _ = try await lake.offload(topic: "clicks")
            let before = try #require(try await TableFixture.read(store, topic: "clicks"))

            _ = try await lake.alterTopicConfig("clicks", set: [(key: "valueSchema", value: "none")])
            _ = try await lake.topic("clicks").append(producer)
            _ = try await lake.offload(topic: "clicks")
            await #expect(throws: StrataError.self) { _ = try await lake.syncTable("clicks") }
            do {
                _ = try await lake.syncTable("clicks")
            } catch let error as StrataError {
                #expect(error.message.contains("table rebuild"), "\(error)")
            }
            let unchanged = try #require(try await TableFixture.read(store, topic: "clicks"))
            #expect(unchanged.table.version == before.table.version, "a refused pass commits nothing")

            _ = try await lake.rebuildTable("clicks")
            let rebuilt = try #require(try await TableFixture.read(store, topic: "clicks"))
            #expect(rebuilt.table.valueSchema == nil)
            #expect(rebuilt.table.version > before.table.version)
            #expect(rebuilt.table.uuid != before.table.uuid)
            var twice = records + records
            for i in twice.indices { twice[i].offset = Int64(i) }
            #expect(rebuilt.rows[0] == twice, "every record of both appends, under the new schema")
            try await lake.close()
        }
    }
}

/// Typed values as `TypedColumnsVector.expected` writes them (nulls left out), independently
/// of the writer: integers and timestamps in decimal, dates ISO, binary base64, decimals scaled.
private func typedText(_ values: [TableTypedValue], _ schema: TableValueSchema) -> [String: String] {
    var out: [String: String] = [:]
    for (field, value) in zip(schema.fields, values) {
        switch value {
        case .null: continue
        case .boolean(let v): out[field.name] = String(v)
        case .int(let v): out[field.name] = String(v)
        case .long(let v), .timestamp(let v): out[field.name] = String(v)
        case .float(let v): out[field.name] = Double(v) == Double(v).rounded() ? String(Int64(v)) : String(v)
        case .double(let v): out[field.name] = v == v.rounded() ? String(Int64(v)) : String(v)
        case .string(let v): out[field.name] = v
        case .date(let v):
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let d = calendar.dateComponents(
                [.year, .month, .day], from: Date(timeIntervalSince1970: Double(v) * 86_400))
            out[field.name] = String(format: "%04d-%02d-%02d", d.year!, d.month!, d.day!)
        case .binary(let v): out[field.name] = Data(v).base64EncodedString()
        case .decimal(let v):
            guard case .decimal(_, let scale) = field.type else { continue }
            let digits = String(v.magnitude)
            let padded = String(repeating: "0", count: max(0, scale + 1 - digits.count)) + digits
            out[field.name] =
                (v < 0 ? "-" : "") + padded.dropLast(scale) + (scale > 0 ? "." + padded.suffix(scale) : "")
        }
    }
    return out
}
