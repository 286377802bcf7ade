import Foundation
import StrataFormat
import StrataTesting
import Testing

@testable import StrataParquet

/// The error a typed-throwing body threw, or nil when it returned.
func parquetError<T>(_ body: () throws(ParquetError) -> T) -> ParquetError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// The repository root, found from this file's path.
func repoRoot(_ file: String = #filePath) -> URL {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

let tableVectorDirectory = repoRoot().appendingPathComponent("formats/vectors/table")

func tableVector(_ name: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: tableVectorDirectory.appendingPathComponent(name)))
}

func tableVectorDescription(_ name: String) throws -> RecordTableVector {
    try JSONDecoder().decode(RecordTableVector.self, from: Data(try tableVector(name + ".json")))
}

/// A small seeded generator (SplitMix64), so random tests are reproducible.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random records with dense offsets from `firstOffset`: nulls, empty values, repeated header keys.
func randomRecords(_ rng: inout SeededRNG, count: Int, firstOffset: Int64 = 0) -> [Record] {
    let words = ["", "a", "strata", "clé", "日本語", "k", "k", "🚀"]
    func bytes(_ rng: inout SeededRNG, _ max: Int) -> [UInt8]? {
        switch Int.random(in: 0 ..< 6, using: &rng) {
        case 0: return nil
        case 1: return []
        default:
            return (0 ..< Int.random(in: 1 ... max, using: &rng)).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
        }
    }
    return (0 ..< count).map { i in
        let headers = (0 ..< Int.random(in: 0 ... 3, using: &rng)).map { _ in
            RecordHeader(key: words.randomElement(using: &rng) ?? "", value: bytes(&rng, 12))
        }
        return Record(
            offset: firstOffset + Int64(i),
            timestamp: Int64.random(in: -3_000_000_000_000 ... 3_000_000_000_000, using: &rng),
            key: bytes(&rng, 20), value: bytes(&rng, 200), headers: headers)
    }
}

/// Each page's ColumnIndex min/max on partition, offset and timestamp equal the bounds of the
/// rows its OffsetIndex assigns to it (flat required columns: rows [first, next first)).
func checkPageBounds(_ file: ParquetFileReader, rows: [Record], partition: Int32) throws {
    var groupStart = 0
    for (g, group) in file.metadata.rowGroups.enumerated() {
        let groupRows = Array(rows[groupStart ..< groupStart + Int(group.rowCount)])
        groupStart += Int(group.rowCount)
        let columns: [[Int64]] = [
            groupRows.map { _ in Int64(partition) }, groupRows.map(\.offset), groupRows.map { $0.timestamp * 1000 },
        ]
        for (c, values) in columns.enumerated() {
            let index = try #require(try file.columnIndex(rowGroup: g, column: c))
            let starts = try #require(try file.offsetIndex(rowGroup: g, column: c)).pageLocations.map {
                Int($0.firstRowIndex)
            }
            #expect(index.minValues.count == starts.count)
            for (p, start) in starts.enumerated() {
                let end = p + 1 < starts.count ? starts[p + 1] : values.count
                let page = values[start ..< end]
                let width = c == 0 ? 4 : 8
                func plain(_ v: Int64?) -> [UInt8] {
                    withUnsafeBytes(of: (v ?? 0).littleEndian) { Array($0.prefix(width)) }
                }
                #expect(index.minValues[p] == plain(page.min()) && index.maxValues[p] == plain(page.max()))
            }
        }
    }
}
