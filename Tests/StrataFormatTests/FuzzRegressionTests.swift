import Testing

@testable import StrataFormat

/// Inputs that crashed a `tools/fuzz` target, kept so the fix stays fixed.
@Suite struct FuzzRegressionTests {
    /// tools/fuzz index: `position(forOffset:)` computed `offset - baseOffset` unchecked, so an
    /// offset far below a positive base (or far above a negative difference) trapped on overflow.
    /// Every Int64 is a question with an answer: before the segment → its first batch, after →
    /// the last indexed batch.
    @Test func sparseIndexLookupsTakeAnyOffset() throws {
        var rng = SeededRNG(seed: 0x5EED_0801)
        let (bytes, _) = Random.segment(&rng, baseOffset: 249, batchCount: 12)
        let scan = try withBytes(bytes) { (raw) throws(FormatError) in try SegmentScanner.scanFile(raw) }.1
        let index = SparseIndex.build(from: scan, baseOffset: 249, intervalBytes: 200)
        try #require(index.offsetEntries.count >= 2)
        let last = Int(try #require(index.offsetEntries.last).position)
        #expect(index.position(forOffset: Int64.min) == SegmentHeader.size)
        #expect(index.position(forOffset: -1) == SegmentHeader.size)
        #expect(index.position(forOffset: Int64.max) == last)
        // Offset and time entries are made together: past every timestamp is the last entry.
        #expect(index.position(forTimestamp: Int64.max) == last)
        #expect(index.position(forTimestamp: Int64.min) == SegmentHeader.size)
        // Every answer is a batch start at or before the first batch that can hold the time.
        let starts = Set(scan.batches.map(\.position))
        for batch in scan.batches {
            let t = batch.header.maxTimestamp
            let position = index.position(forTimestamp: t)
            let holder = try #require(scan.batches.first { $0.header.maxTimestamp >= t })
            #expect(starts.contains(position), "timestamp \(t)")
            #expect(position <= holder.position, "timestamp \(t)")
        }
        let far = SparseIndex.build(from: scan, baseOffset: -5, intervalBytes: 200)
        #expect(far.position(forOffset: Int64.max) == last)
    }
}
