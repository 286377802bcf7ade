extension ColdObjectFooter {
    /// Checks the skippable header of the index frame and its content size against the frame
    /// count; returns the content (the CRC is checked here too, before any field is trusted).
    static func parseIndexFrameHeader(
        _ tail: UnsafeRawBufferPointer, at start: Int, tailStart: Int, frameBytes: Int, dataFrameCount: Int
    ) throws(FormatError) -> UnsafeRawBufferPointer {
        var r = ByteReader(tail, position: start, basePosition: tailStart)
        let magic = try r.u32("coldIndex.skippableMagic")
        guard magic == ColdObject.indexFrameMagic else {
            throw r.error(.badMagic, "coldIndex.skippableMagic", at: start, "0x\(hex(magic)) is not 0x184d2a5b")
        }
        let contentBytes = Int(try r.u32("coldIndex.frameSize"))
        guard contentBytes == frameBytes - ColdObject.skippableHeaderBytes else {
            throw r.error(
                .invalidValue, "coldIndex.frameSize", at: start + 4,
                "\(contentBytes) disagrees with the seek table (\(frameBytes - ColdObject.skippableHeaderBytes))")
        }
        let contentStart = start + ColdObject.skippableHeaderBytes
        let content = UnsafeRawBufferPointer(rebasing: tail[contentStart ..< (contentStart + contentBytes)])
        var c = ByteReader(content, basePosition: tailStart + contentStart)
        let indexMagic = try c.u32("coldIndex.magic")
        guard indexMagic == ColdObject.indexMagic else {
            throw c.error(.badMagic, "coldIndex.magic", at: 0, "0x\(hex(indexMagic)) is not \"SCIX\"")
        }
        let version = try c.u16("coldIndex.version")
        guard version == ColdObject.indexVersion || version == ColdObject.encryptedIndexVersion else {
            throw c.error(.unsupportedVersion, "coldIndex.version", at: 4, "version \(version), this reader knows 1 and 2")
        }
        let flags = try c.u16("coldIndex.flags")
        guard flags == (version == ColdObject.indexVersion ? 0 : ColdObject.encryptedIndexFlag) else {
            throw c.error(.invalidValue, "coldIndex.flags", at: 6, "flags 0x\(String(flags, radix: 16)) in version \(version)")
        }
        try c.skip(64, "coldIndex.header")
        let topicBytes = Int(try c.u16("coldIndex.topicLength"))
        var extensionBytes = 0
        if version == ColdObject.encryptedIndexVersion {
            try c.skip(topicBytes + 1, "coldIndex.topic")
            extensionBytes = 2 + Int(try c.u8("coldIndex.keyIdLength"))
        }
        let expected =
            ColdObject.indexFixedBytes + topicBytes + extensionBytes + dataFrameCount * ColdObject.indexFrameEntryBytes
            + 4
        guard contentBytes == expected else {
            throw c.error(
                .outOfBounds, "coldIndex.topicLength", at: 72,
                "topic of \(topicBytes) bytes and \(dataFrameCount) frames need \(expected) bytes, frame holds "
                    + "\(contentBytes)"
            )
        }
        let stored = content.loadUnaligned(fromByteOffset: contentBytes - 4, as: UInt32.self).littleEndian
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: content[0 ..< (contentBytes - 4)]))
        guard stored == actual else {
            throw c.error(
                .checksumMismatch, "coldIndex.crc", at: contentBytes - 4,
                "stored 0x\(hex(stored)), computed 0x\(hex(actual))")
        }
        return content
    }

    /// Decodes the (CRC-checked) index content and cross-checks it with the seek table.
    static func parseIndexContent(
        _ content: UnsafeRawBufferPointer, contentStart: Int, entries: ArraySlice<SeekEntry>
    ) throws(FormatError) -> ColdObjectIndex {
        var r = ByteReader(content, position: 8, basePosition: contentStart)
        let baseOffset = try r.i64("coldIndex.baseOffset")
        let lastOffset = try r.i64("coldIndex.lastOffset")
        let recordCount = try r.i64("coldIndex.recordCount")
        let firstTimestamp = try r.i64("coldIndex.firstTimestamp")
        let maxTimestamp = try r.i64("coldIndex.maxTimestamp")
        let rawBytes = try r.u64("coldIndex.rawBytes")
        let rawCrc = try r.u32("coldIndex.rawCrc32c")
        let frameCount = Int(try r.u32("coldIndex.frameCount"))
        let target = Int(try r.u32("coldIndex.frameRawBytesTarget"))
        let level = try r.i32("coldIndex.compressionLevel")
        let topicLength = Int(try r.u16("coldIndex.topicLength"))
        let topicBytes = try r.bytes(topicLength, "coldIndex.topic")
        guard let topic = String(validating: topicBytes, as: UTF8.self), LogName.isValid(topic) else {
            throw r.error(
                .invalidValue, "coldIndex.topic", at: ColdObject.indexFixedBytes,
                "not a valid log name (topic or topic/partition)")
        }
        let encryption = try parseEncryption(&r, content: content)
        guard frameCount == entries.count else {
            throw r.error(
                .invalidValue, "coldIndex.frameCount", at: 60,
                "\(frameCount) frames, the seek table lists \(entries.count)")
        }
        guard baseOffset >= 0, lastOffset >= baseOffset, lastOffset < Int64.max,
            recordCount == lastOffset - baseOffset + 1
        else {
            throw r.error(
                .invalidValue, "coldIndex.recordCount", at: 24,
                "offsets \(baseOffset)...\(lastOffset) and \(recordCount) records are not dense")
        }
        guard maxTimestamp >= firstTimestamp else {
            throw r.error(.invalidValue, "coldIndex.maxTimestamp", at: 40, "max timestamp before first timestamp")
        }
        let seal = encryption.map {
            ColdFrameSeal(
                cipher: $0.cipher, keyId: $0.keyId, log: topic, baseOffset: baseOffset, lastOffset: lastOffset,
                frameCount: frameCount)
        }
        let frames = try parseFrameEntries(
            &r, entries: entries, baseOffset: baseOffset, lastOffset: lastOffset, sealed: seal)
        guard UInt64(frames.reduce(0) { $0 + $1.rawBytes }) == rawBytes else {
            throw r.error(
                .invalidValue, "coldIndex.rawBytes", at: 48, "\(rawBytes) is not the sum of the frames' sizes")
        }
        guard frames.map(\.maxTimestamp).max() == maxTimestamp else {
            throw r.error(.invalidValue, "coldIndex.maxTimestamp", at: 40, "not the largest frame max timestamp")
        }
        return ColdObjectIndex(
            topic: topic, baseOffset: baseOffset, lastOffset: lastOffset, recordCount: recordCount,
            firstTimestamp: firstTimestamp, maxTimestamp: maxTimestamp, rawBytes: Int(rawBytes), rawCrc32c: rawCrc,
            frameRawBytesTarget: target, compressionLevel: level, frames: frames, encryption: encryption, objectBytes: 0,
            indexFrameOffset: 0, indexFrameBytes: 0, seekTableBytes: 0)
    }

    static func parseFrameEntries(
        _ r: inout ByteReader, entries: ArraySlice<SeekEntry>, baseOffset: Int64, lastOffset: Int64,
        sealed: ColdFrameSeal? = nil
    ) throws(FormatError) -> [ColdFrame] {
        var frames: [ColdFrame] = []
        frames.reserveCapacity(entries.count)
        var objectOffset = 0
        var rawOffset = 0
        var nextOffset = baseOffset
        for (number, entry) in entries.enumerated() {
            let at = r.position
            let first = try r.i64("coldIndex.frame.firstOffset")
            let last = try r.i64("coldIndex.frame.lastOffset")
            let maxTimestamp = try r.i64("coldIndex.frame.maxTimestamp")
            let compressed = Int(try r.u32("coldIndex.frame.compressedBytes"))
            let raw = Int(try r.u32("coldIndex.frame.rawBytes"))
            let batchCount = Int(try r.u32("coldIndex.frame.batchCount"))
            let checksum = try r.u32("coldIndex.frame.checksum")
            guard first == nextOffset, last >= first, last <= lastOffset else {
                throw r.error(
                    .invalidValue, "coldIndex.frame.firstOffset", at: at,
                    "frame \(number) covers \(first)...\(last), expected to start at \(nextOffset) and end by "
                        + "\(lastOffset)"
                )
            }
            guard compressed == entry.compressedBytes, raw == entry.rawBytes, checksum == entry.checksum else {
                throw r.error(
                    .invalidValue, "coldIndex.frame.seekTableMismatch", at: at + 24,
                    "frame \(number): index says \(compressed)/\(raw) bytes checksum 0x\(hex(checksum)), "
                        + "seek table \(entry.compressedBytes)/\(entry.rawBytes) checksum 0x\(hex(entry.checksum))")
            }
            if sealed != nil, checksum != 0 {
                throw r.error(
                    .invalidValue, "coldIndex.frame.checksum", at: at + 36,
                    "frame \(number) of an encrypted object has checksum 0x\(hex(checksum)), must be 0")
            }
            guard batchCount >= 1, Int64(batchCount) <= last - first + 1 else {
                throw r.error(
                    .invalidValue, "coldIndex.frame.batchCount", at: at + 32,
                    "frame \(number): \(batchCount) batches for \(last - first + 1) records")
            }
            frames.append(
                ColdFrame(
                    frameNumber: number, objectOffset: objectOffset, compressedBytes: compressed, rawOffset: rawOffset,
                    rawBytes: raw, firstOffset: first, lastOffset: last, maxTimestamp: maxTimestamp,
                    batchCount: batchCount, checksum: entry.checksum, sealed: sealed))
            objectOffset += compressed
            rawOffset += raw
            nextOffset = last + 1
        }
        guard nextOffset == lastOffset + 1 else {
            throw r.error(
                .invalidValue, "coldIndex.lastOffset", at: 16,
                "frames end at \(nextOffset - 1), index says \(lastOffset)")
        }
        return frames
    }
}

extension ColdObjectFooter {
    /// The cipher and key id after the topic of a version 2 (encrypted) index; nil for version 1.
    static func parseEncryption(
        _ r: inout ByteReader, content: UnsafeRawBufferPointer
    ) throws(FormatError) -> ColdEncryption? {
        let version = content.loadUnaligned(fromByteOffset: 4, as: UInt16.self).littleEndian
        guard version == ColdObject.encryptedIndexVersion else { return nil }
        let at = r.position
        let cipherByte = try r.u8("coldIndex.cipher")
        guard let cipher = ColdCipher(rawValue: cipherByte) else {
            throw r.error(.invalidValue, "coldIndex.cipher", at: at, "cipher \(cipherByte), this reader knows 1 (AES-256-GCM)")
        }
        let keyIdLength = Int(try r.u8("coldIndex.keyIdLength"))
        let keyIdBytes = try r.bytes(keyIdLength, "coldIndex.keyId")
        guard let keyId = String(validating: keyIdBytes, as: UTF8.self), ColdKeyRing.isValidId(keyId) else {
            throw r.error(.invalidValue, "coldIndex.keyId", at: at + 2, "not a valid key id (formats/keys.md)")
        }
        return ColdEncryption(cipher: cipher, keyId: keyId)
    }
}
