/// The header in front of every request body.
///
/// v1 holds the API key and version, the correlation id and a nullable client id; v2 (the
/// flexible versions) adds a tagged-field section. The client id stays a classic int16-length
/// string in v2, so every header can be read up to the client id before the API is known.
public struct KafkaRequestHeader: Sendable, Hashable {
    public var apiKey: Int16
    public var apiVersion: Int16
    public var correlationId: Int32
    public var clientId: String?

    public init(apiKey: Int16, apiVersion: Int16, correlationId: Int32, clientId: String?) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.correlationId = correlationId
        self.clientId = clientId
    }

    /// Reads a header of `headerVersion` 0 (no client id), 1 or 2 (with tagged fields, skipped).
    /// - Throws: `.truncated`, `.outOfBounds`, `.invalidValue` for malformed bytes;
    ///   `.unsupportedVersion` for a header version other than 0–2.
    public static func decode(
        from reader: inout KafkaReader, headerVersion: Int16
    ) throws(KafkaDecodeError) -> KafkaRequestHeader {
        guard (0 ... 2).contains(headerVersion) else {
            throw reader.error(.unsupportedVersion, "RequestHeader", "header version \(headerVersion)")
        }
        return try reader.within("RequestHeader") { (r) throws(KafkaDecodeError) in
            var header = KafkaRequestHeader(
                apiKey: try r.int16("RequestApiKey"), apiVersion: try r.int16("RequestApiVersion"),
                correlationId: try r.int32("CorrelationId"), clientId: nil)
            if headerVersion >= 1 { header.clientId = try r.string("ClientId", compact: false, nullable: true) }
            if headerVersion >= 2 { try skipTaggedFields(&r) }
            return header
        }
    }

    /// Writes this header as `headerVersion` 0, 1 or 2 (v0 drops the client id).
    public func encode(into w: inout KafkaWriter, headerVersion: Int16) throws(KafkaDecodeError) {
        w.int16(apiKey)
        w.int16(apiVersion)
        w.int32(correlationId)
        if headerVersion >= 1 { try w.string(clientId, compact: false, field: "RequestHeader.ClientId") }
        if headerVersion >= 2 { w.unsignedVarint(0) }
    }

    /// A header's own tagged fields: none are defined; read and skip them.
    static func skipTaggedFields(_ reader: inout KafkaReader) throws(KafkaDecodeError) {
        _ = try KafkaSchemaCodec.decode(KafkaStructSchema("Header", []), version: 0, flexible: true, from: &reader)
    }
}

/// A decoded request: its header, its API and its body.
public struct KafkaRequest: Sendable {
    public var header: KafkaRequestHeader
    public var api: KafkaApi
    public var body: KafkaStruct

    public var version: Int16 { header.apiVersion }

    /// Decodes one request frame: the bytes after the 4-byte size prefix.
    /// - Throws: `KafkaDecodeError`: `.unsupportedApi` / `.unsupportedVersion` for an API or
    ///   version outside `KafkaApis` (the server answers UNSUPPORTED_VERSION), `.truncated`,
    ///   `.outOfBounds`, `.invalidValue` or `.trailingBytes` for malformed bytes. Whenever the
    ///   header itself was readable, the error carries it (`requestHeader`) so the server can
    ///   answer with the right correlation id.
    public static func decode(_ frame: [UInt8]) throws(KafkaDecodeError) -> KafkaRequest {
        var reader = KafkaReader(frame)
        // Every API Strata speaks uses header v1 or v2, which agree up to the client id.
        let header = try KafkaRequestHeader.decode(from: &reader, headerVersion: 1)
        do throws(KafkaDecodeError) {
            let api = try supportedApi(header)
            let flexible = api.isFlexible(header.apiVersion)
            if api.requestHeaderVersion(header.apiVersion) == 2 {
                try reader.within("RequestHeader") { (r) throws(KafkaDecodeError) in
                    try KafkaRequestHeader.skipTaggedFields(&r)
                }
            }
            let body = try reader.within(api.request.name) { (r) throws(KafkaDecodeError) in
                try KafkaSchemaCodec.decode(api.request, version: header.apiVersion, flexible: flexible, from: &r)
            }
            guard reader.isAtEnd else {
                throw reader.error(.trailingBytes, api.request.name, "\(reader.remaining) bytes after the body")
            }
            return KafkaRequest(header: header, api: api, body: body)
        } catch {
            var withHeader = error
            withHeader.requestHeader = header
            throw withHeader
        }
    }

