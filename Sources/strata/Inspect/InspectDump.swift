import ArgumentParser
import Foundation
import StrataExport
import Strata
import StrataFormat

/// `strata inspect dump PATH`: one line per batch of a hot `.seg` file or cold `.seg.zst` object.
/// Exit codes: 0 all valid, 1 a problem was found (after the valid part is printed), 3 I/O error.
struct InspectDump: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump", abstract: "Print every batch of a segment file or cold object.",
        discussion: """
            Batch lines: baseOffset lastOffset count firstTimestamp maxTimestamp position size crc valid.
            For a cold object the segment metadata and frame index come first, and each batch line also
            names its frame; positions are positions in the raw segment. Invalid data: the valid batches
            are printed, then an error line naming the field and position, and the exit code is 1. \
            With --records --json each record line holds the record in the JSON shape that consume --format \
            json and export write (formats/export.md).

            Example:
              strata inspect dump /lake/topics/clicks/00000000000000000000.seg
            """)

    @Argument(help: "A hot segment (.seg) or a cold object (.seg.zst).")
    var path: String

    @Flag(help: "Also print every record.")
    var records = false

    @Flag(help: "One JSON object per line, each with a \"type\" field.")
    var json = false

    @OptionGroup var keyRing: KeyRingOption

    func run() async throws {
        let bytes: [UInt8]
        switch readDumpInput(path) {
        case .success(let read): bytes = read
        case .failure(let failure):
            printError("error: \(failure.message)")
            throw ExitCode(failure.exitCode)
        }
        let keys: ColdKeyRing?
        do throws(StrataError) { keys = try keyRing.load() } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let dumper = Dumper(output: LineOutput(json: json), records: records, path: path, keys: keys)
        let valid =
            isPackedObject(bytes)
            ? dumper.dumpPackedObject(bytes)
            : isColdObject(bytes) ? dumper.dumpColdObject(bytes) : dumper.dumpSegment(bytes)
        if !valid { throw ExitCode(1) }
    }

    /// A packed object (formats/cold-object.md, "Packed objects") ends with the pack index trailer.
    func isPackedObject(_ bytes: [UInt8]) -> Bool {
        if bytes.count >= 4 {
            let tail = bytes.suffix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            if tail == PackedObject.trailerMagic { return true }
            if tail == ColdObject.seekableMagic { return false }
        }
        return path.hasSuffix(".szst")
    }

    func isColdObject(_ bytes: [UInt8]) -> Bool {
        if bytes.count >= 4 {
            let magic = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
            if magic == SegmentHeader.magic { return false }
            if magic == ColdObject.zstdFrameMagic { return true }
        }
        return path.hasSuffix(".zst")
    }
}

/// `{"type":"batch", ...}`.
struct BatchLine: Encodable {
    let type = "batch"
    let frame: Int?
    let baseOffset: Int64
    let lastOffset: Int64
    let count: Int32
    let firstTimestamp: Int64
    let maxTimestamp: Int64
    let position: Int
    let size: Int
    let crc: UInt32
    let valid: Bool
}

/// `{"frame":N,"record":{…},"type":"record"}`: keys sorted like the other lines, `frame` only
/// for a cold object, `record` in the one JSON shape of a record (`RecordJSON`, formats/export.md).
enum RecordLine {
    static func json(_ record: Record, frame: Int?) -> String {
        var line: [UInt8] = []
        line.reserveCapacity(160 + (record.value?.count ?? 0) * 2)
        line.append(contentsOf: "{".utf8)
        if let frame { line.append(contentsOf: "\"frame\":\(frame),".utf8) }
        line.append(contentsOf: "\"record\":".utf8)
        RecordJSON.append(record, to: &line)
        line.append(contentsOf: ",\"type\":\"record\"}".utf8)
        // Lossless: RecordJSON writes only UTF-8 (bytes that are not UTF-8 are base64).
        return String(decoding: line, as: UTF8.self)
    }
}

/// `{"type":"segment", ...}`: the hot segment's file header.
struct SegmentLine: Encodable {
    let type = "segment"
    let baseOffset: Int64
    let createdMs: Int64
    let fileBytes: Int
}

/// `{"type":"coldObject", ...}` and `{"type":"frame", ...}`.
struct ColdObjectLine: Encodable {
    let type = "coldObject"
    let topic: String
    let baseOffset, lastOffset, recordCount, firstTimestamp, maxTimestamp: Int64
    let rawBytes, objectBytes, frameCount, footerBytes: Int
    let rawCrc32c: UInt32
}

/// `{"type":"packedObject", ...}` and `{"type":"slice", ...}`: a packed object's pack index.
struct PackedObjectLine: Encodable {
    let type = "packedObject"
    let slices: Int
    let slicesBytes: Int64
    let indexFrameBytes: Int
}

struct SliceLine: Encodable {
    let type = "slice"
    let slice: Int
    let log: String
    let baseOffset, lastOffset, sliceOffset, sliceBytes: Int64
    let rawCrc32c: UInt32
}

