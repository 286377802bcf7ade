/// One field of a Parquet schema: a primitive column or a group of fields, with its Iceberg
/// field id. formats/table.md, "Schema".
public struct ParquetField: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A leaf column. BOOLEAN, INT32, INT64, FLOAT, DOUBLE and BYTE_ARRAY are written.
        case primitive(ParquetEnum.PhysicalType)
        case group([ParquetField])
    }

    public var name: String
    public var repetition: ParquetEnum.Repetition
    public var fieldId: Int32?
    public var logicalType: ParquetLogicalType?
    public var kind: Kind

    public init(
        _ name: String, _ repetition: ParquetEnum.Repetition, _ type: ParquetEnum.PhysicalType, fieldId: Int32?,
        logicalType: ParquetLogicalType? = nil
    ) {
        self.name = name
        self.repetition = repetition
        self.fieldId = fieldId
        self.logicalType = logicalType
        self.kind = .primitive(type)
    }

    public init(
        group name: String, _ repetition: ParquetEnum.Repetition, fieldId: Int32?,
        logicalType: ParquetLogicalType? = nil, _ children: [ParquetField]
    ) {
        self.name = name
        self.repetition = repetition
        self.fieldId = fieldId
        self.logicalType = logicalType
        self.kind = .group(children)
    }

    /// Iceberg's 3-level list: `name (LIST) / list (repeated) / element`.
    public static func list(
        _ name: String, _ repetition: ParquetEnum.Repetition, fieldId: Int32?, element: ParquetField
    ) -> ParquetField {
        var element = element
        element.name = "element"
        return ParquetField(
            group: name, repetition, fieldId: fieldId, logicalType: .list,
            [ParquetField(group: "list", .repeated, fieldId: nil, [element])])
    }
}

/// A leaf column of a schema with its levels (Dremel: definition counts the optional and
/// repeated ancestors that are present, repetition the repeated ones).
public struct ParquetLeaf: Sendable, Equatable {
    public var path: [String]
    public var type: ParquetEnum.PhysicalType
    public var maxDefinitionLevel: Int
    public var maxRepetitionLevel: Int
    public var fieldId: Int32?
    /// Integer columns carry min/max statistics and a ColumnIndex; byte arrays only null counts.
    public var hasMinMax: Bool { type == .int32 || type == .int64 }
}

/// A validated schema: the fields, their flattened SchemaElements and their leaves in file order.
public struct ParquetSchema: Sendable, Equatable {
    public let fields: [ParquetField]
    public let elements: [SchemaElement]
    public let leaves: [ParquetLeaf]

    /// - Throws: `ParquetError(.invalidArgument)` for an empty group, an empty or duplicate name,
    ///   a physical type this writer cannot write, or nesting deeper than 15 levels.
    public init(_ fields: [ParquetField]) throws(ParquetError) {
        self.fields = fields
        var elements = [SchemaElement(name: "schema", childCount: Int32(fields.count))]
        var leaves: [ParquetLeaf] = []
        try Self.flatten(fields, path: [], definition: 0, repetition: 0, into: &elements, leaves: &leaves)
        guard !leaves.isEmpty else { throw ParquetError(.invalidArgument, field: "schema", position: 0, "no columns") }
        self.elements = elements
        self.leaves = leaves
    }

    private static func flatten(
        _ fields: [ParquetField], path: [String], definition: Int, repetition: Int,
        into elements: inout [SchemaElement], leaves: inout [ParquetLeaf]
    ) throws(ParquetError) {
        var names = Set<String>()
        for field in fields {
            let fieldPath = path + [field.name]
            let where_ = fieldPath.joined(separator: ".")
            guard !field.name.isEmpty, names.insert(field.name).inserted else {
                throw ParquetError(.invalidArgument, field: where_, position: 0, "names must be non-empty and unique")
            }
            let def = definition + (field.repetition == .required ? 0 : 1)
            let rep = repetition + (field.repetition == .repeated ? 1 : 0)
            guard def <= 15 else { throw ParquetError(.invalidArgument, field: where_, position: 0, "nests too deep") }
            switch field.kind {
            case .primitive(let type):
                guard [.boolean, .int32, .int64, .float, .double, .byteArray].contains(type) else {
                    throw ParquetError(.invalidArgument, field: where_, position: 0, "type \(type) is not written")
                }
                elements.append(
                    SchemaElement(
                        type: type.rawValue, repetition: field.repetition.rawValue, name: field.name,
                        convertedType: convertedType(field.logicalType), fieldId: field.fieldId,
                        logicalType: field.logicalType))
                leaves.append(
                    ParquetLeaf(
                        path: fieldPath, type: type, maxDefinitionLevel: def, maxRepetitionLevel: rep,
                        fieldId: field.fieldId))
            case .group(let children):
                guard !children.isEmpty else {
                    throw ParquetError(.invalidArgument, field: where_, position: 0, "a group needs fields")
                }
                elements.append(
                    SchemaElement(
                        repetition: field.repetition.rawValue, name: field.name, childCount: Int32(children.count),
                        convertedType: convertedType(field.logicalType), fieldId: field.fieldId,
                        logicalType: field.logicalType))
                try flatten(
                    children, path: fieldPath, definition: def, repetition: rep, into: &elements, leaves: &leaves)
            }
        }
    }

    /// The ConvertedType older readers (Spark's parquet-mr, Hive) understand for a logical type.
    static func convertedType(_ logical: ParquetLogicalType?) -> Int32? {
        switch logical {
        case .string?: return ParquetEnum.convertedUTF8
        case .list?: return ParquetEnum.convertedList
        case .timestampMicros(isAdjustedToUTC: true)?: return ParquetEnum.convertedTimestampMicros
        case .date?: return ParquetEnum.convertedDate
        case .decimal?: return ParquetEnum.convertedDecimal
        default: return nil
        }
    }
}
