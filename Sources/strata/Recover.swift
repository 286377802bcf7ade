import ArgumentParser
import Foundation
import Strata

/// `strata recover`: rebuild a lake directory from its cold store.
struct Recover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Rebuild a lake's local state from the cold store alone, so every offloaded record is readable again.",
        discussion: """
            Only topics missing locally are rebuilt; an existing topic is an error and nothing is changed.

            Example:
              strata recover --lake /data/new-lake --cold s3://bucket/lake
            """
    )

    @Option(help: "Lake directory to rebuild (created if absent).")
    var lake: String
    @Option(help: "The cold store: file:///abs/path or s3://bucket/prefix.")
    var cold: String
    @Argument(help: "Topics to recover (default: every topic in the cold store).")
    var topics: [String] = []
    @Flag(help: "One JSON line per topic.")
    var json = false

    func run() async throws {
        var options = LakeOptions()
        options.backgroundOffload = false
        let handle = try Lake.open(lake, cold: cold, options: options)
        let recovered: [RecoveredTopic]
        do { recovered = try await handle.recover(topics: topics.isEmpty ? nil : topics) } catch {
            // The generic hint names a command that lists *local* topics; recover needs the cold ones.
            let coldTopics = error.code == .notFound ? try? await handle.coldTopicNames() : nil
            await handle.close(after: error)
            guard let coldTopics else { throw error }
            let listed = coldTopics.isEmpty ? "it holds no topic" : "its topics: " + coldTopics.joined(separator: ", ")
            printError(
                "error: \(error.message) (\(listed)); nothing was recovered\n"
                    + "hint: name topics the cold store holds, or give none to recover them all")
            throw ExitCode(StrataCommand.exitCode(for: error.code))
        }
        try await handle.close()
        for r in recovered {
            if json {
                print(
                    jsonLine([
                        "topic": r.topic, "logStartOffset": r.logStartOffset, "nextOffset": r.nextOffset,
                        "segments": r.segments,
                    ]))
            } else {
                print(
                    "recovered \(r.topic): offsets \(r.logStartOffset)..<\(r.nextOffset) in \(r.segments) cold segments"
                )
            }
        }
        if recovered.isEmpty { printError("no topic found in \(cold)") }
    }
}
