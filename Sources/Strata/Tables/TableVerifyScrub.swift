import StrataBlob
import StrataFormat

// `scrub` of topic tables (issue 15): orphans under `tables/<topic>/` and tables of topics that
// are gone. Table files live outside `topics/`, so the cold scrub never sees them as cold orphans.

extension Lake {
    /// Lists `tables/` and, per topic, reports: a table of a topic that exists neither in the lake
    /// nor in the cold store (`orphanTable`, never deleted); files neither the newest metadata nor
    /// a snapshot it retains references (`orphanTableFile`); files those reference that the store
    /// lacks (`missingObject`); a newest metadata, manifest list or manifest that is missing or does
    /// not decode (`badTable`: then nothing of that table is an orphan). With `deleteOrphans`,
    /// orphans older than `graceMs` are deleted once the table, read again, still does not
    /// reference them.
    /// - Parameter coldTopics: the topics the cold store holds objects of.
    func scrubTables(
        coldTopics: Set<String>, deleteOrphans: Bool, graceMs: Int64, report: inout ScrubReport
    ) async throws(StrataError) {
        let prefix = cold.layout.tablesPrefix
        let store = cold.store
        let listed = try await cold.blob("list tables", key: prefix, topic: nil) {
            try await store.listAll(prefix: prefix)
        }
        report.objectsListed += listed.count
        var byTopic: [String: [BlobInfo]] = [:]
        for object in listed {
            let topic = String(object.key.dropFirst(prefix.utf8.count).prefix { $0 != "/" })
            byTopic[topic, default: []].append(object)
        }
        for (topic, objects) in byTopic.sorted(by: { $0.key < $1.key }) {
            let tablePrefix = cold.layout.tablePrefix(topic: topic)
            guard LogName.isValid(topic), !topic.contains("/") else {
                report.findings += objects.map {
                    ScrubFinding(
                        topic: topic, key: $0.key, kind: .unknownObject, what: "not under a valid topic name",
                        sizeBytes: $0.size, modifiedMs: $0.modifiedMs)
                }
                continue
            }
            guard coldTopics.contains(topic) || catalog.exists(topic) else {
                let bytes = objects.reduce(Int64(0)) { $0 + $1.size }
                report.findings.append(
                    ScrubFinding(
                        topic: topic, key: tablePrefix, kind: .orphanTable,
                        what: "table of a topic that exists neither in \(path) nor in \(cold.location): "
                            + "\(objects.count) files, \(bytes) bytes; scrub never deletes a whole table: remove "
                            + "the prefix by hand once no reader needs it", sizeBytes: bytes))
                continue
            }
            let orphans = try await scrubTable(topic, report: &report)
            guard deleteOrphans, !orphans.isEmpty else { continue }
            try await deleteTableOrphans(orphans, topic: topic, graceMs: graceMs, report: &report)
        }
    }

    /// One table's findings; returns its orphans.
    private func scrubTable(_ topic: String, report: inout ScrubReport) async throws(StrataError) -> [BlobInfo] {
        let files = try await loadTableFiles(topic)
        if files.metadataKey != nil && !files.complete {
            report.findings += files.problems.map {
                ScrubFinding(
                    topic: topic, key: $0.key, kind: .badTable,
                    what: "\($0.what); nothing of this table is deleted (`strata inspect verify` checks it, "
                        + "`strata table rebuild` writes it again)",
                    sizeBytes: files.listed[$0.key]?.size, modifiedMs: files.listed[$0.key]?.modifiedMs)
            }
            return []
        }
        for key in files.required.sorted() where files.listed[key] == nil {
            report.findings.append(
                ScrubFinding(
                    topic: topic, key: key, kind: .missingObject,
                    what: "referenced by the table's newest metadata (v\(files.version)) but not in \(cold.location)"))
        }
        var orphans: [BlobInfo] = []
        for (key, object) in files.listed.sorted(by: { $0.key < $1.key }) where !files.referenced.contains(key) {
            let relative = key.dropFirst(files.prefix.utf8.count)
            guard relative.hasPrefix("metadata/") || relative.hasPrefix("data/") else {
                report.findings.append(
                    ScrubFinding(
                        topic: topic, key: key, kind: .unknownObject,
                        what: "not under the table's metadata/ or data/; left alone",
                        sizeBytes: object.size, modifiedMs: object.modifiedMs))
                continue
            }
            let what =
                files.metadataKey == nil
                ? "the table has no metadata yet (uploaded before a first commit that did not happen)"
                : "neither the newest metadata (v\(files.version)) nor a snapshot it retains references it"
            report.findings.append(
                ScrubFinding(
                    topic: topic, key: key, kind: .orphanTableFile, what: what,
                    sizeBytes: object.size, modifiedMs: object.modifiedMs))
            orphans.append(object)
        }
        return orphans
    }

    /// Deletes the orphans older than the grace period that the table, read again right now,
    /// still does not reference.
    private func deleteTableOrphans(
        _ orphans: [BlobInfo], topic: String, graceMs: Int64, report: inout ScrubReport
    ) async throws(StrataError) {
        let candidates = olderThanGrace(orphans, graceMs: graceMs, report: &report)
        guard !candidates.isEmpty else { return }
        let fresh = try await loadTableFiles(topic)
        guard fresh.metadataKey == nil || fresh.complete else {
            report.kept += candidates
            return
        }
        let victims = candidates.filter { !fresh.referenced.contains($0) }
        report.kept += candidates.filter { fresh.referenced.contains($0) }
        let store = cold.store
        var start = 0
        while start < victims.count {
            let chunk = Array(victims[start ..< min(victims.count, start + Self.scrubDeleteBatchMax)])
            try await cold.blob("delete table orphans", key: chunk.first, topic: topic) {
                try await store.delete(chunk)
            }
            report.deleted += chunk
            start += chunk.count
        }
    }
}
