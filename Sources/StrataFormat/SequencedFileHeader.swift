/// The 16-byte header the lake's sequenced files start with (the journal's `journal/<seq>.wal`,
/// the catalog's `catalog/<seq>.log`; formats/journal.md, formats/catalog.md): magic (u32),
/// version (u16), reserved (u16, 0), sequence (u64, equal to the file name's). Little-endian.
enum SequencedFileHeader {
    static let size = 16

    static func encode(magic: UInt32, version: UInt16, sequence: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: size)
        w.u32(magic)
        w.u16(version)
        w.u16(0)
        w.u64(sequence)
        return w.bytes
    }

    /// The sequence number, after checking magic, version and the reserved field.
    /// - Parameters:
    ///   - field: the prefix of the error fields (`journal` gives `journal.magic` …).
    ///   - what: the file kind in the bad-magic message (`journal`).
    /// - Throws: `truncated`, `badMagic`, `unsupportedVersion`, `invalidValue` (reserved bits set).
    static func decode(
        _ buffer: UnsafeRawBufferPointer, magic: UInt32, version: UInt16, field: String, what: String
    ) throws(FormatError) -> UInt64 {
        var r = ByteReader(buffer)
        guard try r.u32("\(field).magic") == magic else {
            throw FormatError(.badMagic, field: "\(field).magic", position: 0, "not a Strata \(what) file")
        }
        let found = try r.u16("\(field).version")
        guard found == version else {
            throw FormatError(.unsupportedVersion, field: "\(field).version", position: 4, "version \(found)")
        }
        guard try r.u16("\(field).reserved") == 0 else {
            throw FormatError(.invalidValue, field: "\(field).reserved", position: 6, "must be 0")
        }
        return try r.u64("\(field).sequence")
    }
}
