import ArgumentParser
import Foundation
import Strata

/// `strata produce`: stdin lines become records of a topic.
struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append stdin lines to a topic, one record per line.",
        discussion: """
            Lines available together are appended as one batch (at most --batch-records). \
            Prints one JSON summary line: {"topic":…,"records":…,"firstOffset":…,"lastOffset":…}. \
            Topic config flags apply only when the topic is created.
            """
    )

    @OptionGroup var lakeOption: LakeOption
    @Argument(help: "Topic name ([A-Za-z0-9._-], 1 to 249 characters); created if absent.")
    var topic: String
    @Option(help: "Split each line at the first SEP into key and value (no SEP: null key).")
    var keySeparator: String?
    @Option(help: "Most records per appended batch.")
    var batchRecords: Int = 1000
    @Option(help: "After each acknowledged batch, append '<firstOffset> <lastOffset>' to FILE and flush.")
    var acksTo: String?
    @OptionGroup var topicConfig: TopicConfigOptions

    func validate() throws {
        guard batchRecords > 0 else { throw ValidationError("--batch-records must be positive") }
        if let keySeparator, keySeparator.isEmpty { throw ValidationError("--key-separator may not be empty") }
    }

    func run() async throws {
        let config = try topicConfig.config()
        let lake = try lakeOption.open()
        let handle = try lake.topic(topic, creatingWith: config)
        let acks = try acksTo.map(AckLog.init(path:))
        var first: Int64? = nil
        var last: Int64 = -1
        var count = 0
        var reader = LineReader(fd: 0)
        do {
            while let lines = try reader.nextLines(max: batchRecords) {
                let records = lines.map(record(from:))
                let result = try await handle.append(records)
                try acks?.record(result)
                first = first ?? result.firstOffset
                last = result.lastOffset
                count += records.count
            }
        } catch {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        let summary: [String: Any] = ["topic": topic, "records": count, "firstOffset": first.map { $0 as Any } ?? NSNull(),
                                      "lastOffset": first == nil ? NSNull() : last]
        print(jsonLine(summary))
    }

    private func record(from line: [UInt8]) -> ProducerRecord {
        guard let separator = keySeparator.map({ Array($0.utf8) }),
              let cut = firstIndex(of: separator, in: line) else { return ProducerRecord(value: line) }
        return ProducerRecord(key: Array(line[..<cut]), value: Array(line[(cut + separator.count)...]))
    }

    private func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

/// Reads whole lines from a file descriptor, returning what is available at once so that a
/// slow producer still gets prompt acknowledgements.
struct LineReader {
    let fd: Int32
    private var pending: [UInt8] = []
    private var ready: [[UInt8]] = []
    private var eof = false

    init(fd: Int32) { self.fd = fd }

    /// The next batch of at most `max` lines; nil at end of input.
    mutating func nextLines(max: Int) throws -> [[UInt8]]? {
        while ready.isEmpty && !eof { try fill() }
        if ready.isEmpty { return nil }
        let take = Array(ready.prefix(max))
        ready.removeFirst(take.count)
        return take
    }

    private mutating func fill() throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let n = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { return }
            throw StrataError(.io, "reading stdin failed: \(String(cString: strerror(errno)))")
        }
        if n == 0 {
            eof = true
            if !pending.isEmpty { ready.append(pending) }
            pending = []
            return
        }
        pending.append(contentsOf: buffer[0..<n])
        var start = 0
        for i in 0..<pending.count where pending[i] == 0x0A {
            var end = i
            if end > start && pending[end - 1] == 0x0D { end -= 1 }
            ready.append(Array(pending[start..<end]))
            start = i + 1
        }
        pending.removeFirst(start)
    }
}

/// The `--acks-to` file: one line per acknowledged batch, flushed before the next append.
struct AckLog {
    let handle: FileHandle

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw StrataError(.io, "cannot create --acks-to file", file: path)
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw StrataError(.io, "cannot open --acks-to file", file: path)
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    func record(_ result: AppendResult) throws {
        try handle.write(contentsOf: Data("\(result.firstOffset) \(result.lastOffset)\n".utf8))
    }
}
