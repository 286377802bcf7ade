import Foundation
import StrataFormat

/// One entry of `journal.wal` as `journal.json` describes it (formats/journal.md).
struct JournalEntryDescription: Encodable {
    var position: Int
    var length: Int
    var crc: UInt32
    var logName: String
    var batchPosition: Int
    var batchBaseOffset: Int64
    var batchRecordCount: Int32
    var batchCrc: UInt32
    var values: [String]
}

struct JournalDescription: Encodable {
    var sequence: UInt64
    var entries: [JournalEntryDescription]
}

/// `journal.wal`: a journal file (sequence 7) with entries for three logs, and `journal.json`.
func generateJournalVectors(into directory: URL) throws {
    let sequence: UInt64 = 7
    let plan: [(log: String, base: Int64, values: [String])] = [
        ("orders", 0, ["a", "b"]), ("orders/3", 10, ["x"]), ("orders", 2, ["c"]), ("clicks", 0, ["k1", "k2", "k3"]),
    ]
    var file = JournalFormat.encodeFileHeader(sequence: sequence)
    var entries: [JournalEntryDescription] = []
    for (log, base, values) in plan {
        let records = values.enumerated().map { i, value in
            Record(timestamp: 1_700_000_000_000 + Int64(i), key: nil, value: utf8(value), headers: [])
        }
        let batch = BatchCodec.encode(baseOffset: base, records: records)
        let entry = JournalFormat.encodeEntry(logName: log, batch: batch)
        let header = try BatchCodec.decode(batch).header
        let crc = UInt32(entry[4]) | UInt32(entry[5]) << 8 | UInt32(entry[6]) << 16 | UInt32(entry[7]) << 24
        entries.append(
            JournalEntryDescription(
                position: file.count, length: entry.count, crc: crc, logName: log,
                batchPosition: file.count + JournalFormat.entryHeaderSize + log.utf8.count,
                batchBaseOffset: header.baseOffset, batchRecordCount: header.recordCount, batchCrc: header.crc,
                values: values))
        file += entry
    }
    try write(file, "journal.wal", in: directory)
    try write(
        [UInt8](try prettyJSON(JournalDescription(sequence: sequence, entries: entries))), "journal.json", in: directory
    )
}
