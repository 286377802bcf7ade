import Foundation
import Glibc
import StrataBlob
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// A fresh directory for one test, removed afterwards whatever the outcome.
func withTempDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    var template = Array("/tmp/strata-test-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    guard made != nil else { throw StrataError(.io, "mkdtemp failed: errno \(errno)") }
    let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Collects what the engine logs, so recovery tests can check it said what it did.
final class LogSink: Sendable {
    private let lines = Mutex<[String]>([])
    var messages: [String] { lines.withLock { $0 } }
    var log: @Sendable (String) -> Void { { [self] line in lines.withLock { $0.append(line) } } }
    func contains(_ text: String) -> Bool { messages.contains { $0.contains(text) } }
}

/// Options for a test's lake. Its descriptors are capped at 128 (the library's default is 1,024):
/// dozens of lakes run at once in one test process, and Foundation's `Process.run` in Swift 6.3.1
/// over-reads its `/proc/self/fd` listing and can crash when the process holds more than about
/// 1,300 descriptors (swift-corelibs-foundation#5472, fixed upstream after 6.3.1), which spawning
/// tests (CLI, serve, crash) then hit at random.
func lakeOptions(clock: ManualClock = ManualClock(), log: LogSink = LogSink(), maxOpenFiles: Int = 128) -> LakeOptions
{
    var options = LakeOptions()
    options.clock = clock
    options.log = log.log
    options.maxOpenFiles = maxOpenFiles
    return options
}

func topicConfig(segmentBytes: Int = 128 * 1024 * 1024, durability: Durability = .sync) -> TopicConfig {
    var config = TopicConfig()
    config.segmentBytes = segmentBytes
    config.durability = durability
    return config
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
func string(_ b: [UInt8]?) -> String? { b.map { String(decoding: $0, as: UTF8.self) } }

/// Records with values `v<offset>` for offsets `first..<first+count`.
func offsetRecords(from first: Int64, count: Int, timestamp: ((Int64) -> Int64)? = nil) -> [ProducerRecord] {
    (0 ..< Int64(count)).map { i in
        ProducerRecord(value: bytes("v\(first + i)"), timestamp: timestamp?(first + i))
    }
}

/// Every record of `topic` from `offset` to the high watermark, checked to be dense.
func readAll(_ topic: Topic, from offset: Int64 = 0) throws -> [Record] {
    var records: [Record] = []
    var next = offset
    while true {
        let result = try topic.readLocal(from: next)
        records += result.records
        if result.nextOffset == next { break }
        next = result.nextOffset
    }
    for (i, record) in records.enumerated() where record.offset != offset + Int64(i) {
        Issue.record("offset \(record.offset) at position \(i), expected \(offset + Int64(i))")
        break
    }
    return records
}

/// Names and sizes of every file under `root` (to show that nothing changed on disk).
func fileTree(_ root: String) -> [String: Int] {
    var tree: [String: Int] = [:]
    guard let walker = FileManager.default.enumerator(atPath: root) else { return tree }
    while let relative = walker.nextObject() as? String {
        let path = root + "/" + relative
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        tree[relative] = isDirectory.boolValue ? -1 : (FileIO.fileSize(atPath: path) ?? -2)
    }
    return tree
}

/// Seeded generator of the tests: the one the fault-injecting store uses.
typealias SeededRandom = SplitMix64

/// Catches the `StrataError` an expression throws (nil, and an issue, when it throws none).
func strataError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> StrataError? {
    do {
        try body()
        Issue.record("expected a StrataError, nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as StrataError {
        return error
    } catch {
        Issue.record("expected a StrataError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

func strataError(
    _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) async -> StrataError? {
    do {
        try await body()
        Issue.record("expected a StrataError, nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as StrataError {
        return error
    } catch {
        Issue.record("expected a StrataError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// The batches of a segment file as the scanner sees them.
func scanSegment(_ path: String) throws -> (SegmentHeader, SegmentScan) {
    try SegmentLoader.scanFile(path: path, topic: "?")
}

/// The built `strata` binary and the one way the tests run it (or any other program) to
/// completion: input and output go through files, so no pipe can fill up and stall the child.
/// CLI tests fail, never skip, when the binary is missing: tools/test builds it first.
enum CLIRun {
    static let binary = StrataBinary.path
    static var exists: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    struct Outcome: CustomStringConvertible {
        var status: Int32
        var stdoutBytes: [UInt8]
        var stderr: String
        var stdout: String { String(decoding: stdoutBytes, as: UTF8.self) }
        var description: String { "status \(status)\nstdout: \(stdout.prefix(2000))\nstderr: \(stderr.prefix(2000))" }
    }

    /// Runs `program arguments…` with `stdin` as its input; a program that cannot start is
    /// status -1 with the reason in `stderr`.
    static func run(
        _ program: String, _ arguments: [String], stdin: String = "", environment: [String: String] = [:]
    ) -> Outcome {
        let dir = NSTemporaryDirectory() + "strata-run-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data(stdin.utf8).write(to: URL(fileURLWithPath: dir + "/in"))
            _ = FileManager.default.createFile(atPath: dir + "/out", contents: nil)
            _ = FileManager.default.createFile(atPath: dir + "/err", contents: nil)
            let input = open(dir + "/in", O_RDONLY | O_CLOEXEC)
            let output = open(dir + "/out", O_WRONLY | O_CLOEXEC)
            let errors = open(dir + "/err", O_WRONLY | O_CLOEXEC)
            defer { for fd in [input, output, errors] where fd >= 0 { close(fd) } }
            guard input >= 0, output >= 0, errors >= 0 else {
                return Outcome(status: -1, stdoutBytes: [], stderr: "cannot open \(dir): errno \(errno)")
            }
            let child = try ChildProcess(
                program, arguments, environment: environment, stdin: input, stdout: output, stderr: errors)
            let termination = child.wait()
            let out = FileManager.default.contents(atPath: dir + "/out").map { [UInt8]($0) } ?? []
            let err = (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? ""
            return Outcome(status: termination.status, stdoutBytes: out, stderr: err)
        } catch {
            return Outcome(status: -1, stdoutBytes: [], stderr: "cannot run \(program): \(error)")
        }
    }

    /// `strata arguments…`; fails the test (never skips it) when the binary is missing.
    static func strata(
        _ arguments: [String], stdin: String = "", sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Outcome {
        try #require(
            exists, "no strata binary at \(binary): run `swift build` or set STRATA_BIN",
            sourceLocation: sourceLocation)
        return run(binary, arguments, stdin: stdin)
    }
}
