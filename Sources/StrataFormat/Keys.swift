/// Topic names: `[A-Za-z0-9._-]{1,249}`, never `.` or `..` (formats/bucket-layout.md). The name is used
/// verbatim in object keys and file names, which is why the alphabet is so small.
public enum TopicName {
    /// Checks `name` and throws when it cannot name a topic.
    /// - Throws: `FormatError(.invalidValue, field: "topic")` naming the first bad byte, or
    ///   `.outOfBounds` for an empty or too long name.
    public static func validate(_ name: String) throws(FormatError) {
        let utf8 = Array(name.utf8)
        guard !utf8.isEmpty, utf8.count <= FormatLimits.topicNameBytesMax else {
            throw FormatError(
                .outOfBounds, field: "topic", position: 0,
                "topic name has \(utf8.count) bytes, allowed 1...\(FormatLimits.topicNameBytesMax)")
        }
        for (position, byte) in utf8.enumerated() where !isAllowed(byte) {
            throw FormatError(
                .invalidValue, field: "topic", position: position,
                "byte 0x\(String(byte, radix: 16)) is not in [A-Za-z0-9._-]")
        }
        guard name != ".", name != ".." else {
            throw FormatError(.invalidValue, field: "topic", position: 0, "\"\(name)\" is not a topic name")
        }
    }

    /// True when `name` passes `validate`.
    public static func isValid(_ name: String) -> Bool {
        do throws(FormatError) {
            try validate(name)
            return true
        } catch {
            return false
        }
    }

    static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A") ... UInt8(ascii: "Z"), UInt8(ascii: "a") ... UInt8(ascii: "z"),
            UInt8(ascii: "0") ... UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}

/// The name of one partition's log (formats/bucket-layout.md, "Partitions"): the topic name for
/// partition 0, `<topic>/<partition>` for partition ≥ 1, the partition in canonical decimal (no
/// sign, no leading zero). It is the path component under `topics/`, locally and in the bucket,
/// and the `topic` field of manifests and cold objects. Partition 0 is the topic's own directory,
/// so every topic written before partitions existed is partition 0 of a one-partition topic,
/// unchanged. Topic names never contain `/`, so no topic name and no log name of another topic
/// can collide, and a partition's directory (all digits) never collides with a topic's own
/// entries (`manifest/`, `segments/`, `archive/`, `quarantine/`, `<20 digits>.seg`).
public struct LogName: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let topic: String
    public let partition: Int32

    /// - Throws: `FormatError` for a bad topic name or a partition outside
    ///   `0..<FormatLimits.partitionsMax`.
    public init(topic: String, partition: Int32 = 0) throws(FormatError) {
        try TopicName.validate(topic)
        guard partition >= 0, partition < FormatLimits.partitionsMax else {
            throw FormatError(
                .outOfBounds, field: "partition", position: 0,
                "partition \(partition) outside 0..<\(FormatLimits.partitionsMax)")
        }
        self.topic = topic
        self.partition = partition
    }

    /// For names already checked (`TopicName.validate`, a partition in range).
    public init(validated topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// `orders` for partition 0, `orders/3` for partition 3.
    public var description: String { partition == 0 ? topic : topic + "/" + String(partition) }

    /// Parses a log name (`orders`, `orders/3`); `orders/0`, `orders/03` and `orders/x` are not
    /// log names (each log has exactly one name).
    /// - Throws: `FormatError(.invalidValue, field: "topic")` naming the first bad byte.
    public static func parse(_ text: String) throws(FormatError) -> LogName {
        guard let slash = text.utf8.firstIndex(of: UInt8(ascii: "/")) else { return try LogName(topic: text) }
        let topic = String(text[..<slash])
        try TopicName.validate(topic)
        let digits = Array(text.utf8[text.utf8.index(after: slash)...])
        let at = topic.utf8.count + 1
        guard let partition = canonicalPartition(digits), partition > 0 else {
            throw FormatError(
                .invalidValue, field: "topic", position: at,
                "\"\(text)\" is not a log name: after '/' comes a partition ≥ 1 in decimal without leading zeros")
        }
        return try LogName(topic: topic, partition: partition)
    }

    /// True when `text` passes `parse`.
    public static func isValid(_ text: String) -> Bool {
        do throws(FormatError) {
            _ = try parse(text)
            return true
        } catch {
            return false
        }
    }

    /// The value of a partition directory name (`3`), nil unless it is a canonical decimal below
    /// `FormatLimits.partitionsMax` (partition 0 has no directory of its own).
    public static func partitionDirectory(_ name: String) -> Int32? {
        guard let partition = canonicalPartition(Array(name.utf8)), partition > 0 else { return nil }
        return partition
    }

    static func canonicalPartition(_ digits: [UInt8]) -> Int32? {
        guard !digits.isEmpty, digits.count <= 10,
            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            digits.count == 1 || digits[0] != UInt8(ascii: "0"),
            let value = Int64(String(decoding: digits, as: UTF8.self)), value < Int64(FormatLimits.partitionsMax)
        else { return nil }
        return Int32(value)
    }

    public static func < (a: LogName, b: LogName) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
}

