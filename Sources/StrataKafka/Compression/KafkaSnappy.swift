import CSnappy

/// The only Swift file that calls libsnappy: Kafka's snappy codec (attributes codec 2), either
/// one raw snappy block (librdkafka, kafka-python without xerial) or the Java client's xerial
/// framing (snappy-java's `SnappyOutputStream`): the magic `82 53 4e 41 50 50 59 00`, two
/// big-endian int32 versions, then blocks of a big-endian int32 length and a raw snappy block.
/// Snappy blocks state their decompressed length first, so the whole output size is known and
/// checked against the bound before anything is allocated.
enum KafkaSnappy {
    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]
    /// Magic, version, compatible version.
    static let xerialHeaderBytes = 16

    /// One raw snappy block: where it sits in the compressed section and what it expands to.
    private struct Block {
        var range: Range<Int>
        var rawBytes: Int
    }

    static func decompress(
        _ input: UnsafeRawBufferPointer, prefix: UnsafeRawBufferPointer, _ failure: DecompressionFailure
    ) throws(KafkaDecodeError) -> [UInt8] {
        let blocks = try isXerial(input) ? xerialBlocks(input, failure) : [try block(input, 0 ..< input.count, failure)]
        var total = prefix.count
        for block in blocks {
            total += block.rawBytes
            guard total <= failure.limit else {
                try validate(input, block, failure)
                throw failure.tooLarge(total)
            }
        }
        var thrown: KafkaDecodeError? = nil
        let output = [UInt8](unsafeUninitializedCapacity: total) { out, count in
            UnsafeMutableRawBufferPointer(out).copyMemory(from: prefix)
            count = prefix.count
            guard let base = UnsafeMutableRawPointer(out.baseAddress) else {
                thrown = failure.corrupt(at: 0, "no output buffer")
                return
            }
            for block in blocks {
                var produced = block.rawBytes
                let target = (base + count).assumingMemoryBound(to: CChar.self)
                let status = snappy_uncompress(
                    chars(input, block.range.lowerBound), block.range.count, target, &produced)
                guard status == SNAPPY_OK, produced == block.rawBytes else {
                    thrown = failure.corrupt(
                        at: block.range.lowerBound, "malformed snappy block (status \(status.rawValue))")
                    count = 0
                    return
                }
                count += produced
            }
        }
        if let thrown { throw thrown }
        return output
    }

    private static func isXerial(_ input: UnsafeRawBufferPointer) -> Bool {
        input.count >= xerialMagic.count && zip(input, xerialMagic).allSatisfy { $0 == $1 }
    }

    private static func xerialBlocks(
        _ input: UnsafeRawBufferPointer, _ failure: DecompressionFailure
    ) throws(KafkaDecodeError) -> [Block] {
        guard input.count >= xerialHeaderBytes else {
            throw failure.corrupt(at: input.count, "xerial header cut short: \(input.count) of 16 bytes")
        }
        var blocks: [Block] = []
        var position = xerialHeaderBytes
        while position < input.count {
            guard input.count - position >= 4 else {
                throw failure.corrupt(at: position, "xerial block length cut short")
            }
            let length = (0 ..< 4).reduce(0) { $0 << 8 | Int(input[position + $1]) }
            let start = position + 4
            guard length > 0, length <= input.count - start else {
                throw failure.corrupt(
                    at: position, "xerial block of \(length) bytes, \(input.count - start) left (a block is 1 or more)")
            }
            blocks.append(try block(input, start ..< start + length, failure))
            position = start + length
        }
        return blocks
    }

    private static func block(
        _ input: UnsafeRawBufferPointer, _ range: Range<Int>, _ failure: DecompressionFailure
    ) throws(KafkaDecodeError) -> Block {
        var rawBytes = 0
        let status = snappy_uncompressed_length(chars(input, range.lowerBound), range.count, &rawBytes)
        guard status == SNAPPY_OK else {
            throw failure.corrupt(at: range.lowerBound, "snappy block of \(range.count) bytes has no valid length")
        }
        return Block(range: range, rawBytes: rawBytes)
    }

    /// A block too large for the bound may also be garbage: say which, without decompressing.
    private static func validate(
        _ input: UnsafeRawBufferPointer, _ block: Block, _ failure: DecompressionFailure
    ) throws(KafkaDecodeError) {
        let status = snappy_validate_compressed_buffer(chars(input, block.range.lowerBound), block.range.count)
        guard status == SNAPPY_OK else {
            throw failure.corrupt(at: block.range.lowerBound, "malformed snappy block (status \(status.rawValue))")
        }
    }

    private static func chars(_ input: UnsafeRawBufferPointer, _ offset: Int) -> UnsafePointer<CChar>? {
        input.baseAddress.map { ($0 + offset).assumingMemoryBound(to: CChar.self) }
    }
}
