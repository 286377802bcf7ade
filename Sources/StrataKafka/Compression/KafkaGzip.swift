import CZlib

/// The only Swift file that calls zlib: Kafka's gzip codec (attributes codec 1), RFC 1952
/// members, one after another, as Java's `GZIPInputStream` reads them.
enum KafkaGzip {
    /// zlib's window bits for gzip-only decoding (15, plus 16 to require the gzip wrapper).
    private static let gzipWindowBits: Int32 = 15 + 16

    /// An inflate stream over a batch's compressed records. The `z_stream` lives on the heap:
    /// zlib keeps a pointer back to it and refuses a stream that moved.
    struct Stream: KafkaDecompressionStream {
        private final class State {
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            var initialised = false
            deinit {
                if initialised { inflateEnd(stream) }
                stream.deallocate()
            }
        }

        private let state = State()
        private let input: UnsafeRawBufferPointer
        private let failure: DecompressionFailure
        private var finished = false
        /// Input consumed by members that already ended (zlib's counters restart per member).
        private var consumedBefore = 0

        /// The ISIZE trailer of the last member (the size modulo 2^32 of that member): exact for
        /// the single member producers write, a hint otherwise.
        let announcedBytes: Int?

        var consumed: Int { consumedBefore + Int(state.stream.pointee.total_in) }

        init(_ input: UnsafeRawBufferPointer, _ failure: DecompressionFailure) throws(KafkaDecodeError) {
            self.input = input
            self.failure = failure
            if input.count >= 18 {
                let trailer = input.count - 4
                announcedBytes = (0 ..< 4).reduce(0) { $0 | Int(input[trailer + $1]) << (8 * $1) }
            } else {
                announcedBytes = nil
            }
            state.stream.initialize(to: z_stream())
            // zlib's avail_in is 32 bits; a batch is at most 64 MiB (parseHeader's bound).
            state.stream.pointee.next_in = UnsafeMutablePointer(
                mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            state.stream.pointee.avail_in = uInt(input.count)
            let status = czlib_inflate_init2(state.stream, KafkaGzip.gzipWindowBits)
            guard status == Z_OK else { throw failure.corrupt(at: 0, "inflateInit2 failed (\(status))") }
            state.initialised = true
        }

        mutating func decode(
            into output: UnsafeMutableRawBufferPointer
        ) throws(KafkaDecodeError) -> (
            written: Int, finished: Bool
        ) {
            let z = state.stream
            z.pointee.next_out = output.baseAddress?.assumingMemoryBound(to: Bytef.self)
            z.pointee.avail_out = uInt(min(output.count, Int(UInt32.max)))
            var written: Int { output.count - Int(z.pointee.avail_out) }
            while !finished {
                if z.pointee.avail_out == 0 { return (written, false) }
                let status = inflate(z, Z_NO_FLUSH)
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    if z.pointee.avail_in == 0 {
                        finished = true
                        break
                    }
                    // Another member may follow (concatenated gzip); anything else is garbage.
                    consumedBefore += Int(z.pointee.total_in)
                    let next = input.count - Int(z.pointee.avail_in)
                    guard input.count - next >= 2, input[next] == 0x1f, input[next + 1] == 0x8b else {
                        throw failure.corrupt(at: next, "\(input.count - next) bytes after the last gzip member")
                    }
                    guard inflateReset(z) == Z_OK else { throw failure.corrupt(at: next, "inflateReset failed") }
                case Z_BUF_ERROR where z.pointee.avail_in == 0:
                    throw failure.truncated(at: consumed)
                default:
                    let detail = z.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw failure.corrupt(at: consumed, detail)
                }
            }
            return (written, true)
        }
    }
}
