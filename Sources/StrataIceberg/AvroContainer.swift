/// Avro object container files (Avro 1.11 specification, "Object Container Files").
///
/// Layout: `Obj\u{1}`, the metadata as an Avro `map<bytes>` (`avro.schema`, `avro.codec`, then
/// the caller's keys, in order), a 16-byte sync marker, then blocks: object count (long), byte
/// size (long), the objects, the sync marker. Strata writes codec `null` (formats/table.md,
/// "Manifests": manifests are a few KiB and every Avro reader must read `null`).
public enum AvroContainer {
    public static let magic: [UInt8] = [0x4F, 0x62, 0x6A, 0x01]

    /// Objects per block when writing.
    public static let blockObjectCount = 1000

    /// The bytes of a container file holding `values` of `schema`.
    /// - Parameters:
    ///   - metadata: keys after `avro.schema` and `avro.codec`, in this order; must not repeat
    ///     or use the reserved `avro.` prefix.
    ///   - sync: the 16-byte sync marker (the caller derives it, so bytes are reproducible).
    /// - Throws: `IcebergError(.invalidArgument)` for a bad sync marker or metadata key, or a
    ///   value that does not match the schema.
    public static func encode(
        schema: AvroSchema, values: [AvroValue], metadata: [(String, [UInt8])], sync: [UInt8]
    ) throws(IcebergError) -> [UInt8] {
        guard sync.count == 16 else {
            throw IcebergError(
                .invalidArgument, field: "sync", position: 0, "a sync marker is 16 bytes, not \(sync.count)")
        }
        var seen: Set<String> = []
        for (i, (key, _)) in metadata.enumerated() {
            guard !key.hasPrefix("avro."), seen.insert(key).inserted else {
                throw IcebergError(
                    .invalidArgument, field: "metadata", position: i, "key \(key) is reserved or repeated")
            }
        }
        var w = AvroWriter()
        w.writeRaw(magic)
        let entries = [("avro.schema", Array(schema.json.compact.utf8)), ("avro.codec", Array("null".utf8))] + metadata
        w.writeLong(Int64(entries.count))
        for (key, value) in entries {
            w.writeString(key)
            w.writeBytes(value)
        }
        w.writeLong(0)
        w.writeRaw(sync)
        var start = 0
        while start < values.count {
            let block = values[start ..< min(start + blockObjectCount, values.count)]
            var body = AvroWriter()
            for (i, value) in block.enumerated() { try body.write(value, as: schema, field: "object \(start + i)") }
            w.writeLong(Int64(block.count))
            w.writeLong(Int64(body.bytes.count))
            w.writeRaw(body.bytes)
            w.writeRaw(sync)
            start += block.count
        }
        return w.bytes
    }

    /// A decoded container file.
    public struct File: Sendable, Equatable {
        /// Every metadata entry in file order, `avro.schema` and `avro.codec` included.
        public var metadata: [AvroMapEntry]
        public var schema: AvroSchema
        public var values: [AvroValue]

        /// A metadata value as UTF-8 text.
        public func metadata(_ key: String) -> String? {
            guard case .bytes(let b)? = metadata.first(where: { $0.key == key })?.value else { return nil }
            return String(validating: b, as: UTF8.self)
        }
    }

    /// Decodes a container file: checks the magic, reads the metadata and the schema it names,
    /// refuses codecs other than `null`, and checks that every block's objects fill its byte
    /// size exactly and that its sync marker matches the header's.
    public static func decode(_ bytes: [UInt8]) throws(IcebergError) -> File {
        guard bytes.count >= 4 else {
            throw IcebergError(.truncated, field: "magic", position: 0, "fewer than 4 bytes")
        }
        guard Array(bytes[0 ..< 4]) == magic else {
            throw IcebergError(.badMagic, field: "magic", position: 0, "not an Avro container file")
        }
        var r = AvroReader(bytes, start: 4)
        guard case .map(let metadata) = try r.read(.map(.bytes), field: "metadata") else {
            throw IcebergError(.invalidValue, field: "metadata", position: 4, "not a map")
        }
        let file = File(metadata: metadata, schema: .null, values: [])
        let codec = file.metadata("avro.codec") ?? "null"
        guard codec == "null" else {
            throw IcebergError(.unsupported, field: "avro.codec", position: 4, "codec \(codec); Strata reads null only")
        }
        guard let schemaText = file.metadata("avro.schema") else {
            throw IcebergError(.invalidValue, field: "avro.schema", position: 4, "missing")
        }
        let schema = try AvroSchema.parse(try JSONValue.parse(Array(schemaText.utf8), field: "avro.schema"))
        let sync = try r.readFixed(16, field: "sync")
        var values: [AvroValue] = []
        while r.remaining > 0 {
            let blockStart = r.position
            let count = try r.readLong(field: "block count")
            let size = try r.readLength(field: "block size")
            guard count >= 0, count <= Int64(schema.minimumBytes > 0 ? size : 1_000_000) else {
                throw IcebergError(.outOfBounds, field: "block count", position: blockStart, "\(count) objects")
            }
            var block = AvroReader(bytes, start: r.position, end: r.position + size)
            for _ in 0 ..< count { values.append(try block.read(schema, field: "object \(values.count)")) }
            guard block.remaining == 0 else {
                throw IcebergError(
                    .invalidValue, field: "block size", position: block.position,
                    "\(block.remaining) bytes left after the block's \(count) objects")
            }
            r = AvroReader(bytes, start: r.position + size)
            let marker = try r.readFixed(16, field: "sync")
            guard marker == sync else {
                throw IcebergError(
                    .invalidValue, field: "sync", position: r.position - 16, "does not match the header's")
            }
        }
        return File(metadata: metadata, schema: schema, values: values)
    }
}
