import Crypto
import Foundation

/// Encryption at rest of cold frames (formats/cold-object.md, "Encrypted objects";
/// formats/keys.md): each compressed frame is sealed with AES-256-GCM under a fresh 96-bit
/// nonce, with associated data binding the segment, the frame number, the frame count and the
/// key id, so a frame cannot be swapped, reordered or read under another key id.
public enum ColdCipher: UInt8, Codable, Sendable, Hashable {
    case aes256gcm = 1

    /// The name a lake's config and the CLI use.
    public var name: String { "aes-256-gcm" }

    /// The cipher named `name` (`aes-256-gcm`), or nil.
    public init?(name: String) {
        guard name.lowercased() == "aes-256-gcm" else { return nil }
        self = .aes256gcm
    }
}

/// What a sealed frame's associated data binds, the same for every frame of one object but the
/// frame's own fields (kept on each `ColdFrame` of an encrypted object as `sealed`).
public struct ColdFrameSeal: Codable, Sendable, Hashable {
    public var cipher: ColdCipher
    /// The key ring id of the key the object's frames are sealed with.
    public var keyId: String
    /// The segment's log name, base offset and last offset (the object's identity).
    public var log: String
    public var baseOffset: Int64
    public var lastOffset: Int64
    public var frameCount: Int
}

/// The keys of a lake (formats/keys.md): ids and AES-256 keys, newest first. The newest seals
/// new objects; any of them opens the objects sealed with it. Its description names the ids
/// only: a key never reaches a log line or an error message.
public struct ColdKeyRing: Sendable, CustomStringConvertible {
    public struct Entry: Sendable {
        public let id: String
        /// The key's bytes (`SymmetricKey` is not `Sendable` in swift-crypto 3.12).
        let key: [UInt8]
    }

    /// Bytes of a key (AES-256).
    public static let keyBytes = 32
    /// Bytes of a key id at most.
    public static let keyIdBytesMax = 64
    /// The environment variable holding a key ring when no file is given.
    public static let environmentVariable = "STRATA_KEYS"

    public let entries: [Entry]

    /// The ids, newest first.
    public var ids: [String] { entries.map(\.id) }
    /// The id new objects are sealed with.
    public var newestId: String { entries[0].id }
    public var description: String { "key ring [\(ids.joined(separator: ", "))]" }

    /// A ring of `keys`, newest first.
    /// - Throws: `FormatError(.invalidValue)` for no key, a bad or repeated id or a key that is
    ///   not 32 bytes (positions are the entry's number; the key bytes are never quoted).
    public init(keys: [(id: String, key: [UInt8])]) throws(FormatError) {
        guard !keys.isEmpty else {
            throw FormatError(.invalidValue, field: "keyRing", position: 0, "the key ring holds no key")
        }
        var seen = Set<String>()
        var entries: [Entry] = []
        for (number, entry) in keys.enumerated() {
            guard Self.isValidId(entry.id) else {
                throw FormatError(
                    .invalidValue, field: "keyRing.id", position: number,
                    "entry \(number + 1): key id must be 1...\(Self.keyIdBytesMax) of A-Z a-z 0-9 . _ -")
            }
            guard seen.insert(entry.id).inserted else {
                throw FormatError(
                    .invalidValue, field: "keyRing.id", position: number,
                    "entry \(number + 1): key id '\(entry.id)' appears twice")
            }
            guard entry.key.count == Self.keyBytes else {
                throw FormatError(
                    .invalidValue, field: "keyRing.key", position: number,
                    "entry \(number + 1) (key id '\(entry.id)'): the key is \(entry.key.count) bytes, AES-256 takes 32")
            }
            entries.append(Entry(id: entry.id, key: entry.key))
        }
        self.entries = entries
    }

