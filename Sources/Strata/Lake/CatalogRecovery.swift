import Glibc
import StrataFormat

/// Opening the catalog: a writer recovers it (torn tail kept in quarantine and cut, an unfinished
/// compaction set aside, a finished one's old file removed) or migrates a lake of the old
/// per-topic files; a reader reads what is there and re-reads it when asked.
extension Catalog {
    /// What one catalog file holds, checked.
    struct FileImage {
        var sequence: UInt64
        var path: String
        var bytes: [UInt8]
        var scan: CatalogScan
        var state: CatalogState
        /// Why the records cannot be applied (a contradiction), at which byte.
        var contradiction: (position: Int, why: String)?

        var complete: Bool { scan.snapshotEnd != nil && contradiction == nil }

        /// The damage is zeros from the last valid record up to the next 4 KiB page boundary, after the
        /// snapshot: a page of the unsynced tail lost in a power loss while a later one reached
        /// the disk. Nothing after the last fsync was depended on (the barrier), so it is cut
        /// like a torn tail. (The snapshot is fsynced before the file is used: zeros in it are
        /// damage.)
        var lostPage: Bool {
            guard let snapshotEnd = scan.snapshotEnd, scan.validEnd >= snapshotEnd, scan.stopError != nil
            else { return false }
            let start = scan.validEnd
            let boundary = (start / Catalog.lostPageSize + 1) * Catalog.lostPageSize
            guard boundary < bytes.count else { return false }
            return bytes[start ..< boundary].allSatisfy { $0 == 0 }
        }

        /// Damage followed by a valid record (not a torn write): refuses an open, a reader's too.
        var damage: StrataError? {
            if let (position, why) = contradiction {
                return StrataError(
                    .corrupt, "catalog record at byte \(position) of \(path) contradicts the records before it: "
                        + "\(why); restore it from a backup (nothing was changed)", file: path, position: position)
            }
            guard let resume = scan.resumePosition, let error = scan.stopError, !lostPage else { return nil }
            return StrataError(
                .corrupt,
                "catalog \(path) is damaged at byte \(scan.validEnd) (\(error)) and a valid record follows at byte "
                    + "\(resume): not a torn write; restore it from a backup (nothing was changed)",
                file: path, position: scan.validEnd, cause: error.code.rawValue)
        }
    }

    /// The page size a lost page of the tail is recognised at (`FileImage.lostPage`).
    static let lostPageSize = 4096

    /// Reads and applies catalog file `sequence`.
    static func readFile(_ paths: LakePaths, sequence: UInt64) throws(StrataError) -> FileImage {
        let path = paths.catalogFile(sequence: sequence)
        let bytes = try FileIO.readWholeFile(path)
        var state = CatalogState()
        state.topics.reserveCapacity(bytes.count / 24)
        var contradiction: (Int, String)? = nil
        let scan = bytes.withUnsafeBytes { raw in
            CatalogFormat.scan(raw) { record, position in
                guard contradiction == nil else { return }
                if let why = state.apply(record) { contradiction = (position, why) }
            }
        }
        return FileImage(
            sequence: sequence, path: path, bytes: bytes, scan: scan, state: state, contradiction: contradiction)
    }

    /// The sequence numbers of the catalog files, oldest first.
    static func sequences(_ paths: LakePaths) throws(StrataError) -> [UInt64] {
        guard FileIO.exists(paths.catalogDirectory) else { return [] }
        return try FileIO.listDirectory(paths.catalogDirectory).compactMap(LakePaths.catalogSequence(fileName:)).sorted()
    }

