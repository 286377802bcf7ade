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
    /// - Parameter perTopic: a reader's load: a topic whose files do not parse is left out and
    ///   its error kept in `CatalogState.loadErrors` (raised when that topic is opened), the
    ///   other topics are read. A writer's migration refuses instead.
    /// - Throws: `corrupt` naming the file for a config, count or offset that does not parse
    ///   (nothing is changed; not for one topic's files with `perTopic`); `io`.
    static func load(_ paths: LakePaths, perTopic: Bool = false) throws(StrataError) -> CatalogState {
        var state = CatalogState()
        guard FileIO.exists(paths.topicsDirectory) else { return state }
        for name in try FileIO.listDirectory(paths.topicsDirectory) {
            guard (try? validateTopicName(name)) != nil else { continue }
            let config = paths.legacyTopicConfig(name)
            let marker = paths.legacyDeletionMarker(name)
            let live = FileIO.exists(config)
            let deleting = !live && FileIO.exists(marker)
            // Everything of the topic is read and checked first, then applied.
            var json: [UInt8]? = nil
            var count: Int32 = 1
            var offsets: [(partition: Int32, start: Int64?, logStart: Int64?)] = []
            do throws(StrataError) {
                if live || deleting {
                    let file = live ? config : marker
                    let bytes = try FileIO.readWholeFile(file)
                    let decoded: TopicConfig = try decodeJSON(bytes, file: file)
                    json = try encodeJSON(decoded)
                    count = try partitionCount(paths, name)
                }
                for log in logs(paths, name) {
                    let start = try offset(paths.legacyStartOffset(log.description), topic: name)
                    var logStart: Int64? = nil
                    if live || deleting { logStart = try offset(paths.legacyLogStart(log.description), topic: name) }
                    offsets.append((log.partition, start, logStart))
                }
            } catch {
                guard perTopic, error.code == .corrupt else { throw error }
                state.loadErrors[name] = error
                continue
            }
            if let json {
                var (id, define) = state.intern(json)
                if let define { _ = state.apply(define) } else { id = state.configIDs[json] ?? id }
                _ = state.apply(.topicCreated(name: name, configID: id, partitions: count))
                if deleting { _ = state.apply(.deleteBegun(name: name)) }
            }
            for (partition, start, logStart) in offsets {
                if let start { _ = state.apply(.startOffsetSet(name: name, partition: partition, offset: start)) }
                if let logStart { _ = state.apply(.logStartMoved(name: name, partition: partition, offset: logStart)) }
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
