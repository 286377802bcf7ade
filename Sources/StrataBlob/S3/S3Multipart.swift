import Foundation

// Multipart upload: CreateMultipartUpload (?uploads=), UploadPart in parallel within
// `partParallelCountMax`, CompleteMultipartUpload (with If-None-Match for ifAbsent), and
// AbortMultipartUpload on any failure so no orphaned parts keep costing storage.

extension S3BlobStore {
    /// Part size for an object of `byteCount` bytes: the configured size, grown when needed to
    /// stay within S3's 10,000 parts.
    func partSizeBytes(forObjectBytes byteCount: Int) -> Int {
        let needed = (byteCount + S3Config.partCountMax - 1) / S3Config.partCountMax
        return max(config.partSizeBytes, needed)
    }

    func putMultipart(_ key: String, _ bytes: [UInt8], mode: PutMode) async throws {
        let uploadId = try await createMultipartUpload(key)
        do {
            let etags = try await uploadParts(key, uploadId: uploadId, bytes: bytes)
            try await completeMultipartUpload(key, uploadId: uploadId, etags: etags, mode: mode)
        } catch {
            // Abort in a task of its own: if this one was cancelled, the abort must still go out.
            await Task { await self.abortMultipartUpload(key, uploadId: uploadId) }.value
            throw error
        }
    }

    private func createMultipartUpload(_ key: String) async throws -> String {
        var call = S3Call(method: "POST", key: key)
        call.query = [(name: "uploads", value: "")]
        let response = try await client.send(call)
        guard let root = try? S3XMLParser.parse(response.body), let uploadId = root.childText("UploadId"),
            !uploadId.isEmpty
        else {
            throw BlobError(.corrupt, "CreateMultipartUpload answer without UploadId", key: key, location: location)
        }
        return uploadId
    }

    /// Uploads every part, at most `partParallelCountMax` at once; returns ETags by part.
    private func uploadParts(_ key: String, uploadId: String, bytes: [UInt8]) async throws -> [String] {
        let partBytes = partSizeBytes(forObjectBytes: bytes.count)
        let partCount = (bytes.count + partBytes - 1) / partBytes
        var etags = [String](repeating: "", count: partCount)
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            var nextIndex = 0
            func startNext() {
                let index = nextIndex
                nextIndex += 1
                let range = index * partBytes ..< min(bytes.count, (index + 1) * partBytes)
                group.addTask {
                    (index, try await self.uploadPart(key, uploadId: uploadId, number: index + 1, bytes[range]))
                }
            }
            while nextIndex < min(partCount, config.partParallelCountMax) { startNext() }
            while let (index, etag) = try await group.next() {
                etags[index] = etag
                if nextIndex < partCount { startNext() }
            }
        }
        return etags
    }

    private func uploadPart(
        _ key: String, uploadId: String, number: Int, _ part: ArraySlice<UInt8>
    ) async throws -> String {
        var call = S3Call(method: "PUT", key: key, body: part)
        call.query = [(name: "partNumber", value: String(number)), (name: "uploadId", value: uploadId)]
        let response = try await client.send(call)
        guard let etag = response.header("etag"), !etag.isEmpty else {
            throw BlobError(.corrupt, "UploadPart \(number) answer without ETag", key: key, location: location)
        }
        return etag
    }

    private func completeMultipartUpload(_ key: String, uploadId: String, etags: [String], mode: PutMode) async throws {
        var xml = "<CompleteMultipartUpload>"
        for (index, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XMLParser.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        var call = S3Call(method: "POST", key: key, body: Array(xml.utf8)[...])
        call.query = [(name: "uploadId", value: uploadId)]
        if mode == .ifAbsent { call.headers.append((name: "if-none-match", value: "*")) }
        let response = try await client.send(call)
        // S3 can answer 200 and still fail: the error is then in the body.
        if let error = S3ErrorBody.parse(response.body) {
            let status = error.code == "PreconditionFailed" ? 412 : 500
            throw client.statusError(HTTPResponse(status: status, headers: [], body: response.body), key: key)
        }
    }

    /// Best effort: a failed abort leaves parts a bucket lifecycle rule must clean up.
    private func abortMultipartUpload(_ key: String, uploadId: String) async {
        var call = S3Call(method: "DELETE", key: key)
        call.query = [(name: "uploadId", value: uploadId)]
        _ = try? await client.send(call)
    }
}
