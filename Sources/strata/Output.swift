import Foundation
import StrataFormat

/// Line output shared by `inspect` commands: `key: value` text, or one compact JSON object per
/// line (`--json`) with a `type` field, so scripts can filter with `jq 'select(.type=="batch")'`.
struct LineOutput {
    let json: Bool

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Prints `text` in text mode, `value` as one JSON line in JSON mode.
    func emit<T: Encodable>(_ text: @autoclosure () -> String, json value: T) {
        if json {
            guard let data = try? Self.encoder.encode(value) else { return }
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(text())
        }
    }

    /// Prints a format error as the last line of a dump.
    func error(_ error: FormatError, context: String) {
        emit(
            "error: \(context): \(error.code.rawValue) in \(error.field) at position \(error.position): "
                + "\(error.message)",
            json: ErrorLine(context: context, error: error))
    }
}

/// `{"type":"error", ...}`.
struct ErrorLine: Encodable {
    let type = "error"
    let context: String
    let code: String
    let field: String
    let position: Int
    let message: String

    init(context: String, error: FormatError) {
        self.context = context
        code = error.code.rawValue
        field = error.field
        position = error.position
        message = error.message
    }
}
