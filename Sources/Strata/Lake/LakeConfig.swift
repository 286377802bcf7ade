import Foundation
import StrataBlob

/// `lake.json`: what a lake remembers about itself, so later commands need only `--lake`.
struct LakeConfigFile: Codable, Equatable {
    static let currentFormatVersion = 1
    var formatVersion: Int
    /// The cold store URL (`file:///…` or `s3://bucket/prefix`).
    var cold: String
    /// `aes-256-gcm` when new cold objects are encrypted (ARCHITECTURE.md "Encryption at rest");
    /// absent for a plain lake. Once on, never turned off: old objects keep their key ids.
    var encryption: String? = nil

    /// The cipher `encryption` names.
    /// - Throws: `corrupt` for a name this build does not know.
    func cipher(paths: LakePaths) throws(StrataError) -> ColdCipher? {
        guard let encryption else { return nil }
        guard let cipher = ColdCipher(name: encryption) else {
            throw StrataError(.corrupt, "unknown encryption '\(encryption)' (this build knows aes-256-gcm)", file: paths.config)
        }
        return cipher
    }

    /// Turns encryption on in `lake.json` when `options` ask for it, and checks that an
    /// encrypting lake has keys to seal with.
    /// - Returns: whether new objects are sealed.
    /// - Throws: `invalidArgument` when the lake encrypts but no key ring was given; `io`.
    mutating func applyEncryption(_ options: LakeOptions, paths: LakePaths) throws(StrataError) -> Bool {
        if let wanted = options.encryption, encryption == nil {
            encryption = wanted.name
            try FileIO.writeAtomically(paths.config, try encodeJSON(self))
        }
        guard let cipher = try cipher(paths: paths) else { return false }
        guard options.keyRing != nil else {
            throw StrataError(
                .invalidArgument,
                "lake \(paths.root) encrypts its cold objects (\(cipher.name)): give its keys with --key-ring FILE or "
                    + "\(ColdKeyRing.environmentVariable) (formats/keys.md)",
                file: paths.config)
        }
        return true
    }

    /// Reads `lake.json`, or creates it with `coldURL` (default `file://<lake>/cold`).
    /// - Parameter check: runs before a new `lake.json` is written (e.g. opening the store), so a
    ///   lake whose cold store cannot be opened does not remember it (ARCHITECTURE.md invariant 9).
    /// - Throws: `invalidArgument` when `coldURL` differs from the remembered one or is not a
    ///   valid cold URL; `corrupt` for an unreadable file; what `check` throws.
    static func loadOrCreate(
        paths: LakePaths, coldURL: String?,
        check: (LakeConfigFile) throws(StrataError) -> Void = { _ in }
    ) throws(StrataError) -> LakeConfigFile {
        if FileIO.exists(paths.config) {
            let stored = try load(paths: paths)
            if let coldURL, coldURL != stored.cold {
                throw StrataError(
                    .invalidArgument,
                    "lake \(paths.root) uses cold store \(stored.cold), not \(coldURL); omit --cold to use it",
                    file: paths.config)
            }
            try check(stored)
            return stored
        }
        let absolute =
            paths.root.hasPrefix("/") ? paths.root : FileManager.default.currentDirectoryPath + "/" + paths.root
        let url = coldURL ?? "file://" + normalize(absolute) + "/cold"
        _ = try parseColdURL(url)
        let config = LakeConfigFile(formatVersion: currentFormatVersion, cold: url)
        try check(config)
        try FileIO.writeAtomically(paths.config, try encodeJSON(config))
        return config
    }

    /// Reads and checks an existing `lake.json` (never creates one).
    /// - Throws: `notFound` when it is absent; `corrupt` when it does not decode or has an
    ///   unsupported format version.
    static func load(paths: LakePaths) throws(StrataError) -> LakeConfigFile {
        let stored: LakeConfigFile = try decodeJSON(try FileIO.readWholeFile(paths.config), file: paths.config)
        guard stored.formatVersion == currentFormatVersion else {
            throw StrataError(
                .corrupt, "lake format version \(stored.formatVersion) is not supported",
                file: paths.config)
        }
        return stored
    }

    private static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { _ = parts.popLast() } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }
}

func parseColdURL(_ text: String) throws(StrataError) -> ColdURL {
    do { return try ColdURL.parse(text) } catch let error as BlobError {
        throw StrataError(.invalidArgument, error.message)  // names the URL and the accepted forms
    } catch {
        throw StrataError(.invalidArgument, "bad cold URL '\(text)': \(error)")
    }
}

/// Opens the blob store behind a cold URL; an S3 store retries its requests with `retry`.
func openColdStore(
    _ url: ColdURL, retry: RetryPolicy, retryEnvironment: RetryEnvironment
) throws(StrataError)
    -> any BlobStore
{
    do {
        return try makeLocalStore(for: url, retry: retry, retryEnvironment: retryEnvironment)
    } catch {
        throw StrataError(.io, "cannot open cold store \(url): \(error)", cause: "\(error)")
    }
}
