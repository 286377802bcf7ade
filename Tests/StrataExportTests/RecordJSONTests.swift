import Foundation
import StrataFormat
import Testing

@testable import StrataExport

/// The JSON shape of a record (formats/export.md, "JSON lines"): exact bytes, escaping, the
/// utf8/base64 choice, and agreement with Foundation's JSON reader.
@Suite struct RecordJSONTests {
    func json(_ record: Record) -> String {
        var out: [UInt8] = []
        RecordJSON.append(record, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func fieldsInOrderWithNullsAndEncodings() {
        let record = Record(
            offset: 7, timestamp: -5, key: nil, value: [],
            headers: [RecordHeader(key: "a", value: nil), RecordHeader(key: "b", value: [0xFF])])
        #expect(
            json(record)
                == #"{"offset":7,"timestamp":-5,"key":null,"keyEncoding":null,"value":"","valueEncoding":"utf8","#
                + #""headers":[{"key":"a","value":null,"valueEncoding":null},"#
                + #"{"key":"b","value":"/w==","valueEncoding":"base64"}]}"#
        )
        let bare = Record(offset: Int64.max, timestamp: Int64.min, key: Array("k".utf8), value: nil)
        #expect(
            json(bare)
                == #"{"offset":9223372036854775807,"timestamp":-9223372036854775808,"key":"k","keyEncoding":"utf8","#
                + #""value":null,"valueEncoding":null,"headers":[]}"#)
    }

    @Test func escapesOnlyQuoteBackslashAndControls() {
        var text: [UInt8] = Array(0 ..< 0x20)
        text += Array("\"\\/é☃🚀\u{7F}".utf8)
        var out: [UInt8] = []
        #expect(RecordJSON.appendBytes(text, to: &out) == .utf8)
        let expected =
            "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\u0008\\t\\n\\u000b\\u000c\\r\\u000e\\u000f"
            + "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
            + "\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"
            + "\\\"\\\\/é☃🚀\u{7F}\""
        #expect(String(decoding: out, as: UTF8.self) == expected)
    }

    /// The eight-byte fast path must not skip a byte that needs care at any position of a word.
    @Test func everyPositionAroundTheFastPath() throws {
        let specials: [[UInt8]] = [
            [0x22], [0x5C], [0x0A], [0x00], [0x1F], Array("é".utf8), [0xFF], [0xC3], [0xED, 0xA0, 0x80],
        ]
        for length in [1, 7, 8, 9, 15, 16, 17, 31] {
            for position in 0 ..< length {
                for special in specials {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes.replaceSubrange(position ... position, with: special)
                    var out: [UInt8] = []
                    let encoding = RecordJSON.appendBytes(bytes, to: &out)
                    #expect(
                        try Self.decodeString(out, encoding) == bytes,
                        "length \(length), position \(position), \(special)")
                    #expect(encoding == (String(validating: bytes, as: UTF8.self) == nil ? .base64 : .utf8))
                }
            }
        }
    }

    /// Random records: Foundation's JSON reader gives back every field and byte.
    @Test func randomRecordsRoundTripThroughFoundation() throws {
        var rng = SplitMix(seed: 11)
        for _ in 0 ..< 2_000 {
            let record = Random.record(&rng)
            var out: [UInt8] = []
            RecordJSON.append(record, to: &out)
            #expect(String(validating: out, as: UTF8.self) != nil)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(out)) as? [String: Any])
            #expect(try Self.record(from: object) == record)
        }
    }

    /// A record from its JSON object, decoding each field the way formats/export.md says a reader does.
    static func record(from object: [String: Any]) throws -> Record {
        let offset = try #require(object["offset"] as? NSNumber).int64Value
        let timestamp = try #require(object["timestamp"] as? NSNumber).int64Value
        var headers: [RecordHeader] = []
        for header in try #require(object["headers"] as? [[String: Any]]) {
            headers.append(
                RecordHeader(
                    key: try #require(header["key"] as? String),
                    value: try bytes(header["value"], header["valueEncoding"])))
        }
        return Record(
            offset: offset, timestamp: timestamp, key: try bytes(object["key"], object["keyEncoding"]),
            value: try bytes(object["value"], object["valueEncoding"]), headers: headers)
    }

    static func bytes(_ text: Any?, _ encoding: Any?) throws -> [UInt8]? {
        if text is NSNull {
            #expect(encoding is NSNull)
            return nil
        }
        let string = try #require(text as? String)
        switch try #require(encoding as? String) {
        case "utf8": return Array(string.utf8)
        case "base64": return Array(try #require(Data(base64Encoded: string)))
        default: throw JSONTestError.badEncoding
        }
    }

    static func decodeString(_ literal: [UInt8], _ encoding: BytesEncoding?) throws -> [UInt8]? {
        let wrapped = try JSONSerialization.jsonObject(with: Data("[".utf8 + literal + "]".utf8)) as? [Any]
        return try bytes(wrapped?.first, encoding?.rawValue)
    }

    enum JSONTestError: Error { case badEncoding }
}
