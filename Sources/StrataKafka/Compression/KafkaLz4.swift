import CLz4

/// The only Swift file that calls liblz4: Kafka's lz4 codec (attributes codec 3) is the LZ4
/// frame format (v2 batches carry a correct header checksum, KIP-57); frames may follow one
/// another. liblz4 checks the header checksum and, when present, block and content checksums.
enum KafkaLz4 {
    struct Stream: KafkaDecompressionStream {
        private final class State {
            let context: OpaquePointer
            init(_ context: OpaquePointer) { self.context = context }
            deinit { LZ4F_freeDecompressionContext(context) }
        }

        private let state: State
        private let input: UnsafeRawBufferPointer
        private let failure: DecompressionFailure
        private var position = 0
        private var finished = false

        /// The first frame's content size, when its header carries one.
        let announcedBytes: Int?

        var consumed: Int { position }

        init(_ input: UnsafeRawBufferPointer, _ failure: DecompressionFailure) throws(KafkaDecodeError) {
            self.input = input
            self.failure = failure
            var context: OpaquePointer? = nil
            let created = LZ4F_createDecompressionContext(&context, clz4_frame_version())
            guard LZ4F_isError(created) == 0, let context else {
                throw failure.corrupt(at: 0, "cannot allocate a decompression context")
            }
            state = State(context)
            // Read the first header for its content size. On failure the context is unchanged
            // and decoding reports the error with its position.
            var info = LZ4F_frameInfo_t()
            var headerBytes = input.count
            let read = LZ4F_getFrameInfo(context, &info, input.baseAddress, &headerBytes)
            if LZ4F_isError(read) == 0 {
                position = headerBytes
                let size = info.contentSize
                announcedBytes = size > 0 && size <= UInt64(KafkaBatch.decompressedBytesMax) ? Int(size) : nil
            } else {
                announcedBytes = nil
            }
        }

        mutating func decode(
            into output: UnsafeMutableRawBufferPointer
        ) throws(KafkaDecodeError) -> (
            written: Int, finished: Bool
        ) {
            var written = 0
            while !finished {
                if written == output.count { return (written, false) }
                var outBytes = output.count - written
                var inBytes = input.count - position
                let hint = LZ4F_decompress(
                    state.context, output.baseAddress.map { $0 + written }, &outBytes,
                    input.baseAddress.map { $0 + position }, &inBytes, nil)
                if LZ4F_isError(hint) != 0 {
                    throw failure.corrupt(at: position, String(cString: LZ4F_getErrorName(hint)))
                }
                position += inBytes
                written += outBytes
                if hint == 0, position == input.count {
                    finished = true
                } else if inBytes == 0, outBytes == 0 {
                    // Room to write and liblz4 neither read nor wrote: the input is cut short.
                    throw position == input.count
                        ? failure.truncated(at: position) : failure.corrupt(at: position, "the decoder stopped")
                }
            }
            return (written, true)
        }
    }
}