struct FrameLine: Encodable {
    let type = "frame"
    let frame: ColdFrame
}

struct Dumper {
    let output: LineOutput
    let records: Bool
    let path: String
    /// Opens the frames of an encrypted object (formats/keys.md); without its key id, the dump
    /// stops at the first frame with `missingKey` naming the id.
    var keys: ColdKeyRing? = nil

    /// Dumps a hot segment file; false when a problem was found.
    func dumpSegment(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            let header: SegmentHeader
            do throws(FormatError) {
                header = try SegmentHeader.decode(raw)
            } catch {
                output.error(error, context: path)
                return false
            }
            output.emit(
                "segment baseOffset: \(header.baseOffset) createdMs: \(header.createdMs) fileBytes: \(bytes.count)",
                json: SegmentLine(baseOffset: header.baseOffset, createdMs: header.createdMs, fileBytes: bytes.count))
            return dumpBatches(
                raw, from: SegmentHeader.size, expectedOffset: header.baseOffset, rawOffset: 0, frame: nil)
        }
    }

    /// Prints the batches of `buffer` (a whole segment or one frame's content); false on a problem.
    func dumpBatches(
        _ buffer: UnsafeRawBufferPointer, from start: Int, expectedOffset: Int64, rawOffset: Int, frame: Int?
    ) -> Bool {
        let scan = SegmentScanner.scan(buffer, from: start, expectedOffset: expectedOffset, basePosition: rawOffset)
        for batch in scan.batches {
            printBatch(batch.header, position: batch.position, frame: frame, valid: true)
            guard records else { continue }
            do throws(FormatError) {
                let decoded = try BatchCodec.decode(buffer, at: batch.position - rawOffset, basePosition: rawOffset)
                for record in decoded.records { printRecord(record, frame: frame) }
            } catch {
                output.error(error, context: path)
                return false
            }
        }
        guard let error = scan.stopError else { return true }
        // Show the header of the batch that failed when it can be read at all.
        let failedAt = scan.validEnd - rawOffset
        if let header = try? BatchCodec.parseHeader(buffer, at: failedAt, basePosition: rawOffset) {
            printBatch(header, position: scan.validEnd, frame: frame, valid: false)
        }
        output.error(error, context: path)
        return false
    }

    func printBatch(_ h: BatchHeader, position: Int, frame: Int?, valid: Bool) {
        let framePart = frame.map { "frame: \($0) " } ?? ""
        output.emit(
            "\(framePart)baseOffset: \(h.baseOffset) lastOffset: \(h.lastOffset) count: \(h.recordCount) "
                + "firstTimestamp: \(h.firstTimestamp) maxTimestamp: \(h.maxTimestamp) position: \(position) "
                + "size: \(h.batchLength) crc: 0x\(ByteText.hex32(h.crc)) valid: \(valid)",
            json: BatchLine(
                frame: frame, baseOffset: h.baseOffset, lastOffset: h.lastOffset, count: h.recordCount,
                firstTimestamp: h.firstTimestamp, maxTimestamp: h.maxTimestamp, position: position,
                size: h.batchLength, crc: h.crc, valid: valid))
    }

    func printRecord(_ r: Record, frame: Int?) {
        if output.json {
            print(RecordLine.json(r, frame: frame))
            return
        }
        let headers = r.headers.map { "\(String(reflecting: $0.key))=\(ByteText.quoted($0.value))" }.joined(
            separator: ",")
        print(
            "| offset: \(r.offset) timestamp: \(r.timestamp) keySize: \(r.key.map { $0.count } ?? -1) "
                + "valueSize: \(r.value.map { $0.count } ?? -1) headers: [\(headers)] "
                + "key: \(ByteText.quoted(r.key)) value: \(ByteText.quoted(r.value))")
    }
}

extension Dumper {
    /// Dumps a cold object: segment metadata, frame index, then every frame's batches with raw
    /// segment positions. False when a problem was found.
    func dumpColdObject(_ bytes: [UInt8]) -> Bool {
        let index: ColdObjectIndex
        do throws(FormatError) {
            index = try ColdObjectFooter.parse(object: bytes)
        } catch {
            output.error(error, context: path)
            return false
        }
        printIndex(index)
        var segment: [UInt8] = []
        segment.reserveCapacity(index.rawBytes)
        for frame in index.frames {
            guard let raw = dumpFrame(bytes, frame: frame) else { return false }
            segment.append(contentsOf: raw)
        }
        do throws(FormatError) {
            try ColdObject.checkSegment(segment, index: index)
        } catch {
            output.error(error, context: path)
            return false
        }
        return true
    }

