import Foundation
import Glibc
import Synchronization
import StrataTesting
import Testing

@testable import Strata

/// The read commands through the CLI (issue 12 items 9, 10, 11 `consume`, 4): they open the lake
/// read-only, so they work beside a running `strata produce` and never change the lake.
@Suite(.serialized) struct ReadOnlyCLITests {
    /// `STRATA_BIN`, else `<package>/.build/debug/strata` (built by `swift build --build-tests`).
    static let binary = StrataBinary.path

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] {
            stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }
    }

    static func run(_ arguments: [String], stdin: String? = nil) throws -> Result {
        let outcome = try CLIRun.strata(arguments, stdin: stdin ?? "")
        return Result(status: outcome.status, stdout: outcome.stdout, stderr: outcome.stderr)
    }

    /// Polls `condition` until it holds or `seconds` pass (the child processes run on their own
    /// schedule; this waits for an outcome, it does not time anything).
    static func eventually(_ seconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }

    static func lines(_ from: Int, _ to: Int) -> String { (from ..< to).map { "line-\($0)\n" }.joined() }

    /// A `strata produce` child that keeps the lake (and its lock) while the test feeds it lines.
    final class Producer {
        let process: ChildProcess
        let input: ChildPipe

        init(lake: String, topic: String, extra: [String] = []) throws {
            input = try ChildPipe()
            process = try ChildProcess(
                ReadOnlyCLITests.binary, ["produce", "--lake", lake, topic, "--batch-records", "50"] + extra,
                stdin: input.read)
            close(input.read)
        }

        func send(_ text: String) {
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let n = bytes.withUnsafeBytes { write(input.write, $0.baseAddress, $0.count) }
                guard n > 0 || errno == EINTR else { return }
                bytes = bytes.dropFirst(max(n, 0))
            }
        }

        /// Closes stdin: the producer commits what it read and exits.
        func finish() throws -> Int32 {
            close(input.write)
            return process.wait().status
        }
    }

    /// The high watermark another process has written, as a read-only open sees it.
    static func highWatermark(_ lake: String, _ topic: String) -> Int64 {
        guard let view = try? Lake.openReadOnly(lake), let handle = try? view.topic(topic) else { return -1 }
        return handle.highWatermark
    }

    @Test func readCommandsWorkBesideARunningProducerAndChangeNothing() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            // One segment, so the producer's background offloader has nothing to do meanwhile: any
            // change to the directory would be the read commands' doing.
            let producer = try Producer(lake: lake, topic: "t")
            producer.send(Self.lines(0, 500))
            #expect(Self.eventually { Self.highWatermark(lake, "t") == 500 })
            #expect(strataError { _ = try Lake.open(lake) }?.code == .locked, "the producer should hold the lake")
            let before = ReadOnlyFixture.snapshot(lake)

            let topics = try Self.run(["inspect", "topics", "--lake", lake])
            #expect(topics.status == 0, "\(topics.stderr)")
            #expect(topics.stdout.contains("t "))
            let json = try Self.run(["inspect", "topics", "--lake", lake, "--json"])
            #expect(json.stdout.contains("\"highWatermark\":500"))
            let segments = try Self.run(["inspect", "segments", "--lake", lake, "t"])
            #expect(segments.status == 0, "\(segments.stderr)")
            #expect(segments.stdout.contains("active"))
            let verify = try Self.run(["inspect", "verify", "--lake", lake])
            #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
            let scrub = try Self.run(["inspect", "scrub", "--lake", lake])
            #expect(scrub.status == 0, "\(scrub.stderr)")
            let consume = try Self.run(["consume", "--lake", lake, "t"])
            #expect(consume.status == 0, "\(consume.stderr)")
            #expect(consume.lines == (0 ..< 500).map { "line-\($0)" })
            #expect(ReadOnlyFixture.snapshot(lake) == before, "a read command changed the lake")

            // --follow sees the producer's later appends, and SIGTERM ends it cleanly.
            let output = dir + "/follow.out"
            #expect(FileManager.default.createFile(atPath: output, contents: nil))
            let followFile = open(output, O_WRONLY | O_CLOEXEC)
            try #require(followFile >= 0, "open \(output): errno \(errno)")
            let follower = try ChildProcess(Self.binary, ["consume", "--lake", lake, "t", "--follow"], stdout: followFile)
            close(followFile)
            let followedText = { String(decoding: FileManager.default.contents(atPath: output) ?? Data(), as: UTF8.self) }
            #expect(Self.eventually { followedText().hasSuffix("line-499\n") })
            producer.send(Self.lines(500, 650))
            #expect(Self.eventually { followedText().hasSuffix("line-649\n") })
            follower.signal(SIGTERM)
            #expect(follower.wait() == .exited(0))
            #expect(followedText() == Self.lines(0, 650))
            #expect(try producer.finish() == 0)
        }
    }

    @Test func readCommandsOnAMissingLakeFailAndCreateNothing() async throws {
        try await withTempDirectory { dir in
            let missing = dir + "/no/such/dir"
            let commands = [
                ["inspect", "topics"], ["inspect", "segments", "t"], ["inspect", "verify"],
                ["inspect", "manifest", "t"], ["consume", "t"],
            ]
            for command in commands {
                let arguments = command + ["--lake", missing]
                let result = try Self.run(arguments)
                #expect(result.status == 2, "\(arguments): \(result.stderr)")
                #expect(result.stderr.contains("no lake at \(missing)"), "\(arguments): \(result.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/no"))
        }
    }

    @Test func consumeStopsBeforeToOffset() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            #expect(try Self.run(["produce", "--lake", lake, "t"], stdin: Self.lines(0, 10)).status == 0)
            let head = try Self.run(["consume", "--lake", lake, "t", "--to-offset", "4"])
            #expect(head.lines == (0 ..< 4).map { "line-\($0)" })
            let window = try Self.run(["consume", "--lake", lake, "t", "--from-offset", "2", "--to-offset", "5"])
            #expect(window.lines == ["line-2", "line-3", "line-4"])
            #expect(try Self.run(["consume", "--lake", lake, "t", "--to-offset", "99"]).lines.count == 10)
            // --follow ends at --to-offset once it is reached.
            let follow = try Self.run(["consume", "--lake", lake, "t", "--follow", "--to-offset", "10"])
            #expect(follow.status == 0)
            #expect(follow.lines.count == 10)
            let reversed = try Self.run(["consume", "--lake", lake, "t", "--from-offset", "5", "--to-offset", "3"])
            #expect(reversed.status == 2)
            #expect(reversed.stderr.contains("reversed range"))
        }
    }

    @Test func inspectAfterEvictionShowsBothTiersAndAnEmptyActiveSegment() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            let produced = try Self.run(
                ["produce", "--lake", lake, "t", "--segment-bytes", "16384"],
                stdin: Self.lines(0, 3000))
            #expect(produced.status == 0)
            let offload = try Self.run(["offload", "--lake", lake, "--evict", "--json"])
            #expect(offload.status == 0, "\(offload.stderr)")
            #expect(offload.stdout.contains("\"coldSegments\":"))

            let topics = try Self.run(["inspect", "topics", "--lake", lake, "--json"])
            #expect(topics.status == 0, "\(topics.stderr)")
            let row = try #require(try JSONSerialization.jsonObject(with: Data(topics.stdout.utf8)) as? [String: Any])
            #expect(row["startOffset"] as? Int == 0)
            #expect(row["records"] as? Int == 3000)
            #expect(row["hotRecords"] as? Int == 0)
            #expect(row["coldRecords"] as? Int == 3000)
            #expect(row["notInCold"] as? Int == 0)

            let segments = try Self.run(["inspect", "segments", "--lake", lake, "t"])
            let active = try #require(segments.lines.last)
            #expect(active.hasPrefix("3000  -  "), "\(active)")
            #expect(active.hasSuffix("active (empty)"))
            #expect(!segments.stdout.contains("2999  3000"))
        }
    }

    @Test func hotTierIsShownAndCheckedWhenTheColdStoreIsUnreachable() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            let cold = dir + "/cold-elsewhere"
            let produced = try Self.run(
                ["produce", "--lake", lake, "--cold", "file://" + cold, "t"],
                stdin: Self.lines(0, 20))
            #expect(produced.status == 0, "\(produced.stderr)")
            try FileManager.default.removeItem(atPath: cold)

            let segments = try Self.run(["inspect", "segments", "--lake", lake, "t"])
            #expect(segments.status == 3)
            #expect(segments.stdout.contains("active"))
            #expect(segments.stderr.contains("unreachable"))
            let verify = try Self.run(["inspect", "verify", "--lake", lake])
            #expect(verify.status == 3)
            #expect(verify.stdout.contains("coldUnreachable"))
            #expect(verify.stderr.contains("1 hot segments"))
            let consume = try Self.run(["consume", "--lake", lake, "t"])
            #expect(consume.status == 0, "\(consume.stderr)")
            #expect(consume.lines.count == 20)
            #expect(!FileManager.default.fileExists(atPath: cold), "a read command created the cold directory")
        }
    }
}
