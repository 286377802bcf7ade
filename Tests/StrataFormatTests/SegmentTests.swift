import Testing

@testable import StrataFormat

@Suite struct SegmentTests {
    /// A torn tail (any cut inside the last batch) stops the scan at the last good batch.
    @Test func scanStopsAtTornTail() throws {
        var rng = SeededRNG(seed: 0x5EED_0101)
        let (bytes, batches) = Random.segment(&rng, baseOffset: 50, batchCount: 6)
        let whole = try withBytes(bytes) { (raw) throws(FormatError) in try SegmentScanner.scanFile(raw) }
        #expect(whole.1.stopError == nil)
        #expect(whole.1.batches.count == 6)
        #expect(whole.1.validEnd == bytes.count)
        let lastStart = whole.1.batches[5].position
        for cut in lastStart ..< bytes.count {
            let (_, scan) = try withBytes(Array(bytes[0 ..< cut])) { (raw) throws(FormatError) in
                try SegmentScanner.scanFile(raw)
            }
            #expect(scan.batches.count == 5)
            #expect(scan.validEnd == lastStart)
            #expect(scan.nextOffset == 50 + Int64(batches[0 ..< 5].map(\.count).reduce(0, +)))
            #expect(cut == lastStart ? scan.stopError == nil : scan.stopError?.code == .truncated)
        }
    }

    /// A flipped byte in the middle batch stops the scan there with a CRC error.
    @Test func scanStopsAtCorruptBatch() throws {
        var rng = SeededRNG(seed: 0x5EED_0102)
        var (bytes, _) = Random.segment(&rng, baseOffset: 0, batchCount: 3)
        let scan = try withBytes(bytes) { (raw) throws(FormatError) in try SegmentScanner.scanFile(raw) }.1
        let victim = scan.batches[1]
        bytes[victim.position + victim.header.batchLength - 1] ^= 0x10
        let broken = try withBytes(bytes) { (raw) throws(FormatError) in try SegmentScanner.scanFile(raw) }.1
        #expect(broken.batches.count == 1)
        #expect(broken.validEnd == victim.position)
        #expect(broken.stopError?.code == .checksumMismatch)
        #expect(broken.stopError?.position == victim.position + 8)
    }

    @Test func headerRoundTripAndRejects() throws {
        let header = SegmentHeader(baseOffset: 123, createdMs: -5)
        let bytes = header.encode()
        #expect(try withBytes(bytes) { (raw) throws(FormatError) in try SegmentHeader.decode(raw) } == header)
        for bit in 0 ..< (bytes.count * 8) {
            #expect(
                formatError { () throws(FormatError) in
                    try withBytes(flipped(bytes, bit: bit)) { (raw) throws(FormatError) in try SegmentHeader.decode(raw)
                    }
                } != nil)
        }
    }

    /// Sparse index lookups: the position returned is a batch boundary at or before the batch
    /// holding the offset (offset lookups), and no batch before it holds a record at or after
    /// the timestamp (time lookups); and both are the latest indexed such position.
    @Test func sparseIndexLookupsMatchBruteForce() throws {
        var rng = SeededRNG(seed: 0x5EED_0103)
        for _ in 0 ..< 20 {
            let (bytes, _) = Random.segment(&rng, baseOffset: 1000, batchCount: Int.random(in: 1 ... 40, using: &rng))
            let scan = try withBytes(bytes) { (raw) throws(FormatError) in try SegmentScanner.scanFile(raw) }.1
            let index = SparseIndex.build(
                from: scan, baseOffset: 1000, intervalBytes: Int.random(in: 1 ... 2000, using: &rng))
            let indexed = Set(index.offsetEntries.map { Int($0.position) })
            for offset in 1000 ..< scan.nextOffset {
                let expected = scan.batches.last { indexed.contains($0.position) && $0.header.baseOffset <= offset }?
                    .position
                #expect(index.position(forOffset: offset) == (expected ?? SegmentHeader.size))
            }
            let timestamps = scan.batches.map(\.header.maxTimestamp) + [Int64.min, Int64.max, 0]
            for t in timestamps {
                let position = index.position(forTimestamp: t)
                #expect(scan.batches.filter { $0.position < position }.allSatisfy { $0.header.maxTimestamp < t })
                // Brute force over the entries: the last indexed batch whose running max is below t.
                var runningMax = Int64.min
                var expected = SegmentHeader.size
                for batch in scan.batches {
                    runningMax = max(runningMax, batch.header.maxTimestamp)
                    if indexed.contains(batch.position) && runningMax < t { expected = batch.position }
                }
                #expect(position == expected)
            }
        }
    }

    @Test func sparseIndexEncodeDecodeAndCorruption() throws {
        var rng = SeededRNG(seed: 0x5EED_0104)
        let (bytes, _) = Random.segment(&rng, baseOffset: 77, batchCount: 12)
        let scan = try withBytes(bytes) { (raw) throws(FormatError) in try SegmentScanner.scanFile(raw) }.1
        let index = SparseIndex.build(from: scan, baseOffset: 77, intervalBytes: 300)
        let encoded = index.encode()
        let decoded = try withBytes(encoded) { (raw) throws(FormatError) in
            try SparseIndex.decode(raw, expectedBaseOffset: 77, segmentBytes: bytes.count)
        }
        #expect(decoded.offsetEntries == index.offsetEntries)
        #expect(decoded.timeEntries == index.timeEntries)
        #expect(decoded.intervalBytes == 300)
        for bit in 0 ..< (encoded.count * 8) {
            let error = formatError { () throws(FormatError) in
                try withBytes(flipped(encoded, bit: bit)) { (raw) throws(FormatError) in
                    try SparseIndex.decode(raw, expectedBaseOffset: 77, segmentBytes: bytes.count)
                }
            }
            #expect(error != nil, "flip of bit \(bit) accepted")
        }
        for length in 0 ..< encoded.count {
            #expect(
                formatError { () throws(FormatError) in
                    try withBytes(Array(encoded[0 ..< length])) { (raw) throws(FormatError) in
                        try SparseIndex.decode(raw, expectedBaseOffset: 77, segmentBytes: bytes.count)
                    }
                } != nil)
        }
        let wrongBase = formatError { () throws(FormatError) in
            try withBytes(encoded) { (raw) throws(FormatError) in
                try SparseIndex.decode(raw, expectedBaseOffset: 78, segmentBytes: bytes.count)
            }
        }
        #expect(wrongBase?.field == "index.baseOffset")
    }
}
