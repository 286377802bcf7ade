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
    /// Segment objects and packed slices of `topic` that end at or after the end of the manifest
    /// this view reads, so a whole-topic export does not end early in silence when the store
    /// lost its latest manifest (issue 12.3). Costs one listing of the topic's segments, one of
    /// `packed/`, and one suffix read (the pack index) per packed object written at or after the
    /// manifest's `createdMs` (an object whose store cannot tell its time is read too). A packed
    /// object whose pack index does not parse is passed over here (`verify` and `scrub` report it).
    /// - Returns: nil when there are none (or the topic has no manifest).
    /// - Throws: `io` when the store cannot be listed or read; what `manifest(_:)` throws.
    public func objectsPastManifest(_ topic: String) async throws(StrataError) -> UncommittedObjects? {
        try validateLogName(topic)
        guard let manifest = try await cold.latestManifest(topic) else { return nil }
        let prefix = cold.layout.segmentPrefix(topic: topic)
        let store = cold.store
        let listed = try await cold.blob("list segments", key: prefix, topic: topic) {
            try await store.listAll(prefix: prefix)
        }
        var beyond: [(baseOffset: Int64, lastOffset: Int64)] =
            listed.compactMap { try? cold.layout.parseSegmentKey($0.key, topic: topic) }
            .filter { $0.lastOffset >= manifest.nextOffset }
            .map { ($0.baseOffset, $0.lastOffset) }
        beyond += try await packedSlicesPast(manifest, topic: topic)
        guard let first = beyond.map(\.baseOffset).min(), let last = beyond.map(\.lastOffset).max() else { return nil }
        return UncommittedObjects(
            manifestVersion: manifest.version, manifestNextOffset: manifest.nextOffset,
            firstOffset: max(first, manifest.nextOffset), lastOffset: last,
            objectCount: beyond.count)
    }

    /// Slices of `topic` past `manifest.nextOffset` in packed objects written since the manifest.
    private func packedSlicesPast(
        _ manifest: Manifest, topic: String
    ) async throws(StrataError) -> [(baseOffset: Int64, lastOffset: Int64)] {
        let prefix = cold.layout.packedPrefix
        let store = cold.store
        let packed = try await cold.blob("list packed objects", key: prefix, topic: topic) {
            try await store.listAll(prefix: prefix)
        }
        var found: [(baseOffset: Int64, lastOffset: Int64)] = []
        for object in packed where cold.layout.isPackedKey(object.key) {
            guard object.modifiedMs == 0 || object.modifiedMs >= manifest.createdMs else { continue }
            guard let pack = try await packIndex(object.key, topic: topic) else { continue }
            for slice in pack.slices where slice.log == topic && slice.lastOffset >= manifest.nextOffset {
                found.append((slice.baseOffset, slice.lastOffset))
            }
        }
        return found
    }

    /// The pack index of the packed object `key`; nil when it is gone or does not parse (verify
    /// and scrub report those).
    private func packIndex(_ key: String, topic: String) async throws(StrataError) -> PackIndex? {
        var bytesRead: Int64 = 0
        guard case .found(let pack) = try await cold.readPackIndex(key, topic: topic, bytesRead: &bytesRead) else {
            return nil
        }
        return pack
    }
}
