import Dispatch
import Foundation
import StrataFormat
import Synchronization

/// The frames of one cold object encoded, and checked after upload, on every core (issue 17):
/// frames are independent zstd frames, so each worker takes the next frame not yet taken with
/// its own zstd context, reused for all the frames it takes. The object bytes are the ones
/// `ColdObject.encode` writes on one thread: the same plan (`ColdObject.plan`: cuts, level,
/// checksum flag) and the same assembly; only who compresses which frame differs.
enum ParallelColdCodec {
    /// Workers per object: the active processor count, bounded (contexts hold a few MiB each).
    static let workersMax = 8

    static var workers: Int { max(1, min(workersMax, ProcessInfo.processInfo.activeProcessorCount)) }

    /// `ColdObject.encode` on `workers` threads; the same bytes and index.
    /// - Throws: `FormatError` as `ColdObject.encode` does.
    static func encode(
        segment: [UInt8], topic: String, frameRawBytesTarget: Int = ColdObject.defaultFrameRawBytesTarget,
        level: Int32 = ColdObject.defaultCompressionLevel, workers: Int = workers, sealer: ColdSealer? = nil
    ) throws(FormatError) -> EncodedColdObject {
        try withBytes(segment) { (bytes) throws(FormatError) -> EncodedColdObject in
            try encode(
                segment: bytes, topic: topic, frameRawBytesTarget: frameRawBytesTarget, level: level, workers: workers,
                sealer: sealer)
        }
    }

    /// The same over the segment's bytes in memory the caller owns until it returns; with
    /// `sealer`, each worker also seals the frames it compresses (an encrypted object).
    static func encode(
        segment bytes: UnsafeRawBufferPointer, topic: String,
        frameRawBytesTarget: Int = ColdObject.defaultFrameRawBytesTarget,
        level: Int32 = ColdObject.defaultCompressionLevel, workers: Int = workers, sealer: ColdSealer? = nil
    ) throws(FormatError) -> EncodedColdObject {
        let raw = SharedBytes(bytes)
        let plan = try ColdObject.plan(
            segment: bytes, topic: topic, frameRawBytesTarget: frameRawBytesTarget, level: level)
        // Each worker also takes the CRC32C of the frames it compresses, while they are in its cache.
        let frames = try forEachFrame(plan.frameCount, workers: workers) { () throws(FormatError) in
            try Zstd.Compressor(level: plan.level)
        } body: { (compressor, number) throws(FormatError) -> ([UInt8], UInt32) in
            let input = UnsafeRawBufferPointer(rebasing: raw.bytes[plan.rawRange(ofFrame: number)])
            let frame = try compressor.compressFrame(input)
            let stored = try sealer.map { (s) throws(FormatError) in try plan.sealFrame(frame, number: number, with: s) }
            return (stored ?? frame, CRC32C.checksum(input))
        }
        var crc: UInt32 = 0
        for (number, frame) in frames.enumerated() {
            crc = CRC32C.combine(crc, frame.1, lengthB: plan.rawRange(ofFrame: number).count)
        }
        return try ColdObject.assemble(plan, compressed: frames.map(\.0), rawCrc32c: crc, sealedWith: sealer)
    }

    /// `ColdObject.uploadDecodes` on `workers` threads: every frame decoded once (zstd checks its
    /// content checksum), the CRC32C of what each decodes to combined in frame order.
    /// - Returns: whether `object` holds `expected`'s footer and decodes to a segment of
    ///   `expected.rawBytes` bytes whose CRC32C is `expected.rawCrc32c`.
    /// - Throws: `FormatError` of the lowest-numbered frame that does not decode, or of the footer.
    static func uploadDecodes(
        _ object: [UInt8], expected: ColdObjectIndex, workers: Int = workers, keys: ColdKeyRing? = nil
    ) throws(FormatError) -> Bool {
        try withBytes(object) { (bytes) throws(FormatError) -> Bool in
            guard try ColdObject.uploadedFooterMatches(bytes, expected: expected) else { return false }
            let raw = SharedBytes(bytes)
            let frames = expected.frames
            let bufferBytes = frames.map(\.rawBytes).max() ?? 0
            let crcs = try forEachFrame(frames.count, workers: workers) { () throws(FormatError) in
                try DecodeWorker(bufferBytes: bufferBytes)
            } body: { (worker, number) throws(FormatError) -> UInt32 in
                try ColdObject.decodedFrameChecksum(
                    raw.bytes, frame: frames[number], decompressor: worker.decompressor, into: worker.buffer, keys: keys)
            }
            var crc: UInt32 = 0
            for (frame, frameCrc) in zip(frames, crcs) { crc = CRC32C.combine(crc, frameCrc, lengthB: frame.rawBytes) }
            return crc == expected.rawCrc32c && frames.reduce(0, { $0 + $1.rawBytes }) == expected.rawBytes
        }
    }

    /// Bytes the workers only read, held alive by the caller until they are done.
    struct SharedBytes: @unchecked Sendable {
        let bytes: UnsafeRawBufferPointer
        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
    }

    /// A decompression context and the buffer frames decode into, one per worker.
    final class DecodeWorker {
        let decompressor: Zstd.Decompressor
        let buffer: UnsafeMutableRawBufferPointer

        init(bufferBytes: Int) throws(FormatError) {
            decompressor = try Zstd.Decompressor()
            buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bufferBytes), alignment: 64)
        }

        deinit { buffer.deallocate() }
    }

    /// Runs `body` for frames `0 ..< count` on up to `workers` threads, each with one `State`
    /// from `makeState`, taking the next untaken frame until none is left; returns the outputs in
    /// frame order. After a failure, frames above it are skipped and those below still run, so
    /// the error thrown is always the lowest-numbered frame's.
    static func forEachFrame<State, Output: Sendable>(
        _ count: Int, workers: Int, makeState: @Sendable () throws(FormatError) -> State,
        body: @Sendable (State, Int) throws(FormatError) -> Output
    ) throws(FormatError) -> [Output] {
        let threads = max(1, min(workers, count))
        if threads == 1 {
            let state = try makeState()
            var outputs: [Output] = []
            outputs.reserveCapacity(count)
            for number in 0 ..< count { outputs.append(try body(state, number)) }
            return outputs
        }
        let next = Atomic<Int>(0)
        let outcome = Mutex<(outputs: [Output?], failure: (number: Int, error: FormatError)?)>(
            (Array(repeating: nil, count: count), nil))
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            let state: State
            do throws(FormatError) { state = try makeState() } catch {
                outcome.withLock { $0.failure = $0.failure ?? (-1, error) }
                return
            }
            while true {
                let number = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard number < count else { return }
                let failedBelow = outcome.withLock { ($0.failure?.number ?? count) < number }
                if failedBelow { continue }
                do throws(FormatError) {
                    let output = try body(state, number)
                    outcome.withLock { $0.outputs[number] = output }
                } catch {
                    outcome.withLock { o in
                        if number < o.failure?.number ?? count { o.failure = (number, error) }
                    }
                }
            }
        }
        return try outcome.withLock { (o) throws(FormatError) -> [Output] in
            if let failure = o.failure { throw failure.error }
            // With no failure no frame was skipped: every output is there.
            let outputs = o.outputs.compactMap { $0 }
            guard outputs.count == count else {
                let missing = count - outputs.count
                throw FormatError(.invalidValue, field: "coldFrame", position: 0, "\(missing) frames not run")
            }
            return outputs
        }
    }
}
