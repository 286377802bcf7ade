import ArgumentParser
import Strata

/// `strata recover`: rebuild a lake directory from its cold store.
struct Recover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Rebuild a lake's local state from the cold store alone, so every offloaded record is readable again.",
        discussion: """
            Only topics missing locally are rebuilt; an existing topic is an error and nothing is changed. \
            The cold store is checked first: a topic it does not hold, or a store that holds no Strata lake, \
            is an error and --lake is left as it was (a recover that fails later removes what it created).

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
        let recovered: [RecoveredTopic]
        do throws(StrataError) {
            // Checks the cold store before it creates anything and undoes what it created when it
            // fails, so a failed recover leaves --lake as it was.
            recovered = try await Lake.recover(into: lake, cold: cold, topics: topics.isEmpty ? nil : topics)
        } catch {
            // The generic hint names a command that lists *local* topics; for a topic the cold
            // store lacks, the message names the store's topics instead.
            let topicMissing = error.code == .notFound && error.topic != nil
            let hint = topicMissing ? "\nhint: name topics the cold store holds, or give none to recover them all" : ""
            printError("error: \(topicMissing ? error.message : "\(error)"); nothing was recovered" + hint)
            throw ExitCode(StrataCommand.exitCode(for: error.code))
        }
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
