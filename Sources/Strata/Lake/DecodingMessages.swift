import Foundation

/// What is wrong with a JSON file, in words: which field, what was expected. A raw
/// `DecodingError` dump names Swift types and coding paths an operator cannot act on.
func describeDecodingFailure(_ error: any Error, bytes: [UInt8]) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func field(_ path: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
        let names = (path + (key.map { [$0] } ?? [])).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
        return names.isEmpty ? "the document" : "field '" + names.joined(separator: ".") + "'"
    }
    switch error {
    case .dataCorrupted(let context) where context.codingPath.isEmpty:
        if bytes.isEmpty { return "the file is empty (0 bytes), not JSON" }
        return "not valid JSON (\(bytes.count) bytes)"
    case .dataCorrupted(let context):
        return "\(field(context.codingPath)) has an invalid value: \(context.debugDescription)"
    case .keyNotFound(let key, let context):
        return "\(field(context.codingPath, key)) is missing"
    case .typeMismatch(let type, let context):
        return "\(field(context.codingPath)) is not \(article(type))"
    case .valueNotFound(let type, let context):
        return "\(field(context.codingPath)) is null, expected \(article(type))"
    @unknown default:
        return "\(error)"
    }
}

private func article(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: return "a string"
    case is Int.Type, is Int64.Type, is Int32.Type, is UInt64.Type, is UInt32.Type: return "an integer"
    case is Bool.Type: return "true or false"
    default: return "a \(type)"
    }
}
