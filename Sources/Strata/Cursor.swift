/// Where a cursor starts.
public enum StartPosition: Sendable, Equatable {
    /// The oldest readable record.
    case earliest
    /// The high watermark: only records appended from now on.
    case latest
    case offset(Int64)
    /// The first record with timestamp ≥ this (ms since the epoch).
    case timestamp(Int64)
}

/// Reads a topic in offset order, remembering where it is. Not shared between tasks.
public struct Cursor: Sendable {
    public let topic: Topic
    /// The offset the next `next` call starts at.
    public private(set) var nextOffset: Int64

    /// A cursor on `topic` positioned at `start`.
    /// - Throws: `offsetOutOfRange` for an offset outside the readable range.
    public init(topic: Topic, start: StartPosition) throws(StrataError) {
        self.topic = topic
        switch start {
        case .earliest: nextOffset = topic.localStartOffset
        case .latest: nextOffset = topic.highWatermark
        case .timestamp(let t): nextOffset = try topic.offset(forTimestamp: t)
        case .offset(let o):
            let (low, high) = (topic.localStartOffset, topic.highWatermark)
            guard o >= low, o <= high else {
                throw StrataError(.offsetOutOfRange, "offset \(o) is outside the log", topic: topic.name, validRange: low...high)
            }
            nextOffset = o
        }
    }

    /// The next records, about `maxBytes` of them. When none is readable yet it waits up to
    /// `waitMs` for an append (long poll) and returns an empty array on timeout.
    public mutating func next(maxBytes: Int = Topic.readBytesDefault, waitMs: Int64 = 0) async throws -> [Record] {
        if waitMs > 0 && topic.highWatermark <= nextOffset {
            guard await topic.waitForData(at: nextOffset, timeoutMs: waitMs) else { return [] }
        }
        let result = try topic.read(from: nextOffset, maxBytes: maxBytes)
        nextOffset = result.nextOffset
        return result.records
    }
}
