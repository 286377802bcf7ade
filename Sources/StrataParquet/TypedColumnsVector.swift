import StrataFormat

/// The golden vector of formats/table.md, "Typed value columns" (formats/vectors/table/typed):
/// a value schema with every supported type and records whose values match it, partly match
/// it (optional fields absent or null) or do not (each a different reason). `expected` is
/// written by hand, not computed by `TableValueSchema.extract`, so tests that compare with it
/// check the extraction and real readers against one independent answer.
public enum TypedColumnsVector {
    public static let schemaJSON = """
        {"type": "struct", "schema-id": 0, "identifier-field-ids": [], "fields": [
          {"id": 1, "name": "page", "required": true, "type": "string"},
          {"id": 2, "name": "clicks", "required": false, "type": "int"},
          {"id": 3, "name": "user_id", "required": false, "type": "long"},
          {"id": 4, "name": "ratio", "required": false, "type": "float"},
          {"id": 5, "name": "score", "required": false, "type": "double"},
          {"id": 6, "name": "ok", "required": false, "type": "boolean"},
          {"id": 7, "name": "day", "required": false, "type": "date"},
          {"id": 8, "name": "at", "required": false, "type": "timestamptz"},
          {"id": 9, "name": "local", "required": false, "type": "timestamp"},
          {"id": 10, "name": "blob", "required": false, "type": "binary"},
          {"id": 11, "name": "price", "required": false, "type": "decimal(9, 2)"},
          {"id": 12, "name": "total", "required": false, "type": "decimal(18,4)", "doc": "order total"}
        ]}
        """

    /// The values, one record each from offset 0; nil is a null value.
    public static let values: [String?] = [
        #"{"page":"/home","clicks":3,"user_id":9007199254740993,"ratio":1.5,"score":-2.25e3,"ok":true,"#
            + #""day":"2024-02-29","at":"2024-02-29T12:34:56.123456+01:00","local":"1969-12-31T23:59:59.5","#
            + #""blob":"AAEC/w==","price":12.34,"total":"-0.0001","extra":{"nested":[1,2,{"x":null}]}}"#,
        #"{"page":"é \u00e9 \ud83d\ude80"}"#,
        #"{"page":"/a","at":1700000000123,"local":-1,"clicks":null}"#,
        "not json",
        #"{"page":"/x","clicks":"3"}"#,
        #"{"clicks":1}"#,
        nil,
        "[1,2]",
        #"{"page":"a","page":"b"}"#,
        #"{"page":"/x","clicks":2147483648}"#,
        #"{"page":"/x","price":1.234}"#,
        "",
        #"{"page":"x"} x"#,
        " { \"page\" : \"/b\" , \"ok\" : false , \"unknown\": [true, false, null, 1e5] } ",
        #"{"page":"/x","at":"2024-01-01T00:00:00"}"#,
        #"{"page":"/c","price":-9999999.99,"total":99999999999999.9999,"day":"1900-03-01"}"#,
    ]

    /// Per record: nil where `value_fields` is null, else each present field as text (booleans
    /// `true`/`false`, numbers in decimal, dates ISO, timestamps as microseconds since 1970,
    /// binary as base64, decimals with their digits); a field not listed is null.
    public static let expected: [[String: String]?] = [
        [
            "page": "/home", "clicks": "3", "user_id": "9007199254740993", "ratio": "1.5", "score": "-2250",
            "ok": "true", "day": "2024-02-29", "at": "1709206496123456", "local": "-500000", "blob": "AAEC/w==",
            "price": "12.34", "total": "-0.0001",
        ],
        ["page": "é é 🚀"],
        ["page": "/a", "at": "1700000000123000", "local": "-1000"],
        nil, nil, nil,
        nil,  // the null value: not a mismatch
        nil, nil, nil, nil, nil, nil,
        ["page": "/b", "ok": "false"],
        nil,
        ["page": "/c", "price": "-9999999.99", "total": "99999999999999.9999", "day": "1900-03-01"],
    ]

    /// Records whose value did not match (the null value is not one).
    public static let mismatches = 10

    public static func records() -> [Record] {
        values.enumerated().map { i, value in
            Record(
                offset: Int64(i), timestamp: 1_700_000_000_000 + Int64(i) * 1000, key: Array("k\(i)".utf8),
                value: value.map { Array($0.utf8) })
        }
    }
}
