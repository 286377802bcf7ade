import CZstd

/// The only Swift file that calls libzstd. Frames are independent and carry content checksums.
public enum Zstd {
    /// Compresses `input` into one zstd frame with the content size and a content checksum
    /// (the low 32 bits of XXH64, which the seek table repeats).
    /// - Parameter level: zstd level (default 3, ARCHITECTURE.md §5).
    public static func compressFrame(_ input: UnsafeRawBufferPointer, level: Int32) throws(FormatError) -> [UInt8] {
        try Compressor(level: level).compressFrame(input)
    }

    /// One compression context for many frames (a cold object's). A fresh context per frame
    /// allocated and initialised about a megabyte of tables each time: page faults were the
    /// biggest cost of offload after zstd itself.
    public final class Compressor {
        private let cctx: OpaquePointer

        /// - Parameter level: zstd level (default 3, ARCHITECTURE.md §5).
        /// - Throws: `FormatError(.compression)` when zstd cannot allocate the context.
        public init(level: Int32) throws(FormatError) {
            guard let cctx = ZSTD_createCCtx() else {
                throw FormatError(.compression, field: "zstd", position: 0, "cannot allocate a compression context")
            }
            // Parameters are sticky: every ZSTD_compress2 below starts a new frame with them.
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)
            self.cctx = cctx
        }

        deinit { ZSTD_freeCCtx(cctx) }

