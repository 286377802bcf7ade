import StrataFormat
import Testing

@testable import StrataParquet

/// Bad bytes are typed errors naming the structure and position: never a crash, never rows
/// silently dropped.
@Suite struct ReaderCorruptionTests {
    func read(_ bytes: [UInt8]) -> ParquetError? {
        parquetError { () throws(ParquetError) in
            let file = try ParquetFileReader(bytes)
            for g in file.metadata.rowGroups.indices {
                for c in file.leaves.indices {
                    _ = try file.column(rowGroup: g, column: c)
                    _ = try file.columnIndex(rowGroup: g, column: c)
                    _ = try file.offsetIndex(rowGroup: g, column: c)
                }
            }
            _ = try RecordTableReader.records(bytes)
        }
    }

    @Test func framingErrors() throws {
        let bytes = try tableVector("records.parquet")
        #expect(read(Array(bytes.prefix(11)))?.code == .truncated)
        var head = bytes
        head[0] = 0x51
        #expect(read(head)?.code == .badMagic && read(head)?.position == 0)
        var tail = bytes
        tail[tail.count - 1] = 0
        #expect(read(tail)?.field == "file.footerMagic")
        var length = bytes
        length[length.count - 6] = 0x7F
        #expect(read(length)?.field == "file.footerLength")
        // Cutting the file anywhere loses the footer: an error, not a shorter table.
        for n in stride(from: 12, to: bytes.count, by: 37) { #expect(read(Array(bytes.prefix(n))) != nil) }
    }

    @Test func flippedBytesAreErrorsOrDetected() throws {
        for name in ["records.parquet", "records-uncompressed.parquet"] {
            let bytes = try tableVector(name)
            let original = try RecordTableReader.records(bytes).records
            var rng = SeededRNG(seed: 11)
            var errors = 0
            for _ in 0 ..< 600 {
                var copy = bytes
                let at = Int.random(in: 4 ..< bytes.count - 4, using: &rng)
                copy[at] ^= UInt8.random(in: 1 ... 255, using: &rng)
                if read(copy) != nil { errors += 1 }
            }
            #expect(errors > 0)
            _ = original
        }
    }

    /// zstd's content checksum catches a flipped bit inside a compressed page.
    @Test func corruptCompressedPageIsACompressionError() throws {
        let bytes = try tableVector("large-value.parquet")
        let file = try ParquetFileReader(bytes)
        let page = try #require(try file.pages(rowGroup: 0, column: 4).first)
        var copy = bytes
        copy[page.data.lowerBound + page.data.count / 2] ^= 0x10
        let error = parquetError { () throws(ParquetError) in try ParquetFileReader(copy).column(rowGroup: 0, column: 4)
        }
        #expect(error?.code == .compression)
        #expect(error.map { page.data.contains($0.position) } == true)
    }

    @Test func footerFieldsAreNamed() throws {
        let bytes = try tableVector("records-uncompressed.parquet")
        let file = try ParquetFileReader(bytes)
        var metadata = file.metadata
        metadata.rowCount += 1
        let footer = ThriftCompactWriter.encode(metadata.thrift)
        var rebuilt = Array(bytes[0 ..< file.footerPosition]) + footer
        withUnsafeBytes(of: UInt32(footer.count).littleEndian) { rebuilt += $0 }
        rebuilt += Array("PAR1".utf8)
        let error = read(rebuilt)
        #expect(error?.field == "FileMetaData.num_rows" && error?.code == .invalidValue)
        metadata = file.metadata
        metadata.rowGroups[0].columns[4].metaData.dataPageOffset = Int64(bytes.count)
        let moved = ThriftCompactWriter.encode(metadata.thrift)
        var outside = Array(bytes[0 ..< file.footerPosition]) + moved
        withUnsafeBytes(of: UInt32(moved.count).littleEndian) { outside += $0 }
        outside += Array("PAR1".utf8)
        #expect(read(outside)?.field == "ColumnMetaData.data_page_offset")
    }
}
