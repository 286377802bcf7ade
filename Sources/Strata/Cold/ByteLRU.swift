import Synchronization

/// A thread-safe LRU cache bounded by the total cost (bytes) of its values (ARCHITECTURE.md §4
/// invariant 8). Used for decompressed cold frames and parsed cold-object footers.
///
/// Scan resistance: an entry a sequential reader brought in (`put(…, scan: true)`) leaves as soon
/// as that reader is done with it (`release`), unless another reader used it meanwhile, so a
/// replay from offset 0 neither fills the cache nor evicts what random readers use.
final class ByteLRU<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var cost: Int
        var lastUse: UInt64
        /// Only a sequential reader has used it.
        var scan = false
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var totalCost = 0
        var tick: UInt64 = 0
        var hits = 0
        var misses = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacityBytes: Int) {
        capacity = max(0, capacityBytes)
    }

    var totalCost: Int { state.withLock { $0.totalCost } }
    var count: Int { state.withLock { $0.entries.count } }
    var hits: Int { state.withLock { $0.hits } }
    var misses: Int { state.withLock { $0.misses } }

    /// The cached value; `scan`: the caller reads sequentially (a use by any other reader keeps
    /// the entry past `release`).
    func get(_ key: Key, scan: Bool = false) -> Value? {
        state.withLock { s in
            s.tick += 1
            guard var entry = s.entries[key] else {
                s.misses += 1
                return nil
            }
            s.hits += 1
            entry.lastUse = s.tick
            entry.scan = entry.scan && scan
            s.entries[key] = entry
            return entry.value
        }
    }

    /// True when `key` is cached (does not count as a use).
    func contains(_ key: Key) -> Bool { state.withLock { $0.entries[key] != nil } }

    /// Stores `value`; a value costing more than the whole capacity is not kept. `scan`: a
    /// sequential reader brought it in and will `release` it.
    func put(_ key: Key, _ value: Value, cost: Int, scan: Bool = false) {
        guard cost <= capacity else { return }
        state.withLock { s in
            s.tick += 1
            var scanOnly = scan
            if let old = s.entries[key] {
                s.totalCost -= old.cost
                scanOnly = scan && old.scan
            }
            s.entries[key] = Entry(value: value, cost: cost, lastUse: s.tick, scan: scanOnly)
            s.totalCost += cost
            evict(&s)
        }
    }

    /// A sequential reader is done with `key`: the entry leaves unless another reader used it.
    func release(_ key: Key) {
        state.withLock { s in
            guard let entry = s.entries[key], entry.scan else { return }
            s.entries[key] = nil
            s.totalCost -= entry.cost
        }
    }

    func remove(_ key: Key) {
        state.withLock { s in
            if let old = s.entries.removeValue(forKey: key) { s.totalCost -= old.cost }
        }
    }

    private func evict(_ s: inout State) {
        guard s.totalCost > capacity else { return }
        // Evict oldest first; sorting once per overflow keeps this O(n log n) per eviction burst.
        let byAge = s.entries.sorted { $0.value.lastUse < $1.value.lastUse }
        for (key, entry) in byAge {
            guard s.totalCost > capacity else { break }
            s.entries[key] = nil
            s.totalCost -= entry.cost
        }
    }
}
