import Foundation
import StrataFormat
import Testing

@testable import StrataExport

/// The encoders against the contract: the examples printed in formats/export.md, and the golden
/// vectors formats/vectors/segment.jsonl and segment.csv (the records of segment.seg, written by
/// tools/gen-vectors), byte for byte.
@Suite struct ExportSpecTests {
    /// The two records of formats/export.md's examples.
    static let specRecords = [
        Record(offset: 41, timestamp: 1_767_225_600_000, key: Array("k41".utf8), value: Array(#"{"user":"u6"}"#.utf8)),
        Record(
            offset: 42, timestamp: 1_767_225_600_010, key: nil, value: [0xFF, 0x00, 0x2A, 0xC3],
            headers: [RecordHeader(key: "trace", value: Array("abc".utf8))]),
    ]

    /// The fenced code blocks of formats/export.md, each as its lines.
    static func specBlocks() throws -> [[String]] {
        let text = String(decoding: try repoFile("formats/export.md"), as: UTF8.self)
        var blocks: [[String]] = []
        var current: [String]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                if let block = current { blocks.append(block) }
                current = current == nil ? [] : nil
            } else if current != nil {
                current?.append(String(line))
            }
        }
        return blocks
    }

    func encode(_ records: [Record], _ format: RecordLineFormat) -> [UInt8] {
        var out = format.header
        for record in records { format.append(record, to: &out) }
        return out
    }

    @Test func jsonLinesExampleOfTheSpec() throws {
        let example = try #require(try Self.specBlocks().first { $0.first?.hasPrefix(#"{"offset":41"#) == true })
        #expect(example.count == 2)
        let expected = example.map { $0 + "\n" }.joined()
        #expect(String(decoding: encode(Self.specRecords, .jsonLines), as: UTF8.self) == expected)
    }

    @Test func csvExampleOfTheSpec() throws {
        let example = try #require(
            try Self.specBlocks().first { $0.first?.hasPrefix("offset,timestamp") == true && $0.count > 1 })
        #expect(example.count == 3)
        // Markdown holds the lines with LF; the format ends each with CRLF.
        let expected = example.map { $0 + "\r\n" }.joined()
        #expect(String(decoding: encode(Self.specRecords, .csv), as: UTF8.self) == expected)
    }

    /// The records of formats/vectors/segment.seg: null, empty, non-ASCII and invalid UTF-8 keys
    /// and values, headers, negative timestamps.
    static func segmentRecords() throws -> [Record] {
        let segment = try repoFile("formats/vectors/segment.seg")
        return try withBytes(segment) { (raw) throws(FormatError) -> [Record] in
            let (_, scan) = try SegmentScanner.scanFile(raw)
            var records: [Record] = []
            for batch in scan.batches { records += try BatchCodec.decode(raw, at: batch.position).records }
            return records
        }
    }

    @Test func goldenJSONLines() throws {
        let records = try Self.segmentRecords()
        let vector = try repoFile("formats/vectors/segment.jsonl")
        #expect(encode(records, .jsonLines) == vector)
        // Read back with Foundation as formats/export.md tells a reader to: the same records.
        let lines = vector.split(separator: 0x0A)
        #expect(lines.count == records.count)
        for (line, record) in zip(lines, records) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            #expect(try RecordJSONTests.record(from: object) == record)
        }
    }

    @Test func goldenCSV() throws {
        let records = try Self.segmentRecords()
        let vector = try repoFile("formats/vectors/segment.csv")
        #expect(encode(records, .csv) == vector)
        let rows = CSVReader.rows(vector)
        #expect(rows.first == ["offset", "timestamp", "key", "keyEncoding", "value", "valueEncoding", "headers"])
        #expect(rows.count == records.count + 1)
        for (row, record) in zip(rows.dropFirst(), records) {
            #expect(try CSVReader.record(row) == record)
        }
    }

    @Test func headerRowsAndTerminators() {
        #expect(RecordLineFormat.jsonLines.header.isEmpty && RecordLineFormat.value.header.isEmpty)
        #expect(
            RecordLineFormat.csv.header
                == Array("offset,timestamp,key,keyEncoding,value,valueEncoding,headers\r\n".utf8))
        let record = Record(offset: 1, timestamp: 2, value: Array("v".utf8))
        #expect(encode([record], .jsonLines).suffix(2) == [UInt8(ascii: "}"), 0x0A])
        #expect(encode([record], .csv).suffix(2) == [0x0D, 0x0A])
    }

    /// One encoder reused over records of every size writes what fresh encoders write: its
    /// scratch memory never leaks bytes of an earlier, longer record.
    @Test func reusedEncoderMatchesFreshEncodes() {
        var rng = SplitMix(seed: 31)
        for format in RecordLineFormat.allCases {
            var encoder = RecordEncoder(format)
            var reused: [UInt8] = []
            var fresh: [UInt8] = []
            for _ in 0 ..< 500 {
                let record = Random.record(&rng)
                encoder.append(record, to: &reused)
                format.append(record, to: &fresh)
            }
            #expect(reused == fresh, "\(format)")
        }
    }

    /// `value`: the bytes as stored, nothing converted (issue 12, item 14).
    @Test func valueLinesAreTheStoredBytes() {
        let records = [
            Record(timestamp: 0, value: [0xFF, 0xFE, 0x41]), Record(timestamp: 0, value: nil),
            Record(timestamp: 0, value: []), Record(timestamp: 0, value: Array("日本\n語".utf8)),
        ]
        #expect(encode(records, .value) == [0xFF, 0xFE, 0x41, 0x0A, 0x0A, 0x0A] + Array("日本\n語\n".utf8))
    }
}

