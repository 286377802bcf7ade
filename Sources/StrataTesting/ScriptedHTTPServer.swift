import Foundation

/// A scripted HTTP/1.1 server on 127.0.0.1: answer `n` (0-based, across connections) comes from
/// `script(n)`; `nil` closes the connection without answering (a reset as the client sees it).
public final class ScriptedHTTPServer: @unchecked Sendable {
    /// The loopback port it listens on.
    public let port: Int
    private let listener: Int32
    private let script: @Sendable (Int) -> (status: Int, body: String)?
    private let lock = NSLock()
    private var requestLines: [String] = []

    /// Starts listening on an ephemeral loopback port.
    /// - Parameter script: the answer to request `n` (0-based), or nil to drop the connection.
    /// - Throws: `ScriptedHTTPServer.Failure` when the socket cannot be bound.
    public init(script: @escaping @Sendable (Int) -> (status: Int, body: String)?) throws {
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
        guard listening, port > 0 else {
            let code = errno
            close(fd)
            throw Failure(errno: code)
        }
        let thread = Thread { [self] in self.acceptLoop() }
        thread.start()
    }

    /// First lines (`PUT /bucket/key HTTP/1.1`) of the requests seen so far.
    public var requests: [String] { lock.withLock { requestLines } }

    /// Stops accepting connections.
    public func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    /// The listening socket could not be set up.
    public struct Failure: Error {
        public var errno: Int32
    }

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
                let bodyLength =
                    head.split(separator: "\r\n")
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
            data += buffer[0 ..< count]
        }
    }
}
