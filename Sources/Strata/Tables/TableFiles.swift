import Dispatch
import StrataBlob
import StrataFormat
import StrataIceberg
import StrataParquet

/// A Parquet data file written for a pass, before the commit that makes it visible.
struct BuiltDataFile: Sendable {
    var relativePath: String
    /// The file's bytes until it is uploaded; emptied then, so a pass over a long backlog holds
    /// only the files it is still writing, not every file it put (`byteCount` stays).
    var bytes: [UInt8]
    var file: IcebergDataFile
    var rawBytes: Int64
    var byteCount: Int64

    init(relativePath: String, bytes: [UInt8], file: IcebergDataFile, rawBytes: Int64) {
        self.relativePath = relativePath
        self.bytes = bytes
        self.file = file
        self.rawBytes = rawBytes
        self.byteCount = Int64(bytes.count)
    }
}

/// Turns one partition's records, in offset order, into data files: one open file per UTC day
/// (the spec's day(`timestamp`) holds one day per file), each finished once its raw record bytes
/// reach the target. Used by one task at a time, off the cooperative pool (zstd runs in it).
final class TableFileBuilder: @unchecked Sendable {
    private struct Open {
        var writer: RecordTableWriter
        var firstOffset: Int64
        var rawBytes: Int
    }

    let topic: String
    let partition: Int32
    let location: String
    let fileBytesTarget: Int
    let valueSchema: TableValueSchema?
    /// Only records of this day (rewriting one file that straddles the log start).
    let onlyDay: Int32?
    private var open: [Int32: Open] = [:]
    /// Open days, oldest first.
    private var opened: [Int32] = []
    private var finished: [BuiltDataFile] = []
    private(set) var valueMismatches: Int64 = 0
    private(set) var recordCount: Int64 = 0

    init(
        topic: String, partition: Int32, location: String, fileBytesTarget: Int, valueSchema: TableValueSchema?,
        onlyDay: Int32? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.location = location
        self.fileBytesTarget = fileBytesTarget
        self.valueSchema = valueSchema
        self.onlyDay = onlyDay
    }

    /// Appends one record (a `Record` or a `RecordView` read in place) to its day's open file.
    func append(_ record: some TableRow) throws(StrataError) {
        let day = IcebergDataFile.day(ofMilliseconds: record.timestamp)
        if let onlyDay, day != onlyDay { return }
        var file: Open
        if let existing = open[day] {
            file = existing
        } else {
            if opened.count >= TableWriter.openFilesMax { try finish(day: opened[0]) }
            let options = RecordTableOptions(rowGroupRawBytesTarget: max(1, min(128 << 20, fileBytesTarget)))
            do throws(ParquetError) {
                file = Open(
                    writer: try RecordTableWriter(partition: partition, options: options, valueSchema: valueSchema),
                    firstOffset: record.offset, rawBytes: 0)
            } catch {
                throw failure(error, offset: record.offset)
            }
            opened.append(day)
        }
        do throws(ParquetError) { file.rawBytes += try file.writer.append(record) } catch {
            throw failure(error, offset: record.offset)
        }
        recordCount += 1
        open[day] = file
        if file.rawBytes >= fileBytesTarget { try finish(day: day) }
    }

    /// Appends records in offset order, as `append` of each would (the same files, byte for
    /// byte), but each run of one day goes to its file column by column
    /// (`RecordTableWriter.appendRows`), cut at the record that brings the file to its target.
    func appendRows(_ records: [RecordView]) throws(StrataError) {
        var start = 0
        while start < records.count {
            let day = IcebergDataFile.day(ofMilliseconds: records[start].timestamp)
            var end = start + 1
            while end < records.count, IcebergDataFile.day(ofMilliseconds: records[end].timestamp) == day { end += 1 }
            defer { start = end }
            if let onlyDay, day != onlyDay { continue }
            while start < end {
                // Open the day's file with its first record, as `append` does; then the rest.
                var file: Open
                if let existing = open[day] {
                    file = existing
                } else {
                    try append(records[start])
                    start += 1
                    continue
                }
                var cut = start
                var bytes = file.rawBytes
                while cut < end, bytes < fileBytesTarget {
                    bytes += RecordTableWriter.rawBytes(of: records[cut])
                    cut += 1
                }
                let before = file.writer.recordCount
                do throws(ParquetError) {
                    file.rawBytes += try file.writer.appendRows(records[start ..< cut])
                } catch {
                    // The rows before the refused one went in.
                    let refused = min(cut - 1, start + file.writer.recordCount - before)
                    throw failure(error, offset: records[refused].offset)
                }
                recordCount += Int64(cut - start)
                open[day] = file
                if file.rawBytes >= fileBytesTarget { try finish(day: day) }
                start = cut
            }
        }
    }

