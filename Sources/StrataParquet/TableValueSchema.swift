/// A topic's value schema (formats/table.md, "Typed value columns"): the fields of its JSON
/// values that the table carries as typed columns beside the raw `value` bytes. Parsed from an
/// Iceberg schema JSON (`TopicConfig.valueSchema`, `strata topics create --value-schema FILE`).
///
/// Contract (issue 15): `parse` and the typed columns are built by the typed-columns work; until
/// then `parse` refuses every schema and writers given one write raw bytes only.
public struct TableValueSchema: Sendable, Equatable {
    /// The schema's JSON text as given (kept so the table metadata can carry it).
    public var json: String

    /// Parses an Iceberg schema JSON (`{"type": "struct", "fields": [...]}`).
    /// - Throws: `ParquetError(.invalidArgument)` naming the field that is wrong and why.
    public static func parse(icebergJSON json: String) throws(ParquetError) -> TableValueSchema {
        throw ParquetError(.invalidArgument, field: "valueSchema", position: 0, "typed value columns are not built yet")
    }
}
