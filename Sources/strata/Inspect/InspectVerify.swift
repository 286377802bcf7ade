import ArgumentParser
import Foundation
import Strata
import Synchronization

/// `strata inspect verify`: read every hot segment and cold object and check every byte.
struct InspectVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every batch CRC, zstd frame, footer, index, manifest and offset continuity of a lake.",
        discussion: """
            Reads every hot segment and every cold object in full (nothing is changed). Prints one line per \
            problem: TOPIC LOCATION POSITION KIND: WHAT (location = file path or object key, position = byte \
            in it, '-' when the whole file is concerned). Warnings (rebuildable index, torn tail of the active \
            segment) are printed but do not fail. Each topic's table (tables/<topic>/) is checked too: its \
            newest metadata, every manifest list, manifest and Parquet data file it references (lengths, \
            footers, every row decoded), and its rows against the committed cold manifests \
            (corruptTableFile, missingTableFile, tableInconsistent; `strata table rebuild` rewrites it). \
            The lake is opened read-only: it works while a writer runs and a torn tail is reported, not \
            cut. When the cold store cannot be read the hot tier is still checked and a coldUnreachable \
            line is printed. Exit codes: 0 clean, 1 problem found, 2 usage or no such lake, 3 I/O or store \
            error (the cold store unreachable included, when nothing else failed).

            Example:
              strata inspect verify --lake /lake clicks
            """
    )

    @OptionGroup var lakeOption: ReadLakeOption
    @Argument(help: "Only this topic (default: every topic, local or cold).")
    var topic: String?
    @Flag(help: "One JSON object per problem, then one summary object.")
    var json = false

    func run() async throws {
        let lake = try lakeOption.open()
        let report: VerifyReport
        do { report = try await lake.verify(topic: topic, progress: progressPrinter()) } catch {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        clearProgress()
        for problem in report.problems { print(json ? problemJSON(problem) : problem.description) }
        let summary =
            "verified \(report.topicsChecked) topics: \(report.segmentsChecked) hot segments, "
            + "\(report.objectsChecked) cold objects, \(report.manifestsChecked) manifests, \(report.batchesChecked) "
            + "batches, "
            + "\(report.recordsChecked) records, \(report.tableFilesChecked) table files "
            + "(\(report.tableRowsChecked) rows), "
            + "\(humanBytes(report.bytesChecked)) read; "
            + "\(report.errors.count) problems, \(report.problems.count - report.errors.count) warnings"
        if json {
            print(
                jsonLine([
                    "summary": true, "clean": report.isClean, "topics": report.topicsChecked,
                    "segments": report.segmentsChecked, "objects": report.objectsChecked,
                    "manifests": report.manifestsChecked, "batches": report.batchesChecked,
                    "records": report.recordsChecked, "bytes": report.bytesChecked,
                    "tableFiles": report.tableFilesChecked, "tableRows": report.tableRowsChecked,
                    "problems": report.errors.count, "warnings": report.problems.count - report.errors.count,
                ]))
        } else {
            printError(summary)
        }
        if report.errors.contains(where: { $0.kind != .coldUnreachable }) { throw ExitCode(1) }
        if !report.isClean { throw ExitCode(3) }
    }

    private func problemJSON(_ problem: VerifyProblem) -> String {
        jsonLine([
            "topic": problem.topic, "location": problem.location,
            "position": problem.position.map { $0 as Any } ?? NSNull(),
            "kind": problem.kind.rawValue, "what": problem.what, "warning": problem.isWarning,
        ])
    }
}

/// A one-line progress display on stderr when it is a terminal (nil otherwise).
private func progressPrinter() -> (@Sendable (VerifyProgress) -> Void)? {
    guard isatty(2) == 1 else { return nil }
    let throttle = ProgressThrottle()
    return { progress in
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let due = throttle.lastMs.withLock { last in
            defer { if now - last >= 200 { last = now } }
            return now - last >= 200
        }
        guard due else { return }
        let r = progress.report
        let name = progress.location.split(separator: "/").last.map(String.init) ?? progress.location
        printErrorRaw(
            "\r\u{1B}[Kverify \(progress.topic) \(name): \(r.segmentsChecked) segments, \(r.objectsChecked) objects, "
                + "\(humanBytes(r.bytesChecked))"
        )
    }
}

/// Redraws the progress line at most every 200 ms.
private final class ProgressThrottle: Sendable {
    let lastMs = Mutex<Int64>(0)
}

private func clearProgress() {
    if isatty(2) == 1 { printErrorRaw("\r\u{1B}[K") }
}

private func printErrorRaw(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}
