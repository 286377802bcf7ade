// Typed access to the fields of a decoded Thrift struct, with errors that name the Parquet
// structure and field (`ColumnMetaData.num_values`) and the byte where it was.

struct FieldDecoder {
    let value: ThriftStruct
    /// The Parquet structure's name, e.g. `ColumnMetaData`.
    let name: String

    init(_ value: ThriftStruct, _ name: String) {
        self.value = value
        self.name = name
    }

    func missing(_ id: Int16, _ field: String) -> ParquetError {
        ParquetError(
            .invalidValue, field: "\(name).\(field)", position: value.position,
            "required field \(id) is missing")
    }

    func wrongType(_ id: Int16, _ field: String, _ expected: String) -> ParquetError {
        ParquetError(
            .invalidValue, field: "\(name).\(field)", position: value.position(of: id),
            "field \(id) is not \(expected)")
    }

    func invalid(_ id: Int16, _ field: String, _ message: String) -> ParquetError {
        ParquetError(.invalidValue, field: "\(name).\(field)", position: value.position(of: id), message)
    }

    func i32(_ id: Int16, _ field: String) throws(ParquetError) -> Int32 {
        guard let v = try optionalI32(id, field) else { throw missing(id, field) }
        return v
    }

    func optionalI32(_ id: Int16, _ field: String) throws(ParquetError) -> Int32? {
        switch value[id] {
        case nil: return nil
        case .i32(let v)?: return v
        default: throw wrongType(id, field, "an i32")
        }
    }

    func i64(_ id: Int16, _ field: String) throws(ParquetError) -> Int64 {
        guard let v = try optionalI64(id, field) else { throw missing(id, field) }
        return v
    }

    func optionalI64(_ id: Int16, _ field: String) throws(ParquetError) -> Int64? {
        switch value[id] {
        case nil: return nil
        case .i64(let v)?: return v
        default: throw wrongType(id, field, "an i64")
        }
    }

    func optionalI16(_ id: Int16, _ field: String) throws(ParquetError) -> Int16? {
        switch value[id] {
        case nil: return nil
        case .i16(let v)?: return v
        default: throw wrongType(id, field, "an i16")
        }
    }

    func bool(_ id: Int16, _ field: String) throws(ParquetError) -> Bool {
        switch value[id] {
        case nil: throw missing(id, field)
        case .bool(let v)?: return v
        default: throw wrongType(id, field, "a bool")
        }
    }

    func optionalBinary(_ id: Int16, _ field: String) throws(ParquetError) -> [UInt8]? {
        switch value[id] {
        case nil: return nil
        case .binary(let v)?: return v
        default: throw wrongType(id, field, "binary")
        }
    }

    func string(_ id: Int16, _ field: String) throws(ParquetError) -> String {
        guard let v = try optionalString(id, field) else { throw missing(id, field) }
        return v
    }

    func optionalString(_ id: Int16, _ field: String) throws(ParquetError) -> String? {
        guard let bytes = try optionalBinary(id, field) else { return nil }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw invalid(id, field, "string is not UTF-8")
        }
        return text
    }

    func optionalStruct(_ id: Int16, _ field: String) throws(ParquetError) -> ThriftStruct? {
        switch value[id] {
        case nil: return nil
        case .struct(let v)?: return v
        default: throw wrongType(id, field, "a struct")
        }
    }

    func requiredStruct(_ id: Int16, _ field: String) throws(ParquetError) -> ThriftStruct {
        guard let v = try optionalStruct(id, field) else { throw missing(id, field) }
        return v
    }

    func optionalList(_ id: Int16, _ field: String) throws(ParquetError) -> [ThriftValue]? {
        switch value[id] {
        case nil: return nil
        case .list(_, let v)?: return v
        default: throw wrongType(id, field, "a list")
        }
    }

    func list(_ id: Int16, _ field: String) throws(ParquetError) -> [ThriftValue] {
        guard let v = try optionalList(id, field) else { throw missing(id, field) }
        return v
    }

    func structs(_ id: Int16, _ field: String) throws(ParquetError) -> [ThriftStruct] {
        var result: [ThriftStruct] = []
        for element in try list(id, field) {
            guard case .struct(let s) = element else { throw wrongType(id, field, "a list of structs") }
            result.append(s)
        }
        return result
    }

    func optionalI64s(_ id: Int16, _ field: String) throws(ParquetError) -> [Int64]? {
        guard let elements = try optionalList(id, field) else { return nil }
        var result: [Int64] = []
        for element in elements {
            guard case .i64(let v) = element else { throw wrongType(id, field, "a list of i64") }
            result.append(v)
        }
        return result
    }

    func i32s(_ id: Int16, _ field: String) throws(ParquetError) -> [Int32] {
        var result: [Int32] = []
        for element in try list(id, field) {
            guard case .i32(let v) = element else { throw wrongType(id, field, "a list of i32") }
            result.append(v)
        }
        return result
    }

    func bools(_ id: Int16, _ field: String) throws(ParquetError) -> [Bool] {
        var result: [Bool] = []
        for element in try list(id, field) {
            guard case .bool(let v) = element else { throw wrongType(id, field, "a list of bool") }
            result.append(v)
        }
        return result
    }

    func binaries(_ id: Int16, _ field: String) throws(ParquetError) -> [[UInt8]] {
        var result: [[UInt8]] = []
        for element in try list(id, field) {
            guard case .binary(let v) = element else { throw wrongType(id, field, "a list of binary") }
            result.append(v)
        }
        return result
    }

    func strings(_ id: Int16, _ field: String) throws(ParquetError) -> [String] {
        var result: [String] = []
        for bytes in try binaries(id, field) {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw invalid(id, field, "string is not UTF-8")
            }
            result.append(text)
        }
        return result
    }
}
