/// Every hard bound of the on-disk formats, named in one place (TIGER_STYLE).
/// Engine-level, configurable limits live in the engine; these are what a reader accepts at all.
public enum FormatLimits {
    /// Largest batch a reader will accept: lengths above it are rejected before any allocation.
    public static let batchBytesMax = 64 * 1024 * 1024
    /// Smallest possible encoded record (7 one-byte varints/fields), bounds record counts.
    public static let recordBytesMin = 7
    /// Topic names: `[A-Za-z0-9._-]{1,249}`, never `.` or `..` (formats/bucket-layout.md).
    public static let topicNameBytesMax = 249
    /// Partitions a topic may have (formats/bucket-layout.md): a bound on what one topic's
    /// listing, describe and verify walk, far above any Kafka topic's count.
    public static let partitionsMax: Int32 = 100_000
    /// Most frames one cold object may hold (a 4 GiB segment at 1 MiB frames fits 4096).
    public static let coldFramesMax = 1 << 20
    /// Largest header key a record may carry.
    public static let headerKeyBytesMax = 32 * 1024
    /// Largest raw (decompressed) size of one cold frame; the seek table stores sizes as u32 and
    /// zstd's seekable library caps frames at 1 GiB, so Strata does too.
    public static let coldFrameRawBytesMax = 1 << 30
    /// Largest Strata index frame a reader accepts (bounds the suffix read of a cold object).
    public static let coldIndexFrameBytesMax = 64 * 1024 * 1024
    /// Largest manifest (or archive manifest) document a reader will parse.
    public static let manifestBytesMax = 64 * 1024 * 1024
}
