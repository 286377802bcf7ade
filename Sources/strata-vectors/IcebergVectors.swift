// The Iceberg vector of formats/table.md (formats/vectors/table/iceberg/orders): the table of
// IcebergTableVector (three snapshots: append, append, delete) with uncompressed data files, so
// every byte is independent of the libzstd version. Tests/StrataIcebergTests reproduces it.
import Foundation
import StrataIceberg

/// The vector's table location: absolute paths inside the metadata start with it.
let icebergVectorLocation = "s3://strata-vectors/tables/orders"

func generateIcebergVectors(into directory: URL) throws {
    let root = directory.appendingPathComponent("table/iceberg/orders", isDirectory: true)
    try? FileManager.default.removeItem(at: root)
    let vector = try IcebergTableVector(location: icebergVectorLocation, codec: .uncompressed)
    for (path, bytes) in vector.files {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try write(bytes, "table/iceberg/orders/" + path, in: directory)
    }
}
