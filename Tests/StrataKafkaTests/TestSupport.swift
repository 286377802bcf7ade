import Foundation
import StrataKafka
import Testing

/// The error a typed-throwing body threw, or nil when it returned.
func kafkaError<T>(_ body: () throws(KafkaDecodeError) -> T) -> KafkaDecodeError? {
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

func kafkaVector(_ name: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: repoRoot().appendingPathComponent("formats/vectors/kafka/\(name)")))
}

/// formats/vectors/kafka/vectors.json, written by tools/kafka-vectors.py, and group-vectors.json, written by
/// tools/kafka-group-vectors.py.
struct KafkaVectors {
    struct Message {
        var file: String
        var apiKey: Int16
        var version: Int16
        var isRequest: Bool
        var correlationId: Int32
        var clientId: String
        var body: [String: Any]
    }

    var messages: [Message]
    var batches: [String: [String: Any]]

    static func load() throws -> KafkaVectors {
        let data = try Data(contentsOf: repoRoot().appendingPathComponent("formats/vectors/kafka/vectors.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var list = try #require(root["messages"] as? [[String: Any]])
        // The group APIs' vectors (tools/kafka-group-vectors.py) live beside them.
        let groupData = try Data(
            contentsOf: repoRoot().appendingPathComponent("formats/vectors/kafka/group-vectors.json"))
        let groupRoot = try #require(try JSONSerialization.jsonObject(with: groupData) as? [String: Any])
        list += try #require(groupRoot["messages"] as? [[String: Any]])
        let messages = try list.map { entry in
            Message(
                file: try #require(entry["file"] as? String), apiKey: Int16(try #require(entry["apiKey"] as? Int)),
                version: Int16(try #require(entry["version"] as? Int)),
                isRequest: entry["kind"] as? String == "request",
                correlationId: Int32(try #require(entry["correlationId"] as? Int)),
                clientId: try #require(entry["clientId"] as? String),
                body: try #require(entry["body"] as? [String: Any]))
        }
        return KafkaVectors(messages: messages, batches: try #require(root["batches"] as? [String: [String: Any]]))
    }
}

enum JSONToKafka {
    struct Mismatch: Error, CustomStringConvertible {
        var description: String
    }

    /// The struct `json` describes under `schema`, with only the fields that exist at `version`.
    static func structure(_ json: [String: Any], _ schema: KafkaStructSchema, version: Int16) throws -> KafkaStruct {
        var result = KafkaStruct()
        for (name, raw) in json {
            guard let field = schema.fields.first(where: { $0.name == name }) else {
                throw Mismatch(description: "\(schema.name) has no field \(name)")
            }
            guard field.versions.contains(version) else { continue }
            result[name] = try value(raw, field.type, version: version)
        }
        return result
    }

    static func value(_ raw: Any, _ type: KafkaType, version: Int16) throws -> KafkaValue {
        let isNull = raw is NSNull
        switch type {
        case .bool: return .bool(try cast(raw, Bool.self))
        case .int8, .int16, .int32, .int64, .uint16, .uint32: return .int(Int64(try cast(raw, Int.self)))
        case .float64: return .float(try cast(raw, Double.self))
        case .uuid: return .uuid(KafkaUUID(bytes: try hex(try cast(raw, String.self))))
        case .string: return .string(isNull ? nil : try cast(raw, String.self))
        case .bytes, .records:
            if isNull { return .bytes(nil) }
            return .bytes(try hex(try cast(try cast(raw, [String: Any].self)["hex"] as Any, String.self)))
        case .array(let element):
            if isNull { return .array(nil) }
            return .array(try cast(raw, [Any].self).map { try value($0, element, version: version) })
        case .structure(let schema):
            return .structure(try structure(try cast(raw, [String: Any].self), schema, version: version))
        }
    }

    static func cast<T>(_ raw: Any, _: T.Type) throws -> T {
        guard let value = raw as? T else { throw Mismatch(description: "\(raw) is not \(T.self)") }
        return value
    }

    static func hex(_ text: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index ..< next], radix: 16) else { throw Mismatch(description: "bad hex") }
            bytes.append(byte)
            index = next
        }
        return bytes
    }

    /// Whether every field `expected` names holds the same value in `actual` (nested structs alike).
    static func matches(_ expected: KafkaValue, _ actual: KafkaValue?) -> Bool {
        guard let actual else { return false }
        switch (expected, actual) {
        case (.structure(let e), .structure(let a)):
            return e.fields.allSatisfy { name, value in matches(value, a.fields[name]) }
        case (.array(let e?), .array(let a?)):
            return e.count == a.count && zip(e, a).allSatisfy { matches($0, $1) }
        default:
            return expected == actual
        }
    }
}
