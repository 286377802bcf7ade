#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The topic settings a reader of the bucket needs (formats/manifest.md). Every field is
/// optional so settings can be added without a format version bump; absent means "default".
public struct ManifestTopicConfig: Codable, Sendable, Hashable {
    /// Raw bytes per cold frame the writer aims for.
    public var frameRawBytesTarget: Int?
    /// zstd level of cold frames.
    public var compressionLevel: Int32?
    /// Total retention by age (nil: unlimited).
    public var retentionMs: Int64?
    /// Total retention by size (nil: unlimited).
    public var retentionBytes: Int64?

    public init(
        frameRawBytesTarget: Int? = nil, compressionLevel: Int32? = nil, retentionMs: Int64? = nil,
        retentionBytes: Int64? = nil
    ) {
        self.frameRawBytesTarget = frameRawBytesTarget
        self.compressionLevel = compressionLevel
        self.retentionMs = retentionMs
        self.retentionBytes = retentionBytes
    }
}

/// One cold object listed by a manifest.
public struct ManifestSegment: Codable, Sendable, Hashable {
    public var baseOffset: Int64
    public var lastOffset: Int64
    public var firstTimestamp: Int64
    public var maxTimestamp: Int64
    public var recordCount: Int64
    /// Size of the raw segment file.
    public var rawBytes: Int64
    /// Size of the cold object.
    public var objectBytes: Int64
    /// CRC32C of the raw segment file.
    public var rawCrc32c: UInt32
    public var frameCount: Int
    /// Object key relative to the lake root (`BucketLayout.segmentKeyRelative`), or for a slice
    /// of a packed object the packed object's key (`BucketLayout.packedKeyRelative`).
    public var key: String
    /// Byte position of the slice in the packed object `key` names; nil (absent in the JSON) for
    /// a standalone object, which starts at byte 0. Present exactly when `key` is a packed key.
    public var objectOffset: Int64?

    public init(
        baseOffset: Int64, lastOffset: Int64, firstTimestamp: Int64, maxTimestamp: Int64, recordCount: Int64,
        rawBytes: Int64, objectBytes: Int64, rawCrc32c: UInt32, frameCount: Int, key: String,
        objectOffset: Int64? = nil
    ) {
        self.objectOffset = objectOffset
        self.baseOffset = baseOffset
        self.lastOffset = lastOffset
        self.firstTimestamp = firstTimestamp
        self.maxTimestamp = maxTimestamp
        self.recordCount = recordCount
        self.rawBytes = rawBytes
        self.objectBytes = objectBytes
        self.rawCrc32c = rawCrc32c
        self.frameCount = frameCount
        self.key = key
    }

    /// The entry for an encoded (or parsed) cold object, with its key from the bucket layout.
    public init(_ index: ColdObjectIndex) {
        self.init(
            baseOffset: index.baseOffset, lastOffset: index.lastOffset, firstTimestamp: index.firstTimestamp,
            maxTimestamp: index.maxTimestamp, recordCount: index.recordCount, rawBytes: Int64(index.rawBytes),
            objectBytes: Int64(index.objectBytes), rawCrc32c: index.rawCrc32c, frameCount: index.frames.count,
            key: BucketLayout.segmentKeyRelative(
                topic: index.topic, baseOffset: index.baseOffset, lastOffset: index.lastOffset))
    }

    /// True for a slice of a packed object (formats/cold-object.md, "Packed objects").
    public var isPacked: Bool { objectOffset != nil }

    /// Where the object's bytes start in the blob `key` names (0 for a standalone object).
    public var objectStart: Int64 { objectOffset ?? 0 }
}

/// A manifest's reference to an immutable archive manifest holding older segments.
public struct ArchiveReference: Codable, Sendable, Hashable {
    public var baseOffset: Int64
    public var lastOffset: Int64
    public var segmentCount: Int
    /// Key relative to the lake root (`BucketLayout.archiveKeyRelative`).
    public var key: String

    public init(baseOffset: Int64, lastOffset: Int64, segmentCount: Int, key: String) {
        self.baseOffset = baseOffset
        self.lastOffset = lastOffset
        self.segmentCount = segmentCount
        self.key = key
    }
}

