import StrataBlob

/// What `recover` rebuilt for one topic.
public struct RecoveredTopic: Sendable, Equatable {
    public var topic: String
    public var logStartOffset: Int64
    public var nextOffset: Int64
    public var segments: Int
}

extension Lake {
    /// Names of the topics that have a manifest in the cold store, sorted (keys under names
    /// that are not topic names are not topics: `BucketLayout.manifestTopics`).
    public func coldTopicNames() async throws(StrataError) -> [String] {
        try await cold.topicNames()
    }

    /// Rebuilds local state from the cold store alone (a node whose disk died): each topic gets
    /// its config and an empty active segment starting at the manifest's next offset, so every
    /// offloaded record is readable again through the cold tier.
    /// - Parameter topicNames: topics to recover (default: every topic with a manifest).
    /// - Throws: `invalidArgument` when a topic already exists locally (nothing is overwritten);
    ///   `notFound` when a named topic has no manifest.
    public func recover(topics topicNames: [String]? = nil) async throws(StrataError) -> [RecoveredTopic] {
        try refuseIfReadOnly("recover topics")
        var names = topicNames ?? []
        if topicNames == nil { names = try await coldTopicNames() }
        var plans: [(String, Manifest)] = []
        for name in names {
            try validateTopicName(name)
            guard !FileIO.exists(paths.topicConfig(name)) else {
                throw StrataError(
                    .invalidArgument, "topic '\(name)' already exists in \(path); recover only rebuilds missing topics",
                    topic: name, file: paths.topicConfig(name))
            }
            guard let manifest = try await cold.latestManifest(name, refresh: true) else {
                throw StrataError(.notFound, "topic '\(name)' has no manifest in \(cold.location)", topic: name)
            }
            plans.append((name, manifest))
        }
        var recovered: [RecoveredTopic] = []
        for (name, manifest) in plans {
            var config = options.defaultTopicConfig
            config.coldFrameRawBytes = manifest.config.frameRawBytesTarget ?? config.coldFrameRawBytes
            config.coldCompressionLevel = manifest.config.compressionLevel ?? config.coldCompressionLevel
            config.retentionMs = manifest.config.retentionMs
            config.retentionBytes = manifest.config.retentionBytes
            try FileIO.makeDirectories(paths.topicDirectory(name))
            try FileIO.writeAtomically(paths.topicStart(name), Array("\(manifest.nextOffset)\n".utf8))
            if let copy = try? manifest.encode() { try FileIO.writeAtomically(paths.topicManifestCopy(name), copy) }
            _ = try topic(name, creatingWith: config)
            recovered.append(
                RecoveredTopic(
                    topic: name, logStartOffset: manifest.logStartOffset, nextOffset: manifest.nextOffset,
                    segments: manifest.segments.count + manifest.archives.reduce(0) { $0 + $1.segmentCount }))
        }
        return recovered
    }
}
