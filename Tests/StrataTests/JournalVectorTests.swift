import Foundation
import Testing

@testable import Strata

/// The journal layout (formats/journal.md) against its golden vector: the bytes are walked by
/// the spec's table here, not through the codec, then decoded and re-encoded with it.
@Suite struct JournalVectorTests {
    struct Description: Decodable {
        struct Entry: Decodable {
            var position: Int, length: Int, crc: UInt32, logName: String, batchPosition: Int
            var batchBaseOffset: Int64, batchRecordCount: Int32, batchCrc: UInt32, values: [String]
        }
        var sequence: UInt64
        var entries: [Entry]
    }

    static func vector(_ name: String) throws -> Data {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try Data(contentsOf: root.appendingPathComponent("formats/vectors/" + name))
    }

    static func u16(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        (0 ..< 4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) }
    }
    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 {
        (0 ..< 8).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) }
    }

    @Test func theVectorFollowsTheSpecsTable() throws {
        let bytes = [UInt8](try Self.vector("journal.wal"))
        let expected = try JSONDecoder().decode(Description.self, from: try Self.vector("journal.json"))
        #expect(Array(bytes[0 ..< 4]) == Array("SJNL".utf8))
        #expect(Self.u16(bytes, 4) == 1 && Self.u16(bytes, 6) == 0)
        #expect(Self.u64(bytes, 8) == expected.sequence)
        var position = 16
        for entry in expected.entries {
            #expect(position == entry.position)
            #expect(Array(bytes[position ..< position + 4]) == Array("JENT".utf8))
            let length = Int(Self.u32(bytes, position + 8))
            #expect(length == entry.length)
            #expect(Self.u32(bytes, position + 4) == entry.crc)
            #expect(CRC32C.checksum(Array(bytes[position + 8 ..< position + length])) == entry.crc)
            let nameLength = Self.u16(bytes, position + 12)
            #expect(Self.u16(bytes, position + 14) == 0)
            #expect(
                String(decoding: bytes[position + 16 ..< position + 16 + nameLength], as: UTF8.self) == entry.logName)
            let batch = Array(bytes[position + 16 + nameLength ..< position + length])
            #expect(position + 16 + nameLength == entry.batchPosition)
            let decoded = try BatchCodec.decode(batch)
            #expect(decoded.header.baseOffset == entry.batchBaseOffset)
            #expect(decoded.header.recordCount == entry.batchRecordCount)
            #expect(decoded.header.crc == entry.batchCrc)
            #expect(decoded.records.map { string($0.value) } == entry.values)
            position += length
        }
        #expect(position == bytes.count)
    }

    @Test func theCodecDecodesTheVectorAndEncodesItsBytesBack() throws {
        let bytes = [UInt8](try Self.vector("journal.wal"))
        let expected = try JSONDecoder().decode(Description.self, from: try Self.vector("journal.json"))
        let scan = bytes.withUnsafeBytes { JournalFormat.scan($0) }
        #expect(scan.stopError == nil)
        #expect(scan.sequence == expected.sequence)
        #expect(scan.entries.map(\.logName) == expected.entries.map(\.logName))
        #expect(scan.entries.map(\.position) == expected.entries.map(\.position))
        var encoded = JournalFormat.encodeFileHeader(sequence: expected.sequence)
        for entry in scan.entries {
            encoded += JournalFormat.encodeEntry(
                logName: entry.logName, batch: Array(bytes[entry.batchStart ..< entry.position + entry.length]))
        }
        #expect(encoded == bytes)
    }

    @Test func everyDamagedByteOfAnEntryIsCaught() throws {
        let bytes = [UInt8](try Self.vector("journal.wal"))
        let expected = try JSONDecoder().decode(Description.self, from: try Self.vector("journal.json"))
        let last = try #require(expected.entries.last)
        for offset in last.position ..< bytes.count {
            var damaged = bytes
            damaged[offset] ^= 0x5A
            let scan = damaged.withUnsafeBytes { JournalFormat.scan($0) }
            #expect(scan.entries.count == expected.entries.count - 1, "byte \(offset)")
            #expect(scan.validEnd == last.position)
            #expect(scan.resumePosition == nil)
        }
        // Cut anywhere inside the last entry: a torn tail, never an entry.
        for cut in last.position ..< bytes.count {
            let scan = Array(bytes[..<cut]).withUnsafeBytes { JournalFormat.scan($0) }
            #expect(scan.entries.count == expected.entries.count - 1)
            #expect(scan.stopError != nil || cut == last.position)
        }
    }

    /// A long batch's entry CRC is derived from the batch's own CRC (`encodeEntryHead`), not read
    /// off its bytes again: it must be the CRC of the entry's bytes, on both sides of the
    /// threshold, and a batch whose stored CRC does not match its bytes makes an entry the scan
    /// rejects.
    @Test func aLongBatchsDerivedEntryCrcIsTheCrcOfItsBytes() throws {
        let threshold = JournalFormat.derivedCrcBatchBytesMin
        for valueBytes in [10, threshold - 200, threshold, threshold + 1, 70_000, 1 << 20] {
            let value = (0 ..< valueBytes).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ valueBytes) }
            let batch = BatchCodec.encode(baseOffset: 7, records: [Record(timestamp: 5, key: nil, value: value)])
            let entry = JournalFormat.encodeEntry(logName: "topic/3", batch: batch)
            #expect(Self.u32(entry, 4) == CRC32C.checksum(Array(entry[8...])), "value of \(valueBytes) bytes")
            let file = JournalFormat.encodeFileHeader(sequence: 1) + entry
            let scan = file.withUnsafeBytes { JournalFormat.scan($0) }
            #expect(scan.stopError == nil && scan.entries.count == 1)

            var damaged = batch
            damaged[damaged.count - 1] ^= 0x01  // a record byte: the stored CRC no longer matches
            let bad = JournalFormat.encodeFileHeader(sequence: 1) + JournalFormat.encodeEntry(logName: "topic/3", batch: damaged)
            let badScan = bad.withUnsafeBytes { JournalFormat.scan($0) }
            #expect(badScan.entries.isEmpty, "value of \(valueBytes) bytes")
        }
    }
}
