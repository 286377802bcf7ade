import ArgumentParser
import Foundation
import Strata

/// `strata compact`: rewrite mostly dead packed objects (ARCHITECTURE.md §2k, "Compaction").
struct Compact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the live slices of mostly dead packed cold objects into new ones.",
        discussion: """
            A packed object (packed/ in the cold store) holds small segments of many partitions; retention, \
            delete-records and topic deletes of some of them leave it holding dead bytes, and it is only deleted \
            once no manifest references any of its slices. This command finds every packed object whose slices \
            still referenced by a partition's newest manifest (or an archive manifest it references) are less than \
            --live-below of its slices' bytes and that is older than --min-age-ms, copies those slices byte for byte \
            (each is checked to decode to what its manifest entry says) into new packed objects, and moves each \
            partition's manifest onto them (an archive manifest listing a moved slice is written again under a key \
            of its own). \
            Nothing is deleted: the old objects become orphans that `strata inspect scrub --delete-orphans` \
            deletes once they and the manifest versions that named them are older than its --grace-ms. \
            A slice that is damaged, or whose partition's commit fails, stays where it was and is printed. \
            A lake open for writing with background offload (`strata serve`, a library lake) runs the same pass \
            every hour itself (LakeOptions.packedCompactionIntervalMs), and holds the lake's lock meanwhile: \
            this command is for a lake no writer has open, or to run a pass now. \
            Exit codes: 0 done, 1 a slice was left in place, 2 usage, 3 I/O or store error.

            Example:
              strata compact --lake /lake --dry-run
              strata compact --lake /lake --live-below 0.5
            """
    )

    @OptionGroup var lakeOption: LakeOption
    @Option(help: "Rewrite objects whose live slices are less than this share of all their slices' bytes, in (0, 1].")
    var liveBelow: Double = 0.5
    @Option(help: "Leave objects modified less than this many ms ago (an offload may still be committing).")
    var minAgeMs: Int64 = 3_600_000
    @Flag(help: "Only print what would be rewritten.")
    var dryRun = false
    @Flag(help: "Print a JSON line instead of text.")
    var json = false

    func validate() throws {
        if !(liveBelow > 0 && liveBelow <= 1) { throw ValidationError("--live-below must be in (0, 1], is \(liveBelow)") }
        if minAgeMs < 0 { throw ValidationError("--min-age-ms must not be negative") }
    }

    func run() async throws {
        try requireExistingLake(lakeOption.lake)
        // A dry run only reads: it works beside a running writer.
        let lake = try dryRun ? lakeOption.openReadOnly() : lakeOption.open(background: false)
        let report: PackedCompactionReport
        do { report = try await lake.compactPacked(liveBelow: liveBelow, minAgeMs: minAgeMs, dryRun: dryRun) } catch {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        for problem in report.problems { printError("left in place: \(problem)") }
        if json {
            print(
                jsonLine([
                    "dryRun": dryRun, "objectsListed": report.objectsListed, "logsRead": report.logsRead,
                    "candidates": report.candidates.count, "candidateBytes": report.candidateBytes,
                    "liveBytes": report.liveBytes, "objectsWritten": report.objectsWritten.count,
                    "writtenBytes": report.writtenBytes, "slicesMoved": report.slicesMoved,
                    "logsCommitted": report.logsCommitted, "archivesRewritten": report.archivesRewritten,
                    "problems": report.problems.count,
                ]))
        } else if dryRun {
            print(
                "would compact \(report.candidates.count) of \(report.objectsListed) packed objects "
                    + "(\(humanBytes(report.candidateBytes)), \(humanBytes(report.liveBytes)) live) in \(lake.coldURL)")
            for key in report.candidates { print("  \(key)") }
        } else {
            print(
                "compacted \(report.candidates.count) of \(report.objectsListed) packed objects "
                    + "(\(humanBytes(report.candidateBytes)), \(humanBytes(report.liveBytes)) live) into "
                    + "\(report.objectsWritten.count) (\(humanBytes(report.writtenBytes))): \(report.slicesMoved) slices "
                    + "of \(report.logsCommitted) partitions moved"
                    + (report.archivesRewritten > 0 ? " (\(report.archivesRewritten) archive manifests written again)" : "")
                    + " in \(lake.coldURL)")
            if !report.objectsWritten.isEmpty {
                print(
                    "the old objects are orphans now: `strata inspect scrub --lake \(lakeOption.lake) --delete-orphans` "
                        + "deletes them once older than its --grace-ms")
            }
        }
        if !report.problems.isEmpty { throw ExitCode(1) }
    }
}
