/// The lake journal's byte layout (formats/journal.md): a file header, then entries back to back,
/// each naming the log it belongs to and carrying one stored batch exactly as the log's segment
/// holds it (the batch keeps its own CRC).
public enum JournalFormat {
    /// `SJNL` in file order.
    public static let fileMagic: UInt32 = 0x4C4E_4A53
    public static let fileVersion: UInt16 = 1
    public static let fileHeaderSize = SequencedFileHeader.size
    /// `JENT` in file order.
    public static let entryMagic: UInt32 = 0x544E_454A
    public static let entryHeaderSize = 16
    /// The CRC covers the entry from this byte on (its length, name length, flags, name, batch).
    public static let entryCrcCoverageStart = 8
    /// Longest log name an entry carries (a topic name and `/<partition>` fit well within).
    public static let logNameBytesMax = 1024

    /// The 16-byte header every journal file starts with.
    public static func encodeFileHeader(sequence: UInt64) -> [UInt8] {
        SequencedFileHeader.encode(magic: fileMagic, version: fileVersion, sequence: sequence)
    }

    /// The sequence number in a journal file's header.
    /// - Throws: `truncated`, `badMagic`, `unsupportedVersion`, `invalidValue` (reserved bits set).
    public static func decodeFileHeader(_ buffer: UnsafeRawBufferPointer) throws(FormatError) -> UInt64 {
        try SequencedFileHeader.decode(buffer, magic: fileMagic, version: fileVersion, field: "journal", what: "journal")
    }

    /// One entry: header, log name, batch.
    public static func encodeEntry(logName: String, batch: [UInt8]) -> [UInt8] {
        batch.withUnsafeBytes { raw in encodeEntryHead(logName: logName, batch: raw) + batch }
    }

    /// Batches at least this long get the entry CRC derived from their own (`encodeEntryHead`);
    /// below it one pass over the bytes costs less than the two CRC combinations.
    public static let derivedCrcBatchBytesMin = 4096

