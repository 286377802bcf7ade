import Glibc

/// The cluster id Metadata reports: made once per lake and kept in `<lake>/kafka-cluster-id`
/// (22 characters of URL-safe base64 of 16 random bytes, as Kafka's own ids look, and a newline).
enum ClusterIdentity {
    static let fileName = "kafka-cluster-id"

    /// The lake's cluster id, created and stored (write to a temp file, fsync, rename) the first time.
    /// - Throws: `KafkaServerError.clusterId` when the file cannot be read or written, or holds
    ///   something that is not a cluster id (it is never overwritten then).
    static func load(lakePath: String) throws(KafkaServerError) -> String {
        let path = lakePath + "/" + fileName
        if let text = readFile(path) {
            let id = text.hasSuffix("\n") ? String(text.dropLast()) : text
            guard isValid(id) else {
                throw .clusterId("\(path) holds \(text.utf8.count) bytes that are not a cluster id; move it aside")
            }
            return id
        }
        var generator = SystemRandomNumberGenerator()
        let random = (0 ..< 16).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
        let id = base64URL(random)
        try writeAtomically(path, id + "\n")
        return id
    }

    static func isValid(_ id: String) -> Bool {
        id.utf8.count == 22 && id.utf8.allSatisfy { alphabet.contains($0) }
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func base64URL(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b0 = Int(bytes[i])
            let b1 = i + 1 < bytes.count ? Int(bytes[i + 1]) : 0
            let b2 = i + 2 < bytes.count ? Int(bytes[i + 2]) : 0
            let n = (b0 << 16) | (b1 << 8) | b2
            let chars = min(4, (bytes.count - i) * 4 / 3 + ((bytes.count - i) < 3 ? 1 : 0))
            for k in 0 ..< chars { out.append(alphabet[(n >> (18 - 6 * k)) & 63]) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = read(fd, &buffer, buffer.count)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0 ..< count], as: UTF8.self)
    }

    private static func writeAtomically(_ path: String, _ text: String) throws(KafkaServerError) {
        let temp = path + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .clusterId("cannot create \(temp): errno \(errno)") }
        let bytes = Array(text.utf8)
        let written = write(fd, bytes, bytes.count)
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0, rename(temp, path) == 0 else {
            throw .clusterId("cannot write \(path): errno \(errno)")
        }
        let dir = open((path as String).dropLastPathComponent(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            close(dir)
        }
    }
}

extension String {
    fileprivate func dropLastPathComponent() -> String {
        guard let slash = lastIndex(of: "/") else { return "." }
        return slash == startIndex ? "/" : String(self[..<slash])
    }
}
