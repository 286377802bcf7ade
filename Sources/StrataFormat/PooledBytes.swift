import Synchronization

/// Reusable byte buffers for decoded cold frames (ARCHITECTURE.md §5). A fresh 1 MiB array per
/// frame was faulted in page by page on every cold read; a buffer from here was faulted in once
/// and is written again. Buffers come back by themselves: `PooledBytes` returns its memory when
/// its last reference goes (the frame cache dropped it and every reader is done with it).
public final class BytePool: Sendable {
    /// Capacity of a pooled buffer: a cold frame's raw bytes stay below the frame target
    /// (`ColdObject.defaultFrameRawBytesTarget`, 1 MiB) unless one batch is larger.
    public static let bufferBytesDefault = 1024 * 1024
    /// Idle buffers kept for reuse (beyond this they are freed): about what a sequential reader
    /// and its read-ahead hold at once, twice over.
    public static let idleBuffersMaxDefault = 16

    let bufferBytes: Int
    let idleBuffersMax: Int
    private let idle = Mutex<[Allocation]>([])
    private let allocated = Atomic<Int>(0)

    struct Allocation: @unchecked Sendable {
        // Owned by exactly one place at a time: this pool's idle list or one `PooledBytes`.
        var base: UnsafeMutableRawPointer
        var capacity: Int
    }

    public init(bufferBytes: Int = BytePool.bufferBytesDefault, idleBuffersMax: Int = BytePool.idleBuffersMaxDefault) {
        self.bufferBytes = max(1, bufferBytes)
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
    /// and returns it, immutable from then on. The memory is an idle buffer when one is large
    /// enough, else a new one of at least `bufferBytes`.
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
        let reused = idle.withLock { list -> Allocation? in
            guard let index = list.lastIndex(where: { $0.capacity >= count }) else { return nil }
            return list.remove(at: index)
        }
        if let reused { return reused }
        let capacity = max(count, bufferBytes)
        allocated.add(1, ordering: .relaxed)
        return Allocation(base: .allocate(byteCount: capacity, alignment: 16), capacity: capacity)
    }

    func recycle(_ allocation: Allocation) {
        // Odd sizes (a frame holding one huge batch) are not kept: they would pin memory.
        let kept =
            allocation.capacity <= 2 * bufferBytes
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
