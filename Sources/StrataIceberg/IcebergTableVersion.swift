import StrataParquet

extension IcebergTable {
    /// A new table whose first commit writes `metadata/v<version + 1>.metadata.json`: how a
    /// rebuild starts over beside metadata files it cannot read, never overwriting one
    /// (formats/table.md, "Writer rules").
    /// - Throws: `.invalidArgument` for a negative version or one at `Int32.max`, and what
    ///   `init(uuid:location:createdMs:properties:valueSchema:)` throws.
    public init(
        uuid: String, location: String, createdMs: Int64, afterVersion version: Int,
        properties: [String: String] = [:], valueSchema: TableValueSchema? = nil
    ) throws(IcebergError) {
        guard version >= 0, version < Int(Int32.max) else {
            throw IcebergError(.invalidArgument, field: "version", position: 0, "\(version) is out of range")
        }
        try self.init(
            uuid: uuid, location: location, createdMs: createdMs, properties: properties, valueSchema: valueSchema)
        self.version = version
    }
}
