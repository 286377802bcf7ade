import Foundation
import StrataBlob
import Testing

@testable import Strata

/// `ColdLog` and `strata export`: a batch job reads a range of a topic straight from the cold
/// store, after the lake's local directory is gone (issue 6, items 4 and 7).
@Suite struct ExportTests {
    /// A topic of `recordCount` records, every one in the cold tier, and no lake directory left.
    /// Record `i` has timestamp `baseMs + 10·i`; every 7th value is binary, every 5th has headers.
    struct ColdTopic {
        static let topic = "events"
        static let baseMs: Int64 = 1_700_000_000_000
        let root: String
        let records: [ProducerRecord]
        var coldPath: String { root + "/cold" }
        var coldURL: String { "file://" + coldPath }

        static func make(recordCount: Int = 120) async throws -> ColdTopic {
            let root = NSTemporaryDirectory() + "strata-export-\(UUID().uuidString)"
            let lakePath = root + "/lake"
            var options = LakeOptions()
            options.backgroundOffload = false
            options.log = { _ in }
            var config = TopicConfig()
            config.segmentBytes = 1024  // many segments
            config.coldFrameRawBytes = 300  // several frames per object
            config.durability = .async  // no fsync per append: the test is about reading
            let lake = try Lake.open(lakePath, cold: "file://" + root + "/cold", options: options)
            let handle = try lake.topic(topic, creatingWith: config)
            let records = (0 ..< recordCount).map(Self.record)
            for start in stride(from: 0, to: recordCount, by: 4) {
                _ = try await handle.append(Array(records[start ..< min(start + 4, recordCount)]))
            }
            _ = try await lake.offload(topic: topic, seal: true, evict: true)
            try await lake.close()
            try FileManager.default.removeItem(atPath: lakePath)
            return ColdTopic(root: root, records: records)
        }

        static func record(_ i: Int) -> ProducerRecord {
            let value: [UInt8] =
                i % 7 == 3 ? [0xFF, 0x00, UInt8(i % 256), 0xC3] : Array("{\"user\":\"u\(i % 4)\",\"n\":\(i)}".utf8)
            let headers =
                i % 5 == 0
                ? [
                    RecordHeader(key: "h", value: [0x80, UInt8(i % 256)]),
                    RecordHeader(key: "t", value: Array("x,\"y\"".utf8)),
                ] : []
            return ProducerRecord(
                key: Array("k\(i)".utf8), value: value, headers: headers, timestamp: baseMs + Int64(i) * 10)
        }

        func remove() { try? FileManager.default.removeItem(atPath: root) }
    }

    static func collect(_ log: ColdLog, _ range: Range<Int64>) async throws -> [Record] {
        var all: [Record] = []
        for try await records in try await log.records(ColdTopic.topic, in: range) { all += records }
        return all
    }