/// Which kind of hot file a name denotes.
public enum HotFileKind: String, Sendable {
    /// `<base 20 digits>.seg`: a segment.
    case segment = "seg"
    /// `<base 20 digits>.idx`: the sparse index of a sealed segment.
    case index = "idx"
}

/// The only place object keys and hot file names are built or parsed (formats/bucket-layout.md).
///
/// Keys returned here are relative to the lake root; `BucketLayout(prefix:)` adds the
/// configured prefix. Manifests store relative keys, so a lake can move under another prefix.
public struct BucketLayout: Sendable, Hashable {
    /// Key of the lake descriptor, relative to the lake root.
    public static let lakeKeyRelative = "lake.json"
    /// Width of every number in keys and file names (zero padded).
    public static let numberDigits = 20

    /// The prefix every key starts with: empty, or ending in `/`.
    public let prefix: String

    /// - Parameter prefix: where the lake lives in the bucket; a missing trailing `/` is added.
    public init(prefix: String = "") {
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
    }

    /// `<prefix>lake.json`.
    public var lakeKey: String { prefix + Self.lakeKeyRelative }

    /// `<prefix>topics/`: list it with delimiter `/` to find topics.
    public var topicsPrefix: String { prefix + "topics/" }

    /// Full key (prefix included) of a key relative to the lake root.
    public func absolute(_ relativeKey: String) -> String { prefix + relativeKey }

    /// The key relative to the lake root, or nil when `key` is not under the prefix.
    public func relative(_ key: String) -> String? {
        guard key.hasPrefix(prefix) else { return nil }
        return String(key.dropFirst(prefix.count))
    }

    /// `<prefix>topics/<topic>/manifest/`: list it to find manifest versions.
    public func manifestPrefix(topic: String) -> String { prefix + Self.manifestDirectory(topic: topic) }

    /// `<prefix>topics/<topic>/segments/`.
    public func segmentPrefix(topic: String) -> String { prefix + "topics/\(topic)/segments/" }

    /// `<prefix>topics/<topic>/manifest/<version, 20 digits>.json`.
    public func manifestKey(topic: String, version: UInt64) -> String {
        prefix + Self.manifestKeyRelative(topic: topic, version: version)
    }

    /// `<prefix>topics/<topic>/segments/<base 20>-<last 20>.seg.zst`.
    public func segmentKey(topic: String, baseOffset: Int64, lastOffset: Int64) -> String {
        prefix + Self.segmentKeyRelative(topic: topic, baseOffset: baseOffset, lastOffset: lastOffset)
    }

    /// `<prefix>topics/<topic>/archive/<base 20>-<last 20>.json` (or `…-<rewrite 16 hex>.json`).
    public func archiveKey(topic: String, baseOffset: Int64, lastOffset: Int64, rewrite: String? = nil) -> String {
        prefix + Self.archiveKeyRelative(topic: topic, baseOffset: baseOffset, lastOffset: lastOffset, rewrite: rewrite)
    }

    /// Relative key of a manifest version (what a lister sees after the prefix).
    public static func manifestKeyRelative(topic: String, version: UInt64) -> String {
        manifestDirectory(topic: topic) + padded(version) + ".json"
    }

