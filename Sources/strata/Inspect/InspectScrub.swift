import ArgumentParser
import Foundation
import Strata

/// `strata inspect scrub`: orphans, missing objects, gaps and overlaps in the cold store.
struct InspectScrub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scrub",
        abstract:
            "List cold objects no manifest references (orphans), missing objects, gaps and overlaps; optionally "
            + "delete orphans.",
        discussion: """
            Prints one line per finding: KIND TOPIC KEY: WHAT. Older manifest versions and keys outside the \
            bucket layout are info (prefixed 'info'). An object is an orphan only when no manifest version in \
            the store, none of their archives and not the lake's local copy references it. A local copy newer \
            than the store's manifests is a missingManifest problem, and then nothing of that topic is deleted. \
            A packed object (packed/) is an orphan once no partition's newest manifest references a slice of it \
            and the older versions that did were superseded more than --grace-ms ago (`strata compact` leaves \
            such objects behind). \
            Tables (tables/<topic>/) are scrubbed too: a file neither the newest metadata nor a snapshot it \
            retains references is an orphanTableFile (deleted like a cold orphan); a table whose metadata or \
            manifests cannot be read is badTable (nothing of it deleted); a table of a topic that no longer \
            exists is an orphanTable (listed, never deleted). \
            With --delete-orphans, orphans older than --grace-ms are \
            deleted after the manifests are read again; younger ones are kept (an upload may be in flight). \
            Exit codes: 0 clean (or every orphan deleted), 1 a problem remains, 2 usage, 3 I/O or store error.

            Example:
              strata inspect scrub --lake /lake --delete-orphans
            """
    )

    @OptionGroup var lakeOption: LakeOption
    @Flag(help: "Delete orphans older than the grace period.")
    var deleteOrphans = false
    @Option(help: "Keep orphans modified less than this many ms ago (default 1 h).")
    var graceMs: Int64 = 3_600_000
    @Flag(help: "One JSON object per finding, then one summary object.")
    var json = false

    func validate() throws {
        if graceMs < 0 { throw ValidationError("--grace-ms must not be negative") }
    }

    func run() async throws {
        try requireExistingLake(lakeOption.lake)
        // Only deleting orphans writes: listing them works read-only, beside a running writer.
        let lake = try deleteOrphans ? lakeOption.open(background: false) : lakeOption.openReadOnly()
        let report: ScrubReport
        do { report = try await lake.scrub(deleteOrphans: deleteOrphans, graceMs: graceMs) } catch {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        let deleted = Set(report.deleted)
        for finding in report.findings {
            let action =
                deleted.contains(finding.key)
                ? "deleted" : report.kept.contains(finding.key) ? "kept (too young or referenced again)" : nil
            if json {
                print(findingJSON(finding, action: action))
            } else {
                let prefix = finding.isProblem ? "" : "info "
                print(prefix + finding.description + (action.map { " [\($0)]" } ?? ""))
            }
        }
        let remaining = report.remainingProblems.count
        if json {
            print(
                jsonLine([
                    "summary": true, "objects": report.objectsListed, "topics": report.topicsChecked,
                    "problems": report.problems.count, "remaining": remaining, "deleted": report.deleted.count,
                    "kept": report.kept.count,
                ]))
        } else {
            printError(
                "scrubbed \(report.topicsChecked) topics, \(report.objectsListed) objects in \(lake.coldURL): "
                    + "\(report.problems.count) problems, \(report.deleted.count) orphans deleted, "
                    + "\(report.kept.count) kept"
            )
        }
        if remaining > 0 { throw ExitCode(1) }
    }

    private func findingJSON(_ finding: ScrubFinding, action: String?) -> String {
        var object: [String: Any] = [
            "kind": finding.kind.rawValue, "topic": finding.topic, "key": finding.key,
            "what": finding.what, "problem": finding.isProblem,
        ]
        if let size = finding.sizeBytes { object["bytes"] = size }
        if let modified = finding.modifiedMs { object["modifiedMs"] = modified }
        if let action { object["action"] = action }
        return jsonLine(object)
    }
}