    /// Parses a key ring's text: `id:base64key` entries, newest first, separated by commas or
    /// line breaks; blank lines and lines starting with `#` are ignored (formats/keys.md).
    /// - Parameter source: where the text came from (a file path, `STRATA_KEYS`), for errors.
    /// - Throws: `FormatError(.invalidValue)` naming the source and the entry's number, never
    ///   the key text.
    public static func parse(_ text: String, source: String) throws(FormatError) -> ColdKeyRing {
        var keys: [(id: String, key: [UInt8])] = []
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for line in lines where !line.trimmingCharacters(in: .whitespaces).hasPrefix("#") {
            for part in line.split(separator: ",") {
                let entry = part.trimmingCharacters(in: .whitespaces)
                if entry.isEmpty { continue }
                let number = keys.count + 1
                guard let colon = entry.firstIndex(of: ":") else {
                    throw FormatError(
                        .invalidValue, field: "keyRing.entry", position: number,
                        "\(source): entry \(number) is not id:base64key")
                }
                let id = String(entry[..<colon])
                guard let key = Data(base64Encoded: String(entry[entry.index(after: colon)...])) else {
                    throw FormatError(
                        .invalidValue, field: "keyRing.key", position: number,
                        "\(source): entry \(number) (key id '\(isValidId(id) ? id : "?")'): the key is not base64")
                }
                keys.append((id, Array(key)))
            }
        }
        do throws(FormatError) { return try ColdKeyRing(keys: keys) } catch {
            var labelled = error
            labelled.message = "\(source): " + error.message
            throw labelled
        }
    }

    static func isValidId(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= keyIdBytesMax
            && id.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E
                    || c == 0x5F || c == 0x2D
            }
    }

    func key(id: String) -> SymmetricKey? { entries.first { $0.id == id }.map { SymmetricKey(data: $0.key) } }

    /// What seals new objects: the newest key.
    public var sealer: ColdSealer { ColdSealer(keyId: entries[0].id, key: entries[0].key, nonceSeed: nil) }
}

/// Seals the frames of new objects with one key (`ColdKeyRing.sealer`).
public struct ColdSealer: Sendable {
    public let cipher = ColdCipher.aes256gcm
    public let keyId: String
    let key: [UInt8]
    /// Vectors only: nonces derived from this seed and the frame number instead of random ones.
    let nonceSeed: UInt32?

    init(keyId: String, key: [UInt8], nonceSeed: UInt32?) {
        self.keyId = keyId
        self.key = key
        self.nonceSeed = nonceSeed
    }

    /// For the golden vector only (`strata-vectors`): a fixed key and nonces `seed ‖ frame
    /// number` (u32 + u64, little-endian). Never used for data: a nonce must not repeat under a key.
    public static func forVector(ring: ColdKeyRing, nonceSeed: UInt32) -> ColdSealer {
        ColdSealer(keyId: ring.entries[0].id, key: ring.entries[0].key, nonceSeed: nonceSeed)
    }

    /// `nonce ‖ ciphertext ‖ tag` of `frame` (a whole zstd frame).
    func seal(_ frame: [UInt8], associatedData: [UInt8], frameNumber: Int) throws(FormatError) -> [UInt8] {
        do {
            let nonce: AES.GCM.Nonce
            if let nonceSeed {
                var w = ByteWriter(capacity: 12)
                w.u32(nonceSeed)
                w.u64(UInt64(frameNumber))
                nonce = try AES.GCM.Nonce(data: w.bytes)
            } else {
                nonce = AES.GCM.Nonce()
            }
            let box = try AES.GCM.seal(
                frame, using: SymmetricKey(data: key), nonce: nonce, authenticating: associatedData)
            guard let combined = box.combined else { throw CryptoKitError.incorrectParameterSize }
            return Array(combined)
        } catch {
            throw FormatError(
                .invalidValue, field: "coldFrame.seal", position: 0, "frame \(frameNumber): AES-256-GCM seal failed")
        }
    }
}

extension ColdObject {
    /// Bytes a sealed frame adds to its zstd frame: the nonce before, the tag after.
    public static let sealOverheadBytes = 12 + 16
    static let sealLabel = Array("strata-cold-frame-v1".utf8)

    /// The associated data of frame `number` (formats/cold-object.md, "Encrypted objects").
    static func associatedData(
        _ seal: ColdFrameSeal, frameNumber: Int, firstOffset: Int64, lastOffset: Int64, rawBytes: Int
    ) -> [UInt8] {
        let keyId = Array(seal.keyId.utf8)
        let log = Array(seal.log.utf8)
        var w = ByteWriter(capacity: sealLabel.count + 64 + keyId.count + log.count)
        w.raw(sealLabel)
        w.u8(seal.cipher.rawValue)
        w.u8(UInt8(keyId.count))
        w.raw(keyId)
        w.u16(UInt16(log.count))
        w.raw(log)
        w.i64(seal.baseOffset)
        w.i64(seal.lastOffset)
        w.u32(UInt32(seal.frameCount))
        w.u32(UInt32(frameNumber))
        w.i64(firstOffset)
        w.i64(lastOffset)
        w.u32(UInt32(rawBytes))
        return w.bytes
    }

