import Foundation
import Glibc
import StrataTesting
import Testing

@testable import Strata

/// `strata serve` as an operator runs it: one `listening on` line, Kafka on that port, a clean
/// exit 0 on SIGTERM with the lake closed (issue 13 §2). Real clients: tools/test-kafka.
@Suite
struct ServeCLITests {
    /// A running `strata serve` and its output so far.
    final class Served: Sendable {
        let process: ChildProcess
        /// Where the child's stdout and stderr go: files, read whole whenever asked.
        let directory: String

        init(_ arguments: [String]) throws {
            try #require(CLIRun.exists, "no strata binary at \(CLIRun.binary): run `swift build` or set STRATA_BIN")
            directory = NSTemporaryDirectory() + "strata-serve-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let out = open(directory + "/out", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            let err = open(directory + "/err", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            defer { for fd in [out, err] where fd >= 0 { close(fd) } }
            try #require(out >= 0 && err >= 0, "cannot create \(directory): errno \(errno)")
            process = try ChildProcess(CLIRun.binary, ["serve"] + arguments, stdout: out, stderr: err)
        }

        deinit {
            process.signal(SIGKILL)
            process.wait()
            try? FileManager.default.removeItem(atPath: directory)
        }

        private func contents(_ name: String) -> String {
            String(decoding: FileManager.default.contents(atPath: directory + "/" + name) ?? Data(), as: UTF8.self)
        }
        var output: String { contents("out") }
        var errors: String { contents("err") }

        /// The port of the `listening on` line, waiting up to 30 s for it.
        func listeningPort() throws -> Int {
            for _ in 0 ..< 3000 {
                if let line = output.split(separator: "\n").first, output.contains("\n") {
                    let port = try #require(line.split(separator: ":").last.flatMap { Int($0) }, "line '\(line)'")
                    #expect(line == "listening on 127.0.0.1:\(port)")
                    return port
                }
                if !process.isRunning { break }
                usleep(10_000)
            }
            Issue.record("no listening line; stderr: \(errors)")
            throw CancellationError()
        }

        func stop(_ signal: Int32 = SIGTERM) -> Int32 {
            process.signal(signal)
            return process.wait().status
        }
    }

    /// ApiVersions v0 over a plain socket: the correlation id and error code of the answer.
    func apiVersions(port: Int) throws -> (Int32, Int16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(connected == 0, "connect: errno \(errno)")
        // size 10: api key 18, version 0, correlation id 42, null client id.
        let request: [UInt8] = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 42, 0xff, 0xff]
        #expect(send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count)
        var response = [UInt8](repeating: 0, count: 10)
        var got = 0
        while got < response.count {
            let n = response[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            try #require(n > 0, "recv: \(n) errno \(errno)")
            got += n
        }
        let correlationId =
            Int32(response[4]) << 24 | Int32(response[5]) << 16 | Int32(response[6]) << 8
            | Int32(response[7])
        return (correlationId, Int16(response[8]) << 8 | Int16(response[9]))
    }

    @Test func serveAnswersKafkaAndStopsCleanlyOnSigterm() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            let served = try Served(["--lake", lake, "--listen", "127.0.0.1:0"])
            let port = try served.listeningPort()
            #expect(try apiVersions(port: port) == (42, 0))
            #expect(served.stop() == 0, "stderr: \(served.errors)")
            #expect(served.output == "listening on 127.0.0.1:\(port)\n")
            #expect(served.errors.contains("stopped; lake closed"))
            // The lake was closed: its lock is free and it opens again.
            let reopened = try Lake.open(lake)
            try await reopened.close()
            #expect(FileManager.default.fileExists(atPath: lake + "/kafka-cluster-id"))
        }
    }

    @Test func sigintStopsServeToo() async throws {
        try await withTempDirectory { dir in
            let served = try Served(["--lake", dir + "/lake", "--listen", "127.0.0.1:0", "--advertise", "localhost:1"])
            _ = try served.listeningPort()
            #expect(served.stop(SIGINT) == 0, "stderr: \(served.errors)")
        }
    }

    @Test(arguments: [
        ["--listen", "nowhere"], ["--listen", "127.0.0.1:70000"], ["--advertise", "host:0"],
        ["--max-connections", "0"], ["--default-partitions", "0"], ["--max-request-bytes", "1"],
        ["--idle-timeout-ms", "0"], ["--auto-create-topics", "maybe"], ["--group-initial-rebalance-delay-ms", "-1"],
        ["--group-min-session-timeout-ms", "0"],
        ["--group-min-session-timeout-ms", "9000", "--group-max-session-timeout-ms", "8000"],
        ["--group-max-size", "0"],
    ])
    func badFlagsAreUsageErrors(_ flags: [String]) async throws {
        try await withTempDirectory { dir in
            let result = try CLIRun.strata(["serve", "--lake", dir + "/lake"] + flags)
            #expect(result.status == 2, "\(flags): \(result)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/lake"), "\(flags): the lake was created")
        }
    }

    /// The group flags are documented in `serve --help`, with Kafka's names for them.
    @Test func helpExplainsTheGroupFlags() throws {
        let result = try CLIRun.strata(["serve", "--help"])
        #expect(result.status == 0)
        // Wrapped to the terminal: compare with the whitespace collapsed.
        let help = result.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for text in [
            "--group-initial-rebalance-delay-ms", "group.initial.rebalance.delay.ms", "--group-min-session-timeout-ms",
            "--group-max-session-timeout-ms", "--group-max-size", "GROUP_MAX_SIZE_REACHED", "(default: 3000)",
        ] {
            #expect(help.contains(text), "\(text)")
        }
    }

    /// A port already taken: a clear error, and the lake is left closed (its lock released).
    @Test func portInUseIsAnErrorThatLeavesTheLakeClosed() async throws {
        try await withTempDirectory { dir in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
                }
            }
            try #require(bound)
            let port = Int(UInt16(bigEndian: address.sin_port))
            let result = try CLIRun.strata(["serve", "--lake", dir + "/lake", "--listen", "127.0.0.1:\(port)"])
            #expect(result.status == 3, "\(result)")
            #expect(result.stderr.contains("cannot listen: 127.0.0.1:\(port)"), "\(result)")
            let reopened = try Lake.open(dir + "/lake")
            try await reopened.close()
        }
    }
}
