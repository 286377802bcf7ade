import Dispatch

/// Runs `body` over `items`, at most `atOnce` at a time, and returns the results in the items'
/// order (offload passes and table syncs over many logs, whose passes mostly wait on the
/// store; the background tick's offloads and flushes; the final closes of `Lake.close`).
func concurrentMap<Item: Sendable, Result: Sendable>(
    _ items: [Item], atOnce: Int, _ body: @escaping @Sendable (Item) async -> Result
) async -> [Result] {
    var results = [Result?](repeating: nil, count: items.count)
    await withTaskGroup(of: (Int, Result).self) { group in
        var running = 0
        for (index, item) in items.enumerated() {
            if running >= max(atOnce, 1), let (done, result) = await group.next() {
                results[done] = result
                running -= 1
            }
            group.addTask { (index, await body(item)) }
            running += 1
        }
        for await (done, result) in group { results[done] = result }
    }
    return results.map { $0! }
}

/// Runs CPU work (zstd, Parquet encoding, decoding a whole object) on a Dispatch thread, off
/// the cooperative pool, whose two threads must never be held by it.
func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: body()) }
    }
}
