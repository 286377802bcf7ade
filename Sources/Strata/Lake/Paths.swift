/// Every local path of a lake directory is built here (ARCHITECTURE.md §2):
///
///     <lake>/LOCK                      flock'ed while a process has the lake open
///     <lake>/lake.json                 lake config (cold store URL)
///     <lake>/topics/<topic>/topic.json topic config (the topic exists when this file does)
///     <lake>/topics/<topic>/partitions partition count, decimal (absent: 1)
///     <lake>/topics/<topic>/<p>/       partition p ≥ 1: the same per-log files as below
///     <lake>/topics/<topic>/manifest.json  copy of the latest committed manifest
///     <lake>/topics/<topic>/log-start-offset  first readable offset set by `deleteRecords`
///     <lake>/topics/<topic>/DELETING   `topic.json` renamed while `deleteTopic` runs
///     <lake>/topics/<topic>/<base>.seg segment, base offset as 20 digits
///     <lake>/topics/<topic>/<base>.idx its sparse index (sealed segments only)
///     <lake>/topics/<topic>/<offset>.producers  idempotent producer state below offset
///     <lake>/producer-ids              producer ids handed out (ProducerIds.swift)
///     <lake>/journal/<seq>.wal         the lake journal, sequence as 20 digits (formats/journal.md)
///     <lake>/quarantine/journal-<seq>.torn-<position>  a torn journal tail recovery cut
///
/// Per-log paths take a log name (`LogName`: `orders` for partition 0, `orders/3`), topic-level
/// ones (`topicConfig`, `topicPartitions`, `topicDeletionMarker`) a topic name.
struct LakePaths: Sendable {
    let root: String

    var lock: String { root + "/LOCK" }
    var config: String { root + "/lake.json" }
    var producerIds: String { root + "/producer-ids" }
    var topicsDirectory: String { root + "/topics" }
    var journalDirectory: String { root + "/journal" }
    var lakeQuarantineDirectory: String { root + "/quarantine" }

    /// Journal file `sequence` (`00000000000000000007.wal`).
    func journalFile(sequence: UInt64) -> String {
        let digits = String(sequence)
        return journalDirectory + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".wal"
    }
    /// Sequence of a journal file name (`00000000000000000007.wal` → 7), nil otherwise.
    static func journalSequence(fileName: String) -> UInt64? {
        guard fileName.count == 24, fileName.hasSuffix(".wal") else { return nil }
        let digits = fileName.prefix(20)
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(digits)
    }

    func topicDirectory(_ topic: String) -> String { topicsDirectory + "/" + topic }
    func topicConfig(_ topic: String) -> String { topicDirectory(topic) + "/topic.json" }
    /// The topic's partition count (formats/bucket-layout.md, "Partitions"); absent means 1.
    func topicPartitions(_ topic: String) -> String { topicDirectory(topic) + "/partitions" }
    /// Local copy of the topic's latest committed manifest (a cache of the cold store's).
    func topicManifestCopy(_ topic: String) -> String { topicDirectory(topic) + "/manifest.json" }
    /// Base offset for a topic directory without segments (written by `recover`).
    func topicStart(_ topic: String) -> String { topicDirectory(topic) + "/start-offset" }
    /// The log start offset advanced by `deleteRecords` (absent: the first segment's base).
    func topicLogStart(_ topic: String) -> String { topicDirectory(topic) + "/log-start-offset" }
    /// `topic.json` renamed here marks a topic whose deletion has begun (and may be resumed).
    func topicDeletionMarker(_ topic: String) -> String { topicDirectory(topic) + "/DELETING" }
    /// Producer state snapshot covering the log below `offset` (ProducerState.swift).
    func producerSnapshot(_ topic: String, offset: Int64) -> String {
        let digits = String(offset)
        return topicDirectory(topic) + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits
            + ProducerSnapshot.fileSuffix
    }
    /// Offset of a producer snapshot file name (`00000000000000000042.producers` → 42).
    static func producerSnapshotOffset(fileName: String) -> Int64? {
        guard fileName.count == 20 + ProducerSnapshot.fileSuffix.count, fileName.hasSuffix(ProducerSnapshot.fileSuffix)
        else { return nil }
        let digits = fileName.prefix(20)
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(digits)
    }
    /// Hot file names come from `BucketLayout`, the one place names and keys are built.
    func segment(_ topic: String, baseOffset: Int64) -> String {
        topicDirectory(topic) + "/" + BucketLayout.hotSegmentFileName(baseOffset: baseOffset)
    }
    func index(_ topic: String, baseOffset: Int64) -> String {
        topicDirectory(topic) + "/" + BucketLayout.hotIndexFileName(baseOffset: baseOffset)
    }

    /// Base offset of a segment file name (`00000000000000000042.seg` → 42), nil otherwise.
    static func segmentBaseOffset(fileName: String) -> Int64? {
        guard let parsed = BucketLayout.parseHotFileName(fileName), parsed.kind == .segment else { return nil }
        return parsed.baseOffset
    }
}

/// Checks a log name a caller gave (`orders`, `orders/3`: `LogName`).
/// - Throws: `invalidArgument` naming the name and the first bad byte; nothing is touched.
@discardableResult
func validateLogName(_ text: String) throws(StrataError) -> LogName {
    do throws(FormatError) { return try LogName.parse(text) } catch {
        throw StrataError(
            .invalidArgument, "bad log name '\(text)' at byte \(error.position): \(error.message)",
            position: error.position, cause: error.code.rawValue)
    }
}

/// The log of partition `partition` of `topic`, both checked.
/// - Throws: `invalidArgument` for a bad topic name or a partition outside `0..<partitionsMax`.
func logName(_ topic: String, _ partition: Int32) throws(StrataError) -> LogName {
    try validateTopicName(topic)
    do throws(FormatError) { return try LogName(topic: topic, partition: partition) } catch {
        throw StrataError(.invalidArgument, "topic '\(topic)': \(error.message)", topic: topic)
    }
}

/// Checks a topic name a caller gave, by the one rule (`TopicName` in StrataFormat's Keys.swift).
/// - Throws: `invalidArgument` naming the name and the first bad byte; nothing is touched.
func validateTopicName(_ name: String) throws(StrataError) {
    do throws(FormatError) { try TopicName.validate(name) } catch {
        throw StrataError(
            .invalidArgument, "bad topic name '\(name)' at byte \(error.position): \(error.message)",
            position: error.position, cause: error.code.rawValue)
    }
}
