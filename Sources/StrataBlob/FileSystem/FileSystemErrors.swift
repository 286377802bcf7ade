import Glibc

/// Turns the filesystem store's `Errno`s into `BlobError`s. What an errno means depends on
/// the operation: `ENOTDIR` on a read is a missing key, on a put a key clashing with a directory.
enum FileSystemErrors {
    enum Operation {
        case put, read, list, delete
    }

    static func map(_ error: any Error, operation: Operation, key: String?, location: String) -> BlobError {
        if let blobError = error as? BlobError { return blobError }
        guard let errno = error as? Errno else {
            return BlobError(.unavailable, "unexpected error", key: key, location: location, cause: "\(error)")
        }
        let (code, message) = classify(errno.code, operation: operation)
        return BlobError(code, message, key: key, location: location, cause: errno.description)
    }

    private static func classify(_ code: Int32, operation: Operation) -> (BlobError.Code, String) {
        switch code {
        case ENOENT where operation == .read, ENOTDIR where operation == .read:
            return (.notFound, "no such key")
        case ENOTDIR, EISDIR:
            return (.invalid, "key clashes with another key used as a directory (a and a/b)")
        case EACCES, EPERM, EROFS:
            return (.denied, "permission denied")
        case ENAMETOOLONG:
            return (.invalid, "key component too long for the filesystem")
        default:
            // ENOSPC, EIO, EMFILE, EDQUOT, a root removed underneath us …: may pass, so retryable.
            return (.unavailable, "filesystem call failed")
        }
    }
}
