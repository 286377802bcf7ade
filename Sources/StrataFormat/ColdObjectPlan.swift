/// A cold object before its frames are compressed: the checked segment, cut into frames
/// (`ColdObject.plan`). Whoever compresses the frames — one context in order
/// (`ColdObject.encode`) or several on as many cores — hands the frames to `ColdObject.assemble`,
/// which writes the same object bytes either way: the cuts, level and checksum flag are fixed here.
public struct ColdObjectPlan: Sendable {
    public let topic: String
    public let frameRawBytesTarget: Int
    /// zstd level every frame must be compressed at.
    public let level: Int32
    let header: SegmentHeader
    let firstTimestamp: Int64
    let lastOffset: Int64
    let nextOffset: Int64
    let segmentBytes: Int
    let frames: [ColdObject.FramePlan]

    /// Number of frames the object will hold.
    public var frameCount: Int { frames.count }

    /// Raw segment bytes frame `number` compresses (frame 0 starts with the segment header).
    public func rawRange(ofFrame number: Int) -> Range<Int> { frames[number].rawRange }

    /// What the frames' associated data binds when they are sealed with `sealer`.
    func seal(keyId: String, cipher: ColdCipher) -> ColdFrameSeal {
        ColdFrameSeal(
            cipher: cipher, keyId: keyId, log: topic, baseOffset: header.baseOffset, lastOffset: lastOffset,
            frameCount: frames.count)
    }

    /// Frame `number` compressed (`compressed`, one zstd frame) and sealed with `sealer`
    /// (formats/cold-object.md, "Encrypted objects"): what `ColdObject.assemble(_:compressed:
    /// rawCrc32c:sealedWith:)` takes for an encrypted object. Safe to call on several threads.
    public func sealFrame(_ compressed: [UInt8], number: Int, with sealer: ColdSealer) throws(FormatError) -> [UInt8] {
        let batches = frames[number].batches
        let associated = ColdObject.associatedData(
            seal(keyId: sealer.keyId, cipher: sealer.cipher), frameNumber: number,
            firstOffset: batches.first?.header.baseOffset ?? 0, lastOffset: batches.last?.header.lastOffset ?? 0,
            rawBytes: frames[number].rawRange.count)
        return try sealer.seal(compressed, associatedData: associated, frameNumber: number)
    }
}

extension ColdObject {
    /// Checks a sealed segment (every batch's CRC32C, dense offsets) and cuts it into frames.
    /// - Parameters: as `encode`'s; `segment` is the whole segment file.
    /// - Throws: `FormatError` when the topic name, the target or the segment is invalid.
    public static func plan(
        segment raw: UnsafeRawBufferPointer, topic: String, frameRawBytesTarget: Int = defaultFrameRawBytesTarget,
        level: Int32 = defaultCompressionLevel
    ) throws(FormatError) -> ColdObjectPlan {
        _ = try LogName.parse(topic)
        guard frameRawBytesTarget >= 1, frameRawBytesTarget <= FormatLimits.coldFrameRawBytesMax else {
            throw FormatError(
                .outOfBounds, field: "frameRawBytesTarget", position: 0,
                "\(frameRawBytesTarget) outside [1, \(FormatLimits.coldFrameRawBytesMax)]")
        }
        let (header, scan) = try SegmentScanner.scanFile(raw)
        if let error = scan.stopError { throw error }
        guard let firstBatch = scan.batches.first, let lastBatch = scan.batches.last else {
            throw FormatError(
                .invalidValue, field: "segment", position: SegmentHeader.size, "segment holds no batch")
        }
        let plans = planFrames(scan.batches, segmentBytes: raw.count, target: frameRawBytesTarget)
        guard plans.count <= FormatLimits.coldFramesMax else {
            throw FormatError(
                .outOfBounds, field: "frameRawBytesTarget", position: 0,
                "\(plans.count) frames exceed \(FormatLimits.coldFramesMax)")
        }
        return ColdObjectPlan(
            topic: topic, frameRawBytesTarget: frameRawBytesTarget, level: level, header: header,
            firstTimestamp: firstBatch.header.firstTimestamp, lastOffset: lastBatch.header.lastOffset,
            nextOffset: lastBatch.header.nextOffset, segmentBytes: raw.count, frames: plans)
    }

    /// Writes the object of `plan` from its compressed frames: the frames in order, the index
    /// frame, the seek table.
    /// - Parameters:
    ///   - compressed: frame `i` is `plan.rawRange(ofFrame: i)` compressed into one zstd frame
    ///     at `plan.level` with a content checksum (`Zstd.Compressor`).
    ///   - rawCrc32c: CRC32C of the whole segment.
    /// - Throws: `FormatError(.invalidValue)` when the frame count is not the plan's or a frame
    ///   does not end with a content checksum.
    ///   - sealedWith: the sealer whose `plan.sealFrame` made every frame of `compressed`, for an
    ///     encrypted object (index version 2, seek table checksums 0); nil for a plain one.
    public static func assemble(
        _ plan: ColdObjectPlan, compressed: [[UInt8]], rawCrc32c: UInt32, sealedWith sealer: ColdSealer? = nil
    ) throws(FormatError) -> EncodedColdObject {
        guard compressed.count == plan.frames.count, compressed.allSatisfy({ $0.count >= 9 }) else {
            throw FormatError(
                .invalidValue, field: "coldFrame", position: 0,
                "\(compressed.count) compressed frames for a plan of \(plan.frames.count)")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(compressed.reduce(0) { $0 + $1.count } + 64 * 1024)
        var frames: [ColdFrame] = []
        frames.reserveCapacity(plan.frames.count)
        let seal = sealer.map { plan.seal(keyId: $0.keyId, cipher: $0.cipher) }
        for (framePlan, frame) in zip(plan.frames, compressed) {
            frames.append(
                framePlan.frame(number: frames.count, objectOffset: bytes.count, compressed: frame, sealed: seal))
            bytes.append(contentsOf: frame)
        }
        var index = ColdObjectIndex(
            topic: plan.topic, baseOffset: plan.header.baseOffset, lastOffset: plan.lastOffset,
            recordCount: plan.nextOffset - plan.header.baseOffset, firstTimestamp: plan.firstTimestamp,
            maxTimestamp: frames.map(\.maxTimestamp).max() ?? 0, rawBytes: plan.segmentBytes, rawCrc32c: rawCrc32c,
            frameRawBytesTarget: plan.frameRawBytesTarget, compressionLevel: plan.level, frames: frames,
            encryption: seal.map { ColdEncryption(cipher: $0.cipher, keyId: $0.keyId) }, objectBytes: 0,
            indexFrameOffset: bytes.count, indexFrameBytes: 0, seekTableBytes: 0)
        let indexFrame = encodeIndexFrame(index)
        let seekTable = encodeSeekTable(frames: frames, indexFrameBytes: indexFrame.count)
        bytes.append(contentsOf: indexFrame)
        bytes.append(contentsOf: seekTable)
        index.indexFrameBytes = indexFrame.count
        index.seekTableBytes = seekTable.count
        index.objectBytes = bytes.count
        return EncodedColdObject(bytes: bytes, index: index)
    }
}
