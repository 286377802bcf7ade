import CCurl
import Foundation
import Synchronization

// The only file that imports CCurl. libcurl calls block, so they run on a few dedicated
// threads, each owning one reused easy handle (its connection cache gives keep-alive); async
// callers wait on a checked continuation and never block Swift's cooperative pool.

/// One HTTP exchange as the S3 layer describes it.
struct HTTPRequest: Sendable {
    var method: String
    var url: String
    /// Sent as given (already signed); curl adds nothing the server must verify.
    var headers: [(name: String, value: String)]
    /// Sent from the caller's memory without a copy.
    var body: ArraySlice<UInt8> = []
    var connectTimeoutMs: Int = 5_000
    /// Whole-exchange limit; 0 means none (large bodies rely on the low-speed limit instead).
    var totalTimeoutMs: Int = 0
    /// Abort when fewer than `lowSpeedBytesPerSecond` move for `lowSpeedSeconds`.
    var lowSpeedBytesPerSecond: Int = 1_024
    var lowSpeedSeconds: Int = 30
    /// Skip TLS certificate and host checks (test servers only).
    var insecureTLS: Bool = false
}

/// What came back: status, headers with lowercased names, and the body.
struct HTTPResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// The last value of header `name` (lowercase), if present.
    func header(_ name: String) -> String? {
        headers.last { $0.name == name }?.value
    }
}

/// A transfer that failed below HTTP (connect, TLS, timeout, reset).
struct CurlError: Error, Sendable, CustomStringConvertible {
    enum Kind: Sendable { case connect, timeout, reset, tls, other }
    var kind: Kind
    var curlCode: Int
    var message: String

    var description: String { "curl error \(curlCode): \(message)" }

    static func kind(of code: Int) -> Kind {
        switch code {
        case 5, 6, 7: return .connect  // proxy/host resolution, couldn't connect
        case 28: return .timeout
        case 18, 52, 55, 56, 92: return .reset  // partial file, empty reply, send/recv, HTTP/2 stream
        case 35, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91: return .tls
        default: return .other
        }
    }
}

/// Set when the waiting task is cancelled; the transfer's progress callback then aborts it.
final class CurlCancellation: Sendable {
    private let flag = Atomic<Bool>(false)
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
    func cancel() { flag.store(true, ordering: .relaxed) }
}

/// A bounded set of worker threads, each with one reusable curl easy handle.
final class CurlPool: @unchecked Sendable {
    private struct Job {
        var request: HTTPRequest
        var cancellation: CurlCancellation
        var continuation: CheckedContinuation<HTTPResponse, any Error>
    }

    private static let globalInit: Bool = ccurl_global_init_default() == CURLE_OK

    // Guarded by `condition`.
    private let condition = NSCondition()
    /// FIFO; callers bound their own concurrency, so it stays short and removeFirst is cheap.
    /// Taken jobs leave the array at once: they hold request bodies.
    private var jobs: [Job] = []
    private var closed = false