    /// The entry's header and log name, to be written followed by `batch` (the writer's `pwritev`
    /// of the two: the batch is not copied into the entry). The entry CRC covers the batch too;
    /// for a batch of at least `derivedCrcBatchBytesMin` bytes it is derived from the batch's
    /// own CRC (`CRC32C.combine`) instead of read off the batch a second time, so `batch` must be
    /// a stored batch whose CRC matches its bytes, as every batch a log appends is. Were it not,
    /// the entry would fail its CRC check as surely as the batch fails its own.
    public static func encodeEntryHead(logName: String, batch: UnsafeRawBufferPointer) -> [UInt8] {
        let name = Array(logName.utf8)
        precondition(name.count <= logNameBytesMax, "log name too long for a journal entry")
        let length = entryHeaderSize + name.count + batch.count
        var w = ByteWriter(capacity: entryHeaderSize + name.count)
        w.u32(entryMagic)
        w.u32(0)
        w.u32(UInt32(length))
        w.u16(UInt16(name.count))
        w.u16(0)
        w.raw(name)
        let head = w.bytes.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[entryCrcCoverageStart...]))
        }
        w.patchU32(CRC32C.combine(head, batchChecksum(batch), lengthB: batch.count), at: 4)
        return w.bytes
    }

    /// The CRC32C of all of `batch`'s bytes: from the batch's stored CRC (of its bytes from
    /// `BatchHeader.crcCoverageStart` on) and its first bytes, for a long batch.
    static func batchChecksum(_ batch: UnsafeRawBufferPointer) -> UInt32 {
        let covered = BatchHeader.crcCoverageStart
        guard batch.count >= derivedCrcBatchBytesMin else { return CRC32C.checksum(batch) }
        let stored = UInt32(littleEndian: batch.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let prefix = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: batch[..<covered]))
        return CRC32C.combine(prefix, stored, lengthB: batch.count - covered)
    }

    /// Parses the entry starting at `position` of `buffer`, checking its CRC and its batch's
    /// header and CRC.
    /// - Throws: `truncated` when the buffer ends inside the entry; `badMagic`,
    ///   `checksumMismatch`, `outOfBounds` or `invalidValue` otherwise, at the entry's byte.
    public static func parseEntry(
        _ buffer: UnsafeRawBufferPointer, at position: Int, basePosition: Int = 0
    ) throws(FormatError) -> JournalEntry {
        var r = ByteReader(buffer, position: position, basePosition: basePosition)
        let at = basePosition + position
        guard try r.u32("journalEntry.magic") == entryMagic else {
            throw FormatError(.badMagic, field: "journalEntry.magic", position: at, "no journal entry here")
        }
        let crc = try r.u32("journalEntry.crc")
        let length = Int(try r.u32("journalEntry.length"))
        let nameBytes = Int(try r.u16("journalEntry.nameLength"))
        let flags = try r.u16("journalEntry.flags")
        guard flags == 0 else {
            throw FormatError(.invalidValue, field: "journalEntry.flags", position: at + 14, "must be 0, is \(flags)")
        }
        guard nameBytes >= 1, nameBytes <= logNameBytesMax,
            length >= entryHeaderSize + nameBytes + BatchHeader.size,
            length <= entryHeaderSize + nameBytes + FormatLimits.batchBytesMax
        else {
            throw FormatError(
                .outOfBounds, field: "journalEntry.length", position: at + 8,
                "entry of \(length) bytes with a \(nameBytes)-byte name")
        }
        guard buffer.count - position >= length else {
            throw FormatError(
                .truncated, field: "journalEntry", position: at,
                "entry of \(length) bytes, \(buffer.count - position) left")
        }
        let covered = UnsafeRawBufferPointer(
            rebasing: buffer[(position + entryCrcCoverageStart) ..< (position + length)])
        let actual = CRC32C.checksum(covered)
        guard actual == crc else {
            throw FormatError(
                .checksumMismatch, field: "journalEntry.crc", position: at + 4,
                "stored \(crc), computed \(actual)")
        }
        let nameStart = position + entryHeaderSize
        let batchStart = nameStart + nameBytes
        guard
            let name = String(
                validating: UnsafeRawBufferPointer(rebasing: buffer[nameStart ..< batchStart]), as: UTF8.self)
        else {
            throw FormatError(.invalidValue, field: "journalEntry.name", position: at + 16, "not UTF-8")
        }
        let batch = UnsafeRawBufferPointer(rebasing: buffer[batchStart ..< (position + length)])
        let header = try BatchCodec.parseHeader(batch, basePosition: basePosition + batchStart)
        guard header.batchLength == batch.count else {
            throw FormatError(
                .outOfBounds, field: "journalEntry.batch", position: basePosition + batchStart,
                "batch of \(header.batchLength) bytes in \(batch.count)")
        }
        let batchCrc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: batch[BatchHeader.crcCoverageStart...]))
        guard batchCrc == header.crc else {
            throw FormatError(
                .checksumMismatch, field: "batch.crc", position: basePosition + batchStart + 8,
                "stored \(header.crc), computed \(batchCrc)")
        }
        return JournalEntry(
            position: at, length: length, logName: name, batchStart: batchStart, header: header)
    }

    /// Walks a whole journal file image: its header, then every entry until the first that does
    /// not parse. Never throws on damage: `JournalScan` says where the valid entries end and
    /// whether a valid entry follows the damage (corruption) or not (a torn tail).
    public static func scan(_ buffer: UnsafeRawBufferPointer) -> JournalScan {
        var result = JournalScan()
        do throws(FormatError) { result.sequence = try decodeFileHeader(buffer) } catch {
            result.stopError = error
            return result
        }
        var position = fileHeaderSize
        while position < buffer.count {
            do throws(FormatError) {
                let entry = try parseEntry(buffer, at: position)
                result.entries.append(entry)
                position += entry.length
            } catch {
                result.stopError = error
                break
            }
        }
        result.validEnd = position
        if result.stopError != nil {
            // A torn write leaves no whole entry after it; any valid entry later is corruption.
            var q = position + 1
            while q + entryHeaderSize <= buffer.count {
                if buffer.loadUnaligned(fromByteOffset: q, as: UInt32.self) == entryMagic.littleEndian,
                    (try? parseEntry(buffer, at: q)) != nil
                {
                    result.resumePosition = q
                    break
                }
                q += 1
            }
        }
        return result
    }
}

/// One parsed journal entry; positions are byte positions in the buffer parsed.
public struct JournalEntry: Sendable, Equatable {
    /// Byte position of the entry.
    public var position: Int
    /// Bytes of the whole entry.
    public var length: Int
    /// The log (`LogName` text) the batch belongs to.
    public var logName: String
    /// Byte position of the batch.
    public var batchStart: Int
    /// The batch's header (its CRC checked).
    public var header: BatchHeader
}

/// What `JournalFormat.scan` found in a journal file.
public struct JournalScan: Sendable {
    /// The file header's sequence number (nil when the header itself is damaged or cut).
    public var sequence: UInt64?
    public var entries: [JournalEntry] = []
    /// One past the last valid entry (0 when the file header is damaged).
    public var validEnd = 0
    /// Why the scan stopped before the file's end.
    public var stopError: FormatError?
    /// Position of a valid entry after the damage: the damage is corruption, not a torn tail.
    public var resumePosition: Int?
}
