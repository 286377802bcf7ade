import Foundation
import Glibc
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// The `strata` CLI this test drives: `STRATA_BIN`, else `<package>/.build/debug/strata`.
enum StrataBinary {
    static let path: String = {
        if let path = ProcessInfo.processInfo.environment["STRATA_BIN"], !path.isEmpty { return path }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/debug/strata").path
    }()

    /// `strata produce --help` output when the binary has the command (exit status 0), else nil.
    static let produceHelp: String? = {
        guard FileManager.default.isExecutableFile(atPath: path) else { return nil }
        let (status, output) = runToEnd(path, ["produce", "--help"])
        // ArgumentParser answers an unknown subcommand's --help with the root help and status 0.
        let help = String(decoding: output, as: UTF8.self)
        guard status == 0, help.contains("--acks-to") else { return nil }
        return help
    }()

    static var supportsProduce: Bool { produceHelp != nil }
}

/// ARCHITECTURE.md invariant 2 and 3 end to end: a child process appends in `sync` mode and records
/// each acknowledged range; SIGKILL at random moments must never lose an acknowledged record,
/// leave a gap or duplicate one.
@Suite(.serialized) struct CrashTests {
    static let cycles = 24
    static let topic = "crash"

    /// Feeds `c<cycle>-<n>` lines into `fd` until the reader goes away or `stop` is set.
    final class LineFeeder: Sendable {
        let stop = Atomic<Bool>(false)
        let linesWritten = Atomic<Int>(0)

        func run(fd: Int32, cycle: Int) async {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                // Blocking writes: on a Dispatch thread, never on the cooperative pool.
                DispatchQueue.global().async {
                    var n = 0
                    outer: while !self.stop.load(ordering: .relaxed) {
                        var chunk = ""
                        for _ in 0 ..< 200 {
                            chunk += "c\(cycle)-\(n)\n"
                            n += 1
                        }
                        var bytes = Array(chunk.utf8)
                        var sent = 0
                        while sent < bytes.count {
                            let w = bytes.withUnsafeMutableBytes {
                                Glibc.write(fd, $0.baseAddress! + sent, $0.count - sent)
                            }
                            if w < 0 {
                                if errno == EINTR { continue }
                                break outer  // EPIPE: the child is gone
                            }
                            sent += w
                        }
                        self.linesWritten.store(n, ordering: .relaxed)
                    }
                    done.resume()
                }
            }
        }
    }

    /// Complete `first last` lines of an acks file (a line cut by the kill is ignored).
    static func acknowledgedRanges(_ path: String) -> [ClosedRange<Int64>] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var text = String(decoding: data, as: UTF8.self)
        if let lastNewline = text.lastIndex(of: "\n") { text = String(text[...lastNewline]) } else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ").compactMap { Int64($0) }
            guard parts.count == 2, parts[0] <= parts[1] else {
                Issue.record("bad ack line '\(line)'")
                return nil
            }
            return parts[0] ... parts[1]
        }
    }

    @Test(
        .enabled(if: StrataBinary.supportsProduce, "needs `strata produce` (STRATA_BIN or .build/debug/strata)"),
        .timeLimit(.minutes(5)))
    func sigkillNeverLosesAnAcknowledgedRecord() async throws {
        signal(SIGPIPE, SIG_IGN)  // writes to a killed child's stdin must fail with EPIPE, not kill us
        try await withTempDirectory { dir in
            let lakeDir = dir + "/lake"
            // Small segments so kills also land around rolls, when the CLI lets us choose.
            let rollFlags =
                StrataBinary.produceHelp?.contains("--segment-bytes") == true ? ["--segment-bytes", "16384"] : []
            var random = SeededRandom(
                seed: UInt64(ProcessInfo.processInfo.environment["STRATA_CRASH_SEED"] ?? "") ?? 20_240_611)
            var kept: [String] = []  // every record value, by offset, as verified after the last cycle
            var acknowledgedTotal = 0

            for cycle in 0 ..< Self.cycles {
                let ackPath = dir + "/acks-\(cycle)"
                let stderrPath = dir + "/stderr-\(cycle)"
                _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
                let stderrFile = open(stderrPath, O_WRONLY | O_CLOEXEC)
                try #require(stderrFile >= 0, "open \(stderrPath): errno \(errno)")
                let stdin = try ChildPipe()
                let process = try ChildProcess(
                    StrataBinary.path,
                    ["produce", "--lake", lakeDir, Self.topic, "--durability", "sync", "--acks-to", ackPath]
                        + rollFlags,
                    stdin: stdin.read, stderr: stderrFile)
                close(stderrFile)
                close(stdin.read)  // only the child reads: its death must give us EPIPE
                let feeder = LineFeeder()
                let feeding = Task { await feeder.run(fd: stdin.write, cycle: cycle) }

                // Most kills land while batches are being acknowledged; every fourth one at a random
                // moment from the start (lake open, topic creation, recovery).
                if cycle % 4 != 0 {
                    let deadline = Date().addingTimeInterval(15)
                    while Self.acknowledgedRanges(ackPath).isEmpty && process.isRunning && Date() < deadline {
                        try await Task.sleep(nanoseconds: 5_000_000)
                    }
                }
                try await Task.sleep(nanoseconds: (10 + random.next() % 141) * 1_000_000)
                process.signal(SIGKILL)
                let termination = process.wait()
                feeder.stop.store(true, ordering: .relaxed)
                await feeding.value
                close(stdin.write)
                let stderrText = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
                #expect(termination == .signaled(SIGKILL), "cycle \(cycle) child exited by itself: \(stderrText)")

                let ranges = Self.acknowledgedRanges(ackPath)
                acknowledgedTotal += ranges.reduce(0) { $0 + Int($1.count) }
                let log = LogSink()
                let lake = try Lake.open(lakeDir, options: lakeOptions(log: log))
                let records: [Record]
                do {
                    records = try readAll(lake.topic(Self.topic))
                } catch let error as StrataError where error.code == .notFound {
                    records = []
                }
                try await lake.close()
                let values = records.map { string($0.value) ?? "nil" }
                let start = kept.count
                // Earlier cycles' records are untouched.
                #expect(Array(values.prefix(start)) == kept, "cycle \(cycle): earlier records changed")
                // This cycle's records are its input lines in order, from the first, no gap, no repeat.
                let fresh = values.dropFirst(start)
                let expected = (0 ..< fresh.count).map { "c\(cycle)-\($0)" }
                #expect(Array(fresh) == expected, "cycle \(cycle): records differ from the input lines")
                #expect(fresh.count <= feeder.linesWritten.load(ordering: .relaxed) + 200)
                // Every acknowledged range is present, and the ranges tile this cycle's offsets.
                var nextAck = Int64(start)
                for range in ranges {
                    #expect(range.lowerBound == nextAck, "cycle \(cycle): ack \(range) after \(nextAck - 1)")
                    #expect(
                        range.upperBound < Int64(values.count),
                        "cycle \(cycle): acknowledged \(range) lost, log has \(values.count) records; \(log.messages)")
                    nextAck = range.upperBound + 1
                }
                #expect(Set(values).count == values.count, "duplicate values")
                kept = values
            }
            print(
                "crash test: \(Self.cycles) SIGKILLs, \(acknowledgedTotal) acknowledged records, \(kept.count) "
                    + "records kept"
            )
            #expect(acknowledgedTotal > 0, "no batch was ever acknowledged: the kills tested nothing")
        }
    }
}
