/// Idempotent producer state of one partition log (issue 13, DESIGN.md invariant 12): for each
/// producer id its epoch and its last appended batches, so a retried batch is answered with its
/// original offsets instead of being stored twice, and a gap in the sequence is refused.
///
/// The rules follow Kafka's (KIP-98, with KIP-360's epoch bumps), checked in this order:
/// - a producer the log does not know must start at sequence 0, else `unknownProducerId`
///   (after `recover` from the cold tier, or once it was forgotten, see below);
/// - an epoch older than the known one is `invalidProducerEpoch` (a zombie producer);
/// - a newer epoch must start at sequence 0, else `outOfOrderSequence`; it replaces the old one;
/// - with the known epoch, a batch whose sequence range equals one of the remembered batches is
///   a retry (`duplicate`); any other batch must start at the last sequence + 1 (wrapping from
///   `Int32.max` to 0), else `outOfOrderSequence`.
///
/// Bounded memory: at most `batchesRetained` (5, as Kafka) batches per producer, about 150 bytes
/// each producer, and at most `producersMax` producers per partition log; past the bound the
/// producer appended to least recently is dropped. A producer is also dropped once it has not
/// appended for `expirationMs` (7 days of the lake's clock, checked when a snapshot is written
/// and when the log is opened). A dropped producer's next batch gets `unknownProducerId`
/// (clients then reset their producer id or epoch). A producer is never dropped because its
/// batches left the hot tier: the producer snapshot (`ProducerSnapshot`, written at every roll,
/// never removed by eviction) carries its state on, so it is forgotten only once the snapshots
/// covering it are gone too. The state lives in `TopicState.producers`, checked and updated
/// under the state lock that assigns offsets (BatchAppend.swift).
struct ProducerStateTable: Sendable, Equatable {
    static let batchesRetained = 5
    static let producersMax = 10_000
    static let expirationMs: Int64 = 7 * 86_400_000

    var producers: [Int64: ProducerEntry] = [:]
    /// The offset the newest snapshot file on disk covers (nil: none written or loaded).
    var snapshotOffset: Int64? = nil
    /// Base offset and CRC of the last batch written (nil until one is written or replayed):
    /// what a snapshot names as the batch it ends after.
    var lastBatch: (baseOffset: Int64, crc: UInt32)? = nil

    static func == (a: ProducerStateTable, b: ProducerStateTable) -> Bool {
        a.producers == b.producers && a.snapshotOffset == b.snapshotOffset
            && a.lastBatch?.baseOffset == b.lastBatch?.baseOffset && a.lastBatch?.crc == b.lastBatch?.crc
    }

    /// What `check` decided about a batch.
    enum Decision: Equatable {
        /// Store it.
        case append
        /// A retry of a batch already stored: answer with its offsets, write nothing.
        case duplicate(ProducerBatch)
    }

    /// Checks an idempotent batch against the state; changes nothing.
    /// - Throws: `unknownProducerId`, `invalidProducerEpoch`, `outOfOrderSequence` naming the
    ///   producer, the epochs and the sequences involved.
    func check(
        producerId: Int64, epoch: Int16, firstSequence: Int32, recordCount: Int32, topic: String
    ) throws(StrataError) -> Decision {
        let lastSequence = Self.lastSequence(first: firstSequence, recordCount: recordCount)
        guard let entry = producers[producerId] else {
            guard firstSequence == 0 else {
                throw StrataError(
                    .unknownProducerId,
                    "producer \(producerId) is unknown to this log and starts at sequence \(firstSequence), not 0",
                    topic: topic)
            }
            return .append
        }
        if epoch < entry.epoch {
            throw StrataError(
                .invalidProducerEpoch,
                "producer \(producerId) epoch \(epoch) is older than its current epoch \(entry.epoch)", topic: topic)
        }
        if epoch > entry.epoch {
            guard firstSequence == 0 else {
                throw StrataError(
                    .outOfOrderSequence,
                    "producer \(producerId) new epoch \(epoch) starts at sequence \(firstSequence), must be 0 "
                        + "(current epoch \(entry.epoch))", topic: topic)
            }
            return .append
        }
        if let stored = entry.batches.first(where: {
            $0.firstSequence == firstSequence && $0.lastSequence == lastSequence
        }) {
            return .duplicate(stored)
        }
        let last = entry.batches.last?.lastSequence ?? -1
        let expected = last == Int32.max ? 0 : last + 1
        guard firstSequence == expected else {
            throw StrataError(
                .outOfOrderSequence,
                "producer \(producerId) epoch \(epoch): batch with sequences \(firstSequence)...\(lastSequence), "
                    + "expected sequence \(expected)", topic: topic)
        }
        return .append
    }

