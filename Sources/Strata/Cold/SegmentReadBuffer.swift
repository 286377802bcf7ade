import Synchronization

/// The memory an offload pass reads its sealed segments into, one after the other (issue 17):
/// a fresh array per 128 MiB segment cost a page fault and a zeroed page for every 4 KiB, about
/// a tenth of the pass's CPU. The encode does not keep the bytes (the object is a new array), so
/// the next segment's read reuses them.
final class SegmentReadBuffer: Sendable {
    private struct Held: @unchecked Sendable {
        var buffer: UnsafeMutableRawBufferPointer
    }

    /// The free buffer (nil while a read holds it or before the first).
    private let free = Mutex<Held?>(nil)

    /// Runs `body` on `count` bytes: the free buffer, grown when too small, or a buffer of its
    /// own when another read holds it (two reads never share bytes).
    func with<T>(
        count: Int, _ body: (UnsafeMutableRawBufferPointer) throws(StrataError) -> T
    ) throws(StrataError) -> T {
        var held = free.withLock { (slot) -> Held? in
            defer { slot = nil }
            return slot
        }
        if let small = held, small.buffer.count < count {
            small.buffer.deallocate()
            held = nil
        }
        let mine = held ?? Held(buffer: .allocate(byteCount: max(1, count), alignment: 64))
        defer {
            let kept = free.withLock { (slot) -> Bool in
                guard slot == nil else { return false }
                slot = mine
                return true
            }
            if !kept { mine.buffer.deallocate() }
        }
        return try body(UnsafeMutableRawBufferPointer(rebasing: mine.buffer[0 ..< count]))
    }

    deinit { free.withLock { $0?.buffer.deallocate() } }
}