    /// Relative key of a cold object, as stored in manifests.
    public static func segmentKeyRelative(topic: String, baseOffset: Int64, lastOffset: Int64) -> String {
        "topics/\(topic)/segments/\(padded(baseOffset))-\(padded(lastOffset)).seg.zst"
    }

    /// Relative key of an archive manifest, as stored in manifests: the range, and for an archive
    /// written again with its entries moved (packed compaction) the rewrite's id, so the new
    /// document never meets the immutable one it replaces (formats/manifest.md, "Spillover").
    public static func archiveKeyRelative(
        topic: String, baseOffset: Int64, lastOffset: Int64, rewrite: String? = nil
    ) -> String {
        "topics/\(topic)/archive/\(padded(baseOffset))-\(padded(lastOffset))" + (rewrite.map { "-" + $0 } ?? "")
            + ".json"
    }

    /// A fresh archive rewrite id: 16 lowercase hex digits of `value`.
    public static func archiveRewriteId(_ value: UInt64) -> String { hex16(value) }

    /// True when `text` is an archive rewrite id: exactly 16 lowercase hex digits.
    public static func isArchiveRewriteId<S: StringProtocol>(_ text: S) -> Bool { isHex16(text) }

    /// `value` as exactly 16 lowercase hex digits (packed objects' writer ids, archive rewrites).
    static func hex16(_ value: UInt64) -> String {
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// True when `text` is exactly 16 lowercase hex digits.
    static func isHex16<S: StringProtocol>(_ text: S) -> Bool {
        text.utf8.count == 16
            && text.utf8.allSatisfy {
                ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f"))
            }
    }

    static func manifestDirectory(topic: String) -> String { "topics/\(topic)/manifest/" }

    /// Hot segment file name `<base 20 digits>.seg`.
    public static func hotSegmentFileName(baseOffset: Int64) -> String { padded(baseOffset) + ".seg" }

    /// Hot index file name `<base 20 digits>.idx`.
    public static func hotIndexFileName(baseOffset: Int64) -> String { padded(baseOffset) + ".idx" }

    /// Parses a hot file name; nil for anything else (temp files, foreign files).
    public static func parseHotFileName(_ name: String) -> (baseOffset: Int64, kind: HotFileKind)? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let kind = HotFileKind(rawValue: String(parts[1])),
            let base = parseNumber(parts[0]), let offset = Int64(exactly: base)
        else { return nil }
        return (offset, kind)
    }

    /// The version of a manifest key (with this layout's prefix) of `topic`.
    /// - Throws: `FormatError(.invalidValue, field: "manifestKey")` when `key` is not one.
    public func parseManifestKey(_ key: String, topic: String) throws(FormatError) -> UInt64 {
        let directory = manifestPrefix(topic: topic)
        guard key.hasPrefix(directory), key.hasSuffix(".json"),
            let version = Self.parseNumber(key.dropFirst(directory.count).dropLast(5))
        else {
            throw FormatError(
                .invalidValue, field: "manifestKey", position: 0, "\"\(key)\" is not a manifest key of \(topic)")
        }
        return version
    }

    /// The topic a key under `topicsPrefix` is filed under: its first path component after
    /// `topics/`, not checked against the topic-name rules (a scrub reports foreign keys too).
    /// - Returns: nil for a key outside `topics/` or with an empty first component.
    public func topicComponent(of key: String) -> String? {
        guard key.hasPrefix(topicsPrefix) else { return nil }
        let component = key.dropFirst(topicsPrefix.count).prefix { $0 != "/" }
        return component.isEmpty ? nil : String(component)
    }

    /// The log a key under `topicsPrefix` is filed under: the topic component, followed by
    /// `/<partition>` when the next component is a partition directory (`LogName`); the topic
    /// component alone otherwise. Not checked against the topic-name rules.
    public func logComponent(of key: String) -> String? {
        guard let topic = topicComponent(of: key) else { return nil }
        let rest = key.dropFirst(topicsPrefix.count + topic.utf8.count)
        guard rest.hasPrefix("/") else { return topic }
        let next = rest.dropFirst().prefix { $0 != "/" }
        guard LogName.partitionDirectory(String(next)) != nil, rest.dropFirst(next.utf8.count + 1).hasPrefix("/") else {
            return topic
        }
        return topic + "/" + next
    }

