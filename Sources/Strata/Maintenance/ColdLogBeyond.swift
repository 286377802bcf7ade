import StrataBlob

/// Segment objects a store holds past the end of a topic's newest manifest.
public struct UncommittedObjects: Sendable, Equatable {
    /// The newest manifest's version and its next offset.
    public var manifestVersion: UInt64
    public var manifestNextOffset: Int64
    /// First and last offset the objects past the end cover, and how many there are.
    public var firstOffset: Int64
    public var lastOffset: Int64
    public var objectCount: Int

    /// What an export says about them: the records it leaves out and why they may exist.
    public var description: String {
        "the store holds \(objectCount) segment objects for offsets \(firstOffset)...\(lastOffset) past manifest "
            + "v\(manifestVersion), which ends at offset \(manifestNextOffset - 1): an upload not committed yet, or a "
            + "missing latest manifest (`strata inspect scrub --lake DIR` tells which)"
    }
}

extension ColdLog {
    /// Segment objects of `topic` that start at or after the end of the manifest this view
    /// reads, so a whole-topic export does not end early in silence when the store lost its
    /// latest manifest (issue 12.3). Costs one listing of the topic's segments.
    /// - Returns: nil when there are none (or the topic has no manifest).
    /// - Throws: `io` when the store cannot be listed; what `manifest(_:)` throws.
    public func objectsPastManifest(_ topic: String) async throws(StrataError) -> UncommittedObjects? {
        try validateLogName(topic)
        guard let manifest = try await cold.latestManifest(topic) else { return nil }
        let prefix = cold.layout.segmentPrefix(topic: topic)
        let store = cold.store
        let listed = try await cold.blob("list segments", key: prefix, topic: topic) {
            try await store.listAll(prefix: prefix)
        }
        let beyond = listed.compactMap { try? cold.layout.parseSegmentKey($0.key, topic: topic) }
            .filter { $0.lastOffset >= manifest.nextOffset }
        guard let first = beyond.map(\.baseOffset).min(), let last = beyond.map(\.lastOffset).max() else { return nil }
        return UncommittedObjects(
            manifestVersion: manifest.version, manifestNextOffset: manifest.nextOffset,
            firstOffset: max(first, manifest.nextOffset), lastOffset: last,
            objectCount: beyond.count)
    }
}
