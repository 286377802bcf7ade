/// Every local path of a lake directory is built here (DESIGN §2):
///
///     <lake>/LOCK                      flock'ed while a process has the lake open
///     <lake>/lake.json                 lake config (cold store URL)
///     <lake>/topics/<topic>/topic.json topic config
///     <lake>/topics/<topic>/manifest.json  copy of the latest committed manifest
///     <lake>/topics/<topic>/log-start-offset  first readable offset set by `deleteRecords`
///     <lake>/topics/<topic>/DELETING   `topic.json` renamed while `deleteTopic` runs
///     <lake>/topics/<topic>/<base>.seg segment, base offset as 20 digits
///     <lake>/topics/<topic>/<base>.idx its sparse index (sealed segments only)
struct LakePaths: Sendable {
    let root: String

    var lock: String { root + "/LOCK" }
    var config: String { root + "/lake.json" }
    var topicsDirectory: String { root + "/topics" }

    func topicDirectory(_ topic: String) -> String { topicsDirectory + "/" + topic }
    func topicConfig(_ topic: String) -> String { topicDirectory(topic) + "/topic.json" }
    /// Local copy of the topic's latest committed manifest (a cache of the cold store's).
    func topicManifestCopy(_ topic: String) -> String { topicDirectory(topic) + "/manifest.json" }
    /// Base offset for a topic directory without segments (written by `recover`).
    func topicStart(_ topic: String) -> String { topicDirectory(topic) + "/start-offset" }
    /// The log start offset advanced by `deleteRecords` (absent: the first segment's base).
    func topicLogStart(_ topic: String) -> String { topicDirectory(topic) + "/log-start-offset" }
    /// `topic.json` renamed here marks a topic whose deletion has begun (and may be resumed).
    func topicDeletionMarker(_ topic: String) -> String { topicDirectory(topic) + "/DELETING" }
    func segment(_ topic: String, baseOffset: Int64) -> String {
        topicDirectory(topic) + "/" + Self.digits(baseOffset) + ".seg"
    }
    func index(_ topic: String, baseOffset: Int64) -> String {
        topicDirectory(topic) + "/" + Self.digits(baseOffset) + ".idx"
    }

    /// `offset` as the 20-digit zero-padded decimal used in file names (sorts as it counts).
    static func digits(_ offset: Int64) -> String {
        let s = String(offset)
        return String(repeating: "0", count: max(0, 20 - s.count)) + s
    }

    /// Base offset of a segment file name (`00000000000000000042.seg` → 42), nil otherwise.
    static func segmentBaseOffset(fileName: String) -> Int64? {
        guard fileName.hasSuffix(".seg"), fileName.count == 24 else { return nil }
        let digits = fileName.prefix(20)
        guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int64(digits)
    }
}

/// Topic names: `[A-Za-z0-9._-]{1,249}`, never `.` or `..` (DESIGN §3).
func validateTopicName(_ name: String) throws(StrataError) {
    let bytes = Array(name.utf8)
    guard !bytes.isEmpty, bytes.count <= FormatLimits.topicNameBytesMax else {
        throw StrataError(.invalidArgument, "topic name must be 1 to \(FormatLimits.topicNameBytesMax) bytes, is \(bytes.count)")
    }
    guard name != ".", name != ".." else {
        throw StrataError(.invalidArgument, "topic name may not be '\(name)'")
    }
    for (i, b) in bytes.enumerated() {
        let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
        guard ok else {
            throw StrataError(.invalidArgument, "topic name '\(name)' has a character outside [A-Za-z0-9._-] at byte \(i)")
        }
    }
}
