#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Invariants shared by manifests and archive manifests (formats/manifest.md).
enum ManifestRules {
    static func invalid(_ field: String, _ message: String) -> FormatError {
        FormatError(.invalidValue, field: field, position: 0, message)
    }

    static func checkFormatVersion(_ formatVersion: Int, field: String) throws(FormatError) {
        guard Manifest.knownFormatVersions.contains(formatVersion) else {
            throw FormatError(
                .unsupportedVersion, field: field + ".formatVersion", position: 0,
                "format version \(formatVersion), this reader knows \(Manifest.knownFormatVersions)")
        }
    }

    /// Version 2 exactly when a segment is a slice of a packed object: a version-1 document with
    /// a packed entry would be misread by an old reader, a version-2 one without is not canonical.
    static func checkPackedVersion(_ formatVersion: Int, _ segments: [ManifestSegment], field: String) throws(FormatError) {
        let required = Manifest.formatVersion(for: segments)
        guard formatVersion == required else {
            throw FormatError(
                .invalidValue, field: field + ".formatVersion", position: 0,
                "\(formatVersion), but its segments need \(required) (2 exactly when one is a packed slice)")
        }
    }

    static func checkHeader(formatVersion: Int, topic: String, field: String) throws(FormatError) {
        try checkFormatVersion(formatVersion, field: field)
        do throws(FormatError) {
            _ = try LogName.parse(topic)
        } catch {
            throw invalid(field + ".topic", error.message)
        }
    }

    static func checkConfig(_ config: ManifestTopicConfig) throws(FormatError) {
        if let target = config.frameRawBytesTarget, target < 1 || target > FormatLimits.coldFrameRawBytesMax {
            throw invalid(
                "manifest.config.frameRawBytesTarget", "\(target) outside [1, \(FormatLimits.coldFrameRawBytesMax)]")
        }
        if let ms = config.retentionMs, ms < 0 { throw invalid("manifest.config.retentionMs", "negative") }
        if let bytes = config.retentionBytes, bytes < 0 { throw invalid("manifest.config.retentionBytes", "negative") }
    }

    /// Offsets are dense and never negative; `lastOffset + 1` must not overflow.
    static func checkRange(_ base: Int64, _ last: Int64, field: String, expectedBase: Int64?) throws(FormatError) {
        guard base >= 0, last >= base, last < Int64.max else {
            throw invalid(field + ".lastOffset", "range \(base)...\(last) is empty or out of bounds")
        }
        if let expectedBase, base != expectedBase {
            // Name the offsets, so a reader refusing the manifest says what it would have lost.
            let what =
                base > expectedBase
                ? "offsets \(expectedBase)..<\(base) are missing" : "offsets \(base)..<\(expectedBase) are listed twice"
            throw invalid(
                field + ".baseOffset", "\(base), expected \(expectedBase): \(what) (ranges must be contiguous)")
        }
    }

    static func checkArchive(
        _ archive: ArchiveReference, topic: String, field: String, expectedBase: Int64?
    ) throws(FormatError) {
        try checkRange(archive.baseOffset, archive.lastOffset, field: field, expectedBase: expectedBase)
        guard archive.segmentCount >= 1, Int64(archive.segmentCount) <= archive.lastOffset - archive.baseOffset + 1
        else {
            throw invalid(
                field + ".segmentCount",
                "\(archive.segmentCount) segments for \(archive.lastOffset - archive.baseOffset + 1) offsets")
        }
        // The range's key, or a rewrite's (`-<16 hex>` before `.json`): what the parser reads.
        let parsed = try? BucketLayout().parseArchiveKey(archive.key, topic: topic)
        guard let parsed, parsed == (archive.baseOffset, archive.lastOffset) else {
            let key = BucketLayout.archiveKeyRelative(
                topic: topic, baseOffset: archive.baseOffset, lastOffset: archive.lastOffset)
            throw invalid(field + ".key", "\"\(archive.key)\", the layout says \"\(key)\" (or a rewrite of it)")
        }
    }

    /// Checks each segment and their contiguity; returns one past the last offset (nil if none).
    static func checkSegments(
        _ segments: [ManifestSegment], topic: String, field: String, expectedBase: Int64?
    ) throws(FormatError) -> Int64? {
        var next = expectedBase
        for (i, segment) in segments.enumerated() {
            try checkSegment(segment, topic: topic, field: "\(field)[\(i)]", expectedBase: next)
            next = segment.lastOffset + 1
        }
        return segments.isEmpty ? nil : next
    }