    /// Remembers a stored batch (after a successful write, or replayed from the log on open).
    mutating func record(producerId: Int64, epoch: Int16, batch: ProducerBatch, nowMs: Int64) {
        if var entry = producers[producerId] {
            if entry.epoch != epoch {
                entry.epoch = epoch
                entry.batches = []
            }
            entry.batches.append(batch)
            if entry.batches.count > Self.batchesRetained {
                entry.batches.removeFirst(entry.batches.count - Self.batchesRetained)
            }
            entry.lastAppendMs = nowMs
            producers[producerId] = entry
            return
        }
        if producers.count >= Self.producersMax,
            let oldest = producers.min(by: { $0.value.lastAppendMs < $1.value.lastAppendMs })?.key
        {
            producers[oldest] = nil
        }
        producers[producerId] = ProducerEntry(epoch: epoch, batches: [batch], lastAppendMs: nowMs)
    }

    /// Replays one stored batch header (state rebuilt from the log: what is on disk is the truth,
    /// so nothing is checked).
    mutating func replay(_ header: BatchHeader, nowMs: Int64) {
        guard header.producerId >= 0 else { return }
        let batch = ProducerBatch(
            firstSequence: header.baseSequence,
            lastSequence: Self.lastSequence(first: header.baseSequence, recordCount: header.recordCount),
            firstOffset: header.baseOffset, lastOffset: header.lastOffset)
        record(producerId: header.producerId, epoch: header.producerEpoch, batch: batch, nowMs: nowMs)
    }

    /// Forgets every remembered batch at or above `offset` (the log was cut back there by
    /// `repairQuarantine`): a retry of a cut batch must be stored again, not answered with
    /// offsets that no longer exist. A producer left with no batch is forgotten.
    mutating func truncate(from offset: Int64) {
        for (id, var entry) in producers {
            entry.batches.removeAll { $0.lastOffset >= offset }
            producers[id] = entry.batches.isEmpty ? nil : entry
        }
        if let last = lastBatch, last.baseOffset >= offset { lastBatch = nil }
        if let snapshot = snapshotOffset, snapshot > offset { snapshotOffset = nil }
    }

    /// Drops producers that have not appended for `expirationMs`.
    mutating func expire(nowMs: Int64) {
        producers = producers.filter { nowMs - $0.value.lastAppendMs < Self.expirationMs }
    }

    /// The last sequence of a batch of `recordCount` records from `first`, wrapping at `Int32.max`.
    static func lastSequence(first: Int32, recordCount: Int32) -> Int32 {
        let last = Int64(first) + Int64(recordCount) - 1
        return last > Int64(Int32.max) ? Int32(last - Int64(Int32.max) - 1) : Int32(last)
    }
}

/// One producer of a partition log.
struct ProducerEntry: Sendable, Equatable {
    var epoch: Int16
    /// The last batches appended with `epoch`, oldest first (1 to `batchesRetained`).
    var batches: [ProducerBatch]
    /// The lake clock's time of the last append (of the open that rebuilt it, for replayed ones).
    var lastAppendMs: Int64
}

/// One batch of an idempotent producer as the state remembers it.
public struct ProducerBatch: Sendable, Equatable {
    public var firstSequence: Int32
    public var lastSequence: Int32
    public var firstOffset: Int64
    public var lastOffset: Int64
}

/// The producer snapshot file of a partition log, `<topic dir>/<offset, 20 digits>.producers`:
/// the producer state after every batch below `offset`, so that opening the log replays only
/// the batch headers from `offset` on. Written (atomically, fsynced) at each segment roll and at
/// close; the newest two are kept. Little-endian:
///
///     u32 magic 0x50525453 ("STRP") · u8 version 1 · 3 bytes 0
///     i64 offset · i64 lastBatchBaseOffset (-1: none) · u32 lastBatchCrc
///     u32 producerCount, then per producer (ascending id):
///       i64 producerId · i16 epoch · u8 batchCount (1...5) · u8 0 · i64 lastAppendMs
///       batchCount × (i32 firstSequence · i32 lastSequence · i64 firstOffset · i64 lastOffset)
///     u32 CRC32C of every byte before it
///
/// `lastBatchBaseOffset`/`lastBatchCrc` name the batch that ends at `offset - 1`: a snapshot
/// whose batch is no longer the log's (the log was cut back and written again) is not used.
struct ProducerSnapshot: Sendable, Equatable {
    static let magic: UInt32 = 0x5052_5453
    static let version: UInt8 = 1
    static let fileSuffix = ".producers"

