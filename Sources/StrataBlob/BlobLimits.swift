/// Every bound of the blob layer, named in one place (STYLE: "put a limit on everything").
public enum BlobLimits {
    /// Longest key in UTF-8 bytes; S3's own limit, so a key valid here is valid everywhere.
    public static let keyBytesMax = 1024
    /// Most objects one `list` call returns; S3 ListObjectsV2 caps at the same number.
    public static let listPageMax = 1000
    /// Most injected-fault records a `FaultyBlobStore` keeps for tests to read.
    public static let faultLogEntriesMax = 4096
}
