import StrataBlob

/// Reading a cold object whose footer cannot be read (a truncated or damaged object): its data
/// frames before the damage are still whole zstd frames from byte 0, so the records in them are
/// returned, then the typed error (issue 12.5). A repair path only: it fetches the whole object.
extension ColdTier {
    /// Raw bytes of batches one salvage read returns at most (like one frame of a normal read).
    static let salvageReadRawBytesMax = ColdObject.defaultFrameRawBytesTarget

    /// The records from `offset` (below `end`) that the whole frames at the start of the object
    /// hold, up to the first damage; nil when none holds `offset` (the caller throws its error).
    func salvage(
        topic: String, segment: ManifestSegment, from offset: Int64, end: Int64
    ) async -> (records: [Record], nextOffset: Int64)? {
        let key = segment.key
        let range = segment.blobRange
        let fetched = try? await blob("get damaged object", key: key, topic: topic) {
            try await store.get(key, range: range)
        }
        guard let data = fetched else { return nil }
        let raw = Self.wholeFramePrefix(data.bytes, rawBytesMax: Int(segment.rawBytes))
        let batches: [RecordBatch] = withBytesResult(raw) { (buffer) throws(FormatError) -> [RecordBatch] in
            guard let header = try? SegmentHeader.decode(buffer), header.baseOffset == segment.baseOffset else {
                return []
            }
            let scan = SegmentScanner.scan(buffer, from: SegmentHeader.size, expectedOffset: header.baseOffset)
            var wanted: [RecordBatch] = []
            var rawBytes = 0
            for batch in scan.batches where batch.header.lastOffset >= offset && batch.header.baseOffset < end {
                guard rawBytes < Self.salvageReadRawBytesMax else { break }
                // The scan checked the CRC: decode the records without a second pass.
                wanted.append(try BatchCodec.decodeRecords(buffer, at: batch.position, header: batch.header))
                rawBytes += batch.header.batchLength
            }
            return wanted
        }.get(or: [])
        var records: [Record] = []
        for batch in batches {
            for record in batch.records where record.offset >= offset && record.offset < end { records.append(record) }
        }
        guard let last = records.last, records.first?.offset == offset else { return nil }
        return (records, last.offset + 1)
    }

    /// The decompressed content of the whole zstd data frames at the start of `object`, stopping
    /// at the first frame that is cut short, damaged or not a data frame (the footer's frames).
    static func wholeFramePrefix(_ object: [UInt8], rawBytesMax: Int) -> [UInt8] {
        var raw: [UInt8] = []
        object.withUnsafeBytes { buffer in
            var at = 0
            while at + 4 <= buffer.count, raw.count < rawBytesMax {
                let rest = UnsafeRawBufferPointer(rebasing: buffer[at...])
                guard rest.loadUnaligned(as: UInt32.self) == ColdObject.zstdFrameMagic.littleEndian,
                    let size = Zstd.frameCompressedSize(rest),
                    let content = try? Zstd.decompressAll(
                        UnsafeRawBufferPointer(rebasing: rest[..<size]),
                        sizeLimit: rawBytesMax - raw.count)
                else { return }
                raw += content
                at += size
            }
        }
        return raw
    }
}

extension Result {
    /// The success value, or `fallback` on failure.
    func get(or fallback: Success) -> Success {
        if case .success(let value) = self { return value }
        return fallback
    }
}
