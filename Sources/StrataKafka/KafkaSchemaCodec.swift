/// The one generic reader and writer of message bodies: a schema and a version decide every
/// byte, in the classic encoding or the flexible one (KIP-482: compact lengths, tagged fields).
public enum KafkaSchemaCodec {
    // MARK: - Decoding

    /// Decodes one struct of `schema` at `version` from the reader's position.
    /// - Throws: `KafkaDecodeError` naming the field path and byte position of the first problem.
    public static func decode(
        _ schema: KafkaStructSchema, version: Int16, flexible: Bool, from reader: inout KafkaReader
    ) throws(KafkaDecodeError) -> KafkaStruct {
        var result = KafkaStruct()
        result.fields.reserveCapacity(schema.fields.count)
        for field in schema.fields {
            guard field.versions.contains(version), !field.isTagged(version, flexible: flexible) else {
                result.fields[field.name] = field.resolvedDefault
                continue
            }
            result.fields[field.name] = try decodeValue(
                field.type, field: field, version: version,
                flexible: flexible, from: &reader)
        }
        if flexible { try decodeTaggedFields(schema, version: version, into: &result, from: &reader) }
        return result
    }

    private static func decodeTaggedFields(
        _ schema: KafkaStructSchema, version: Int16, into result: inout KafkaStruct, from reader: inout KafkaReader
    ) throws(KafkaDecodeError) {
        let countAt = reader.position
        let count = try reader.unsignedVarint("_taggedFields")
        // Each tagged field takes at least two bytes (tag and size).
        guard count <= UInt64(reader.remaining / 2) else {
            throw reader.error(
                .outOfBounds, "_taggedFields", at: countAt,
                "\(count) tagged fields cannot fit in \(reader.remaining) bytes")
        }
        var previousTag = -1
        for _ in 0 ..< Int(count) {
            let tagAt = reader.position
            let tag = Int(try reader.unsignedVarint("_taggedFields.tag"))
            guard tag > previousTag else {
                throw reader.error(
                    .invalidValue, "_taggedFields.tag", at: tagAt,
                    "tag \(tag) after tag \(previousTag): tags must ascend")
            }
            previousTag = tag
            let size = Int(try reader.unsignedVarint("_taggedFields.size"))
            let known = schema.fields.first { field in
                field.versions.contains(version) && field.isTagged(version, flexible: true) && field.tag?.number == tag
            }
            guard let field = known else {
                let raw = try reader.raw(size, "_taggedFields")
                result.unknownTaggedFields.append(KafkaTaggedField(tag: tag, bytes: raw))
                continue
            }
            result.fields[field.name] = try reader.bounded(size, field.name) { (inner) throws(KafkaDecodeError) in
                try decodeValue(field.type, field: field, version: version, flexible: true, from: &inner)
            }
        }
    }

    private static func decodeValue(
        _ type: KafkaType, field: KafkaField, version: Int16, flexible: Bool, from r: inout KafkaReader
    ) throws(KafkaDecodeError) -> KafkaValue {
        let name = field.name
        let nullable = field.isNullable(version)
        switch type {
        case .bool: return .bool(try r.bool(name))
        case .int8: return .int(Int64(try r.int8(name)))
        case .int16: return .int(Int64(try r.int16(name)))
        case .int32: return .int(Int64(try r.int32(name)))
        case .int64: return .int(try r.int64(name))
        case .uint16: return .int(Int64(try r.uint16(name)))
        case .uint32: return .int(Int64(try r.uint32(name)))
        case .float64: return .float(try r.float64(name))
        case .uuid: return .uuid(try r.uuid(name))
        case .string: return .string(try r.string(name, compact: flexible, nullable: nullable))
        case .bytes, .records: return .bytes(try r.bytes(name, compact: flexible, nullable: nullable))
        case .structure(let schema):
            if nullable {
                // A nullable struct is preceded by a presence byte: -1 null, 1 present.
                let at = r.position
                let marker = try r.int8(name)
                if marker == -1 { return .structure(schema.defaults) }
                guard marker == 1 else { throw r.error(.invalidValue, name, at: at, "struct marker \(marker)") }
            }
            return .structure(
                try r.within(name) { (inner) throws(KafkaDecodeError) in
                    try decode(schema, version: version, flexible: flexible, from: &inner)
                })
        case .array(let element):
            let bytesMin = element.bytesMin(version, flexible: flexible)
            guard let count = try r.arrayCount(name, compact: flexible, nullable: nullable, elementBytesMin: bytesMin)
            else { return .array(nil) }
            var elements: [KafkaValue] = []
            elements.reserveCapacity(count)
            for index in 0 ..< count {
                let value = try r.within(name) { (inner) throws(KafkaDecodeError) in
                    try inner.within("[\(index)]") { (element_r) throws(KafkaDecodeError) in
                        try decodeElement(element, field: field, version: version, flexible: flexible, from: &element_r)
                    }
                }
                elements.append(value)
            }
            return .array(elements)
        }
    }

