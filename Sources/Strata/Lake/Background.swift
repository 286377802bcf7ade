import Foundation
import Glibc
import StrataBlob
import Synchronization

/// The background loop: rolls by age, async flushes, offload and retention, then table passes.
extension Lake {
    /// Flushes `async` topics on their interval and rolls segments that outlived `segmentMs`,
    /// every `backgroundIntervalMs` of the lake's clock (a test's manual clock drives it).
    func startBackground() {
        let (registry, options, tables, journal) = (self.registry, self.options, self.tables, self.journal)
        let task = Task.detached {
            while !Task.isCancelled {
                do { try await options.clock.sleep(ms: options.backgroundIntervalMs) } catch { return }
                if Task.isCancelled { return }
                // Deletes rolled journal files a roll-triggered checkpoint could not (off the pool).
                if let journal { DispatchQueue.global().async { journal.checkpoint() } }
                await Self.backgroundTick(registry, options, tables, waitForTables: false)
            }
        }
        background.withLock { $0 = task }
    }

    /// One round of background work (internal so tests drive it with a manual clock); it waits
    /// for the table passes it starts, so a test sees their outcome when it returns.
    func backgroundTick() async { await Self.backgroundTick(registry, options, tables, waitForTables: true) }

    static func backgroundTick(
        _ registry: TopicRegistry, _ options: LakeOptions, _ tables: TableWriter, waitForTables: Bool
    ) async {
        let now = options.clock.nowMs()
        let open = registry.topics.withLock { Array($0.values) }
        for topic in open {
            topic.rollIfAged()
            if topic.config.durability == .async, topic.flushDue(nowMs: now) { try? await topic.flush() }
        }
        guard options.backgroundOffload else { return }
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for topic in open {
                if running >= options.offloadConcurrency {
                    await group.next()
                    running -= 1
                }
                group.addTask { await maintain(topic, options) }
                running += 1
            }
        }
        // Tables follow what this tick committed, in a task of their own: a slow or failing table
        // pass never holds up the next tick's offload, retention, rolls or flushes.
        let pass = tables.startBackgroundPass(open)
        if waitForTables { await pass?.value }
    }

    /// One background pass over a topic: offload what is sealed, then apply retention.
    private static func maintain(_ topic: Topic, _ options: LakeOptions) async {
        do {
            try await topic.offloadSealed(lagMs: topic.config.offloadLagMs)
            try await topic.applyRetention()
        } catch {
            if !Task.isCancelled { options.log("background offload topic=\(topic.name): \(error)") }
        }
    }
}
