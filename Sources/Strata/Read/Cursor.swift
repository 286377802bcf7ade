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
        case .offset(let o):
            let (low, high) = (try await topic.logStartOffset(), topic.highWatermark)
            guard o >= low, o <= high else {
                throw StrataError(.offsetOutOfRange, "offset \(o) is outside the log", topic: topic.name, validRange: low...high)
            }
            nextOffset = o
        }
    }

    /// The next records, about `maxBytes` of them. When none is readable yet it waits up to
    /// `waitMs` for an append (long poll) and returns an empty array on timeout.
    public mutating func next(maxBytes: Int = Topic.readBytesDefault, waitMs: Int64 = 0) async throws(StrataError) -> [Record] {
        if topic.highWatermark <= nextOffset {
            guard waitMs > 0, try await topic.waitForData(at: nextOffset, timeoutMs: waitMs) else { return [] }
        }
        let result = try await topic.read(from: nextOffset, maxBytes: maxBytes, readAhead: reads > 0)
        reads += 1
        nextOffset = result.nextOffset
        return result.records
    }
}