    var offset: Int64
    var lastBatchBaseOffset: Int64
    var lastBatchCrc: UInt32
    var producers: [Int64: ProducerEntry]

    func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 32 + producers.count * 160)
        w.u32(Self.magic)
        w.u8(Self.version)
        w.raw([0, 0, 0])
        w.i64(offset)
        w.i64(lastBatchBaseOffset)
        w.u32(lastBatchCrc)
        w.u32(UInt32(producers.count))
        for (id, entry) in producers.sorted(by: { $0.key < $1.key }) {
            w.i64(id)
            w.i16(entry.epoch)
            w.u8(UInt8(entry.batches.count))
            w.u8(0)
            w.i64(entry.lastAppendMs)
            for batch in entry.batches {
                w.i32(batch.firstSequence)
                w.i32(batch.lastSequence)
                w.i64(batch.firstOffset)
                w.i64(batch.lastOffset)
            }
        }
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum($0) }
        w.u32(crc)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(FormatError) -> ProducerSnapshot {
        try withBytes(bytes) { (raw) throws(FormatError) -> ProducerSnapshot in
            guard raw.count >= 4 else { throw FormatError(.truncated, field: "producers", position: 0, "empty file") }
            let body = UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - 4)])
            let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: raw.count - 4, as: UInt32.self))
            guard CRC32C.checksum(body) == stored else {
                throw FormatError(.checksumMismatch, field: "producers.crc", position: raw.count - 4, "CRC mismatch")
            }
            var r = ByteReader(body)
            guard try r.u32("producers.magic") == magic else {
                throw FormatError(.badMagic, field: "producers.magic", position: 0, "not a producer snapshot")
            }
            guard try r.u8("producers.version") == version else {
                throw FormatError(.unsupportedVersion, field: "producers.version", position: 4, "unknown version")
            }
            try r.skip(3, "producers.reserved")
            let offset = try r.i64("producers.offset")
            let lastBase = try r.i64("producers.lastBatchBaseOffset")
            let lastCrc = try r.u32("producers.lastBatchCrc")
            let count = try r.u32("producers.producerCount")
            guard Int(count) <= ProducerStateTable.producersMax, Int(count) * 20 <= r.remaining else {
                throw FormatError(.outOfBounds, field: "producers.producerCount", position: 28, "\(count) producers")
            }
            var producers: [Int64: ProducerEntry] = [:]
            for _ in 0 ..< count {
                let id = try r.i64("producers.producerId")
                let epoch = try r.i16("producers.epoch")
                let batchCount = Int(try r.u8("producers.batchCount"))
                try r.skip(1, "producers.reserved")
                let lastAppendMs = try r.i64("producers.lastAppendMs")
                guard (1 ... ProducerStateTable.batchesRetained).contains(batchCount) else {
                    throw FormatError(
                        .outOfBounds, field: "producers.batchCount", position: r.absolutePosition, "\(batchCount)")
                }
                var batches: [ProducerBatch] = []
                for _ in 0 ..< batchCount {
                    batches.append(
                        ProducerBatch(
                            firstSequence: try r.i32("producers.firstSequence"),
                            lastSequence: try r.i32("producers.lastSequence"),
                            firstOffset: try r.i64("producers.firstOffset"),
                            lastOffset: try r.i64("producers.lastOffset")))
                }
                producers[id] = ProducerEntry(epoch: epoch, batches: batches, lastAppendMs: lastAppendMs)
            }
            guard r.remaining == 0 else {
                throw FormatError(.invalidValue, field: "producers", position: r.position, "trailing bytes")
            }
            return ProducerSnapshot(
                offset: offset, lastBatchBaseOffset: lastBase, lastBatchCrc: lastCrc, producers: producers)
        }
    }
}
