/// Every local path of a lake directory is built here (ARCHITECTURE.md §2):
///
///     <lake>/LOCK                      flock'ed while a process has the lake open
///     <lake>/lake.json                 lake config (cold store URL)
///     <lake>/catalog/<seq>.log         the topic catalog: every topic's config, partition count,
///                                      log starts, start offsets, deletes (formats/catalog.md)
///     <lake>/catalog/MIGRATING         while the old per-topic files of a migrated lake are removed
///     <lake>/topics/<topic>/<p>/       partition p ≥ 1: the same per-log files as below
///     <lake>/topics/<topic>/manifest.json  copy of the latest committed manifest
///     <lake>/topics/<topic>/<base>.seg segment, base offset as 20 digits
///     <lake>/topics/<topic>/<base>.idx its sparse index (sealed segments only)
///     <lake>/topics/<topic>/<offset>.producers  idempotent producer state below offset
///     <lake>/producer-ids              producer ids handed out (ProducerIds.swift)
///     <lake>/journal/<seq>.wal         the lake journal, sequence as 20 digits (formats/journal.md)
///     <lake>/quarantine/journal-<seq>.torn-<position>  a torn journal tail recovery cut
///     <lake>/quarantine/catalog-<seq>.torn-<position>  a torn catalog tail recovery cut
///
/// Per-log paths take a log name (`LogName`: `orders` for partition 0, `orders/3`).
///
/// A lake's paths also carry its open catalog (`Lake.open` and `openReadOnly` set it), so code
/// that holds only the paths (a topic, the journal replay, the table writer) reaches what is
/// stored about topics through it.
struct LakePaths: Sendable {
    let root: String
    let catalog: Catalog?

    init(root: String, catalog: Catalog? = nil) {
        self.root = root
        self.catalog = catalog
    }

    var catalogDirectory: String { root + "/catalog" }
    var catalogMigrationMarker: String { catalogDirectory + "/MIGRATING" }
    /// Catalog file `sequence` (`00000000000000000003.log`).
    func catalogFile(sequence: UInt64) -> String { catalogDirectory + "/" + Self.sequencedName(sequence, ".log") }
    /// Sequence of a catalog file name (`00000000000000000003.log` → 3), nil otherwise.
    static func catalogSequence(fileName: String) -> UInt64? { sequence(of: fileName, ".log") }

    var lock: String { root + "/LOCK" }
    var config: String { root + "/lake.json" }
    var producerIds: String { root + "/producer-ids" }
    var topicsDirectory: String { root + "/topics" }
    var journalDirectory: String { root + "/journal" }
    var lakeQuarantineDirectory: String { root + "/quarantine" }

    /// Journal file `sequence` (`00000000000000000007.wal`).
    func journalFile(sequence: UInt64) -> String { journalDirectory + "/" + Self.sequencedName(sequence, ".wal") }
    /// Sequence of a journal file name (`00000000000000000007.wal` → 7), nil otherwise.
    static func journalSequence(fileName: String) -> UInt64? { sequence(of: fileName, ".wal") }

    /// A numbered file's name (journal, catalog, producer snapshot): the number in 20 digits,
    /// then `suffix`.
    private static func sequencedName(_ sequence: UInt64, _ suffix: String) -> String {
        let digits = String(sequence)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// The sequence of a name `sequencedName` made with `suffix`, nil for any other name.
    private static func sequence(of fileName: String, _ suffix: String) -> UInt64? {
        guard fileName.count == 20 + suffix.count, fileName.hasSuffix(suffix) else { return nil }
        let digits = fileName.prefix(20)
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(digits)
    }

    func topicDirectory(_ topic: String) -> String { topicsDirectory + "/" + topic }
    /// Local copy of the topic's latest committed manifest (a cache of the cold store's).
    func topicManifestCopy(_ topic: String) -> String { topicDirectory(topic) + "/manifest.json" }

    // The per-topic metadata files of lakes written before the catalog (CatalogMigration.swift):
    // read only to import them (a writer) or to read a lake not yet migrated (a reader).
    func legacyTopicConfig(_ topic: String) -> String { topicDirectory(topic) + "/topic.json" }
    func legacyPartitions(_ topic: String) -> String { topicDirectory(topic) + "/partitions" }
    func legacyStartOffset(_ log: String) -> String { topicDirectory(log) + "/start-offset" }
    func legacyLogStart(_ log: String) -> String { topicDirectory(log) + "/log-start-offset" }
    func legacyDeletionMarker(_ topic: String) -> String { topicDirectory(topic) + "/DELETING" }
    /// Producer state snapshot covering the log below `offset` (ProducerState.swift).
    func producerSnapshot(_ topic: String, offset: Int64) -> String {
        topicDirectory(topic) + "/" + Self.sequencedName(UInt64(max(offset, 0)), ProducerSnapshot.fileSuffix)
    }
    /// Offset of a producer snapshot file name (`00000000000000000042.producers` → 42).
    static func producerSnapshotOffset(fileName: String) -> Int64? {
        sequence(of: fileName, ProducerSnapshot.fileSuffix).flatMap { Int64(exactly: $0) }
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
