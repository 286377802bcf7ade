import Foundation
import Testing

@testable import StrataBlob

/// A scripted HTTP/1.1 server on 127.0.0.1: answer `n` (0-based, across connections) comes from
/// `script(n)`; `nil` closes the connection without answering (a reset as the client sees it).
final class S3ScriptedServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let script: @Sendable (Int) -> (status: Int, body: String)?
    private let lock = NSLock()
    private var requestLines: [String] = []

    init(script: @escaping @Sendable (Int) -> (status: Int, body: String)?) throws {
        self.script = script
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        try #require(listening && port > 0)
        let thread = Thread { [self] in self.acceptLoop() }
        thread.start()
    }

    /// First lines (`PUT /bucket/key HTTP/1.1`) of the requests seen so far.
    var requests: [String] { lock.withLock { requestLines } }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            // One thread per connection: the store's curl workers each keep their own alive.
            Thread { [self] in
                self.serve(connection)
                close(connection)
            }.start()
        }
    }

    private func serve(_ connection: Int32) {
        while let head = readRequest(connection) {
            let index: Int = lock.withLock {
                requestLines.append(head.components(separatedBy: "\r\n").first ?? "")
                return requestLines.count - 1
            }
            guard let answer = script(index) else { return }
            let reply = "HTTP/1.1 \(answer.status) X\r\nContent-Length: \(answer.body.utf8.count)\r\n\r\n\(answer.body)"
            _ = Array(reply.utf8).withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// Reads one request's head and discards its body (Content-Length framing only).
    private func readRequest(_ connection: Int32) -> String? {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let end = String(decoding: data, as: UTF8.self).range(of: "\r\n\r\n") {
                let head = String(String(decoding: data, as: UTF8.self)[..<end.lowerBound])
                let bodyLength = head.split(separator: "\r\n")
                    .first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                var remaining = bodyLength - (data.count - head.utf8.count - 4)
                while remaining > 0 {
                    let count = recv(connection, &buffer, min(buffer.count, remaining), 0)
                    guard count > 0 else { return nil }
                    remaining -= count
                }
                return head
            }
            let count = recv(connection, &buffer, buffer.count, 0)
            guard count > 0 else { return nil }
            data += buffer[0..<count]
        }
    }
}

/// Transient failures seen through real HTTP: 5xx/SlowDown and resets retried, 4xx not.
@Suite struct S3FaultTests {
    static func store(port: Int, attempts: Int = 4) throws -> S3BlobStore {
        var config = S3Config(
            endpoint: try #require(URL(string: "http://127.0.0.1:\(port)")), region: "us-east-1", bucket: "b",
            credentials: S3Credentials(accessKeyId: "AKID", secretAccessKey: "secret-never-shown"))
        config.retry = S3RetryPolicy(attemptCountMax: attempts, delayMsBase: 1, delayMsMax: 5)
        return try S3BlobStore(config: config)
    }

    static let slowDown = "<Error><Code>SlowDown</Code><Message>Reduce your rate</Message><RequestId>r1</RequestId></Error>"

    @Test func slowDownAndResetAreRetriedUntilSuccess() async throws {
        let server = try S3ScriptedServer { index in
            switch index {
            case 0: return (503, Self.slowDown)
            case 1: return nil  // connection dropped without an answer
            case 2: return (500, "")
            default: return (200, "")
            }
        }
        defer { server.stop() }
        try await Self.store(port: server.port).put("k", Array(repeating: 1, count: 10_000), mode: .overwrite)
        #expect(server.requests == Array(repeating: "PUT /b/k HTTP/1.1", count: 4))
    }

    @Test func persistentSlowDownGivesUpWithTheS3Code() async throws {
        let server = try S3ScriptedServer { _ in (503, Self.slowDown) }
        defer { server.stop() }
        let error = await expectS3Error(.unavailable) {
            _ = try await Self.store(port: server.port, attempts: 3).get("k", range: .whole)
        }
        #expect(server.requests.count == 3)
        #expect(error?.cause?.contains("SlowDown") == true && error?.message.contains("gave up after 3 tries") == true)
    }

    @Test func clientErrorsAreNotRetried() async throws {
        let server = try S3ScriptedServer { _ in (403, "<Error><Code>AccessDenied</Code><Message>no</Message></Error>") }
        defer { server.stop() }
        let error = await expectS3Error(.denied) { _ = try await Self.store(port: server.port).head("k") }
        #expect(server.requests.count == 1)
        #expect(error.map { "\($0)" }?.contains("secret-never-shown") == false)
    }
}

extension S3FaultTests {
    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        let server = try S3ScriptedServer { _ in
            Thread.sleep(forTimeInterval: 5)  // a server that hangs
            return (200, "")
        }
        defer { server.stop() }
        let store = try Self.store(port: server.port)
        let task = Task { try await store.get("k", range: .whole) }
        try await Task.sleep(nanoseconds: 200_000_000)
        task.cancel()
        let result = await task.result
        // A finished transfer would have succeeded (200) and a stalled one failed as unavailable:
        // only the abort gives CancellationError. No timing asserted (the suite runs loaded).
        #expect(throws: CancellationError.self) { try result.get() }
    }
}
