// The S3 XML fuzz target compiles S3XML.swift and S3Responses.swift without the rest of
// StrataBlob (curl, crypto): this stands in for the one type they use from BlobStore.swift.
public struct BlobInfo: Sendable, Equatable {
    public var key: String
    public var size: Int64
    public var modifiedMs: Int64

    public init(key: String, size: Int64, modifiedMs: Int64) {
        self.key = key
        self.size = size
        self.modifiedMs = modifiedMs
    }
}