    /// The API a request header names, when this codec speaks that API at that version.
    /// - Throws: `.unsupportedApi` (unknown key) or `.unsupportedVersion` (listing the versions).
    static func supportedApi(_ header: KafkaRequestHeader) throws(KafkaDecodeError) -> KafkaApi {
        guard let api = KafkaApis.api(rawKey: header.apiKey) else {
            throw KafkaDecodeError(
                .unsupportedApi, field: "RequestHeader.RequestApiKey", position: 0,
                "API key \(header.apiKey) is not supported")
        }
        guard api.versions.contains(header.apiVersion) else {
            throw KafkaDecodeError(
                .unsupportedVersion, field: "RequestHeader.RequestApiVersion", position: 2,
                "\(api.name) v\(header.apiVersion) is not supported (\(api.versions))")
        }
        return api
    }

    /// Encodes a request frame (without the size prefix): header v1/v2 and the body. Clients and
    /// tests use it; the server only decodes requests.
    /// - Throws: `.unsupportedApi` / `.unsupportedVersion`, or a body value that does not fit its schema.
    public static func encode(_ header: KafkaRequestHeader, body: KafkaStruct) throws(KafkaDecodeError) -> [UInt8] {
        let api = try supportedApi(header)
        var w = KafkaWriter()
        try header.encode(into: &w, headerVersion: api.requestHeaderVersion(header.apiVersion))
        let flexible = api.isFlexible(header.apiVersion)
        try KafkaSchemaCodec.encode(body, as: api.request, version: header.apiVersion, flexible: flexible, into: &w)
        return w.bytes
    }
}

/// Response framing: header v0 (correlation id) or v1 (plus tagged fields), then the body.
public enum KafkaResponse {
    /// Encodes a response frame, without the size prefix or (`framed`) with it: the bytes a
    /// connection sends, written once (a Fetch answer is megabytes; `framed(_:)` copied it).
    /// - Throws: `.unsupportedVersion` for a version outside the API's range (except ApiVersions
    ///   v0, always allowed so UNSUPPORTED_VERSION can be answered), or a body value that does not fit.
    public static func encode(
        _ api: KafkaApi, version: Int16, correlationId: Int32, body: KafkaStruct, framed: Bool = false
    ) throws(KafkaDecodeError) -> [UInt8] {
        guard api.versions.contains(version) else {
            throw KafkaDecodeError(
                .unsupportedVersion, field: api.response.name, position: 0,
                "\(api.name) v\(version) is not supported")
        }
        var w = KafkaWriter()
        if framed { w.int32(0) }  // the size, patched below
        w.int32(correlationId)
        if api.responseHeaderVersion(version) == 1 { w.unsignedVarint(0) }
        try KafkaSchemaCodec.encode(
            body, as: api.response, version: version, flexible: api.isFlexible(version),
            into: &w)
        if framed { w.patchUInt32(UInt32(truncatingIfNeeded: Int32(clamping: w.bytes.count - 4)), at: 0) }
        return w.bytes
    }

    /// The same bytes with the 4-byte big-endian size prefix a connection sends.
    public static func framed(_ frame: [UInt8]) -> [UInt8] {
        var w = KafkaWriter(capacity: frame.count + 4)
        w.int32(Int32(clamping: frame.count))
        w.raw(frame)
        return w.bytes
    }

    /// The ApiVersions answer to a request whose API or version is not supported: version 0
    /// body, error UNSUPPORTED_VERSION, and the supported list, as KIP-511 asks.
    public static func unsupportedVersion(correlationId: Int32) -> [UInt8] {
        var w = KafkaWriter()
        w.int32(correlationId)
        w.int16(KafkaErrorCode.unsupportedVersion.rawValue)
        w.int32(Int32(KafkaApis.all.count))
        for api in KafkaApis.all {
            w.int16(api.key.rawValue)
            w.int16(api.versions.lowerBound)
            w.int16(api.versions.upperBound)
        }
        return w.bytes
    }

    /// Decodes a response frame (without the size prefix) of `api` at `version`: tests and clients.
    /// - Returns: the correlation id and the body.
    public static func decode(
        _ frame: [UInt8], api: KafkaApi, version: Int16
    ) throws(KafkaDecodeError) -> (correlationId: Int32, body: KafkaStruct) {
        var reader = KafkaReader(frame)
        let correlationId = try reader.within("ResponseHeader") { (r) throws(KafkaDecodeError) in
            try r.int32("CorrelationId")
        }
        if api.responseHeaderVersion(version) == 1 {
            try reader.within("ResponseHeader") { (r) throws(KafkaDecodeError) in
                try KafkaRequestHeader.skipTaggedFields(&r)
            }
        }
        let body = try reader.within(api.response.name) { (r) throws(KafkaDecodeError) in
            try KafkaSchemaCodec.decode(api.response, version: version, flexible: api.isFlexible(version), from: &r)
        }
        guard reader.isAtEnd else {
            throw reader.error(.trailingBytes, api.response.name, "\(reader.remaining) bytes after the body")
        }
        return (correlationId, body)
    }
}