    /// Dumps a packed object: its pack index, then each slice as a cold object (positions inside
    /// a slice are positions in the slice; its `sliceOffset` places it in the packed object).
    /// False when a problem was found; the slices before it are printed.
    func dumpPackedObject(_ bytes: [UInt8]) -> Bool {
        let pack: PackIndex
        do throws(FormatError) {
            pack = try PackedObject.parseIndex(object: bytes)
        } catch {
            output.error(error, context: path)
            return false
        }
        output.emit(
            "packedObject slices: \(pack.slices.count) slicesBytes: \(pack.slicesBytes) "
                + "indexFrameBytes: \(pack.indexFrameBytes)",
            json: PackedObjectLine(
                slices: pack.slices.count, slicesBytes: pack.slicesBytes, indexFrameBytes: pack.indexFrameBytes))
        for (i, slice) in pack.slices.enumerated() {
            output.emit(
                "slice: \(i) log: \(slice.log) baseOffset: \(slice.baseOffset) lastOffset: \(slice.lastOffset) "
                    + "sliceOffset: \(slice.sliceOffset) sliceBytes: \(slice.sliceBytes) "
                    + "rawCrc32c: 0x\(ByteText.hex32(slice.rawCrc32c))",
                json: SliceLine(
                    slice: i, log: slice.log, baseOffset: slice.baseOffset, lastOffset: slice.lastOffset,
                    sliceOffset: slice.sliceOffset, sliceBytes: slice.sliceBytes, rawCrc32c: slice.rawCrc32c))
        }
        for slice in pack.slices {
            let sliceDumper = Dumper(
                output: output, records: records, path: "\(path) slice \(slice.log)@\(slice.sliceOffset)", keys: keys)
            guard sliceDumper.dumpColdObject(Array(bytes[slice.byteRange])) else { return false }
        }
        return true
    }

    /// Prints one frame's batches, then runs the full frame check (sizes, checksum, index
    /// agreement). Returns the raw bytes, or nil after printing the error.
    func dumpFrame(_ object: [UInt8], frame: ColdFrame) -> [UInt8]? {
        object.withUnsafeBytes { objectBytes in
            let compressed = UnsafeRawBufferPointer(rebasing: objectBytes[frame.objectRange])
            do throws(FormatError) {
                if frame.sealed != nil {
                    // Sealed: opened (authenticated) and checked whole first, then its batches printed.
                    let raw = try ColdObject.decodeFrame(compressed, frame: frame, keys: keys)
                    let batchesValid = raw.withUnsafeBytes { buffer in
                        dumpBatches(
                            buffer, from: frame.rawOffset == 0 ? SegmentHeader.size : 0,
                            expectedOffset: frame.firstOffset, rawOffset: frame.rawOffset, frame: frame.frameNumber)
                    }
                    return batchesValid ? raw : nil
                }
                let raw = try Zstd.decompressFrame(
                    compressed, rawSize: frame.rawBytes, basePosition: frame.objectOffset)
                let batchesValid = raw.withUnsafeBytes { buffer in
                    dumpBatches(
                        buffer, from: frame.rawOffset == 0 ? SegmentHeader.size : 0,
                        expectedOffset: frame.firstOffset, rawOffset: frame.rawOffset, frame: frame.frameNumber)
                }
                guard batchesValid else { return nil }
                return try ColdObject.decodeFrame(compressed, frame: frame)
            } catch {
                output.error(error, context: "\(path) frame \(frame.frameNumber)")
                return nil
            }
        }
    }

    func printIndex(_ index: ColdObjectIndex) {
        output.emit(
            "coldObject topic: \(index.topic) baseOffset: \(index.baseOffset) lastOffset: \(index.lastOffset) "
                + "recordCount: \(index.recordCount) firstTimestamp: \(index.firstTimestamp) maxTimestamp: "
                + "\(index.maxTimestamp) "
                + "rawBytes: \(index.rawBytes) rawCrc32c: 0x\(ByteText.hex32(index.rawCrc32c)) objectBytes: "
                + "\(index.objectBytes) "
                + "frames: \(index.frames.count) footerBytes: \(index.footerBytes)",
            json: ColdObjectLine(
                topic: index.topic, baseOffset: index.baseOffset, lastOffset: index.lastOffset,
                recordCount: index.recordCount,
                firstTimestamp: index.firstTimestamp, maxTimestamp: index.maxTimestamp, rawBytes: index.rawBytes,
                objectBytes: index.objectBytes, frameCount: index.frames.count, footerBytes: index.footerBytes,
                rawCrc32c: index.rawCrc32c))
        for f in index.frames {
            output.emit(
                "frame: \(f.frameNumber) objectOffset: \(f.objectOffset) compressedBytes: \(f.compressedBytes) "
                    + "rawOffset: \(f.rawOffset) rawBytes: \(f.rawBytes) firstOffset: \(f.firstOffset) lastOffset: "
                    + "\(f.lastOffset) "
                    + "maxTimestamp: \(f.maxTimestamp) batches: \(f.batchCount) checksum: "
                    + "0x\(ByteText.hex32(f.checksum))",
                json: FrameLine(frame: f))
        }
    }
}