    private func failure(_ error: ParquetError, offset: Int64) -> StrataError {
        StrataError(
            .invalidArgument, "partition \(partition) offset \(offset) cannot go into the table: \(error)",
            topic: topic)
    }

    /// Finishes the open file of `day`.
    private func finish(day: Int32) throws(StrataError) {
        guard let file = open.removeValue(forKey: day) else { return }
        opened.removeAll { $0 == day }
        var bytes = file.writer.takeBytes()
        do throws(ParquetError) { bytes += try file.writer.finish() } catch {
            throw failure(error, offset: file.firstOffset)
        }
        valueMismatches += file.writer.valueMismatches
        let relative = IcebergTable.dataFilePath(
            partition: partition, day: day, firstOffset: file.firstOffset, uuid: TableIds.uuid())
        do throws(IcebergError) {
            let dataFile = try IcebergDataFile(path: location + "/" + relative, parquet: bytes)
            finished.append(
                BuiltDataFile(relativePath: relative, bytes: bytes, file: dataFile, rawBytes: Int64(file.rawBytes)))
        } catch {
            throw StrataError(.corrupt, "data file \(relative) does not read back: \(error)", topic: topic)
        }
    }

    /// Finishes every open file.
    func finishAll() throws(StrataError) {
        while let day = opened.first { try finish(day: day) }
    }

    /// The files finished since the last call.
    func takeFinished() -> [BuiltDataFile] {
        defer { finished = [] }
        return finished
    }
}

/// Random ids for commits and file names.
enum TableIds {
    /// Lowercase 8-4-4-4-12 hex (random, version 4).
    static func uuid() -> String {
        var g = SystemRandomNumberGenerator()
        var bytes = (0 ..< 16).map { _ in UInt8.random(in: 0 ... 255, using: &g) }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let h = Array(hex)
        return [0 ..< 8, 8 ..< 12, 12 ..< 16, 16 ..< 20, 20 ..< 32].map { String(h[$0]) }.joined(separator: "-")
    }

    /// A positive snapshot id no snapshot of `table` has.
    static func snapshotId(avoiding table: IcebergTable) -> Int64 {
        while true {
            let id = Int64.random(in: 1 ... Int64.max)
            if !table.snapshots.contains(where: { $0.id == id }) { return id }
        }
    }
}

extension TableWriter {
    /// Feeds the records of `log` in `range` to `builder` (in offset order, each checked to
    /// follow the previous), reading each cold object the range touches with one GET, then
    /// uploads the files the builder finished (put-if-absent).
    /// - Returns: raw segment bytes read.
    /// - Throws: `corrupt` naming the object for damaged or missing bytes or a gap in the
    ///   offsets (nothing is skipped); `io`.
    func write(
        _ log: String, manifest: Manifest, range: Range<Int64>, into builder: TableFileBuilder,
        uploaded: inout [BuiltDataFile]
    ) async throws(StrataError) -> Int64 {
        guard !range.isEmpty else { return 0 }
        var rawRead: Int64 = 0
        var next = range.lowerBound
        for segment in try await segments(of: manifest, log: log, overlapping: range) {
            if Task.isCancelled { throw StrataError(.closed, "table pass cancelled", topic: log) }
            let object = try await cold.blob("get object for table", key: segment.key, topic: log) {
                try await cold.getChecked(segment.key, range: segment.blobRange)
            }
            let expected = next
            let keys = cold.keys
            let result: Result<Int64, StrataError> = await offPool {
                Result { () throws(StrataError) -> Int64 in
                    try Self.feed(
                        object.bytes, segment: segment, log: log, range: range, from: expected, builder, keys: keys)
                }
            }
            next = try result.get()
            rawRead += segment.rawBytes
            for file in builder.takeFinished() {
                try await upload(file, topic: builder.topic)
                var put = file
                put.bytes = []
                uploaded.append(put)
            }
        }
        guard next == range.upperBound else {
            throw StrataError(
                .corrupt,
                "the cold manifest holds offsets up to \(next) of [\(range.lowerBound), "
                    + "\(range.upperBound)), not the whole range", topic: log)
        }
        return rawRead
    }