    /// Starts `connectionCountMax` threads; at most that many transfers run at once.
    init(connectionCountMax: Int, name: String = "strata-curl") {
        _ = CurlPool.globalInit
        for index in 0 ..< max(1, connectionCountMax) {
            let thread = Thread { [self] in self.workerLoop() }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
    }

    /// Runs `request` on a worker thread. Throws `CurlError` for transfer failures and
    /// `CancellationError` when the calling task is cancelled (queued or mid-transfer).
    func perform(_ request: HTTPRequest) async throws -> HTTPResponse {
        let cancellation = CurlCancellation()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                enqueue(Job(request: request, cancellation: cancellation, continuation: continuation))
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    private func enqueue(_ job: Job) {
        condition.lock()
        if closed {
            condition.unlock()
            job.continuation.resume(throwing: CurlError(kind: .other, curlCode: -1, message: "client closed"))
            return
        }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Lets workers finish queued jobs, then exit and free their handles.
    func shutdown() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    private func nextJob() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while jobs.isEmpty && !closed { condition.wait() }
        return jobs.isEmpty ? nil : jobs.removeFirst()
    }

    private func workerLoop() {
        let easy = CurlEasy()
        while let job = nextJob() {
            guard let easy else {
                job.continuation.resume(
                    throwing: CurlError(kind: .other, curlCode: -1, message: "curl_easy_init failed"))
                continue
            }
            if job.cancellation.isCancelled {
                job.continuation.resume(throwing: CancellationError())
                continue
            }
            job.continuation.resume(with: Result { try easy.perform(job.request, cancellation: job.cancellation) })
        }
    }
}

/// Accumulates one response; only touched by the worker thread running the transfer.
private final class ResponseSink {
    let cancellation: CurlCancellation
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    /// Refuse to pre-allocate more than this from a Content-Length header.
    static let reserveBytesMax = 1 << 30

    init(cancellation: CurlCancellation) { self.cancellation = cancellation }

    func headerLine(_ line: String) {
        if line.hasPrefix("HTTP/") {
            headers.removeAll()  // a new response (after 100-continue or a redirect)
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        headers.append((name: name, value: value))
        if name == "content-length", let length = Int(value), length > 0, length <= Self.reserveBytesMax {
            body.reserveCapacity(length)
        }
    }
}

/// One easy handle, reset between transfers (reset keeps its live connections and DNS cache).
private final class CurlEasy {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    /// POSTFIELDS needs a valid pointer even for an empty body.
    private let emptyBody = UnsafeMutablePointer<CChar>.allocate(capacity: 1)

    init?() {
        guard let handle = curl_easy_init() else { return nil }
        self.handle = handle
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
        emptyBody.deallocate()
    }

    func perform(_ request: HTTPRequest, cancellation: CurlCancellation) throws -> HTTPResponse {
        curl_easy_reset(handle)
        errorBuffer[0] = 0
        let sink = ResponseSink(cancellation: cancellation)
        var headerList = makeHeaderList(request)
        defer { curl_slist_free_all(headerList) }
        try withExtendedLifetime(sink) {
            let sinkPointer = Unmanaged.passUnretained(sink).toOpaque()
            try configure(request, sink: sinkPointer, headers: &headerList)
            try request.body.withUnsafeBytes { body in
                try setBody(request, body)
                let code = curl_easy_perform(handle)
                if code == CURLE_ABORTED_BY_CALLBACK && cancellation.isCancelled { throw CancellationError() }
                try check(code)
            }
        }
        var status = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body)
    }

    private func makeHeaderList(_ request: HTTPRequest) -> UnsafeMutablePointer<curl_slist>? {
        var list: UnsafeMutablePointer<curl_slist>? = nil
        var lines = request.headers.map { "\($0.name): \($0.value)" }
        // No 100-continue round trip, and no form content type on bodies we send.
        lines.append("Expect:")
        if !request.headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            lines.append("Content-Type:")
        }
        for line in lines { list = curl_slist_append(list, line) }
        return list
    }

    private func configure(
        _ request: HTTPRequest, sink: UnsafeMutableRawPointer, headers: inout UnsafeMutablePointer<curl_slist>?
    ) throws {
        try check(ccurl_setopt_string(handle, CURLOPT_URL, request.url))
        try check(ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        try check(ccurl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1))
        try check(ccurl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        try check(ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers))
        try check(ccurl_setopt_datacb(handle, CURLOPT_WRITEFUNCTION, curlWriteBody))
        try check(ccurl_setopt_ptr(handle, CURLOPT_WRITEDATA, sink))
        try check(ccurl_setopt_datacb(handle, CURLOPT_HEADERFUNCTION, curlWriteHeader))
        try check(ccurl_setopt_ptr(handle, CURLOPT_HEADERDATA, sink))
        try check(ccurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0))
        try check(ccurl_setopt_xferinfocb(handle, CURLOPT_XFERINFOFUNCTION, curlProgress))
        try check(ccurl_setopt_ptr(handle, CURLOPT_XFERINFODATA, sink))
        try check(ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeoutMs))
        try check(ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, request.totalTimeoutMs))
        try check(ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, request.lowSpeedBytesPerSecond))
        try check(ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, request.lowSpeedSeconds))
        try check(ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, request.insecureTLS ? 0 : 1))
        try check(ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, request.insecureTLS ? 0 : 2))
    }

    /// HEAD must not wait for a body; PUT/POST send `body` from the caller's memory (no copy).
    private func setBody(_ request: HTTPRequest, _ body: UnsafeRawBufferPointer) throws {
        switch request.method {
        case "HEAD":
            try check(ccurl_setopt_long(handle, CURLOPT_NOBODY, 1))
        case "GET":
            try check(ccurl_setopt_long(handle, CURLOPT_HTTPGET, 1))
        case "PUT", "POST":
            let base =
                body.baseAddress.map { UnsafeMutableRawPointer(mutating: $0) } ?? UnsafeMutableRawPointer(emptyBody)
            try check(ccurl_setopt_long(handle, CURLOPT_POST, 1))
            try check(ccurl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            try check(ccurl_setopt_ptr(handle, CURLOPT_POSTFIELDS, base))
            try check(ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method))
        default:
            try check(ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method))
        }
    }

    private func check(_ code: CURLcode) throws {
        guard code != CURLE_OK else { return }
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        throw CurlError(kind: CurlError.kind(of: Int(code.rawValue)), curlCode: Int(code.rawValue), message: message)
    }
}

/// Hands the bytes of a curl write callback (body or header) to the transfer's sink.
/// - Returns: the bytes taken (0 aborts the transfer).
private func deliver(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?,
    to take: (ResponseSink, UnsafeRawBufferPointer) -> Void
) -> Int {
    guard let data, let context else { return 0 }
    let length = size * count
    let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
    take(sink, UnsafeRawBufferPointer(start: data, count: length))
    return length
}

private func curlWriteBody(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    deliver(data, size, count, context) { sink, bytes in sink.body.append(contentsOf: bytes) }
}

/// Called by curl about once a second and on every chunk: non-zero aborts the transfer.
private func curlProgress(
    _ context: UnsafeMutableRawPointer?, _ downloadTotal: curl_off_t, _ downloaded: curl_off_t,
    _ uploadTotal: curl_off_t, _ uploaded: curl_off_t
) -> Int32 {
    guard let context else { return 0 }
    return Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue().cancellation.isCancelled ? 1 : 0
}

private func curlWriteHeader(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    deliver(data, size, count, context) { sink, bytes in sink.headerLine(String(decoding: bytes, as: UTF8.self)) }
}
