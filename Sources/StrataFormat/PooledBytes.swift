import Synchronization

/// Reusable byte buffers for decoded cold frames (ARCHITECTURE.md §5). A fresh 1 MiB array per
/// frame was faulted in page by page on every cold read; a buffer from here was faulted in once
/// and is written again. Buffers come back by themselves: `PooledBytes` returns its memory when
/// its last reference goes (the frame cache dropped it and every reader is done with it).
///
/// A buffer serves a request of `count` bytes only when it is at most an eighth (and a page)
/// larger, so the memory behind a cached frame stays within that of its byte count (the cache
/// bound, ARCHITECTURE.md invariant 8, counts `count`).
public final class BytePool: Sendable {
    /// Largest buffer kept for reuse: twice the cold frame target
    /// (`ColdObject.defaultFrameRawBytesTarget`, 1 MiB); a frame holding one larger batch is
    /// freed after use.
    public static let bufferBytesMaxDefault = 2 * 1024 * 1024
    /// Idle buffers kept for reuse (beyond this they are freed): about what a sequential reader
    /// and its read-ahead hold at once, twice over.
    public static let idleBuffersMaxDefault = 16
    static let pageBytes = 4096

    let bufferBytesMax: Int
    let idleBuffersMax: Int
    private let idle = Mutex<[Allocation]>([])
    private let allocated = Atomic<Int>(0)

    struct Allocation: @unchecked Sendable {
        // Owned by exactly one place at a time: this pool's idle list or one `PooledBytes`.
        var base: UnsafeMutableRawPointer
        var capacity: Int
    }

    public init(
        bufferBytesMax: Int = BytePool.bufferBytesMaxDefault, idleBuffersMax: Int = BytePool.idleBuffersMaxDefault
    ) {
        self.bufferBytesMax = max(0, bufferBytesMax)
        self.idleBuffersMax = max(0, idleBuffersMax)
    }

    deinit {
        idle.withLock { list in
            for allocation in list { allocation.base.deallocate() }
            list.removeAll()
        }
    }

    /// Idle buffers now (tests check reuse with it).
    public var idleCount: Int { idle.withLock { $0.count } }

    /// Buffers allocated (not reused) since the pool was made.
    public var allocationCount: Int { allocated.load(ordering: .relaxed) }

    /// Fills a buffer of exactly `count` bytes with `fill` (which must initialise all of them)
    /// and returns it, immutable from then on. The memory is an idle buffer of about that size
    /// when there is one, else a new one (`count` rounded up to a page).
    public func make<E: Error>(
        count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws(E) -> Void
    ) throws(E) -> PooledBytes {
        let allocation = take(count)
        do throws(E) {
            try fill(UnsafeMutableRawBufferPointer(start: allocation.base, count: count))
        } catch {
            recycle(allocation)
            throw error
        }
        return PooledBytes(allocation, count: count, pool: self)
    }

    private func take(_ count: Int) -> Allocation {
        let slackMax = count / 8 + Self.pageBytes
        let reused = idle.withLock { list -> Allocation? in
            guard let index = list.lastIndex(where: { $0.capacity >= count && $0.capacity - count <= slackMax })
            else { return nil }
            return list.remove(at: index)
        }
        if let reused { return reused }
        let capacity = max(1, (count + Self.pageBytes - 1) / Self.pageBytes * Self.pageBytes)
        allocated.add(1, ordering: .relaxed)
        return Allocation(base: .allocate(byteCount: capacity, alignment: 16), capacity: capacity)
    }

    func recycle(_ allocation: Allocation) {
        // Odd sizes (a frame holding one huge batch) are not kept: they would pin memory.
        let kept =
            allocation.capacity <= bufferBytesMax
            && idle.withLock { list -> Bool in
                guard list.count < idleBuffersMax else { return false }
                list.append(allocation)
                return true
            }
        if !kept { allocation.base.deallocate() }
    }
}

/// Bytes written once by `BytePool.make` and read-only afterwards (so safe to share); the
/// memory goes back to its pool when the last reference is released.
public final class PooledBytes: @unchecked Sendable {
    private let allocation: BytePool.Allocation
    private let pool: BytePool
    public let count: Int

    init(_ allocation: BytePool.Allocation, count: Int, pool: BytePool) {
        self.allocation = allocation
        self.count = count
        self.pool = pool
    }

    deinit { pool.recycle(allocation) }

    /// The bytes, valid inside `body` only.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(buffer)
    }

    var buffer: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: allocation.base, count: count)
    }

    /// A copy as an array (tests, and callers that need to keep the bytes).
    public var array: [UInt8] { [UInt8](buffer) }
}