    /// Opens a sealed frame: the zstd frame it holds, authenticated with its associated data.
    /// - Throws: `FormatError(.missingKey)` naming the key id when `keys` lacks it;
    ///   `FormatError(.authenticationFailed)` when a byte of the frame (or of what its
    ///   associated data binds) changed. Positions are the frame's in the object.
    static func openSealed(
        _ bytes: UnsafeRawBufferPointer, frame: ColdFrame, seal: ColdFrameSeal, keys: ColdKeyRing?
    ) throws(FormatError) -> Data {
        guard let key = keys?.key(id: seal.keyId) else {
            let held = keys.map { "the key ring holds \($0.ids.joined(separator: ", "))" } ?? "no key ring was given"
            throw FormatError(
                .missingKey, field: "coldIndex.keyId", position: frame.objectOffset,
                "key id '\(seal.keyId)' is not in the key ring (\(held))")
        }
        guard bytes.count == frame.compressedBytes, bytes.count > sealOverheadBytes + 8 else {
            throw FormatError(
                .truncated, field: "coldFrame", position: frame.objectOffset,
                "\(bytes.count) bytes given, the sealed frame has \(frame.compressedBytes)")
        }
        let associated = associatedData(
            seal, frameNumber: frame.frameNumber, firstOffset: frame.firstOffset, lastOffset: frame.lastOffset,
            rawBytes: frame.rawBytes)
        // The sealed bytes are read where they lie (no copy: `bytes` outlives the call; the count
        // check above makes the base address non-nil); the opened frame is the one allocation.
        // Each copy of a ~150 KiB frame was a fresh allocation past malloc's mmap threshold, and
        // their page faults cost encrypted replay about 15%.
        let sealed = Data(
            bytesNoCopy: UnsafeMutableRawPointer(mutating: bytes.baseAddress!), count: bytes.count, deallocator: .none)
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return try AES.GCM.open(box, using: key, authenticating: associated)
        } catch {
            throw FormatError(
                .authenticationFailed, field: "coldFrame.tag", position: frame.objectOffset,
                "AES-256-GCM authentication failed under key id '\(seal.keyId)': the frame, its index entry or "
                    + "the key changed")
        }
    }

    /// Runs `body` over the zstd frame of `frame`: `bytes` itself for a plain object, the opened
    /// frame for a sealed one (with the frame's entry describing the opened bytes, so the zstd
    /// checks apply unchanged; its checksum is the opened frame's own, which GCM authenticated).
    static func withZstdFrame<T>(
        _ bytes: UnsafeRawBufferPointer, frame: ColdFrame, keys: ColdKeyRing?,
        _ body: (UnsafeRawBufferPointer, ColdFrame) throws(FormatError) -> T
    ) throws(FormatError) -> T {
        guard let seal = frame.sealed else { return try body(bytes, frame) }
        let opened = try openSealed(bytes, frame: frame, seal: seal, keys: keys)
        let result: Result<T, FormatError> = opened.withUnsafeBytes { plain in
            Result { () throws(FormatError) -> T in
                var inner = frame
                inner.sealed = nil
                inner.compressedBytes = plain.count
                if plain.count >= 4 {
                    inner.checksum = plain.loadUnaligned(fromByteOffset: plain.count - 4, as: UInt32.self).littleEndian
                }
                return try body(plain, inner)
            }
        }
        return try result.get()
    }
}

/// `vectors/segment.encrypted.seg.zst.json`: the encrypted cold object vector, made from
/// `segment.seg` with the fixed test key and nonces it names (never use them for data).
public struct EncryptedColdObjectDescription: Codable, Sendable, Hashable {
    public var segmentFile: String
    /// libzstd version that produced the frames: compressed (so sealed) bytes are only stable per version.
    public var zstdVersion: String
    /// The key ring text (formats/keys.md) holding the test key.
    public var keyRing: String
    /// Nonce of frame i: `nonceSeed` (u32) ‖ i (u64), little-endian (`ColdSealer.forVector`).
    public var nonceSeed: UInt32
    public var index: ColdObjectIndex

    public init(segmentFile: String, zstdVersion: String, keyRing: String, nonceSeed: UInt32, index: ColdObjectIndex) {
        self.segmentFile = segmentFile
        self.zstdVersion = zstdVersion
        self.keyRing = keyRing
        self.nonceSeed = nonceSeed
        self.index = index
    }
}