    /// Opens the catalog of a lake for writing (`Lake.open`, before the journal is replayed).
    /// Every file is checked before anything changes: damage followed by a valid record refuses
    /// the open naming the file and byte.
    /// - Throws: `corrupt`; `io`.
    static func openWriter(
        _ paths: LakePaths, log: @escaping @Sendable (String) -> Void,
        compactionBytesMin: Int = defaultCompactionBytesMin, metrics: EngineMetrics = .global
    ) throws(StrataError) -> Catalog {
        let catalog = Catalog(
            paths: paths, readOnly: false, log: log, compactionBytesMin: compactionBytesMin, metrics: metrics)
        if !FileIO.exists(paths.catalogDirectory) {
            // A new lake, or one migrating: the directory's entry must be durable before any
            // write in it is depended on (the catalog file's fsyncs cover only its own entry).
            try FileIO.makeDirectories(paths.catalogDirectory)
            try FileIO.fsyncDirectory(paths.root)
        }
        let all = try sequences(paths)
        var unfinished: [FileImage] = []
        var chosen: FileImage? = nil
        for sequence in all.reversed() {
            let image = try readFile(paths, sequence: sequence)
            if image.contradiction != nil, let damage = image.damage { throw damage }
            if image.scan.snapshotEnd == nil {
                unfinished.append(image)
                continue
            }
            if let damage = image.damage { throw damage }
            chosen = image
            break
        }
        // A file without its end-of-snapshot record is an unfinished compaction only beside an
        // older complete file, or an unfinished migration while its marker says so; otherwise
        // (every migrated or compacted lake starts with one file) damage in it refuses the open.
        if chosen == nil, !FileIO.exists(paths.catalogMigrationMarker),
            let damage = unfinished.lazy.compactMap(\.damage).first
        {
            throw damage
        }
        // Decided; now change things.
        for image in unfinished {
            let kept = try Quarantine.moveFile(image.path, into: paths.lakeQuarantineDirectory)
            log("catalog: \(image.path) has no end-of-snapshot record (a compaction or migration stopped); kept as \(kept)")
        }
        guard var image = chosen else {
            try migrate(catalog, from: all.last.map { $0 + 1 } ?? 0)
            return catalog
        }
        for sequence in all where sequence < image.sequence {
            try FileIO.remove(paths.catalogFile(sequence: sequence))  // a finished compaction's old file
        }
        if image.scan.stopError != nil {
            try cutTornTail(&image, paths: paths, log: log)
        }
        let fd = try FileIO.open(image.path, flags: O_RDWR)
        catalog.inner.withLock { s in
            s.state = image.state
            s.fd = fd
            s.sequence = image.sequence
            s.fileBytes = image.scan.validEnd
        }
        if FileIO.exists(paths.catalogMigrationMarker) {
            try finishMigration(paths, state: image.state, log: log)
        }
        return catalog
    }

    /// Keeps the bytes after the last valid record in `quarantine/catalog-<seq>.torn-<pos>`
    /// (fsynced, logged), then cuts the file there.
    private static func cutTornTail(
        _ image: inout FileImage, paths: LakePaths, log: @Sendable (String) -> Void
    ) throws(StrataError) {
        let torn = image.scan.validEnd
        let kept = try JournalRecovery.keep(
            Array(image.bytes[torn...]), named: "catalog-\(image.sequence).torn-\(torn)",
            in: paths.lakeQuarantineDirectory)
        let fd = try FileIO.open(image.path, flags: O_RDWR)
        defer { FileIO.close(fd) }
        try FileIO.ftruncate(fd, torn, path: image.path)
        try FileIO.fdatasync(fd, path: image.path)
        let what = image.lostPage ? "lost unsynced page (zeros to a page boundary, records after it cut)" : "torn tail"
        log(
            "catalog recovery: \(what) file=\(image.path) position=\(torn) bytes=\(image.bytes.count - torn) "
                + "kept=\(kept): \(image.scan.stopError.map { "\($0)" } ?? "")")
        image.scan.stopError = nil
    }

    /// A lake without a catalog: its topics' old files are imported into a new catalog file,
    /// which is made durable before any old file is removed (`catalog/MIGRATING` marks the span).
    private static func migrate(_ catalog: Catalog, from sequence: UInt64) throws(StrataError) {
        let paths = catalog.paths
        let state = try LegacyTopicFiles.load(paths)
        let marker = !state.topics.isEmpty || !state.startOffsets.isEmpty
        if marker {
            try FileIO.writeAtomically(paths.catalogMigrationMarker, Array("migrating\n".utf8))
        }
        let (fd, bytes) = try writeSnapshotFile(paths, sequence: sequence, state: state)
        catalog.inner.withLock { s in
            s.state = state
            s.fd = fd
            s.sequence = sequence
            s.fileBytes = bytes
        }
        if marker {
            catalog.log(
                "catalog: imported \(state.topics.count) topics from their topic.json files into "
                    + "\(paths.catalogFile(sequence: sequence))")
            try finishMigration(paths, state: state, log: catalog.log)
        }
    }

