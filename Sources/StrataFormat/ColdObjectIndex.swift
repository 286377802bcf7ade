/// One data frame of a cold object: where its compressed bytes sit in the object, which raw
/// segment bytes it holds and which offsets and timestamps they cover.
public struct ColdFrame: Codable, Sendable, Hashable {
    /// Position of the frame in the list (0 holds the segment header).
    public var frameNumber: Int
    /// Byte position of the frame in the object: the start of a ranged GET.
    public var objectOffset: Int
    /// Bytes of the compressed frame: the length of a ranged GET.
    public var compressedBytes: Int
    /// Byte position of the frame's content in the raw (hot) segment.
    public var rawOffset: Int
    /// Bytes of the frame's content once decompressed.
    public var rawBytes: Int
    /// Offset of the first record of the frame's first batch.
    public var firstOffset: Int64
    /// Offset of the last record of the frame's last batch.
    public var lastOffset: Int64
    /// Largest record timestamp in the frame (ms since the epoch).
    public var maxTimestamp: Int64
    /// Number of batches the frame holds (≥ 1).
    public var batchCount: Int
    /// zstd content checksum: the low 32 bits of XXH64 of the raw bytes, as the frame ends
    /// with it and the seek table repeats it.
    public var checksum: UInt32
    /// For a frame of an encrypted object: what its AES-GCM associated data binds (its bytes are
    /// `nonce ‖ ciphertext ‖ tag`, `checksum` is 0); nil for a plain zstd frame.
    public var sealed: ColdFrameSeal?

    public init(
        frameNumber: Int, objectOffset: Int, compressedBytes: Int, rawOffset: Int, rawBytes: Int,
        firstOffset: Int64, lastOffset: Int64, maxTimestamp: Int64, batchCount: Int, checksum: UInt32,
        sealed: ColdFrameSeal? = nil
    ) {
        self.sealed = sealed
        self.frameNumber = frameNumber
        self.objectOffset = objectOffset
        self.compressedBytes = compressedBytes
        self.rawOffset = rawOffset
        self.rawBytes = rawBytes
        self.firstOffset = firstOffset
        self.lastOffset = lastOffset
        self.maxTimestamp = maxTimestamp
        self.batchCount = batchCount
        self.checksum = checksum
    }

    /// Byte range of the frame in the object (for a ranged GET).
    public var objectRange: Range<Int> { objectOffset ..< (objectOffset + compressedBytes) }
}

/// Everything the footer of a cold object says: segment metadata and the frame table
/// (formats/cold-object.md). Built by `ColdObject.encode` and by `ColdObjectFooter.parse`.
public struct ColdObjectIndex: Codable, Sendable, Hashable {
    public var topic: String
    /// First offset of the segment (its file header's base offset).
    public var baseOffset: Int64
    /// Offset of the segment's last record.
    public var lastOffset: Int64
    /// Records in the segment; offsets are dense, so `lastOffset - baseOffset + 1`.
    public var recordCount: Int64
    /// First timestamp of the first batch (ms).
    public var firstTimestamp: Int64
    /// Largest record timestamp of the segment (ms).
    public var maxTimestamp: Int64
    /// Size of the raw segment file (what `zstd -d` yields).
    public var rawBytes: Int
    /// CRC32C of the whole raw segment file.
    public var rawCrc32c: UInt32
    /// Frame target the writer used (informational: frames are cut at batch boundaries).
    public var frameRawBytesTarget: Int
    /// zstd level the writer used (informational).
    public var compressionLevel: Int32
    public var frames: [ColdFrame]
    /// The cipher and key id of an encrypted object (index version 2); nil for a plain one.
    public var encryption: ColdEncryption? = nil
    /// Size of the whole object.
    public var objectBytes: Int
    /// Byte position of the Strata index frame; everything from here to the end is the footer.
    public var indexFrameOffset: Int
    /// Bytes of the Strata index frame (skippable header included).
    public var indexFrameBytes: Int
    /// Bytes of the zstd seek table frame (skippable header and footer included).
    public var seekTableBytes: Int

    /// Bytes from the start of the index frame to the end of the object: the suffix a reader
    /// must fetch to know every frame.
    public var footerBytes: Int { objectBytes - indexFrameOffset }

    /// Number of the frame holding `offset`, or nil when the segment does not hold it.
    public func frameIndex(forOffset offset: Int64) -> Int? {
        guard offset >= baseOffset, offset <= lastOffset else { return nil }
        var lo = 0, hi = frames.count  // first frame whose lastOffset >= offset
        while lo < hi {
            let mid = (lo + hi) / 2
            if frames[mid].lastOffset < offset { lo = mid + 1 } else { hi = mid }
        }
        return lo < frames.count ? lo : nil
    }

    /// Number of the first frame whose max timestamp is ≥ `timestamp`: the first frame that can
    /// hold a record at or after that time. Nil when every record of the segment is older.
    public func frameIndex(forTimestamp timestamp: Int64) -> Int? {
        frames.firstIndex { $0.maxTimestamp >= timestamp }
    }
}

/// A cold object as produced by the encoder: the bytes to upload and what its footer says.
public struct EncodedColdObject: Sendable, Hashable {
    public var bytes: [UInt8]
    public var index: ColdObjectIndex
}

/// How an encrypted cold object is sealed: what its index frame says (formats/cold-object.md).
public struct ColdEncryption: Codable, Sendable, Hashable {
    public var cipher: ColdCipher
    /// The key ring id of the key its frames are sealed with.
    public var keyId: String
}