/// One immutable version of a topic's manifest (formats/manifest.md): which cold objects hold
/// which offsets. Version N+1 is written with put-if-absent; losing that race fences a writer.
public struct Manifest: Codable, Sendable, Hashable {
    /// The format version of a manifest without packed entries (and of `lake.json`).
    public static let currentFormatVersion = 1
    /// The format version of a manifest (or archive) holding at least one packed entry: readers
    /// that know only version 1 refuse it instead of reading a slice as a whole object.
    public static let packedFormatVersion = 2
    /// The versions this reader understands.
    public static let knownFormatVersions: ClosedRange<Int> = 1 ... 2

    /// The format version a document listing `segments` must carry.
    public static func formatVersion(for segments: [ManifestSegment]) -> Int {
        segments.contains(where: \.isPacked) ? packedFormatVersion : currentFormatVersion
    }

    /// Sets `formatVersion` to what the segments need (writers call it before committing).
    public mutating func settleFormatVersion() { formatVersion = Self.formatVersion(for: segments) }

    public var formatVersion: Int
    public var topic: String
    /// Manifest version, ≥ 1; equals the number in its key.
    public var version: UInt64
    /// Epoch of the writer that committed this version.
    public var writerEpoch: UInt64
    /// First offset readers may ask for.
    public var logStartOffset: Int64
    /// One past the last offset held by the listed objects.
    public var nextOffset: Int64
    public var config: ManifestTopicConfig
    /// Cold objects, sorted and contiguous, after the archived ones.
    public var segments: [ManifestSegment]
    /// Archive manifests with the oldest segments, sorted and contiguous.
    public var archives: [ArchiveReference]
    /// When this version was written (ms since the epoch, from the injected clock).
    public var createdMs: Int64

    public init(
        topic: String, version: UInt64, writerEpoch: UInt64, logStartOffset: Int64, nextOffset: Int64,
        config: ManifestTopicConfig = ManifestTopicConfig(), segments: [ManifestSegment] = [],
        archives: [ArchiveReference] = [], createdMs: Int64
    ) {
        self.formatVersion = Self.formatVersion(for: segments)
        self.topic = topic
        self.version = version
        self.writerEpoch = writerEpoch
        self.logStartOffset = logStartOffset
        self.nextOffset = nextOffset
        self.config = config
        self.segments = segments
        self.archives = archives
        self.createdMs = createdMs
    }

    /// Checks every invariant; call it before writing (`encode` does).
    /// - Throws: `FormatError` naming the field, e.g. `manifest.segments[3].baseOffset`.
    public func validate() throws(FormatError) {
        try ManifestRules.checkHeader(formatVersion: formatVersion, topic: topic, field: "manifest")
        try ManifestRules.checkPackedVersion(formatVersion, segments, field: "manifest")
        guard version >= 1 else { throw ManifestRules.invalid("manifest.version", "must be ≥ 1") }
        try ManifestRules.checkConfig(config)
        var next: Int64? = nil
        for (i, archive) in archives.enumerated() {
            try ManifestRules.checkArchive(archive, topic: topic, field: "manifest.archives[\(i)]", expectedBase: next)
            next = archive.lastOffset + 1
        }
        next =
            try ManifestRules.checkSegments(segments, topic: topic, field: "manifest.segments", expectedBase: next)
            ?? next
        let firstBase = archives.first?.baseOffset ?? segments.first?.baseOffset
        try ManifestRules.checkRange(
            logStartOffset: logStartOffset, nextOffset: nextOffset, firstBase: firstBase, end: next)
    }

    /// Validates, then encodes deterministically: sorted keys, no whitespace, `/` unescaped.
    public func encode() throws(FormatError) -> [UInt8] {
        try validate()
        return try ManifestJSON.encode(self, field: "manifest")
    }

    /// Decodes and validates a manifest document.
    /// - Parameters:
    ///   - expectedTopic: the topic in the key it was read from, if known.
    ///   - expectedVersion: the version in the key it was read from, if known.
    /// - Throws: `FormatError` naming the field (JSON positions are not tracked: position 0).
    public static func decode(
        _ bytes: [UInt8], expectedTopic: String? = nil, expectedVersion: UInt64? = nil
    ) throws(FormatError) -> Manifest {
        let manifest = try ManifestJSON.decode(Manifest.self, from: bytes, field: "manifest")
        try manifest.validate()
        if let expectedTopic, manifest.topic != expectedTopic {
            throw ManifestRules.invalid(
                "manifest.topic", "\"\(manifest.topic)\" read from a key of \"\(expectedTopic)\"")
        }
        if let expectedVersion, manifest.version != expectedVersion {
            throw ManifestRules.invalid(
                "manifest.version", "\(manifest.version) read from the key of version \(expectedVersion)")
        }
        return manifest
    }
}

