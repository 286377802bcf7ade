import Foundation
import StrataBlob
import StrataTesting
import Synchronization
import Testing

@testable import Strata
@testable import StrataFormat

/// Issue 17, offload row: the frames of one cold object compressed on every core write the very
/// bytes the one-thread encoder writes, and the upload check decodes each frame once yet still
/// fails on any byte of the stored object that differs.
@Suite struct ColdEncodeParallelTests {
    /// A segment of `batchCount` batches of clickstream-like records from offset `baseOffset`.
    static func segment(baseOffset: Int64 = 1_000, batchCount: Int, seed: UInt64 = 7) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var bytes = SegmentHeader(baseOffset: baseOffset, createdMs: 1_700_000_000_000).encode()
        var next = baseOffset
        for b in 0 ..< batchCount {
            let records = (0 ..< Int.random(in: 1 ... 40, using: &rng)).map { i -> Record in
                let value = "{\"user\":\(Int.random(in: 0 ..< 500, using: &rng)),\"page\":\"/p/\(b)/\(i)\","
                    + "\"ms\":\(Int.random(in: 0 ..< 9_000, using: &rng))}"
                return Record(
                    timestamp: 1_700_000_000_000 + Int64(b * 10 + i) - (i % 7 == 0 ? 500 : 0),
                    key: i % 4 == 0 ? nil : Array("k\(i % 13)".utf8), value: Array(value.utf8),
                    headers: [])
            }
            bytes += BatchCodec.encode(baseOffset: next, records: records)
            next += Int64(records.count)
        }
        return bytes
    }

    @Test(arguments: [1, 2, 3, 8])
    func parallelEncodeWritesTheSerialEncodersBytesAndIndex(workers: Int) throws {
        for (batches, target, level) in [(300, 4 * 1024, Int32(3)), (60, 1 << 20, Int32(3)), (120, 700, Int32(1))] {
            let raw = Self.segment(batchCount: batches, seed: UInt64(batches))
            let serial = try ColdObject.encode(
                segment: raw, topic: "events/3", frameRawBytesTarget: target, level: level)
            let parallel = try ParallelColdCodec.encode(
                segment: raw, topic: "events/3", frameRawBytesTarget: target, level: level, workers: workers)
            #expect(parallel.bytes == serial.bytes, "\(batches) batches, target \(target), \(workers) workers")
            #expect(parallel.index == serial.index)
            #expect(parallel.index.rawCrc32c == CRC32C.checksum(raw))
            if target == 4 * 1024 { #expect(serial.index.frames.count > 20) }
            #expect(try ColdObject.decodeSegment(parallel.bytes).segment == raw)
        }
    }

    /// A segment the plan refuses is refused the same way: a damaged batch is the scanner's error.
    @Test func parallelEncodeRefusesADamagedSegmentAsTheSerialOneDoes() throws {
        var raw = Self.segment(batchCount: 50)
        raw[raw.count / 2] ^= 0x20
        let serial = formatError { () throws(FormatError) in try ColdObject.encode(segment: raw, topic: "events") }
        let parallel = formatError { () throws(FormatError) in
            try ParallelColdCodec.encode(segment: raw, topic: "events", workers: 2)
        }
        #expect(serial != nil)
        #expect(parallel?.code == serial?.code && parallel?.field == serial?.field)
        #expect(parallel?.position == serial?.position)
    }

    @Test func crc32cCombineEqualsTheChecksumOfTheConcatenation() {
        var rng = SplitMix64(seed: 0xC0C0)
        let bytes = (0 ..< 70_000).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
        for split in [0, 1, 7, 8, 4_095, 4_096, 33_333, 69_999, 70_000] {
            let a = CRC32C.checksum(bytes[..<split])
            let b = CRC32C.checksum(bytes[split...])
            #expect(CRC32C.combine(a, b, lengthB: 70_000 - split) == CRC32C.checksum(bytes), "split \(split)")
            // And back: the second part's checksum from the whole's and the first part's.
            #expect(CRC32C.suffix(ofWhole: CRC32C.checksum(bytes), prefix: a, lengthB: 70_000 - split) == b)
        }
        // Three parts, combined left to right, as the upload check adds frames up.
        let parts = [0 ..< 10, 10 ..< 50_000, 50_000 ..< 70_000]
        let crc = parts.reduce(UInt32(0)) { CRC32C.combine($0, CRC32C.checksum(bytes[$1]), lengthB: $1.count) }
        #expect(crc == CRC32C.checksum(bytes))
    }

    /// The one-pass check, in one thread and on several, accepts the object and refuses every
    /// flipped byte: in a frame's compressed bytes, its content checksum, the index frame and the
    /// seek table. A refusal is an error naming the frame, or `false` (another footer).
    @Test(arguments: [1, 2, 4])
    func theUploadCheckAcceptsTheObjectAndRefusesAnyFlippedByte(workers: Int) throws {
        let raw = Self.segment(batchCount: 200)
        let encoded = try ColdObject.encode(segment: raw, topic: "events", frameRawBytesTarget: 4 * 1024)
        let index = encoded.index
        #expect(try ParallelColdCodec.uploadDecodes(encoded.bytes, expected: index, workers: workers))
        #expect(try ColdObject.uploadDecodes(encoded.bytes, expected: index))
        let middle = index.frames[index.frames.count / 2]
        let positions = [
            middle.objectOffset + middle.compressedBytes / 2,  // compressed data
            middle.objectOffset + middle.compressedBytes - 2,  // content checksum
            middle.objectOffset + 4,  // frame header descriptor
            index.frames[0].objectOffset + 20,
            index.indexFrameOffset + 30,  // index content (its CRC)
            index.indexFrameOffset + index.indexFrameBytes + 20,  // seek table entry
            encoded.bytes.count - 1,  // seekable magic
        ]
        for position in positions {
            var copy = encoded.bytes
            copy[position] ^= 0x08
            let damaged = copy
            let outcomes = [
                outcome { () throws(FormatError) in
                    try ParallelColdCodec.uploadDecodes(damaged, expected: index, workers: workers)
                },
                outcome { () throws(FormatError) in try ColdObject.uploadDecodes(damaged, expected: index) },
            ]
            for (passed, error) in outcomes {
                #expect(!passed, "a flipped byte at \(position) of \(encoded.bytes.count) passed the check")
                if let error, position < index.indexFrameOffset {
                    #expect(error.message.hasPrefix("frame "), "\(position): \(error)")
                }
            }
        }
    }

    /// Whether a check passed, and the error it threw (a throw is a refusal).
    func outcome(_ check: () throws(FormatError) -> Bool) -> (passed: Bool, error: FormatError?) {
        do throws(FormatError) { return (try check(), nil) } catch { return (false, error) }
    }

    /// Several damaged frames: the error names the lowest, whichever worker met it first.
    @Test func theUploadCheckNamesTheLowestDamagedFrame() throws {
        let raw = Self.segment(batchCount: 300)
        let encoded = try ColdObject.encode(segment: raw, topic: "events", frameRawBytesTarget: 4 * 1024)
        let frames = encoded.index.frames
        var damaged = encoded.bytes
        for frame in [frames[5], frames[9], frames[frames.count - 1]] {
            damaged[frame.objectOffset + frame.compressedBytes / 2] ^= 0x40
        }
        for _ in 0 ..< 5 {
            let error = formatError { () throws(FormatError) in
                try ParallelColdCodec.uploadDecodes(damaged, expected: encoded.index, workers: 3)
            }
            #expect(error?.message.hasPrefix("frame 5: ") == true, "\(String(describing: error))")
            #expect(error?.position == frames[5].objectOffset)
        }
    }

    /// The failure path the one-pass check adds: every frame is a whole zstd frame whose content
    /// checksum holds and the footer is the expected one, but the frames do not rebuild the
    /// segment whose CRC32C the footer records (here: a footer naming another CRC32C).
    @Test func theUploadCheckRefusesFramesThatDoNotRebuildTheRecordedChecksum() throws {
        let raw = Self.segment(batchCount: 120)
        let good = try ColdObject.encode(segment: raw, topic: "events", frameRawBytesTarget: 4 * 1024)
        var forgedIndex = good.index
        forgedIndex.rawCrc32c ^= 0x0000_0100
        let indexFrame = ColdObject.encodeIndexFrame(forgedIndex)
        let seekTable = ColdObject.encodeSeekTable(frames: forgedIndex.frames, indexFrameBytes: indexFrame.count)
        let forged = Array(good.bytes[..<good.index.indexFrameOffset]) + indexFrame + seekTable
        let parsed = try ColdObjectFooter.parse(object: forged)
        #expect(parsed == forgedIndex)
        #expect(try ParallelColdCodec.uploadDecodes(forged, expected: parsed, workers: 2) == false)
        #expect(try ColdObject.uploadDecodes(forged, expected: parsed) == false)
        // And the object it really is does not pass for the forged one, nor the reverse.
        #expect(try ParallelColdCodec.uploadDecodes(good.bytes, expected: parsed, workers: 2) == false)
        #expect(try ParallelColdCodec.uploadDecodes(forged, expected: good.index, workers: 2) == false)
    }

    /// The error a typed-throwing body threw, or nil when it returned.
    func formatError<T>(_ body: () throws(FormatError) -> T) -> FormatError? {
        do throws(FormatError) {
            _ = try body()
            return nil
        } catch {
            return error
        }
    }

    // MARK: - Through the offloader

    /// Flips one byte of every segment object as it is stored (the store keeps the damaged
    /// bytes; a later read returns them), at a position `flipAt` picks from the object.
    final class FlippingStore: BlobStore {
        let inner: any BlobStore
        let flipAt: @Sendable ([UInt8]) -> Int
        let flips = Mutex(0)

        init(_ inner: any BlobStore, flipAt: @escaping @Sendable ([UInt8]) -> Int) {
            (self.inner, self.flipAt) = (inner, flipAt)
        }

        var location: String { inner.location }

        func put(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
            guard key.hasSuffix(".seg.zst") else { return try await inner.put(key, bytes, mode: mode) }
            var damaged = bytes
            damaged[flipAt(bytes)] ^= 0x04
            flips.withLock { $0 += 1 }
            try await inner.put(key, damaged, mode: mode)
        }

        func get(_ key: String, range: ByteRange) async throws -> BlobData { try await inner.get(key, range: range) }
        func head(_ key: String) async throws -> BlobInfo { try await inner.head(key) }
        func list(prefix: String, continuation: String?, limit: Int) async throws -> BlobListPage {
            try await inner.list(prefix: prefix, continuation: continuation, limit: limit)
        }
        func delete(_ keys: [String]) async throws { try await inner.delete(keys) }
    }

    /// A byte flipped in the stored object, in a frame or in the footer: the offload fails,
    /// commits no manifest and evicts nothing; every record still reads from the local segments.
    @Test(arguments: ["frame", "checksum", "index", "seekTable"])
    func aFlippedByteInTheStoredObjectFailsTheOffload(region: String) async throws {
        let store = FlippingStore(MemoryBlobStore()) { bytes in
            guard let index = try? ColdObjectFooter.parse(object: bytes), let frame = index.frames.last else {
                return 0
            }
            switch region {
            case "frame": return frame.objectOffset + frame.compressedBytes / 3
            case "checksum": return frame.objectOffset + frame.compressedBytes - 1
            case "index": return index.indexFrameOffset + 40
            default: return index.indexFrameOffset + index.indexFrameBytes + 10
            }
        }
        try await ColdFixture.withLake(store: store) { lake, _ in
            let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
            try await ColdFixture.produce(topic, 0 ..< 3_000)
            try topic.sealActiveSegment()
            let sealed = topic.localSegments().filter { $0.sealed && !$0.isEmpty }.count
            await #expect(throws: StrataError.self) { try await topic.offloadSealed() }
            #expect(store.flips.withLock { $0 } == 1)
            #expect(try await topic.cold.latestManifest(topic.name, refresh: true) == nil)
            #expect(topic.localSegments().filter { $0.sealed && !$0.isEmpty }.count == sealed)
            var cursor = try await Cursor(topic: topic, start: .offset(0))
            let records = try await ColdFixture.readAll(&cursor, until: 3_000)
            #expect(ColdFixture.firstMismatch(records, 0 ..< 3_000) == nil)
        }
    }

    /// The offloader's own path (parallel encode, one-pass check) commits objects that decode,
    /// with the serial encoder's bytes.
    @Test func offloadedObjectsAreTheSerialEncodersBytes() async throws {
        let memory = MemoryBlobStore()
        try await ColdFixture.withLake(store: memory) { lake, _ in
            let topic = try lake.topic(ColdFixture.topicName, creatingWith: ColdFixture.smallSegments())
            try await ColdFixture.produce(topic, 0 ..< 8_000)
            try topic.sealActiveSegment()
            let locals = topic.localSegments().filter { $0.sealed && !$0.isEmpty }
            let report = try await topic.offloadSealed()
            #expect(report.segmentsOffloaded == locals.count && locals.count > 2)
            let config = topic.config
            for segment in locals {
                let raw = try FileIO.readWholeFile(segment.path)
                let serial = try ColdObject.encode(
                    segment: raw, topic: topic.name, frameRawBytesTarget: config.coldFrameRawBytes,
                    level: config.coldCompressionLevel)
                let key = topic.cold.layout.segmentKey(
                    topic: topic.name, baseOffset: serial.index.baseOffset, lastOffset: serial.index.lastOffset)
                #expect(try await memory.get(key, range: .whole).bytes == serial.bytes)
            }
        }
    }

    /// A pass reads segment after segment into the same memory; a second read while the first
    /// holds it gets memory of its own, and a larger segment a larger buffer.
    @Test func segmentReadsReuseOneBufferButNeverShareIt() throws {
        let buffer = SegmentReadBuffer()
        let first = try buffer.with(count: 1_000) { (raw) throws(StrataError) in
            raw.storeBytes(of: 7, as: UInt8.self)
            return raw.baseAddress
        }
        let (again, nested) = try buffer.with(count: 800) { (raw) throws(StrataError) in
            #expect(raw.count == 800)
            let inner = try buffer.with(count: 800) { (other) throws(StrataError) in other.baseAddress }
            return (raw.baseAddress, inner)
        }
        #expect(first != nil && again == first)
        #expect(nested != first)
        let larger = try buffer.with(count: 5_000) { (raw) throws(StrataError) in raw.count }
        #expect(larger == 5_000)
    }
}