        /// Compresses `input` into one zstd frame, as `Zstd.compressFrame` does.
        public func compressFrame(_ input: UnsafeRawBufferPointer) throws(FormatError) -> [UInt8] {
            try Zstd.compressFrame(input, with: cctx)
        }
    }

    /// One decompression context for many frames (the upload check's, one per worker): a fresh
    /// context per frame costs an allocation and its tables each time.
    public final class Decompressor {
        private let dctx: OpaquePointer

        /// - Throws: `FormatError(.compression)` when zstd cannot allocate the context.
        public init() throws(FormatError) {
            guard let dctx = ZSTD_createDCtx() else {
                throw FormatError(.compression, field: "zstd", position: 0, "cannot allocate a decompression context")
            }
            self.dctx = dctx
        }

        deinit { ZSTD_freeDCtx(dctx) }

        /// Decompresses exactly one frame into `output`, which it must fill: the frame's content
        /// checksum, when it has one, is verified by zstd.
        /// - Throws: `FormatError(.compression, field: "zstd.frame")` at `basePosition` when zstd
        ///   rejects the frame (a checksum mismatch included) or it holds another size.
        public func decompressFrame(
            _ frame: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, basePosition: Int = 0
        ) throws(FormatError) {
            let produced = ZSTD_decompressDCtx(dctx, output.baseAddress, output.count, frame.baseAddress, frame.count)
            if ZSTD_isError(produced) != 0 {
                throw FormatError(
                    .compression, field: "zstd.frame", position: basePosition,
                    String(cString: ZSTD_getErrorName(produced)))
            }
            guard produced == output.count else {
                throw FormatError(
                    .compression, field: "zstd.frame", position: basePosition,
                    "frame holds \(produced) bytes, expected \(output.count)")
            }
        }
    }

    private static func compressFrame(
        _ input: UnsafeRawBufferPointer, with cctx: OpaquePointer
    ) throws(FormatError) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var failure: String? = nil
        let output = [UInt8](unsafeUninitializedCapacity: bound) { out, count in
            let written = ZSTD_compress2(cctx, out.baseAddress, bound, input.baseAddress, input.count)
            if ZSTD_isError(written) != 0 {
                failure = String(cString: ZSTD_getErrorName(written))
                count = 0
            } else {
                count = written
            }
        }
        if let failure { throw FormatError(.compression, field: "zstd", position: 0, failure) }
        return output
    }

    /// Decompresses exactly one frame whose content is `rawSize` bytes.
    /// - Throws: `FormatError(.compression)` when zstd rejects the frame (including a content
    ///   checksum mismatch) or the size differs; `position` is `basePosition`.
    public static func decompressFrame(
        _ frame: UnsafeRawBufferPointer, rawSize: Int, basePosition: Int = 0
    ) throws(FormatError) -> [UInt8] {
        var failure: String? = nil
        let output = [UInt8](unsafeUninitializedCapacity: rawSize) { out, count in
            let produced = ZSTD_decompress(out.baseAddress, rawSize, frame.baseAddress, frame.count)
            if ZSTD_isError(produced) != 0 {
                failure = String(cString: ZSTD_getErrorName(produced))
                count = 0
            } else if produced != rawSize {
                failure = "frame holds \(produced) bytes, expected \(rawSize)"
                count = 0
            } else {
                count = produced
            }
        }
        if let failure { throw FormatError(.compression, field: "zstd.frame", position: basePosition, failure) }
        return output
    }

    /// Decompresses exactly one frame into `output`, which it must fill: `decompressFrame` into
    /// memory the caller reuses (the cold tier's frame buffers).
    /// - Throws: as `decompressFrame`.
    public static func decompressFrame(
        _ frame: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, basePosition: Int = 0
    ) throws(FormatError) {
        let produced = ZSTD_decompress(output.baseAddress, output.count, frame.baseAddress, frame.count)
        if ZSTD_isError(produced) != 0 {
            throw FormatError(
                .compression, field: "zstd.frame", position: basePosition, String(cString: ZSTD_getErrorName(produced)))
        }
        guard produced == output.count else {
            throw FormatError(
                .compression, field: "zstd.frame", position: basePosition,
                "frame holds \(produced) bytes, expected \(output.count)")
        }
    }

    /// Decompresses a whole stream of frames (skippable frames are skipped), as `zstd -d` does.
    public static func decompressAll(_ input: UnsafeRawBufferPointer, sizeLimit: Int) throws(FormatError) -> [UInt8] {
        guard let dctx = ZSTD_createDCtx() else {
            throw FormatError(.compression, field: "zstd", position: 0, "cannot allocate a decompression context")
        }
        defer { ZSTD_freeDCtx(dctx) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 17)
        var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var pendingHint = 0  // non-zero while a frame is unfinished
        // Keep calling while input remains or the last call filled the chunk: zstd may hold
        // decoded bytes back until it gets more output room, even after consuming all input.
        var chunkFilled = false
        while inBuf.pos < inBuf.size || chunkFilled {
            var errorCode = 0
            let produced = chunk.withUnsafeMutableBytes { out -> Int in
                var outBuf = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                let rc = ZSTD_decompressStream(dctx, &outBuf, &inBuf)
                if ZSTD_isError(rc) != 0 { errorCode = rc } else { pendingHint = rc }
                return outBuf.pos
            }
            if errorCode != 0 {
                throw FormatError(
                    .compression, field: "zstd.frame", position: inBuf.pos,
                    String(cString: ZSTD_getErrorName(errorCode)))
            }
            chunkFilled = produced == chunk.count
            result.append(contentsOf: chunk[0 ..< produced])
            guard result.count <= sizeLimit else {
                throw FormatError(.outOfBounds, field: "zstd", position: inBuf.pos, "output exceeds \(sizeLimit) bytes")
            }
        }
        guard pendingHint == 0 else {
            throw FormatError(.truncated, field: "zstd.frame", position: input.count, "the last frame is incomplete")
        }
        return result
    }

    /// Compressed size of the frame at the start of `input`, or nil when it is not a whole frame.
    public static func frameCompressedSize(_ input: UnsafeRawBufferPointer) -> Int? {
        let n = ZSTD_findFrameCompressedSize(input.baseAddress, input.count)
        return ZSTD_isError(n) != 0 ? nil : n
    }

    /// The libzstd version linked at run time, e.g. "1.5.4" (golden vectors record it: the
    /// compressed bytes of a frame are only stable for one zstd version).
    public static var versionString: String { String(cString: ZSTD_versionString()) }
}