    /// `<prefix>topics/<topic>/`: every key of every partition of `topic`.
    public func topicPrefix(topic: String) -> String { topicsPrefix + topic + "/" }

    /// Log name and version of a manifest key (with this layout's prefix) of any log.
    /// - Returns: nil for every other key, including one under a name `LogName` rejects.
    public func parseManifestKey(_ key: String) -> (topic: String, version: UInt64)? {
        guard let log = logComponent(of: key), LogName.isValid(log),
            let version = try? parseManifestKey(key, topic: log)
        else { return nil }
        return (log, version)
    }

    /// The logs (`LogName` text) with at least one manifest version among `keys` (a listing of
    /// `topicsPrefix`), sorted by topic, then partition: what "the logs in the bucket" means.
    public func manifestLogs<Keys: Sequence<String>>(in keys: Keys) -> [String] {
        let logs = Set(keys.compactMap { parseManifestKey($0)?.topic }).compactMap { try? LogName.parse($0) }
        return logs.sorted().map(\.description)
    }

    /// Base and last offset of a cold object key (with this layout's prefix) of `topic`.
    /// - Throws: `FormatError(.invalidValue, field: "segmentKey")` when `key` is not one.
    public func parseSegmentKey(
        _ key: String, topic: String
    ) throws(FormatError) -> (baseOffset: Int64, lastOffset: Int64) {
        guard let range = Self.parseRange(key, directory: segmentPrefix(topic: topic), suffix: ".seg.zst") else {
            throw FormatError(
                .invalidValue, field: "segmentKey", position: 0, "\"\(key)\" is not a segment key of \(topic)")
        }
        return range
    }

    /// Base and last offset of an archive manifest key (with this layout's prefix) of `topic`.
    /// - Throws: `FormatError(.invalidValue, field: "archiveKey")` when `key` is not one.
    public func parseArchiveKey(
        _ key: String, topic: String
    ) throws(FormatError) -> (baseOffset: Int64, lastOffset: Int64) {
        let directory = prefix + "topics/\(topic)/archive/"
        let suffix = ".json"
        if let range = Self.parseRange(key, directory: directory, suffix: suffix) { return range }
        // A rewritten archive: `<base>-<last>-<rewrite id>.json`.
        if key.hasPrefix(directory), key.hasSuffix(suffix) {
            let name = key.dropFirst(directory.count).dropLast(suffix.count)
            if let dash = name.lastIndex(of: "-"), Self.isArchiveRewriteId(name[name.index(after: dash)...]),
                let range = Self.parseRange(
                    directory + name[..<dash] + suffix, directory: directory, suffix: suffix)
            {
                return range
            }
        }
        throw FormatError(
            .invalidValue, field: "archiveKey", position: 0, "\"\(key)\" is not an archive key of \(topic)")
    }

    static func parseRange(_ key: String, directory: String, suffix: String) -> (baseOffset: Int64, lastOffset: Int64)?
    {
        guard key.hasPrefix(directory), key.hasSuffix(suffix) else { return nil }
        let name = key.dropFirst(directory.count).dropLast(suffix.count)
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let base = parseNumber(parts[0]), let last = parseNumber(parts[1]),
            let baseOffset = Int64(exactly: base), let lastOffset = Int64(exactly: last), baseOffset <= lastOffset
        else { return nil }
        return (baseOffset, lastOffset)
    }

    /// Exactly 20 ASCII digits → value (nil otherwise, also on overflow).
    static func parseNumber<S: StringProtocol>(_ text: S) -> UInt64? {
        let utf8 = Array(text.utf8)
        guard utf8.count == numberDigits, utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return UInt64(String(decoding: utf8, as: UTF8.self))
    }

    static func padded<T: BinaryInteger>(_ value: T) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, numberDigits - digits.count)) + digits
    }
}
