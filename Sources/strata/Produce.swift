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
            another value they are an error (change it with `strata topics alter-config`). \
            With --round-robin, input line i (counting from 1) goes to partition (i - 1) mod N of the \
            topic's N partitions, each read's lines are appended to every partition at once, the summary \
            line lists each partition's records and offsets, and each --acks-to line is \
            '<partition> <firstOffset> <lastOffset>'.

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
    @Flag(help: "Spread the lines round-robin over every partition of the topic (create it with --partitions first).")
    var roundRobin = false
    @OptionGroup var topicConfig: TopicConfigOptions

    func validate() throws {
        guard batchRecords > 0 else { throw ValidationError("--batch-records must be positive") }
        if roundRobin, partitionOption.partition != 0 {
            throw ValidationError("--round-robin writes to every partition: it excludes --partition")
        }
        guard topic != GroupStore.topicName else {
            throw ValidationError(
                "\(topic) holds the consumer groups' state (formats/groups.md); only strata serve writes it")
        }
        if let keySeparator, keySeparator.isEmpty { throw ValidationError("--key-separator may not be empty") }
    }

    func run() async throws {
        if roundRobin { return try await runRoundRobin() }
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

    func oversized(
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

    func record(from line: [UInt8]) -> ProducerRecord {
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

extension Produce {
    /// `--round-robin`: every read's lines dealt out over the topic's partitions in turn (line i of
    /// the run to partition i mod N), appended to all partitions concurrently, so `sync` appends
    /// to many partitions are in flight at once. The next read starts when every partition has
    /// acknowledged its share. A line too large for the topic stops the run after every line
    /// before it is committed, in every partition.
    func runRoundRobin() async throws {
        let config = try topicConfig.config()
        let lake = try lakeOption.open()
        var progress: [ProduceProgress] = []
        var linesCommitted = 0
        do {
            if try lake.topicNames().contains(topic) {
                try topicConfig.checkAgrees(with: try lake.topic(topic).config, topic: topic, lake: lakeOption.lake)
            }
            let first = try lake.topic(topic, creatingWith: config)
            let count = try lake.partitionCount(topic)
            let handles = try [first] + (1 ..< count).map { try lake.partition(topic, $0) }
            progress = Array(repeating: ProduceProgress(), count: handles.count)
            let acks = try acksTo.map(AckLog.init(path:))
            var reader = LineReader(fd: 0)
            while let lines = try reader.nextLines(max: batchRecords) {
                var records = lines.map(record(from:))
                let sizes = records.map {
                    Record(timestamp: 0, key: $0.key, value: $0.value, headers: $0.headers).encodedSize
                }
                let tooLarge = sizes.firstIndex { $0 > first.config.recordBytesMax }
                if let tooLarge { records.removeSubrange(tooLarge...) }
                // Deal the lines out, then cut each partition's share into batches within batchBytesMax.
                var shares = Array(repeating: [[ProducerRecord]](), count: handles.count)
                var shareBytes = Array(repeating: 0, count: handles.count)
                for (i, record) in records.enumerated() {
                    let p = (linesCommitted + i) % handles.count
                    if shares[p].isEmpty || shareBytes[p] + sizes[i] > first.config.batchBytesMax {
                        shares[p].append([])
                        shareBytes[p] = BatchHeader.size
                    }
                    shares[p][shares[p].count - 1].append(record)
                    shareBytes[p] += sizes[i]
                }
                let results = try await Self.appendShares(shares, to: handles)
                for (p, result, recordCount) in results {
                    try acks?.record(result, partition: Int32(p))
                    progress[p].committed(recordCount, result)
                }
                linesCommitted += records.count
                if let tooLarge {
                    let line = lines[tooLarge]
                    throw StrataError(
                        .tooLarge,
                        "input line \(linesCommitted + 1) is \(line.count) bytes, \(sizes[tooLarge]) bytes as a "
                            + "record, over the topic's recordBytesMax=\(first.config.recordBytesMax); lines 1 to "
                            + "\(linesCommitted) were committed, nothing from line \(linesCommitted + 1) on",
                        topic: topic)
                }
            }
        } catch {
            await lake.close(after: error)
            print(jsonLine(Self.roundRobinSummary(topic: topic, records: linesCommitted, progress)))
            throw error
        }
        try await lake.close()
        print(jsonLine(Self.roundRobinSummary(topic: topic, records: linesCommitted, progress)))
    }

    /// Appends each partition's batches in order, all partitions at once. Returns every
    /// acknowledged batch as (partition, result, records), partition by partition in order.
    static func appendShares(
        _ shares: [[[ProducerRecord]]], to handles: [Topic]
    ) async throws -> [(Int, AppendResult, Int)] {
        try await withThrowingTaskGroup(of: (Int, [(AppendResult, Int)]).self) { group in
            for (p, batches) in shares.enumerated() where !batches.isEmpty {
                let handle = handles[p]
                group.addTask {
                    var results: [(AppendResult, Int)] = []
                    for batch in batches { results.append((try await handle.append(batch), batch.count)) }
                    return (p, results)
                }
            }
            var all: [(Int, [(AppendResult, Int)])] = []
            for try await done in group { all.append(done) }
            return all.sorted { $0.0 < $1.0 }.flatMap { p, results in results.map { (p, $0.0, $0.1) } }
        }
    }

    static func roundRobinSummary(topic: String, records: Int, _ progress: [ProduceProgress]) -> [String: Any] {
        [
            "topic": topic, "records": records,
            "partitions": progress.enumerated().map { p, partition in
                var line = partition.summary(topic: topic)
                line["topic"] = nil
                line["partition"] = p
                return line
            },
        ]
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

    /// `--round-robin`'s line: the partition first.
    func record(_ result: AppendResult, partition: Int32) throws {
        try handle.write(contentsOf: Data("\(partition) \(result.firstOffset) \(result.lastOffset)\n".utf8))
    }
}
