import CZstd

/// Kafka's zstd codec (attributes codec 4): zstd frames, one after another (skippable frames
/// are skipped), decoded as a stream so that the output bound holds while decoding. StrataFormat's
/// `Zstd` decodes cold frames whose size is known; this file is the one other caller of libzstd.
enum KafkaZstd {
    /// Window the decoder accepts at least (2^23 = 8 MiB, what zstd's levels up to 19 use), so
    /// that a producer's stream is read even under a small bound.
    private static let windowLogFloor: Int32 = 23
    /// zstd's own default limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT): 128 MiB.
    private static let windowLogCeiling: Int32 = 27

    struct Stream: KafkaDecompressionStream {
        private final class State {
            let dstream: OpaquePointer
            init(_ dstream: OpaquePointer) { self.dstream = dstream }
            deinit { ZSTD_freeDStream(dstream) }
        }

        private let state: State
        private let input: UnsafeRawBufferPointer
        private let failure: DecompressionFailure
        private var position = 0
        private var frameEnded = false
        private var finished = false

        /// The first frame's content size, when its header carries one.
        let announcedBytes: Int?

        var consumed: Int { position }

        init(_ input: UnsafeRawBufferPointer, _ failure: DecompressionFailure) throws(KafkaDecodeError) {
            self.input = input
            self.failure = failure
            let size = input.count > 0 ? ZSTD_getFrameContentSize(input.baseAddress, input.count) : 0
            if input.count > 0, size != czstd_contentsize_unknown(), size != czstd_contentsize_error(),
                size <= UInt64(KafkaBatch.decompressedBytesMax)
            {
                announcedBytes = Int(size)
            } else {
                announcedBytes = nil
            }
            guard let dstream = ZSTD_createDStream() else {
                throw failure.corrupt(at: 0, "cannot allocate a decompression stream")
            }
            state = State(dstream)
            var windowLog = KafkaZstd.windowLogFloor
            while windowLog < KafkaZstd.windowLogCeiling, 1 << windowLog < failure.limit { windowLog += 1 }
            ZSTD_DCtx_setParameter(dstream, ZSTD_d_windowLogMax, windowLog)
        }

        mutating func decode(
            into output: UnsafeMutableRawBufferPointer
        ) throws(KafkaDecodeError) -> (
            written: Int, finished: Bool
        ) {
            var out = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            while !finished {
                if out.pos == out.size { return (out.pos, false) }
                let written = out.pos
                var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: position)
                let hint = ZSTD_decompressStream(state.dstream, &out, &source)
                let progressed = source.pos != position || out.pos != written
                position = source.pos
                if ZSTD_isError(hint) != 0 {
                    let name = String(cString: ZSTD_getErrorName(hint))
                    if ZSTD_getErrorCode(hint) == ZSTD_error_frameParameter_windowTooLarge {
                        throw KafkaDecodeError(
                            .recordsTooLarge, field: failure.field, position: KafkaBatchHeader.size + position,
                            "zstd: \(name) (the window is bounded by max(maxBytes, 8 MiB))")
                    }
                    throw failure.corrupt(at: position, name)
                }
                frameEnded = hint == 0
                if frameEnded, position == input.count {
                    finished = true
                } else if !progressed {
                    // Room to write and zstd neither read nor wrote: the input is cut short.
                    throw position == input.count
                        ? failure.truncated(at: position) : failure.corrupt(at: position, "the decoder stopped")
                }
            }
            return (out.pos, true)
        }
    }
}