/// An immutable list of a topic's oldest segments, spilled out of the manifest when it grew
/// past its bound, and referenced from it by range (`ArchiveReference`).
public struct ArchiveManifest: Codable, Sendable, Hashable {
    public var formatVersion: Int
    public var topic: String
    public var baseOffset: Int64
    public var lastOffset: Int64
    public var segments: [ManifestSegment]
    public var createdMs: Int64
    /// Set on an archive written again with some entries moved (packed compaction): 16 lowercase
    /// hex digits, chosen at random per rewrite and part of the key, so the rewritten document
    /// never meets the immutable one of the same range. Absent on a spilled archive.
    public var rewrite: String?

    public init(topic: String, segments: [ManifestSegment], createdMs: Int64, rewrite: String? = nil) {
        self.formatVersion = Manifest.formatVersion(for: segments)
        self.topic = topic
        self.baseOffset = segments.first?.baseOffset ?? 0
        self.lastOffset = segments.last?.lastOffset ?? -1
        self.segments = segments
        self.createdMs = createdMs
        self.rewrite = rewrite
    }

    /// The reference a manifest stores for this archive.
    public var reference: ArchiveReference {
        ArchiveReference(
            baseOffset: baseOffset, lastOffset: lastOffset, segmentCount: segments.count,
            key: BucketLayout.archiveKeyRelative(
                topic: topic, baseOffset: baseOffset, lastOffset: lastOffset, rewrite: rewrite))
    }

    /// Checks the invariants: at least one segment, contiguous, matching the range.
    public func validate() throws(FormatError) {
        try ManifestRules.checkHeader(formatVersion: formatVersion, topic: topic, field: "archive")
        try ManifestRules.checkPackedVersion(formatVersion, segments, field: "archive")
        guard !segments.isEmpty else {
            throw ManifestRules.invalid("archive.segments", "an archive holds at least one segment")
        }
        if let rewrite, !BucketLayout.isArchiveRewriteId(rewrite) {
            throw ManifestRules.invalid("archive.rewrite", "\"\(rewrite)\" is not 16 lowercase hex digits")
        }
        _ = try ManifestRules.checkSegments(segments, topic: topic, field: "archive.segments", expectedBase: baseOffset)
        guard segments.last?.lastOffset == lastOffset else {
            throw ManifestRules.invalid("archive.lastOffset", "\(lastOffset) is not the last segment's last offset")
        }
    }

    /// Validates, then encodes deterministically.
    public func encode() throws(FormatError) -> [UInt8] {
        try validate()
        return try ManifestJSON.encode(self, field: "archive")
    }

    /// Decodes and validates an archive manifest; with `reference`, also checks it is the one
    /// the manifest points to (topic, range, segment count).
    public static func decode(
        _ bytes: [UInt8], topic: String? = nil, reference: ArchiveReference? = nil
    ) throws(FormatError) -> ArchiveManifest {
        let archive = try ManifestJSON.decode(ArchiveManifest.self, from: bytes, field: "archive")
        try archive.validate()
        if let topic, archive.topic != topic {
            throw ManifestRules.invalid("archive.topic", "\"\(archive.topic)\", expected \"\(topic)\"")
        }
        if let reference, archive.reference != reference {
            throw ManifestRules.invalid(
                "archive",
                "range \(archive.baseOffset)...\(archive.lastOffset) with \(archive.segments.count) segments does not "
                    + "match its reference"
            )
        }
        return archive
    }
}

/// `lake.json`: marks a bucket prefix as a Strata lake and says which format version it uses.
public struct LakeDescriptor: Codable, Sendable, Hashable {
    public var formatVersion: Int
    public var createdMs: Int64

    public init(createdMs: Int64) {
        self.formatVersion = Manifest.currentFormatVersion
        self.createdMs = createdMs
    }

    public func encode() throws(FormatError) -> [UInt8] { try ManifestJSON.encode(self, field: "lake") }

    /// - Throws: `FormatError(.unsupportedVersion)` for a lake of another format version.
    public static func decode(_ bytes: [UInt8]) throws(FormatError) -> LakeDescriptor {
        let lake = try ManifestJSON.decode(LakeDescriptor.self, from: bytes, field: "lake")
        guard lake.formatVersion == Manifest.currentFormatVersion else {
            throw FormatError(
                .unsupportedVersion, field: "lake.formatVersion", position: 0,
                "format version \(lake.formatVersion), this reader knows \(Manifest.currentFormatVersion)")
        }
        return lake
    }
}