/// An RFC 4180 reader written apart from the encoder, to read the CSV back.
enum CSVReader {
    static func rows(_ bytes: [UInt8]) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field: [UInt8] = [], quoted = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if index < bytes.count && bytes[index] == UInt8(ascii: "\"") {
                        field.append(byte)
                        index += 1
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(byte)
                }
            } else if byte == UInt8(ascii: "\"") {
                quoted = true
            } else if byte == UInt8(ascii: ",") {
                row.append(String(decoding: field, as: UTF8.self))
                field = []
            } else if byte == 0x0D && index < bytes.count && bytes[index] == 0x0A {
                index += 1
                row.append(String(decoding: field, as: UTF8.self))
                rows.append(row)
                row = []
                field = []
            } else {
                field.append(byte)
            }
        }
        return rows
    }

    static func record(_ row: [String]) throws -> Record {
        #expect(row.count == 7)
        func bytes(_ text: String, _ encoding: String) throws -> [UInt8]? {
            switch encoding {
            case "": #expect(text.isEmpty); return nil
            case "utf8": return Array(text.utf8)
            default: return Array(try #require(Data(base64Encoded: text)))
            }
        }
        let headers = try #require(try JSONSerialization.jsonObject(with: Data(row[6].utf8)) as? [[String: Any]])
        return Record(
            offset: try #require(Int64(row[0])), timestamp: try #require(Int64(row[1])),
            key: try bytes(row[2], row[3]), value: try bytes(row[4], row[5]),
            headers: try headers.map {
                RecordHeader(
                    key: try #require($0["key"] as? String),
                    value: try RecordJSONTests.bytes($0["value"], $0["valueEncoding"]))
            })
    }
}

/// CSV quoting and nulls, and a random round trip through the reader above.
@Suite struct RecordCSVTests {
    func row(_ record: Record) -> String {
        var out: [UInt8] = []
        RecordCSV.append(record, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func quotingAndNulls() {
        #expect(row(Record(offset: 1, timestamp: 2, key: nil, value: nil)) == "1,2,,,,,[]\r\n")
        #expect(row(Record(offset: 1, timestamp: 2, key: [], value: [])) == "1,2,,utf8,,utf8,[]\r\n")
        #expect(
            row(Record(offset: 1, timestamp: 2, key: Array("a,b".utf8), value: Array("say \"hi\"".utf8)))
                == "1,2,\"a,b\",utf8,\"say \"\"hi\"\"\",utf8,[]\r\n")
        #expect(
            row(Record(offset: 1, timestamp: 2, key: Array("l1\nl2".utf8), value: Array("cr\r".utf8)))
                == "1,2,\"l1\nl2\",utf8,\"cr\r\",utf8,[]\r\n")
        #expect(
            row(Record(offset: 1, timestamp: 2, key: [0x80], value: Array("plain".utf8)))
                == "1,2,gA==,base64,plain,utf8,[]\r\n")
    }

    @Test func randomRecordsRoundTrip() throws {
        var rng = SplitMix(seed: 23)
        var records: [Record] = []
        var out = RecordCSV.headerRow
        for _ in 0 ..< 2_000 {
            let record = Random.record(&rng)
            records.append(record)
            RecordCSV.append(record, to: &out)
        }
        let rows = CSVReader.rows(out)
        #expect(rows.count == records.count + 1)
        for (row, record) in zip(rows.dropFirst(), records) { #expect(try CSVReader.record(row) == record) }
    }
}