    /// An array element: a struct, or a primitive that is never null (Kafka's arrays of
    /// strings and integers hold no nulls).
    private static func decodeElement(
        _ type: KafkaType, field: KafkaField, version: Int16, flexible: Bool, from r: inout KafkaReader
    ) throws(KafkaDecodeError) -> KafkaValue {
        if case .structure(let schema) = type {
            return .structure(try decode(schema, version: version, flexible: flexible, from: &r))
        }
        let element = KafkaField("", type, field.versions)
        return try decodeValue(type, field: element, version: version, flexible: flexible, from: &r)
    }

    // MARK: - Encoding

    /// Encodes `value` as a struct of `schema` at `version`. Fields missing from `value` are
    /// written as their defaults; fields that do not exist at `version` are left out.
    /// - Throws: `KafkaDecodeError` when a value does not fit its field (wrong kind, an integer
    ///   outside the field's width, null where the version does not allow it, a string over 32767 bytes).
    public static func encode(
        _ value: KafkaStruct, as schema: KafkaStructSchema, version: Int16, flexible: Bool, into w: inout KafkaWriter
    ) throws(KafkaDecodeError) {
        var tagged: [(tag: Int, field: KafkaField, value: KafkaValue)] = []
        for field in schema.fields where field.versions.contains(version) {
            let fieldValue = value.fields[field.name] ?? field.resolvedDefault
            if field.isTagged(version, flexible: flexible), let tag = field.tag {
                if fieldValue != field.resolvedDefault { tagged.append((tag.number, field, fieldValue)) }
                continue
            }
            try encodeValue(
                fieldValue, type: field.type, field: field, path: schema.name, version: version,
                flexible: flexible, into: &w)
        }
        guard flexible else { return }
        tagged.sort { $0.tag < $1.tag }
        w.unsignedVarint(UInt64(tagged.count))
        for entry in tagged {
            var inner = KafkaWriter()
            try encodeValue(
                entry.value, type: entry.field.type, field: entry.field, path: schema.name,
                version: version, flexible: true, into: &inner)
            w.unsignedVarint(UInt64(entry.tag))
            w.unsignedVarint(UInt64(inner.count))
            w.raw(inner.bytes)
        }
    }

    private static func encodeValue(
        _ value: KafkaValue, type: KafkaType, field: KafkaField, path: String, version: Int16, flexible: Bool,
        into w: inout KafkaWriter
    ) throws(KafkaDecodeError) {
        let name = path + "." + field.name
        func bad(_ message: String) -> KafkaDecodeError {
            KafkaDecodeError(.invalidValue, field: name, position: w.count, message)
        }
        func int<T: FixedWidthInteger>(_: T.Type) throws(KafkaDecodeError) -> T {
            guard case .int(let v) = value else { throw bad("expected an integer, got \(value)") }
            guard let narrow = T(exactly: v) else {
                throw KafkaDecodeError(.outOfBounds, field: name, position: w.count, "\(v) does not fit \(T.self)")
            }
            return narrow
        }
        let nullable = field.isNullable(version)
        switch type {
        case .bool:
            guard case .bool(let v) = value else { throw bad("expected a boolean, got \(value)") }
            w.bool(v)
        case .int8: w.int8(try int(Int8.self))
        case .int16: w.int16(try int(Int16.self))
        case .int32: w.int32(try int(Int32.self))
        case .int64: w.int64(try int(Int64.self))
        case .uint16: w.uint16(try int(UInt16.self))
        case .uint32: w.uint32(try int(UInt32.self))
        case .float64:
            guard case .float(let v) = value else { throw bad("expected a float, got \(value)") }
            w.float64(v)
        case .uuid:
            guard case .uuid(let v) = value else { throw bad("expected a uuid, got \(value)") }
            w.uuid(v)
        case .string:
            guard case .string(let v) = value else { throw bad("expected a string, got \(value)") }
            if v == nil, !nullable { throw bad("null is not allowed at version \(version)") }
            try w.string(v, compact: flexible, field: name)
        case .bytes, .records:
            guard case .bytes(let v) = value else { throw bad("expected bytes, got \(value)") }
            if v == nil, !nullable { throw bad("null is not allowed at version \(version)") }
            w.bytes(v, compact: flexible)
        case .structure(let schema):
            guard case .structure(let v) = value else { throw bad("expected a struct, got \(value)") }
            if nullable { w.int8(1) }
            try encode(v, as: schema, version: version, flexible: flexible, into: &w)
        case .array(let element):
            guard case .array(let elements) = value else { throw bad("expected an array, got \(value)") }
            guard let elements else {
                if !nullable { throw bad("null is not allowed at version \(version)") }
                return w.arrayCount(nil, compact: flexible)
            }
            w.arrayCount(elements.count, compact: flexible)
            let elementField = KafkaField(field.name + "[]", element, field.versions)
            for item in elements {
                try encodeValue(
                    item, type: element, field: elementField, path: path, version: version,
                    flexible: flexible, into: &w)
            }
        }
    }
}