    /// Finishes `builder`'s open files and uploads them.
    func finish(_ builder: TableFileBuilder, uploaded: inout [BuiltDataFile]) async throws(StrataError) {
        let result: Result<[BuiltDataFile], StrataError> = await offPool {
            Result { () throws(StrataError) -> [BuiltDataFile] in
                try builder.finishAll()
                return builder.takeFinished()
            }
        }
        for file in try result.get() {
            try await upload(file, topic: builder.topic)
            var put = file
            put.bytes = []
            uploaded.append(put)
        }
    }

    func upload(_ file: BuiltDataFile, topic: String) async throws(StrataError) {
        try await cold.putImmutable(
            key(topic, relative: file.relativePath), file.bytes, topic: topic, what: "put table data file")
    }

    /// The manifest's segments (archived ones included) holding offsets of `range`, in order.
    func segments(
        of manifest: Manifest, log: String, overlapping range: Range<Int64>
    ) async throws(StrataError) -> [ManifestSegment] {
        func overlaps(_ base: Int64, _ last: Int64) -> Bool { last >= range.lowerBound && base < range.upperBound }
        var found: [ManifestSegment] = []
        for reference in manifest.archives where overlaps(reference.baseOffset, reference.lastOffset) {
            found += try await cold.archive(reference, topic: log).segments.filter {
                overlaps($0.baseOffset, $0.lastOffset)
            }
        }
        found += manifest.segments.filter { overlaps($0.baseOffset, $0.lastOffset) }
        return found
    }

    /// Decodes the frames of one cold object that hold offsets of `range` from `from` on and
    /// appends their records to `builder`, read in place from the frames' bytes (no `Record` per
    /// record). Every byte is checked once, as the cold reader checks it: each frame's zstd
    /// content checksum against the seek table, then each batch's CRC32C and records
    /// (`ColdObject.decodeCheckedFrame`, which first opens a sealed frame with `keys`); the
    /// object's index must match its manifest entry.
    /// - Returns: the next offset expected.
    static func feed(
        _ object: [UInt8], segment: ManifestSegment, log: String, range: Range<Int64>, from: Int64,
        _ builder: TableFileBuilder, keys: ColdKeyRing? = nil
    ) throws(StrataError) -> Int64 {
        let index: ColdObjectIndex
        do throws(FormatError) { index = try ColdObjectFooter.parse(object: object) } catch {
            throw StrataError(error, topic: log, file: segment.key)
        }
        guard index.baseOffset == segment.baseOffset, index.lastOffset == segment.lastOffset,
            index.rawCrc32c == segment.rawCrc32c
        else {
            throw StrataError(.corrupt, "object disagrees with its manifest entry", topic: log, file: segment.key)
        }
        // One frame at a time: the buffer goes back to the pool when its records are in the builder.
        let pool = BytePool(idleBuffersMax: 1)
        var next = from
        // A batch's records, read in place, handed to the builder together (`appendRows`).
        var rows: [RecordView] = []
        for frame in index.frames where frame.lastOffset >= next {
            guard frame.firstOffset < range.upperBound else { break }
            let checked: CheckedFrame
            do throws(FormatError) {
                checked = try withBytes(object) { (raw) throws(FormatError) in
                    try ColdObject.decodeCheckedFrame(
                        UnsafeRawBufferPointer(rebasing: raw[frame.objectRange]), frame: frame, pool: pool, keys: keys)
                }
                if let damage = checked.damage { throw damage }
            } catch {
                throw StrataError(error, topic: log, file: segment.key)
            }
            for i in checked.batches.indices {
                let view = checked.view(i, offsets: next ..< range.upperBound)
                guard !view.offsets.isEmpty else { continue }
                next = try view.withRecords { (records) throws(StrataError) -> Int64 in
                    var expected = next
                    rows.removeAll(keepingCapacity: true)
                    for record in records {
                        guard record.offset == expected else {
                            throw StrataError(
                                .corrupt, "offset \(record.offset) follows \(expected - 1): the cold log has a gap",
                                topic: log, file: segment.key)
                        }
                        rows.append(record)
                        expected += 1
                    }
                    // The views point into this batch's bytes: used before `withRecords` returns.
                    try builder.appendRows(rows)
                    rows.removeAll(keepingCapacity: true)
                    return expected
                }
            }
        }
        return next
    }
}
