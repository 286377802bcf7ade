// Fuzz target: the S3 response parsers (XML reader, error body, ListObjectsV2, DeleteObjects)
// and the header parsers (Last-Modified, Content-Range) on bytes a server or a proxy could send.
// Any input must end in a value, nil or a thrown error; a trap takes the whole process down.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzS3XMLParse(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? S3XMLParser.parse(bytes)
    _ = S3ErrorBody.parse(bytes)
    _ = try? S3ListResult.parse(bytes)
    _ = try? S3DeleteResult.parse(bytes)
    let text = String(decoding: bytes, as: UTF8.self)
    _ = S3Time.iso8601Ms(text)
    _ = S3Time.httpDateMs(text)
    _ = S3ContentRange.parse(text)
    // What we escape must parse back to the same text.
    if !text.contains("\0"), let root = try? S3XMLParser.parse(Array("<K>\(S3XMLParser.escape(text))</K>".utf8)) {
        precondition(root.text == text || text.contains("\r"), "escape round trip")
    }
    return 0
}
