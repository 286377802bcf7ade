// Fuzz target: the manifest decoders (manifest, archive manifest, lake descriptor) on
// arbitrary bytes. Any input must end in a value or a FormatError.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzManifestDecode(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let manifest = try? Manifest.decode(bytes) {
        // What decodes must encode again and decode to the same value.
        if let again = try? manifest.encode() { precondition((try? Manifest.decode(again)) == manifest) }
    }
    _ = try? ArchiveManifest.decode(bytes)
    _ = try? LakeDescriptor.decode(bytes)
    return 0
}
