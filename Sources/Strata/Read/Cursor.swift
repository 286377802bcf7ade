/// Where a cursor starts.
public enum StartPosition: Sendable, Equatable {
    /// The oldest readable record (cold tier included).
    case earliest
    /// The high watermark: only records appended from now on.
    case latest
    case offset(Int64)
    /// The first record with timestamp ≥ this (ms since the epoch).
    case timestamp(Int64)
}

/// Reads a topic in offset order across both tiers, remembering where it is. Not shared
/// between tasks. After its first read a cursor counts as sequential and reads cold frames ahead.
public struct Cursor: Sendable {
    public let topic: Topic
    /// The offset the next `next` call starts at.
    public private(set) var nextOffset: Int64
    private var reads = 0

    /// A cursor on `topic` positioned at `start`.
    /// - Throws: `offsetOutOfRange` for an offset outside the readable range.
    public init(topic: Topic, start: StartPosition) async throws(StrataError) {
        self.topic = topic
        switch start {
        case .earliest: nextOffset = try await topic.logStartOffset()
        case .latest: nextOffset = topic.highWatermark
        case .timestamp(let t): nextOffset = try await topic.offset(forTimestamp: t)
        case .offset(let o) where o >= topic.localStartOffset && o <= topic.highWatermark:
            nextOffset = o  // in the hot tier: no need to ask the cold store where the log starts
        case .offset(let o):
            let (low, high) = (try await topic.logStartOffset(), topic.highWatermark)
            guard o >= low, o <= high else {
                throw StrataError(
                    .offsetOutOfRange, "offset \(o) is outside the log", topic: topic.name, validRange: low ... high)
            }
            nextOffset = o
        }
    }

    /// The next records, about `maxBytes` of them. When none is readable yet it waits up to
    /// `waitMs` for an append (long poll) and returns an empty array on timeout. On a read-only
    /// topic the wait polls the disk for another process's appends (`Topic.refresh()`).
    public mutating func next(
        maxBytes: Int = Topic.readBytesDefault, waitMs: Int64 = 0
    ) async throws(StrataError) -> [Record] {
        guard try await waitForRecords(waitMs: waitMs) else { return [] }
        let result = try await topic.read(from: nextOffset, maxBytes: maxBytes, readAhead: reads > 0)
        reads += 1
        nextOffset = result.nextOffset
        return result.records
    }

    /// `next` as batch views (`Topic.readViews`): the next records, about `maxBytes` of
    /// batches, read in place from the batches' bytes with no allocation per record. Together
    /// the views yield exactly the offsets from `nextOffset` on, in order, with no gap. Cold
    /// reads take several frames per call.
    /// - Returns: empty when none is readable within `waitMs`.
    /// - Throws: as `next`.
    public mutating func nextBatches(
        maxBytes: Int = Topic.readBytesDefault, waitMs: Int64 = 0
    ) async throws(StrataError) -> [RecordBatchView] {
        guard try await waitForRecords(waitMs: waitMs) else { return [] }
        let (views, next) = try await topic.readViews(from: nextOffset, maxBytes: maxBytes, readAhead: reads > 0)
        reads += 1
        nextOffset = next
        return views
    }

    /// Whether a read at `nextOffset` has anything to return, after waiting up to `waitMs`.
    private func waitForRecords(waitMs: Int64) async throws(StrataError) -> Bool {
        // At a damaged end of the log the read throws the typed error instead of "no data".
        guard topic.highWatermark <= nextOffset && !topic.endsAtDamage(nextOffset) else { return true }
        if topic.isReadOnly { return try await topic.pollDisk(for: nextOffset, timeoutMs: waitMs) }
        guard waitMs > 0 else { return false }
        return try await topic.waitForData(at: nextOffset, timeoutMs: waitMs)
    }
}
