import Foundation
import Testing

@testable import StrataFormat

/// The topic catalog's record codec (formats/catalog.md): round trips, every truncation and
/// every bit flip a typed error, the scan's torn-tail/corruption split, and the golden vector.
@Suite struct CatalogRecordTests {
    static let samples: [CatalogRecord] = [
        .config(id: 7, json: Array(#"{"segmentBytes":4096}"#.utf8)),
        .topicCreated(name: "orders", configID: 7, partitions: 12),
        .topicCreated(name: "日本語", configID: 1, partitions: 1),
        .configChanged(name: "orders", configID: 8),
        .partitionsGrown(name: "orders", partitions: 100_000),
        .logStartMoved(name: "orders", partition: 3, offset: 1 << 40),
        .startOffsetSet(name: "clicks", partition: 0, offset: 0),
        .deleteBegun(name: "gone"),
        .deleteFinished(name: "gone"),
        .snapshotEnd(topicCount: 1_000_000),
    ]

    func parse(_ bytes: [UInt8]) throws(FormatError) -> (CatalogRecord, Int) {
        let result: Result<(CatalogRecord, Int), FormatError> = bytes.withUnsafeBytes { raw in
            do throws(FormatError) {
                let (record, length) = try CatalogFormat.parse(raw, at: 0)
                return .success((record, length))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    @Test func everyKindRoundTrips() throws {
        for record in Self.samples {
            let bytes = CatalogFormat.encode(record)
            let (decoded, length) = try parse(bytes)
            #expect(decoded == record)
            #expect(length == bytes.count)
        }
    }

    @Test func everyTruncationIsTruncated() {
        for record in Self.samples {
            let bytes = CatalogFormat.encode(record)
            for cut in 0 ..< bytes.count {
                let error = formatError { () throws(FormatError) in try parse(Array(bytes[..<cut])) }
                #expect(error?.code == .truncated, "\(record) cut at \(cut): \(String(describing: error))")
            }
        }
    }

    @Test func everyBitFlipIsAnError() {
        for record in Self.samples {
            let bytes = CatalogFormat.encode(record)
            for bit in 0 ..< bytes.count * 8 {
                let error = formatError { () throws(FormatError) in try parse(flipped(bytes, bit: bit)) }
                #expect(error != nil, "\(record) with bit \(bit) flipped parsed")
                if let error { #expect(error.position >= 0 && error.position < bytes.count) }
            }
        }
    }

    @Test func fieldsOutOfBoundsAreRefusedWithAValidCRC() {
        // A record whose CRC matches but whose fields the format forbids (a writer bug).
        func forged(_ kind: UInt8, _ payload: [UInt8]) -> [UInt8] {
            var w = ByteWriter()
            w.u32(0)
            w.u32(UInt32(CatalogFormat.recordHeaderSize + payload.count))
            w.u8(kind)
            w.raw(payload)
            let crc = CRC32C.checksum(Array(w.bytes[4...]))
            w.patchU32(crc, at: 0)
            return w.bytes
        }
        let zeroPartitions: [UInt8] = [1, 0, UInt8(ascii: "t"), 1, 0, 0, 0, 0, 0, 0, 0]
        #expect(formatError { () throws(FormatError) in try parse(forged(2, zeroPartitions)) }?.field
            == "catalogRecord.partitions")
        #expect(formatError { () throws(FormatError) in try parse(forged(99, [])) }?.field == "catalogRecord.kind")
        #expect(formatError { () throws(FormatError) in try parse(forged(7, [0, 0])) }?.field
            == "catalogRecord.nameLength")
        #expect(formatError { () throws(FormatError) in try parse(forged(7, [1, 0, 0xFF])) }?.field
            == "catalogRecord.name")
        let trailing: [UInt8] = [1, 0, UInt8(ascii: "t"), 9]
        #expect(formatError { () throws(FormatError) in try parse(forged(7, trailing)) }?.field
            == "catalogRecord.length")
    }

    func file(_ records: [CatalogRecord]) -> [UInt8] {
        records.reduce(CatalogFormat.encodeFileHeader(sequence: 5)) { $0 + CatalogFormat.encode($1) }
    }

    @Test func scanTellsATornTailFromCorruption() {
        let records: [CatalogRecord] = [
            .config(id: 1, json: Array("{}".utf8)), .snapshotEnd(topicCount: 0),
            .topicCreated(name: "a", configID: 1, partitions: 1), .topicCreated(name: "b", configID: 1, partitions: 1),
        ]
        let whole = file(records)
        let lastStart = whole.count - CatalogFormat.encode(records[3]).count
        var seen: [CatalogRecord] = []
        let clean = whole.withUnsafeBytes { CatalogFormat.scan($0) { record, _ in seen.append(record) } }
        #expect(seen == records && clean.stopError == nil && clean.validEnd == whole.count)
        #expect(clean.sequence == 5 && clean.snapshotEnd != nil)

        let torn = Array(whole[..<(whole.count - 3)])
        let tornScan = torn.withUnsafeBytes { CatalogFormat.scan($0) { _, _ in } }
        #expect(tornScan.stopError?.code == .truncated && tornScan.resumePosition == nil)
        #expect(tornScan.validEnd == lastStart)

        var damaged = whole
        damaged[lastStart - 2] ^= 0x40  // inside record 3: record 4 follows intact
        let damagedScan = damaged.withUnsafeBytes { CatalogFormat.scan($0) { _, _ in } }
        #expect(damagedScan.stopError != nil && damagedScan.resumePosition == lastStart)

        let noEnd = file([.config(id: 1, json: Array("{}".utf8))])
        #expect(noEnd.withUnsafeBytes { CatalogFormat.scan($0) { _, _ in } }.snapshotEnd == nil)
    }

    @Test func headerDamageIsTyped() {
        let header = CatalogFormat.encodeFileHeader(sequence: 9)
        for bit in 0 ..< 64 {
            let damaged = flipped(header, bit: bit)
            let decoded: UInt64? = damaged.withUnsafeBytes { raw in try? CatalogFormat.decodeFileHeader(raw) }
            #expect(decoded == nil, "header bit \(bit)")
        }
    }

    struct Description: Decodable {
        struct Record: Decodable {
            var position: Int, length: Int, kind: String
            var name: String?, configID: UInt32?, json: String?, partitions: Int32?, partition: Int32?
            var offset: Int64?, topicCount: UInt64?
        }
        var sequence: UInt64
        var snapshotEnd: Int
        var records: [Record]
    }

    /// The vector is walked by the spec's table (offsets and fields by hand), then through the
    /// codec, and re-encoded byte for byte.
    @Test func goldenVector() throws {
        let bytes = try vector("catalog.log")
        let described = try JSONDecoder().decode(Description.self, from: Data(try vector("catalog.json")))
        func u32(_ at: Int) -> UInt32 { (0 ..< 4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) } }
        #expect(Array(bytes[0 ..< 4]) == Array("SCAT".utf8))
        #expect(bytes[4] == 1 && bytes[5] == 0)
        var rebuilt = CatalogFormat.encodeFileHeader(sequence: described.sequence)
        var kinds = Set<String>()
        for record in described.records {
            #expect(Int(u32(record.position + 4)) == record.length)
            let covered = Array(bytes[(record.position + 4) ..< (record.position + record.length)])
            #expect(u32(record.position) == CRC32C.checksum(covered))
            let (decoded, length) = try bytes.withUnsafeBytes { raw in try CatalogFormat.parse(raw, at: record.position) }
            #expect(length == record.length)
            #expect("\(decoded.kind)" == record.kind)
            kinds.insert(record.kind)
            rebuilt += CatalogFormat.encode(decoded)
        }
        #expect(rebuilt == bytes)
        #expect(kinds.count == 9, "the vector holds every record kind")
        let scan = bytes.withUnsafeBytes { CatalogFormat.scan($0) { _, _ in } }
        #expect(scan.snapshotEnd == described.snapshotEnd && scan.validEnd == bytes.count && scan.stopError == nil)
    }
}
