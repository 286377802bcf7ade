/// The upload check of a cold object (invariant 4) in one decode pass: the object read back
/// from the store must carry the very footer `encode` made and decode, frame by frame, to bytes
/// whose CRC32C is the one `encode` recorded over the segment whose batches it had checked.
/// The batches are not walked again: equal CRC32C means equal bytes, and those were checked.
extension ColdObject {
    /// Parses the footer of `object` and compares it with the index `encode` returned.
    /// - Returns: whether they are equal (false: the store holds another object).
    /// - Throws: `FormatError` when the footer does not parse.
    public static func uploadedFooterMatches(
        _ object: UnsafeRawBufferPointer, expected: ColdObjectIndex
    ) throws(FormatError) -> Bool {
        try ColdObjectFooter.parse(tail: object, objectSize: object.count) == expected
    }

    /// Decodes frame `frame` of `object` into `buffer` and returns the CRC32C of its content:
    /// one whole zstd frame whose content checksum (verified by zstd as it decodes) the seek
    /// table repeats, holding exactly `frame.rawBytes` bytes.
    /// - Parameters:
    ///   - object: the whole object; `frame.objectRange` must lie inside it.
    ///   - buffer: at least `frame.rawBytes` bytes; its first `frame.rawBytes` are overwritten.
    /// - Throws: `FormatError` positioned in the object, its message starting with the frame number.
    public static func decodedFrameChecksum(
        _ object: UnsafeRawBufferPointer, frame: ColdFrame, decompressor: Zstd.Decompressor,
        into buffer: UnsafeMutableRawBufferPointer, keys: ColdKeyRing? = nil
    ) throws(FormatError) -> UInt32 {
        do throws(FormatError) {
            guard frame.objectOffset >= 0, frame.compressedBytes >= 0,
                frame.objectOffset + frame.compressedBytes <= object.count, frame.rawBytes <= buffer.count
            else {
                throw FormatError(
                    .outOfBounds, field: "coldFrame", position: frame.objectOffset,
                    "\(frame.compressedBytes) bytes at \(frame.objectOffset) (raw \(frame.rawBytes)) do not fit "
                        + "an object of \(object.count) bytes and a buffer of \(buffer.count)")
            }
            let stored = UnsafeRawBufferPointer(rebasing: object[frame.objectRange])
            return try withZstdFrame(stored, frame: frame, keys: keys) { (bytes, frame) throws(FormatError) in
                try checkCompressedFrame(bytes, frame: frame)
                let content = UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< frame.rawBytes])
                try decompressor.decompressFrame(bytes, into: content, basePosition: frame.objectOffset)
                return CRC32C.checksum(UnsafeRawBufferPointer(content))
            }
        } catch {
            var labelled = error
            labelled.message = "frame \(frame.frameNumber): " + error.message
            throw labelled
        }
    }

    /// The whole upload check on one thread (the offloader runs the frames on several:
    /// Cold/ParallelEncode.swift).
    /// - Returns: whether `object` holds `expected`'s footer and decodes to `expected.rawBytes`
    ///   bytes whose CRC32C is `expected.rawCrc32c`.
    /// - Throws: `FormatError` when the footer or a frame does not decode.
    public static func uploadDecodes(
        _ object: [UInt8], expected: ColdObjectIndex, keys: ColdKeyRing? = nil
    ) throws(FormatError) -> Bool {
        try withBytes(object) { (raw) throws(FormatError) -> Bool in
            guard try uploadedFooterMatches(raw, expected: expected) else { return false }
            let decompressor = try Zstd.Decompressor()
            let bufferBytes = expected.frames.map(\.rawBytes).max() ?? 0
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferBytes, alignment: 16)
            defer { buffer.deallocate() }
            var crc: UInt32 = 0
            for frame in expected.frames {
                let frameCrc = try decodedFrameChecksum(
                    raw, frame: frame, decompressor: decompressor, into: buffer, keys: keys)
                crc = CRC32C.combine(crc, frameCrc, lengthB: frame.rawBytes)
            }
            return crc == expected.rawCrc32c && expected.frames.reduce(0, { $0 + $1.rawBytes }) == expected.rawBytes
        }
    }
}
