import StrataBlob
import StrataIceberg

/// A topic's table as its files in the store describe it.
struct StoredTable {
    /// The newest metadata file's table; nil when there is none or it cannot be read.
    var table: IcebergTable?
    /// N of the newest `metadata/v<N>.metadata.json` found (0: none).
    var version: Int
    /// Why the newest metadata file (or a file it names) could not be read: the table is damaged.
    var damage: StrataError?
}

extension TableWriter {
    /// Reads `topic`'s table: the version hint, then probing `v<N+1>…` so a stale hint is not
    /// trusted (a listing when there is no usable hint), then the newest metadata file with the
    /// manifest lists and manifests of its snapshots.
    /// - Throws: blob failures (`io`); damage is returned in `StoredTable.damage`, not thrown.
    func load(_ topic: String) async throws(StrataError) -> StoredTable {
        let hintKey = key(topic, relative: "metadata/version-hint.text")
        var version = 0
        if let hint = try await getIfPresent(hintKey, topic: topic),
            let n = Int(String(decoding: hint, as: UTF8.self).filter { !$0.isWhitespace }), n >= 1
        {
            version = n
        }
        var newest: [UInt8]? = nil
        if version > 0 {
            newest = try await getIfPresent(metadataKey(topic, version), topic: topic)
        }
        if newest == nil {
            // No hint, a damaged one, or one naming a missing file: the listing decides.
            version = try await highestMetadataVersion(topic)
            if version > 0 { newest = try await getIfPresent(metadataKey(topic, version), topic: topic) }
        }
        while version > 0, let next = try await getIfPresent(metadataKey(topic, version + 1), topic: topic) {
            version += 1
            newest = next
        }
        guard version > 0, let bytes = newest else { return StoredTable(table: nil, version: version, damage: nil) }
        do throws(StrataError) {
            let table = try await restore(topic, metadata: bytes, version: version)
            return StoredTable(table: table, version: version, damage: nil)
        } catch  where error.code == .corrupt {
            return StoredTable(table: nil, version: version, damage: error)
        }
    }

    func metadataKey(_ topic: String, _ version: Int) -> String {
        key(topic, relative: "metadata/v\(version).metadata.json")
    }

    /// The highest N of the `metadata/v<N>.metadata.json` files in the store (0: none).
    func highestMetadataVersion(_ topic: String) async throws(StrataError) -> Int {
        let prefix = key(topic, relative: "metadata/v")
        var highest = 0
        for object in try await list(prefix, topic: topic) {
            let name = object.key.dropFirst(prefix.count)
            guard name.hasSuffix(".metadata.json"), let n = Int(name.dropLast(".metadata.json".count)) else {
                continue
            }
            highest = max(highest, n)
        }
        return highest
    }

    /// The table of one metadata file, fetching every manifest list and manifest it names first
    /// (`IcebergTable.restoring` reads through a synchronous callback).
    /// - Throws: `corrupt` naming the file for anything unreadable or missing; `io`.
    func restore(_ topic: String, metadata bytes: [UInt8], version: Int) async throws(StrataError) -> IcebergTable {
        let metadataFile = metadataKey(topic, version)
        func damaged(_ error: IcebergError, _ file: String) -> StrataError {
            StrataError(
                .corrupt,
                "table metadata v\(version) cannot be read: \(error); `strata table rebuild \(topic)` "
                    + "writes the table again", topic: topic, file: file)
        }
        let json: JSONValue
        do throws(IcebergError) { json = try JSONValue.parse(bytes, field: "metadata") } catch {
            throw damaged(error, metadataFile)
        }
        let location = json["location"]?.stringValue ?? ""
        var files: [String: [UInt8]] = [:]
        func fetch(_ path: String) async throws(StrataError) {
            guard files[path] == nil else { return }
            guard let key = key(topic, absolute: path, in: location) else {
                throw StrataError(
                    .corrupt, "table metadata v\(version) names \(path), outside its location \(location)",
                    topic: topic, file: metadataFile)
            }
            guard let data = try await getIfPresent(key, topic: topic) else {
                throw StrataError(
                    .corrupt,
                    "table metadata v\(version) names \(path), which is missing; "
                        + "`strata table rebuild \(topic)` writes the table again", topic: topic, file: key)
            }
            files[path] = data
        }
        for snapshot in json["snapshots"]?.arrayValue ?? [] {
            guard let listPath = snapshot["manifest-list"]?.stringValue else { continue }
            try await fetch(listPath)
            let list: AvroContainer.File
            do throws(IcebergError) { list = try AvroContainer.decode(files[listPath] ?? []) } catch {
                throw damaged(error, listPath)
            }
            for path in Self.manifestPaths(list) { try await fetch(path) }
        }
        do throws(IcebergError) {
            return try IcebergTable.restoring(metadata: bytes, version: version) { files[$0] }
        } catch {
            throw damaged(error, metadataFile)
        }
    }

    /// `manifest_path` (field id 500) of every `manifest_file` in a manifest list.
    static func manifestPaths(_ list: AvroContainer.File) -> [String] {
        guard case .record(_, let fields) = list.schema,
            let index = fields.firstIndex(where: { $0.fieldId == 500 })
        else { return [] }
        return list.values.compactMap { value in
            guard case .record(let values) = value, index < values.count, case .string(let path) = values[index]
            else { return nil }
            return path
        }
    }

    /// The table this process knows for `topic`, reading it when it knows none.
    /// - Throws: `corrupt` for a damaged table (a rebuild writes it again); `io`.
    func current(_ topic: String) async throws(StrataError) -> StoredTable {
        if let table = cached(topic) { return StoredTable(table: table, version: table.version, damage: nil) }
        let stored = try await load(topic)
        if let table = stored.table { remember(topic, table) }
        return stored
    }
}