    static func checkSegment(
        _ s: ManifestSegment, topic: String, field: String, expectedBase: Int64?
    ) throws(FormatError) {
        try checkRange(s.baseOffset, s.lastOffset, field: field, expectedBase: expectedBase)
        guard s.recordCount == s.lastOffset - s.baseOffset + 1 else {
            throw invalid(
                field + ".recordCount", "\(s.recordCount) records for offsets \(s.baseOffset)...\(s.lastOffset)")
        }
        guard s.maxTimestamp >= s.firstTimestamp else {
            throw invalid(field + ".maxTimestamp", "before firstTimestamp")
        }
        guard s.rawBytes > Int64(SegmentHeader.size) else {
            throw invalid(field + ".rawBytes", "\(s.rawBytes) holds no batch")
        }
        guard s.objectBytes > 0 else { throw invalid(field + ".objectBytes", "\(s.objectBytes)") }
        guard s.frameCount >= 1, s.frameCount <= FormatLimits.coldFramesMax else {
            throw invalid(field + ".frameCount", "\(s.frameCount) outside [1, \(FormatLimits.coldFramesMax)]")
        }
        if let objectOffset = s.objectOffset {
            guard BucketLayout.isPackedKeyRelative(s.key) else {
                throw invalid(field + ".key", "\"\(s.key)\" is not a packed object key, yet objectOffset is set")
            }
            guard objectOffset >= 0, objectOffset <= Int64.max - s.objectBytes else {
                throw invalid(field + ".objectOffset", "\(objectOffset)")
            }
            return
        }
        let key = BucketLayout.segmentKeyRelative(topic: topic, baseOffset: s.baseOffset, lastOffset: s.lastOffset)
        guard s.key == key else { throw invalid(field + ".key", "\"\(s.key)\", the layout says \"\(key)\"") }
    }

    /// With data: first offset ≤ logStartOffset ≤ nextOffset == end. Without: nothing is
    /// readable, so logStartOffset == nextOffset.
    static func checkRange(logStartOffset: Int64, nextOffset: Int64, firstBase: Int64?, end: Int64?) throws(FormatError)
    {
        guard logStartOffset >= 0 else { throw invalid("manifest.logStartOffset", "negative") }
        guard let firstBase, let end else {
            guard logStartOffset == nextOffset else {
                throw invalid(
                    "manifest.nextOffset", "\(nextOffset) with no segments must equal logStartOffset \(logStartOffset)")
            }
            return
        }
        guard nextOffset == end else {
            throw invalid("manifest.nextOffset", "\(nextOffset), the last segment ends at \(end - 1)")
        }
        guard logStartOffset >= firstBase, logStartOffset <= nextOffset else {
            throw invalid("manifest.logStartOffset", "\(logStartOffset) outside [\(firstBase), \(nextOffset)]")
        }
    }
}

/// Reads only `formatVersion`, so a newer document is recognised before its fields are.
private struct VersionProbe: Decodable { var formatVersion: Int }

/// The deterministic JSON codec of manifests: sorted keys, no whitespace, `/` unescaped.
enum ManifestJSON {
    static func encode<T: Encodable>(_ value: T, field: String) throws(FormatError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return [UInt8](try encoder.encode(value))
        } catch {
            throw FormatError(.invalidValue, field: field, position: 0, "cannot encode: \(error)")
        }
    }

    /// Decodes after checking the size bound and the format version, so a newer document gets
    /// `unsupportedVersion` rather than a missing-field error.
    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], field: String) throws(FormatError) -> T {
        guard bytes.count <= FormatLimits.manifestBytesMax else {
            throw FormatError(
                .outOfBounds, field: field, position: 0, "\(bytes.count) bytes exceed \(FormatLimits.manifestBytesMax)")
        }
        let data = Data(bytes)
        do {
            let probe = try JSONDecoder().decode(VersionProbe.self, from: data)
            try ManifestRules.checkFormatVersion(probe.formatVersion, field: field)
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as FormatError {
            throw error
        } catch let DecodingError.keyNotFound(key, context) {
            throw FormatError(.invalidValue, field: path(field, context.codingPath + [key]), position: 0, "missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
            let DecodingError.dataCorrupted(context)
        {
            throw FormatError(
                .invalidValue, field: path(field, context.codingPath), position: 0, context.debugDescription)
        } catch {
            throw FormatError(.invalidValue, field: field, position: 0, "\(error)")
        }
    }

    static func path(_ root: String, _ codingPath: [any CodingKey]) -> String {
        codingPath.reduce(root) { text, key in
            if let index = key.intValue { return text + "[\(index)]" }
            return text + "." + key.stringValue
        }
    }
}
