import ArgumentParser
import Foundation
import Strata

/// `strata produce`: stdin lines become records of a topic.
struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append stdin lines to a topic, one record per line.",
        discussion: """
            Lines available together are appended as one batch (at most --batch-records). \
            Prints one JSON summary line: {"topic":…,"records":…,"firstOffset":…,"lastOffset":…}, \
            also when it stops at an error: every line before the failing one is committed, none after. \
            A line's limit is the topic's recordBytesMax (1 MiB by default) counted as an encoded \
            record: key, value and about 26 bytes of encoding, so the longest line a default topic \
            takes without --key-separator is \(Produce.longestDefaultValue) bytes. \
            Topic config flags apply only when the topic is created; given for an existing topic with \
            another value they are an error (change it with `strata topics alter-config`).

            Example:
              printf 'u1:a\\nu2:b\\n' | strata produce --lake /lake clicks --key-separator :
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
    @OptionGroup var partitionOption: PartitionOption
    @OptionGroup var topicConfig: TopicConfigOptions

    func validate() throws {
        guard batchRecords > 0 else { throw ValidationError("--batch-records must be positive") }
        guard topic != GroupStore.topicName else {
            throw ValidationError(
                "\(topic) holds the consumer groups' state (formats/groups.md); only strata serve writes it")
        }
        if let keySeparator, keySeparator.isEmpty { throw ValidationError("--key-separator may not be empty") }
    }

    func run() async throws {
        let config = try topicConfig.config()
        let lake = try lakeOption.open()
        var progress = ProduceProgress()
        do {
            if try lake.topicNames().contains(topic) {
                try topicConfig.checkAgrees(with: try lake.topic(topic).config, topic: topic, lake: lakeOption.lake)
            }
            var handle = try lake.topic(topic, creatingWith: config)
            if partitionOption.partition != 0 { handle = try lake.partition(topic, partitionOption.partition) }
            let acks = try acksTo.map(AckLog.init(path:))
            var reader = LineReader(fd: 0)
            while let lines = try reader.nextLines(max: batchRecords) {
                try await appendLines(lines, to: handle, acks: acks, progress: &progress)
            }
        } catch {
            await lake.close(after: error)
            print(jsonLine(progress.summary(topic: topic)))
            throw error
        }
        try await lake.close()
        print(jsonLine(progress.summary(topic: topic)))
    }

    /// Appends one read's lines in batches that fit the topic's limits. A line too large for the
    /// topic stops the run after every line before it is committed.
    private func appendLines(
        _ lines: [[UInt8]], to handle: Topic, acks: AckLog?, progress: inout ProduceProgress
    ) async throws {
        var pending: [ProducerRecord] = []
        var pendingBytes = BatchHeader.size
        for line in lines {
            let record = record(from: line)
            let size = Record(timestamp: 0, key: record.key, value: record.value, headers: record.headers).encodedSize
            if size > handle.config.recordBytesMax {
                try await commit(&pending, to: handle, acks: acks, progress: &progress)
                throw oversized(
                    line: progress.linesCommitted + 1, lineBytes: line.count, recordBytes: size,
                    limit: handle.config.recordBytesMax, progress: progress)
            }
            if !pending.isEmpty && pendingBytes + size > handle.config.batchBytesMax {
                try await commit(&pending, to: handle, acks: acks, progress: &progress)
                pendingBytes = BatchHeader.size
            }
            pending.append(record)
            pendingBytes += size
        }
        try await commit(&pending, to: handle, acks: acks, progress: &progress)
    }

    private func commit(
        _ records: inout [ProducerRecord], to handle: Topic, acks: AckLog?, progress: inout ProduceProgress
    ) async throws {
        guard !records.isEmpty else { return }
        let result = try await handle.append(records)
        try acks?.record(result)
        progress.committed(records.count, result)
        records.removeAll(keepingCapacity: true)
    }

    private func oversized(
        line: Int, lineBytes: Int, recordBytes: Int, limit: Int, progress: ProduceProgress
    ) -> StrataError {
        let committed = progress.linesCommitted
        let before =
            committed == 0
            ? "nothing was committed"
            : "lines 1 to \(committed) were committed (offsets \(progress.firstOffset ?? 0) to \(progress.lastOffset))"
        let message =
            "input line \(line) is \(lineBytes) bytes, \(recordBytes) bytes as a record, over the topic's "
            + "recordBytesMax=\(limit), which counts key, value and encoding (the longest value without a key is "
            + "\(Self.longestValue(recordBytesMax: limit)) bytes); \(before), nothing from line \(line) on"
        return StrataError(.tooLarge, message, topic: topic)
    }

    static let longestDefaultValue = longestValue(recordBytesMax: TopicConfig().recordBytesMax)

    /// The longest value a record with no key and no headers may have under `recordBytesMax`.
    static func longestValue(recordBytesMax: Int) -> Int {
        let empty = Record(timestamp: 0, value: []).encodedSize - 1  // less the value's 1-byte length
        var length = recordBytesMax - empty
        while length > 0 && empty + length + varintLength(length) > recordBytesMax { length -= 1 }
        return max(0, length)
    }

    /// Bytes of a zigzag varint of a non-negative length.
    private static func varintLength(_ length: Int) -> Int {
        var zigzag = UInt64(length) << 1
        var count = 1
        while zigzag >= 0x80 {
            zigzag >>= 7
            count += 1
        }
        return count
    }

    private func record(from line: [UInt8]) -> ProducerRecord {
        guard let separator = keySeparator.map({ Array($0.utf8) }),
            let cut = firstIndex(of: separator, in: line)
        else { return ProducerRecord(value: line) }
        return ProducerRecord(key: Array(line[..<cut]), value: Array(line[(cut + separator.count)...]))
    }

    private func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for i in 0 ... (haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i ..< (i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

/// What `strata produce` has committed so far, for its summary line.
struct ProduceProgress {
    private(set) var linesCommitted = 0
    private(set) var firstOffset: Int64? = nil
    private(set) var lastOffset: Int64 = -1

    mutating func committed(_ count: Int, _ result: AppendResult) {
        linesCommitted += count
        firstOffset = firstOffset ?? result.firstOffset
        lastOffset = result.lastOffset
    }

    func summary(topic: String) -> [String: Any] {
        [
            "topic": topic, "records": linesCommitted, "firstOffset": firstOffset.map { $0 as Any } ?? NSNull(),
            "lastOffset": firstOffset == nil ? NSNull() : lastOffset,
        ]
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
        pending.append(contentsOf: buffer[0 ..< n])
        var start = 0
        for i in 0 ..< pending.count where pending[i] == 0x0A {
            var end = i
            if end > start && pending[end - 1] == 0x0D { end -= 1 }
            ready.append(Array(pending[start ..< end]))
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
