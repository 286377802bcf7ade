import Glibc

/// When an append is acknowledged (DESIGN §4 invariant 2).
public enum Durability: String, Codable, Sendable, CaseIterable {
    /// After fdatasync; concurrent appends share one fsync (group commit). Survives power loss.
    case sync
    /// After the write; flushed every `flushIntervalMs` and on close. Survives a process crash.
    case async
}

/// Per-topic settings, fixed when the topic is created and stored in `topic.json`.
/// Defaults follow DESIGN §5.
public struct TopicConfig: Codable, Sendable, Equatable {
    /// Roll the active segment once it holds this many bytes.
    public var segmentBytes: Int = 128 * 1024 * 1024
    /// Roll the active segment once it is this old.
    public var segmentMs: Int64 = 3_600_000
    public var durability: Durability = .sync
    /// Flush interval of `async` topics.
    public var flushIntervalMs: Int64 = 1000
    /// Delete local sealed segments beyond this many bytes (nil: no byte bound). A segment is
    /// deleted only when the lake's retention gate allows it (committed to the cold tier).
    public var localRetentionBytes: Int64? = nil
    /// Delete local sealed segments older than this (nil: no age bound).
    public var localRetentionMs: Int64? = nil
    /// Largest record accepted (encoded size).
    public var recordBytesMax: Int = 1024 * 1024
    /// Largest batch accepted (encoded size).
    public var batchBytesMax: Int = 16 * 1024 * 1024
    /// One sparse index entry per this many bytes of batches.
    public var indexIntervalBytes: Int = 4096

    public init() {}

    /// Bounds on the settings themselves.
    public static let segmentBytesRange = 1024...(Int(UInt32.max) - FormatLimits.batchBytesMax)

    /// Checks every field; throws `invalidArgument` naming the first bad one.
    public func validate() throws(StrataError) {
        func fail(_ field: String, _ why: String) -> StrataError {
            StrataError(.invalidArgument, "topic config \(field) \(why)")
        }
        guard Self.segmentBytesRange.contains(segmentBytes) else {
            throw fail("segmentBytes", "must be in \(Self.segmentBytesRange), is \(segmentBytes)")
        }
        guard segmentMs > 0 else { throw fail("segmentMs", "must be positive, is \(segmentMs)") }
        guard flushIntervalMs > 0 else { throw fail("flushIntervalMs", "must be positive") }
        guard (localRetentionBytes ?? 0) >= 0 else { throw fail("localRetentionBytes", "must not be negative") }
        guard (localRetentionMs ?? 0) >= 0 else { throw fail("localRetentionMs", "must not be negative") }
        guard recordBytesMax > 0, recordBytesMax <= batchBytesMax else {
            throw fail("recordBytesMax", "must be in 1...batchBytesMax (\(batchBytesMax)), is \(recordBytesMax)")
        }
        guard batchBytesMax > BatchHeader.size, batchBytesMax <= FormatLimits.batchBytesMax else {
            throw fail("batchBytesMax", "must be in \(BatchHeader.size + 1)...\(FormatLimits.batchBytesMax)")
        }
        guard indexIntervalBytes > 0 else { throw fail("indexIntervalBytes", "must be positive") }
    }
}

/// Lake-wide settings that are not stored: how this process runs the lake.
public struct LakeOptions: Sendable {
    public var clock: any StrataClock = SystemClock()
    /// Bound on open segment files (LRU), DESIGN §5.
    public var maxOpenFiles = 1024
    /// Config for topics created on demand.
    public var defaultTopicConfig = TopicConfig()
    /// Where the engine reports what it did on its own (recovery truncations, index rebuilds).
    public var log: @Sendable (String) -> Void = { message in
        var err = StandardError()
        print("strata: \(message)", to: &err)
    }

    public init() {}
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
