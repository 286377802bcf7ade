/// JSON string literals (RFC 8259 §7): the one escaper of the text JSON the project writes
/// (Iceberg metadata, JSON log lines). Quotes, backslashes and control characters are escaped
/// (\n, \r, \t by name, the rest as \u00XX); everything else is written as it is, in UTF-8.
public enum JSONString {
    /// Appends `text` as a quoted JSON string to `out`.
    public static func append(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// `text` as a quoted JSON string.
    public static func quoted(_ text: String) -> String {
        var out = ""
        append(text, to: &out)
        return out
    }
}
