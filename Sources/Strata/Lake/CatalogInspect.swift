/// What `strata inspect catalog` shows: the catalog file read and every topic it holds.
public struct CatalogListing: Sendable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var partitions: Int32
        /// The stored config's id (topics sharing a config share its id).
        public var configID: UInt32
        /// A delete began and has not finished (`strata topics delete NAME` finishes it).
        public var deleting: Bool
        /// Log starts moved by delete-records and start offsets set by recover, by log name.
        public var logStarts: [String: Int64]
        public var startOffsets: [String: Int64]
    }

    /// The catalog file the state was read from (nil: a lake not migrated yet, read from its
    /// old per-topic files).
    public var file: String?
    public var fileBytes: Int
    /// Distinct configs stored.
    public var configCount: Int
    public var topics: [Entry]
}

extension Lake {
    /// The catalog as this lake sees it now (a reader re-reads it first), topics sorted by name.
    public func catalogListing() -> CatalogListing {
        let (state, sequence, fileBytes, legacy) = catalog.snapshotState()
        var entries: [CatalogListing.Entry] = []
        entries.reserveCapacity(state.topics.count)
        for (name, topic) in state.topics {
            entries.append(
                .init(
                    name: name, partitions: topic.partitions, configID: topic.configID, deleting: topic.deleting,
                    logStarts: [:], startOffsets: [:]))
        }
        entries.sort { $0.name < $1.name }
        var index: [String: Int] = [:]
        for (i, entry) in entries.enumerated() { index[entry.name] = i }
        for (log, offset) in state.logStarts {
            if let i = index[String(log.prefix { $0 != "/" })] { entries[i].logStarts[log] = offset }
        }
        for (log, offset) in state.startOffsets {
            if let i = index[String(log.prefix { $0 != "/" })] { entries[i].startOffsets[log] = offset }
        }
        return CatalogListing(
            file: legacy ? nil : paths.catalogFile(sequence: sequence), fileBytes: fileBytes,
            configCount: state.configs.values.filter { $0.users > 0 }.count, topics: entries)
    }

    /// The stored config with id `id` in the catalog, nil when there is none.
    public func catalogConfig(id: UInt32) -> TopicConfig? {
        catalog.snapshotState().state.configs[id]?.config
    }
}
