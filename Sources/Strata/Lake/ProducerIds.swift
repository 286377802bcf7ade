import Synchronization

/// Idempotent producer ids of a lake (Kafka's InitProducerId), unique across restarts.
///
/// The file `<lake>/producer-ids` holds one ASCII decimal number and a newline: every id below
/// it may have been handed out. Ids are handed out from blocks of `blockSize`: before the first
/// id of a block is returned, the block's end is written to the file (atomically: temp file,
/// fdatasync, rename, directory fsync), so a crash at any point loses at most the rest of a
/// block and never hands an id out twice. A damaged file is an error and is left as it is.
///
/// A missing file starts the ids at the lake clock's milliseconds × 1024, not at 0: a lake
/// rebuilt by `recover` has lost the file with its disk while producers of the old lake may still
/// hold ids, and their batches' state is in the recovered logs, so a new producer given an old
/// id would have its first batch taken for the old one's retry. Ids of the old lake are below its
/// own start (its creation time × 1024) plus the ids it handed out, so the new ones are above
/// them unless it handed out more than about a million ids per second of its life.
final class ProducerIdAllocator: Sendable {
    static let blockSize: Int64 = 1000

    private struct State {
        /// Next id to hand out, and the end of the block persisted for it (nil: none yet).
        var next: Int64 = 0
        var blockEnd: Int64? = nil
    }

    private let state = Mutex(State())

    /// The next id, persisting a new block end first when the current block is used up.
    func allocate(paths: LakePaths, nowMs: Int64) throws(StrataError) -> Int64 {
        try state.withLock { (s) throws(StrataError) -> Int64 in
            if s.next >= (s.blockEnd ?? 0) {
                let start: Int64
                if let end = s.blockEnd {
                    start = end
                } else {
                    start = try Self.readHighWater(paths.producerIds) ?? max(0, nowMs) * 1024
                }
                guard start <= Int64.max - Self.blockSize else {
                    throw StrataError(.tooLarge, "producer ids are used up", file: paths.producerIds)
                }
                let end = start + Self.blockSize
                try FileIO.writeAtomically(paths.producerIds, Array("\(end)\n".utf8))
                s.next = start
                s.blockEnd = end
            }
            defer { s.next += 1 }
            return s.next
        }
    }

    /// The number in `path`; nil when the file does not exist.
    /// - Throws: `corrupt` naming the file when it holds anything but a non-negative number.
    static func readHighWater(_ path: String) throws(StrataError) -> Int64? {
        guard FileIO.exists(path) else { return nil }
        let bytes = try FileIO.readWholeFile(path)
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasSuffix("\n"), let value = Int64(text.dropLast()), value >= 0 else {
            throw StrataError(
                .corrupt, "\(path) does not hold a producer id high-water mark; fix it by hand (nothing was changed)",
                file: path)
        }
        return value
    }
}

extension Lake {
    /// A new idempotent producer id with epoch 0 (Kafka's InitProducerId without a transactional
    /// id): never handed out before by this lake, across restarts and crashes.
    /// - Throws: `readOnly` for a lake opened with `openReadOnly`; `closed`; `corrupt` when
    ///   `producer-ids` is damaged; `io`.
    public func allocateProducerId() throws(StrataError) -> (producerId: Int64, epoch: Int16) {
        try refuseIfReadOnly("allocate a producer id")
        if closed.withLock({ $0 }) { throw StrataError(.closed, "lake is closed") }
        return (try producerIds.allocate(paths: paths, nowMs: options.clock.nowMs()), 0)
    }
}
