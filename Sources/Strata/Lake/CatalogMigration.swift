import Foundation
import StrataFormat

/// The per-topic files lakes kept before the catalog (formats/catalog.md, "Migration"):
/// `topics/<t>/topic.json` (config; the topic exists when it does), `topics/<t>/partitions`
/// (count, absent = 1), `topics/<log>/start-offset` (recover), `topics/<log>/log-start-offset`
/// (delete-records) and `topics/<t>/DELETING` (`topic.json` renamed while a delete runs).
/// A writer imports them into the catalog and removes them; a read-only reader of a lake not
/// yet migrated reads them as they are.
enum LegacyTopicFiles {
    /// The state the old files describe.
    /// - Throws: `corrupt` naming the file for a config, count or offset that does not parse
    ///   (nothing is changed); `io`.
    static func load(_ paths: LakePaths) throws(StrataError) -> CatalogState {
        var state = CatalogState()
        guard FileIO.exists(paths.topicsDirectory) else { return state }
        for name in try FileIO.listDirectory(paths.topicsDirectory) {
            guard (try? validateTopicName(name)) != nil else { continue }
            let config = paths.legacyTopicConfig(name)
            let marker = paths.legacyDeletionMarker(name)
            let live = FileIO.exists(config)
            let deleting = !live && FileIO.exists(marker)
            if live || deleting {
                let file = live ? config : marker
                let bytes = try FileIO.readWholeFile(file)
                let decoded: TopicConfig = try decodeJSON(bytes, file: file)
                let json = try encodeJSON(decoded)
                var (id, define) = state.intern(json)
                if let define { _ = state.apply(define) } else { id = state.configIDs[json] ?? id }
                let count = try partitionCount(paths, name)
                _ = state.apply(.topicCreated(name: name, configID: id, partitions: count))
                if deleting { _ = state.apply(.deleteBegun(name: name)) }
            }
            for log in logs(paths, name) {
                if let offset = try offset(paths.legacyStartOffset(log.description), topic: name) {
                    _ = state.apply(.startOffsetSet(name: name, partition: log.partition, offset: offset))
                }
                if live || deleting, let offset = try offset(paths.legacyLogStart(log.description), topic: name) {
                    _ = state.apply(.logStartMoved(name: name, partition: log.partition, offset: offset))
                }
            }
        }
        return state
    }

    /// Removes every old file of every topic directory (the catalog holds what they said);
    /// `topic.json` and `DELETING` last, so a removal stopped midway is finished by the next open.
    /// - Returns: how many files went.
    static func remove(_ paths: LakePaths) throws(StrataError) -> Int {
        guard FileIO.exists(paths.topicsDirectory) else { return 0 }
        var removed = 0
        for name in try FileIO.listDirectory(paths.topicsDirectory) {
            guard (try? validateTopicName(name)) != nil else { continue }
            var files: [String] = []
            for log in logs(paths, name) {
                files += [paths.legacyStartOffset(log.description), paths.legacyLogStart(log.description)]
            }
            files += [paths.legacyPartitions(name), paths.legacyTopicConfig(name), paths.legacyDeletionMarker(name)]
            var touched = false
            for file in files where FileIO.exists(file) {
                try FileIO.remove(file)
                removed += 1
                touched = true
            }
            if touched { try FileIO.fsyncDirectory(paths.topicDirectory(name)) }
        }
        return removed
    }

    /// Partition 0 and every partition directory of topic `name`.
    private static func logs(_ paths: LakePaths, _ name: String) -> [LogName] {
        let entries = (try? FileIO.listDirectory(paths.topicDirectory(name))) ?? []
        return [LogName(validated: name, partition: 0)]
            + entries.compactMap(LogName.partitionDirectory).sorted().map { LogName(validated: name, partition: $0) }
    }

    private static func partitionCount(_ paths: LakePaths, _ topic: String) throws(StrataError) -> Int32 {
        let file = paths.legacyPartitions(topic)
        guard FileIO.exists(file) else { return 1 }
        let text = String(decoding: try FileIO.readWholeFile(file), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard let count = Int32(text), count >= 1, count <= FormatLimits.partitionsMax else {
            throw StrataError(
                .corrupt,
                "\(file) is damaged: '\(text.prefix(40))' is not a partition count in 1...\(FormatLimits.partitionsMax); "
                    + "fix it by hand (nothing was changed)", topic: topic, file: file)
        }
        return count
    }

    private static func offset(_ file: String, topic: String) throws(StrataError) -> Int64? {
        guard FileIO.exists(file) else { return nil }
        let text = String(decoding: try FileIO.readWholeFile(file), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard let offset = Int64(text), offset >= 0 else {
            throw StrataError(
                .corrupt, "\(file) holds '\(text.prefix(40))', not an offset; fix it by hand (nothing was changed)",
                topic: topic, file: file)
        }
        return offset
    }
}
