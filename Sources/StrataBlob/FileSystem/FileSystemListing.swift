import Glibc

/// One listing walk of a `FileSystemBlobStore` tree, in key order.
///
/// Keys sort by UTF-8 bytes. Inside one directory, a file `name` and every key under a
/// subdirectory `dir` compare like `name` against `dir + "/"` (no name contains `/`), so sorting
/// each directory that way and walking depth-first yields keys in global order. That lets the
/// walk stop after `wanted` keys and skip subtrees entirely before `after` or outside `prefix`.
struct FileSystemListing {
    let prefix: String
    let after: String?
    let wanted: Int
    private(set) var found: [BlobInfo] = []

    init(prefix: String, after: String?, wanted: Int) {
        self.prefix = prefix
        self.after = after
        self.wanted = wanted
    }

    /// Visits `directory`, whose keys all start with `keyPrefix`.
    mutating func visit(directory: String, keyPrefix: String) throws(Errno) {
        let entries = try Posix.listDirectory(directory)
            .filter { !$0.name.utf8.starts(with: BlobKey.tempPrefix.utf8) }
            .map { (entry: $0, sortName: $0.isDirectory ? $0.name + "/" : $0.name) }
            .sorted { BlobKey.precedes($0.sortName, $1.sortName) }
        for (entry, sortName) in entries where found.count < wanted {
            let path = directory + "/" + entry.name
            if entry.isDirectory {
                guard mayHoldWantedKeys(keyPrefix + sortName) else { continue }
                do {
                    try visit(directory: path, keyPrefix: keyPrefix + sortName)
                } catch  where error.code == ENOENT {
                    continue  // Removed while we walked.
                }
            } else {
                addFile(path: path, key: keyPrefix + entry.name)
            }
        }
    }

    private mutating func addFile(path: String, key: String) {
        guard BlobKey.hasPrefix(key, prefix) else { return }
        if let after, !BlobKey.precedes(after, key) { return }
        // Deleted since readdir: not an object any more.
        guard let info = try? Posix.stat(path), Posix.isRegularFile(info) else { return }
        found.append(BlobInfo(key: key, size: Int64(info.st_size), modifiedMs: Posix.modifiedMs(info)))
    }

    /// Whether some key starting with `directoryKey` (ending in `/`) can be on this page.
    private func mayHoldWantedKeys(_ directoryKey: String) -> Bool {
        let matchesPrefix = BlobKey.hasPrefix(directoryKey, prefix) || BlobKey.hasPrefix(prefix, directoryKey)
        guard matchesPrefix else { return false }
        guard let after, !BlobKey.hasPrefix(after, directoryKey) else { return true }
        // `after` is not inside: the whole subtree is either before or after it.
        return BlobKey.precedes(after, directoryKey)
    }
}