    /// Removes the old per-topic files the catalog holds, then the migration marker.
    static func finishMigration(
        _ paths: LakePaths, state: CatalogState, log: @Sendable (String) -> Void
    ) throws(StrataError) {
        let removed = try LegacyTopicFiles.remove(paths)
        try FileIO.remove(paths.catalogMigrationMarker)
        try FileIO.fsyncDirectory(paths.catalogDirectory)
        log("catalog: migration finished, \(removed) old topic files removed")
    }

    // MARK: - Readers

    /// Opens the catalog of a lake for reading only: nothing is written, cut or moved. A lake not
    /// yet migrated is read from its old per-topic files.
    static func openReader(_ paths: LakePaths, log: @escaping @Sendable (String) -> Void) throws(StrataError)
        -> Catalog
    {
        let catalog = Catalog(paths: paths, readOnly: true, log: log, compactionBytesMin: defaultCompactionBytesMin)
        try catalog.reload()
        return catalog
    }

    /// A reader's re-read: the records added to the file it reads since (a partial last record
    /// is a write in progress, not damage: it stops before it), or the whole newest complete
    /// file when a compaction replaced it.
    /// - Parameter unknown: asked about a topic the reader does not know. A lake not migrated is
    ///   then read again from its old files; otherwise only a catalog appearing is looked for
    ///   (every partition count asked must not rescan every topic directory).
    func refresh(unknown: Bool = false) throws(StrataError) {
        guard readOnly else { return }
        let (legacy, sequence, position) = inner.withLock { ($0.legacy, $0.sequence, $0.fileBytes) }
        if legacy {
            let appeared = !(try Self.sequences(paths).isEmpty)
            if unknown || appeared { try reload() }
            return
        }
        // One stat when nothing changed: a compaction deletes the file read only once the next
        // one is complete, so a file still there and not grown means the state read is current.
        let path = paths.catalogFile(sequence: sequence)
        guard position > 0, let size = FileIO.fileSize(atPath: path) else {
            try reload()
            return
        }
        guard size > position else { return }
        let fd = try FileIO.open(path, flags: O_RDONLY)
        defer { FileIO.close(fd) }
        let bytes = try FileIO.read(fd, count: size - position, at: position, path: path)
        var records: [CatalogRecord] = []
        var consumed = 0
        bytes.withUnsafeBytes { raw in
            while consumed < raw.count, let (record, length) = try? CatalogFormat.parse(raw, at: consumed) {
                records.append(record)
                consumed += length
            }
        }
        inner.withLock { s in
            guard s.sequence == sequence, s.fileBytes == position else { return }
            for record in records { _ = s.state.apply(record) }
            s.fileBytes += consumed
        }
    }

    /// Reads the newest complete catalog file from its start (a few tries: a compaction may
    /// remove the file between the listing and the read), or the old files without a catalog.
    private func reload() throws(StrataError) {
        for _ in 0 ..< 3 {
            var image: FileImage? = nil
            do throws(StrataError) {
                for sequence in try Self.sequences(paths).reversed() {
                    let read = try Self.readFile(paths, sequence: sequence)
                    if let damage = read.damage { throw damage }
                    if read.complete {
                        image = read
                        break
                    }
                }
            } catch {
                guard error.code == .notFound else { throw error }
                continue  // removed by a compaction meanwhile: list again
            }
            if let image {
                inner.withLock { s in
                    s.state = image.state
                    s.sequence = image.sequence
                    s.fileBytes = image.scan.validEnd
                    s.legacy = false
                }
                return
            }
            let state = try LegacyTopicFiles.load(paths, perTopic: true)
            inner.withLock { s in
                s.state = state
                s.legacy = true
                s.fileBytes = 0
            }
            return
        }
        throw StrataError(.io, "catalog files of \(paths.root) kept changing while read; try again", file: paths.catalogDirectory)
    }
}