    static func expectSame(_ got: [Record], _ fixture: ColdTopic, offsets: Range<Int64>) {
        #expect(got.map(\.offset) == Array(offsets))
        for record in got {
            let sent = fixture.records[Int(record.offset)]
            #expect(
                record.key == sent.key && record.value == sent.value && record.headers == sent.headers
                    && record.timestamp == sent.timestamp, "offset \(record.offset)")
        }
    }

    // MARK: - ColdLog

    @Test func offsetRangeFromColdStoreOnly() async throws {
        let fixture = try await ColdTopic.make()
        defer { fixture.remove() }
        let log = try ColdLog.open(fixture.coldURL)
        #expect(try await log.topicNames() == [ColdTopic.topic])
        #expect(try await log.offsets(ColdTopic.topic) == 0 ..< 120)
        let manifest = try #require(try await log.manifest(ColdTopic.topic))
        #expect(manifest.segments.count > 1)
        Self.expectSame(try await Self.collect(log, 13 ..< 97), fixture, offsets: 13 ..< 97)
        Self.expectSame(try await Self.collect(log, 0 ..< 120), fixture, offsets: 0 ..< 120)
        #expect(try await Self.collect(log, 50 ..< 50).isEmpty)
        #expect(log.stats.getRequests > 0 && log.stats.bytesRead > 0 && log.stats.bytesWritten == 0)
    }

    @Test func timeRangeFromColdStoreOnly() async throws {
        let fixture = try await ColdTopic.make()
        defer { fixture.remove() }
        let log = try ColdLog.open(fixture.coldURL)
        let from = try #require(try await log.offset(forTimestamp: ColdTopic.baseMs + 205, topic: ColdTopic.topic))
        let to = try #require(try await log.offset(forTimestamp: ColdTopic.baseMs + 800, topic: ColdTopic.topic))
        #expect(from == 21 && to == 80)
        Self.expectSame(try await Self.collect(log, from ..< to), fixture, offsets: 21 ..< 80)
        #expect(try await log.offset(forTimestamp: ColdTopic.baseMs + 100_000, topic: ColdTopic.topic) == nil)
        #expect(try await log.offset(forTimestamp: 0, topic: ColdTopic.topic) == 0)
    }

    @Test func badRequestsAreTypedErrors() async throws {
        let fixture = try await ColdTopic.make(recordCount: 20)
        defer { fixture.remove() }
        let log = try ColdLog.open(fixture.coldURL)
        let unknown = await #expect(throws: StrataError.self) { _ = try await log.offsets("nope") }
        #expect(unknown?.code == .notFound)
        #expect(unknown?.message.contains("'nope'") == true && unknown?.message.contains(fixture.coldPath) == true)
        #expect(unknown?.message.contains(ColdTopic.topic) == true)  // names the topics that exist
        #expect(try await log.manifest("nope") == nil)
        let outside = await #expect(throws: StrataError.self) {
            _ = try await log.records(ColdTopic.topic, in: 10 ..< 21)
        }
        #expect(outside?.code == .offsetOutOfRange && outside?.validRange == 0 ... 20)
        let badName = await #expect(throws: StrataError.self) { _ = try await log.offsets("../x") }
        #expect(badName?.code == .invalidArgument)

        let missing = #expect(throws: StrataError.self) { _ = try ColdLog.open("file://\(fixture.root)/no-such-dir") }
        #expect(missing?.code == .notFound && missing?.message.contains("no-such-dir") == true)
        #expect(!FileManager.default.fileExists(atPath: fixture.root + "/no-such-dir"))  // never created

        let empty = fixture.root + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let notLake = await #expect(throws: StrataError.self) {
            _ = try await ColdLog.open("file://" + empty).topicNames()
        }
        #expect(notLake?.code == .notFound && notLake?.message.contains("lake.json") == true)
    }

    // MARK: - strata export (the built binary)

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let strataBinary = CLIRun.binary
    static let duckdbImportable = run("/usr/bin/env", ["python3", "-c", "import duckdb"]).status == 0

    /// The CLI tests fail, never skip, without the binary: tools/test builds it first.
    static func requireBinary(sourceLocation: SourceLocation = #_sourceLocation) throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: strataBinary),
            "no strata binary at \(strataBinary): run `swift build` or set STRATA_BIN",
            sourceLocation: sourceLocation)
    }

    typealias Outcome = CLIRun.Outcome

    static func run(_ program: String, _ arguments: [String], environment: [String: String] = [:]) -> Outcome {
        CLIRun.run(program, arguments, environment: environment)
    }

    static func export(_ arguments: [String]) -> Outcome { run(strataBinary, ["export"] + arguments) }

    @Test func exportJSONLines() async throws {
        try Self.requireBinary()
        let fixture = try await ColdTopic.make()
        defer { fixture.remove() }
        let result = Self.export([
            "--cold", fixture.coldURL, ColdTopic.topic, "--from-offset", "5", "--to-offset", "40", "--quiet",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 36 && result.stdout.hasSuffix("\n"))
        for (index, line) in lines.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let offset = try #require(object["offset"] as? Int)
            #expect(offset == 5 + index)
            let sent = fixture.records[offset]
            #expect((object["timestamp"] as? NSNumber)?.int64Value == sent.timestamp)
            #expect(Self.decode(object["key"], object["keyEncoding"]) == sent.key)
            #expect(Self.decode(object["value"], object["valueEncoding"]) == sent.value)
            #expect(object["valueEncoding"] as? String == (offset % 7 == 3 ? "base64" : "utf8"))
            let headers = try #require(object["headers"] as? [[String: Any]])
            #expect(headers.map { $0["key"] as? String } == sent.headers.map(\.key))
            #expect(headers.map { Self.decode($0["value"], $0["valueEncoding"]) } == sent.headers.map(\.value))
        }
        #expect(Array(result.stdout.utf8.prefix(12)) == Array("{\"offset\":5,".utf8))  // field order is fixed

        let whole = Self.export(["--cold", fixture.coldURL, ColdTopic.topic])
        #expect(whole.status == 0 && whole.stdout.split(separator: "\n").count == 120)
        #expect(whole.stderr.contains("exported 120 records"))

        // Time window: from inclusive, to exclusive.
        let window = Self.export([
            "--cold", fixture.coldURL, ColdTopic.topic, "--from-time", "\(ColdTopic.baseMs + 100)",
            "--to-time", "\(ColdTopic.baseMs + 250)", "--quiet",
        ])
        #expect(window.status == 0)
        let offsets = try window.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["offset"] as? Int
        }
        #expect(offsets == Array(10 ..< 25))
        let emptyWindow = Self.export([
            "--cold", fixture.coldURL, ColdTopic.topic, "--from-time", "2030-01-01T00:00:00Z", "--quiet",
        ])
        #expect(emptyWindow.status == 0 && emptyWindow.stdout.isEmpty)
    }

    static func decode(_ text: Any?, _ encoding: Any?) -> [UInt8]? {
        guard let text = text as? String else { return nil }
        if encoding as? String == "base64" { return Data(base64Encoded: text).map { Array($0) } }
        return Array(text.utf8)
    }

    @Test func exportCSVToFile() async throws {
        try Self.requireBinary()
        let fixture = try await ColdTopic.make()
        defer { fixture.remove() }
        let output = fixture.root + "/out/range.csv"
        try FileManager.default.createDirectory(atPath: fixture.root + "/out", withIntermediateDirectories: true)
        let result = Self.export([
            "--cold", fixture.coldURL, ColdTopic.topic, "--from-offset", "0", "--to-offset", "29",
            "--format", "csv", "--output", output, "--quiet",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.root + "/out") == ["range.csv"])
        let rows = Self.parseCSV(try String(contentsOfFile: output, encoding: .utf8))
        #expect(rows.first == ["offset", "timestamp", "key", "keyEncoding", "value", "valueEncoding", "headers"])
        #expect(rows.count == 31)
        for row in rows.dropFirst() {
            let offset = try #require(Int(row[0]))
            let sent = fixture.records[offset]
            #expect(row[1] == String(sent.timestamp ?? -1))
            #expect(Self.decode(row[2], row[3]) == sent.key && row[3] == "utf8")
            #expect(Self.decode(row[4], row[5]) == sent.value)
            let headers = try #require(try JSONSerialization.jsonObject(with: Data(row[6].utf8)) as? [[String: Any]])
            #expect(headers.map { Self.decode($0["value"], $0["valueEncoding"]) } == sent.headers.map(\.value))
        }
    }

    /// RFC 4180 fields of CRLF-terminated records.
    static func parseCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = "", quoted = false
        var characters = Array(text.unicodeScalars)[...]
        while let c = characters.popFirst() {
            if quoted {
                if c == "\"" {
                    if characters.first == "\"" {
                        field.unicodeScalars.append(c); characters.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                row.append(field); field = ""
            } else if c == "\r" && characters.first == "\n" {
                characters.removeFirst()
                row.append(field); rows.append(row); row = []; field = ""
            } else {
                field.unicodeScalars.append(c)
            }
        }
        return rows
    }

    @Test func badInputHasClearMessagesAndExitCodes() async throws {
        try Self.requireBinary()
        let fixture = try await ColdTopic.make(recordCount: 30)
        defer { fixture.remove() }
        let cold = fixture.coldURL
        let cases: [(String, [String], String)] = [
            ("unknown topic", ["--cold", cold, "nope"], "topic 'nope' does not exist in cold store"),
            (
                "reversed offsets", ["--cold", cold, ColdTopic.topic, "--from-offset", "9", "--to-offset", "3"],
                "reversed range"
            ),
            (
                "reversed times",
                [
                    "--cold", cold, ColdTopic.topic, "--from-time", "2026-01-02T00:00:00Z", "--to-time",
                    "2026-01-01T00:00:00Z",
                ],
                "reversed range"
            ),
            (
                "bad timestamp", ["--cold", cold, ColdTopic.topic, "--from-time", "yesterday"],
                "--from-time 'yesterday'"
            ),
            ("negative offset", ["--cold", cold, ColdTopic.topic, "--from-offset=-1"], "must not be negative"),
            ("offset and time", ["--cold", cold, ColdTopic.topic, "--from-offset", "1", "--to-time", "5"], "not both"),
            (
                "outside the topic", ["--cold", cold, ColdTopic.topic, "--from-offset", "30"],
                "outside the topic's offsets [0, 30)"
            ),
            (
                "end past the topic", ["--cold", cold, ColdTopic.topic, "--to-offset", "30"],
                "range [start, 30] is outside"
            ),
            ("missing store", ["--cold", "file://\(fixture.root)/missing", ColdTopic.topic], "does not exist"),
            ("bad store URL", ["--cold", "cold-dir", ColdTopic.topic], "bad cold URL 'cold-dir'"),
            ("bad format", ["--cold", cold, ColdTopic.topic, "--format", "xml"], "--format"),
        ]
        for (name, arguments, message) in cases {
            let output = fixture.root + "/\(name.replacingOccurrences(of: " ", with: "-")).jsonl"
            let result = Self.export(arguments + ["--output", output])
            #expect(result.status == 2, "\(name): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(name): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: output), "\(name) left an output file")
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.root + "/missing"))
        // No temp files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.root).sorted() == ["cold"])
    }

    @Test func corruptObjectFailsWithoutLeavingAFile() async throws {
        try Self.requireBinary()
        let fixture = try await ColdTopic.make()
        defer { fixture.remove() }
        let segments = fixture.coldPath + "/topics/\(ColdTopic.topic)/segments"
        let objects = try FileManager.default.contentsOfDirectory(atPath: segments).sorted()
        #expect(objects.count > 3)
        let victim = segments + "/" + objects[2]
        var bytes = try #require(FileManager.default.contents(atPath: victim))
        bytes[20] ^= 0xFF  // inside frame 0: its content checksum cannot match
        try bytes.write(to: URL(fileURLWithPath: victim))
        let output = fixture.root + "/all.jsonl"
        let result = Self.export(["--cold", fixture.coldURL, ColdTopic.topic, "--output", output])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("corrupt") && result.stderr.contains(objects[2]), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.root) == ["cold"])  // no file, no temp file
    }

    // MARK: - one JSON shape (issue 12, item 14)

    /// A lake whose topic is both local and offloaded (sealed, not evicted), records as `ColdTopic`.
    static func makeLakeAndCold(recordCount: Int = 60) async throws -> (root: String, records: [ProducerRecord]) {
        let root = NSTemporaryDirectory() + "strata-shape-\(UUID().uuidString)"
        var options = LakeOptions()
        options.backgroundOffload = false
        options.log = { _ in }
        var config = TopicConfig()
        config.segmentBytes = 1024  // several cold objects
        config.coldFrameRawBytes = 300  // several frames each
        config.durability = .async
        let lake = try Lake.open(root + "/lake", cold: "file://" + root + "/cold", options: options)
        let handle = try lake.topic(ColdTopic.topic, creatingWith: config)
        let records =
            (0 ..< recordCount).map(ColdTopic.record) + [
                ProducerRecord(key: nil, value: [0xFF, 0xFE, 0x41], headers: [], timestamp: ColdTopic.baseMs),
                ProducerRecord(
                    key: [0xC3, 0x28], value: nil, headers: [RecordHeader(key: "n", value: nil)], timestamp: 0),
                ProducerRecord(
                    key: Array("tab\t\"q\"\\".utf8), value: Array("line\nbreak é".utf8), headers: [],
                    timestamp: -1),
            ]
        for start in stride(from: 0, to: records.count, by: 5) {
            _ = try await handle.append(Array(records[start ..< min(start + 5, records.count)]))
        }
        _ = try await lake.offload(topic: ColdTopic.topic, seal: true, evict: false)
        try await lake.close()
        return (root, records)
    }

    static func files(under root: String, suffix: String) -> [String] {
        let walker = FileManager.default.enumerator(atPath: root)
        var found: [String] = []
        while let relative = walker?.nextObject() as? String {
            if relative.hasSuffix(suffix) { found.append(root + "/" + relative) }
        }
        return found.sorted()
    }

    /// `consume --format json`, `export` and `inspect dump --records --json` write the same bytes
    /// for the same record: one encoder, one shape (formats/export.md).
    @Test func consumeExportAndDumpShareOneRecordShape() async throws {
        try Self.requireBinary()
        let (root, records) = try await Self.makeLakeAndCold()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let consumed = Self.run(
            Self.strataBinary,
            ["consume", "--lake", root + "/lake", ColdTopic.topic, "--format", "json"])
        #expect(consumed.status == 0, "\(consumed.stderr)")
        let exported = Self.export(["--cold", "file://" + root + "/cold", ColdTopic.topic, "--quiet"])
        #expect(exported.status == 0, "\(exported.stderr)")
        let consumedLines = consumed.stdout.split(separator: "\n").map(String.init)
        #expect(consumedLines.count == records.count)
        #expect(consumedLines == exported.stdout.split(separator: "\n").map(String.init))

        // Dump every cold object: its record lines wrap the very same objects.
        let objects = Self.files(under: root + "/cold", suffix: ".seg.zst")
        #expect(objects.count > 1)
        var dumped: [String] = []
        for object in objects {
            let dump = Self.run(Self.strataBinary, ["inspect", "dump", object, "--records", "--json"])
            #expect(dump.status == 0, "\(dump.stderr)")
            for line in dump.stdout.split(separator: "\n") where line.hasSuffix(#","type":"record"}"#) {
                let inner = try #require(line.range(of: #""record":"#))
                dumped.append(String(line[inner.upperBound...].dropLast(#","type":"record"}"#.count)))
            }
        }
        #expect(dumped == consumedLines)
        // And what a reader gets back is what was produced.
        for (line, sent) in zip(consumedLines, records) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(Self.decode(object["key"], object["keyEncoding"]) == sent.key)
            #expect(Self.decode(object["value"], object["valueEncoding"]) == sent.value)
            #expect((object["headers"] as? [Any])?.count == sent.headers.count)
        }
    }

    /// `consume` in value format writes each value's bytes unchanged (no U+FFFD) and says so in --help.
    @Test func consumeValueFormatWritesTheStoredBytes() async throws {
        try Self.requireBinary()
        let (root, records) = try await Self.makeLakeAndCold(recordCount: 10)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let consumed = Self.run(Self.strataBinary, ["consume", "--lake", root + "/lake", ColdTopic.topic])
        #expect(consumed.status == 0, "\(consumed.stderr)")
        let expected: [UInt8] = records.flatMap { ($0.value ?? []) + [0x0A] }
        #expect(consumed.stdoutBytes == expected)
        #expect(consumed.stdoutBytes.contains(0xFF))
        let help = Self.run(Self.strataBinary, ["consume", "--help"])
        #expect(
            help.stdout.contains("non-UTF-8 bytes are written") && help.stdout.contains("unchanged"),
            "\(help.stdout)")
    }

    @Test(.enabled(if: duckdbImportable, "needs python3 with duckdb (pip install duckdb)"))
    func duckDBExample() throws {
        try Self.requireBinary()
        let script = Self.packageRoot + "/tools/duckdb-example"
        let result = Self.run(script, [], environment: ["STRATA_BIN": Self.strataBinary])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("count matches"), "\(result.stdout)")
    }
}
