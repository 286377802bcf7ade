import Foundation
import StrataBlob
import Testing

@testable import Strata

/// Issue 12 items 2, 3, 6, 7, 8 and 12, through the built `strata` binary: bad input is refused
/// with a message that names what was wrong, where, and what to do.
@Suite("CLI safety and messages")
struct CLISafetyTests {

    // MARK: - 12.2 no in-memory cold store

    @Test func coldMemoryURLIsRefusedWithTheAcceptedForms() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            let result = CLI.run(["produce", "--lake", lake, "--cold", "memory://x", "t"], stdin: "a\n")
            #expect(result.status == 2, "\(result)")
            #expect(result.stderr.contains("memory://x"))
            #expect(result.stderr.contains("file:///absolute/path, s3://bucket[/prefix]"))
            #expect(!FileManager.default.fileExists(atPath: lake + "/lake.json"), "a refused store is not remembered")
        }
    }

    // MARK: - 12.6 documented defaults

    @Test func cliCreatedTopicsKeepTheDocumentedLocalRetention() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            #expect(CLI.run(["produce", "--lake", lake, "plain"], stdin: "a\n").status == 0)
            let tuned = ["produce", "--lake", lake, "tuned", "--local-retention-ms", "5000"]
            #expect(CLI.run(tuned, stdin: "a\n").status == 0)
            let plain = try CLI.topicConfig(lake, "plain")
            #expect(plain.localRetentionMs == TopicConfig().localRetentionMs)
            #expect(plain.localRetentionMs == 86_400_000)
            #expect(plain.localRetentionBytes == nil)
            #expect(try CLI.topicConfig(lake, "tuned").localRetentionMs == 5000)
        }
    }

    // MARK: - 12.7 an oversized line

    @Test func anOversizedLineNamesItsLineCommitsWhatCameBeforeAndStops() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            let before = (1 ... 150).map { "line \($0)" }
            let oversized = String(repeating: "x", count: 1 << 20)
            let input = before.joined(separator: "\n") + "\n" + oversized + "\nafter 1\nafter 2\n"
            let result = CLI.run(["produce", "--lake", lake, "big"], stdin: input)
            #expect(result.status == 2, "\(result)")
            #expect(result.stderr.contains("input line 151 is 1048576 bytes"), "\(result.stderr)")
            #expect(result.stderr.contains("recordBytesMax=1048576"))
            #expect(result.stderr.contains("longest value without a key is 1048550 bytes"))
            #expect(result.stderr.contains("lines 1 to 150 were committed (offsets 0 to 149)"))
            let summary = try CLI.json(result.stdout)
            #expect(summary["records"] as? Int == 150)
            #expect(summary["lastOffset"] as? Int == 149)
            let consumed = CLI.run(["consume", "--lake", lake, "big"])
            #expect(consumed.stdout.split(separator: "\n").map(String.init) == before)
        }
    }

    @Test func theDocumentedLongestLineIsAcceptedAndTheHelpSaysWhatCounts() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            let help = CLI.run(["produce", "--help"]).stdout
            #expect(help.contains("recordBytesMax"), "\(help)")
            #expect(help.contains("is 1048550 bytes"))
            let produce = ["produce", "--lake", lake, "edge"]
            let longest = CLI.run(produce, stdin: String(repeating: "y", count: 1_048_550) + "\n")
            #expect(longest.status == 0, "\(longest)")
            let over = CLI.run(produce, stdin: String(repeating: "y", count: 1_048_551) + "\n")
            #expect(over.status == 2)
            #expect(over.stderr.contains("input line 1 is 1048551 bytes"))
            #expect(over.stderr.contains("nothing was committed"))
        }
    }

    // MARK: - 12.8 times outside the representable range, and dates not on the calendar

    /// A time and what its message must say: Foundation wraps the first ones around and rolls the
    /// impossible dates over (2026-02-30 to March 2) instead of failing.
    @Test(arguments: [
        ("300000000-01-01T00:00:00Z", "9999"), ("+12345-01-01T00:00:00Z", "9999"),
        ("99999999999999999999", "\(Int64.max)"), ("-99999999999999999999", "\(Int64.max)"),
        ("2026-02-30T00:00:00Z", "2026-02 has 28 days, not 30"), ("2026-2-30T00:00:00Z", "2026-02 has 28 days"),
        ("2025-02-29T00:00:00Z", "2025-02 has 28 days, not 29"), ("1900-02-29T00:00:00Z", "1900-02 has 28 days"),
        ("2026-04-31T12:00:00+02:00", "2026-04 has 30 days, not 31"), ("2026-13-01T00:00:00Z", "no month 13"),
        ("2026-00-10T00:00:00Z", "no month 0"), ("2026-01-00T00:00:00Z", "2026-01 has 31 days, not 0"),
        ("2026-01-01T24:00:00Z", "hour 24"), ("2026-01-01T23:60:00Z", "minute 60"),
        ("2026-01-01T23:59:60Z", "second 60"), ("2026-01-01T23:59:59.5+24:00", "zone offset +24:00"),
        ("2026-01-01T23:59:59+0160", "zone offset +0160"),
    ])
    func timesOutsideTheRepresentableRangeAreRejected(time: String, says: String) async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            #expect(CLI.run(["produce", "--lake", lake, "t"], stdin: "a\nb\n").status == 0)
            let result = CLI.run(["consume", "--lake", lake, "t", "--from-time", time])
            #expect(result.status == 2, "\(result)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains("--from-time '\(time)'"), "\(result.stderr)")
            #expect(result.stderr.contains(says), "\(result.stderr)")
            // export parses its times the same way (--to-time too).
            let export = CLI.run(["export", "--cold", "file://" + lake + "/cold", "t", "--to-time", time])
            #expect(export.status == 2, "\(export)")
            #expect(export.stderr.contains("--to-time '\(time)'") && export.stderr.contains(says), "\(export.stderr)")
        }
    }

    @Test func representableTimesStillWork() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            #expect(CLI.run(["produce", "--lake", lake, "t"], stdin: "a\nb\n").status == 0)
            let future = CLI.run(["consume", "--lake", lake, "t", "--from-time", "9999-12-31T23:59:59Z"])
            #expect(future.status == 0 && future.stdout.isEmpty, "\(future)")
            let past = CLI.run(["consume", "--lake", lake, "t", "--from-time", "1970-01-01T00:00:00+01:00"])
            #expect(past.status == 0 && past.stdout == "a\nb\n", "\(past)")
            let negative = CLI.run(["consume", "--lake", lake, "t", "--from-time", "-5"])
            #expect(negative.status == 0 && negative.stdout == "a\nb\n", "\(negative)")
            // Dates that are on the calendar: leap days, the last second of a day, short fields.
            for time in [
                "2024-02-29T00:00:00Z", "2000-02-29T23:59:59.999-01:00", "1970-1-1T0:0:0Z", "2026-12-31T23:59:59+2359",
            ] {
                let result = CLI.run(["consume", "--lake", lake, "t", "--from-time", time])
                #expect(result.status == 0 && result.stderr.isEmpty, "\(time): \(result)")
            }
        }
    }

    // MARK: - 12.3 export says when the newest manifest may be missing

    @Test func exportWarnsWhenObjectsLiePastTheNewestManifest() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        try await fixture.lake.close()
        let newest = try fixture.deleteNewestColdManifest()
        let older = try Manifest.decode(
            Array(
                try Data(
                    contentsOf: URL(
                        fileURLWithPath: fixture.coldRoot + "/"
                            + (try #require(try fixture.coldManifestVersions().last)).key))))
        let result = CLI.run(["export", "--cold", "file://" + fixture.coldRoot, ChainFixture.topicName, "--quiet"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.split(separator: "\n").count == Int(older.nextOffset))
        #expect(result.stderr.contains("warning: export ends at offset \(older.nextOffset - 1)"), "\(result.stderr)")
        #expect(result.stderr.contains("past manifest v\(newest.version - 1)"))
        // Asking for an offset only the lost manifest covered says why it is out of range.
        let asked = CLI.run([
            "export", "--cold", "file://" + fixture.coldRoot, ChainFixture.topicName,
            "--to-offset", "\(older.nextOffset)",
        ])
        #expect(asked.status == 2, "\(asked)")
        #expect(asked.stderr.contains("is outside the topic's offsets"))
        #expect(asked.stderr.contains("missing latest manifest"), "\(asked.stderr)")
        // With the manifest back, the export is whole and says nothing.
        try fixture.restoreNewestColdManifest(newest)
        let whole = CLI.run(["export", "--cold", "file://" + fixture.coldRoot, ChainFixture.topicName, "--quiet"])
        #expect(whole.status == 0 && whole.stderr.isEmpty, "\(whole.stderr)")
        #expect(whole.stdout.split(separator: "\n").count == fixture.produced.count)
    }

    @Test func cliVerifyAndScrubFailOnAMissingLatestManifestAndDeleteNothing() async throws {
        let fixture = try await ChainFixture.make()
        defer { fixture.remove() }
        try await fixture.lake.close()
        let objects = try fixture.coldSegmentFiles()
        _ = try fixture.deleteNewestColdManifest()
        let verify = CLI.run(["inspect", "verify", "--lake", fixture.dir])
        #expect(verify.status == 1, "\(verify)")
        #expect(verify.stdout.contains("missingManifest"))
        let scrub = CLI.run(["inspect", "scrub", "--lake", fixture.dir, "--delete-orphans", "--grace-ms", "0"])
        #expect(scrub.status == 1, "\(scrub)")
        #expect(scrub.stdout.contains("missingManifest"))
        #expect(scrub.stderr.contains("0 orphans deleted"))
        #expect(try fixture.coldSegmentFiles() == objects)
    }

    // MARK: - 12.12 messages

    /// One bad input, what the message must say and must not say.
    struct MessageCase: CustomTestStringConvertible, Sendable {
        var name: String
        /// Arguments; `LAKE` and `COLD` stand for the fixture's lake directory and cold URL.
        var arguments: [String]
        var stdin: String = ""
        /// Damage done to the fixture first.
        var damage: Damage = .none
        var status: Int32
        var says: [String]
        var never: [String]
        var testDescription: String { name }

        enum Damage: Sendable {
            case none, lakeJSON, catalog, truncateObject
        }
    }

    static let messageCases: [MessageCase] = [
        MessageCase(
            name: "dump of a directory", arguments: ["inspect", "dump", "LAKE"], status: 2,
            says: ["is a directory", ".seg"], never: ["NSCocoaErrorDomain", "256"]),
        MessageCase(
            name: "dump of /dev/null", arguments: ["inspect", "dump", "/dev/null"], status: 2,
            says: ["/dev/null is not a regular file"], never: ["permission"]),
        MessageCase(
            name: "corrupt lake.json", arguments: ["consume", "--lake", "LAKE", "orders"], damage: .lakeJSON,
            status: 1, says: ["lake.json is damaged: not valid JSON", "restore it"],
            never: ["DecodingError", "dataCorrupted", "inspect verify"]),
        MessageCase(
            name: "corrupt catalog", arguments: ["consume", "--lake", "LAKE", "orders"], damage: .catalog,
            status: 1, says: ["00000000000000000000.log is damaged at byte 16", "restore it from a backup"],
            never: ["DecodingError", "dataCorrupted", "CodingKeys"]),
        MessageCase(
            name: "--from-time garbage",
            arguments: ["consume", "--lake", "LAKE", "orders", "--from-time", "garbage"],
            status: 2, says: ["--from-time 'garbage' is neither", "strata consume --help"], never: []),
        MessageCase(
            name: "--durability maybe",
            arguments: ["produce", "--lake", "LAKE", "new", "--durability", "maybe"],
            stdin: "a\n", status: 2, says: ["--durability must be sync or async, not 'maybe'"], never: []),
        MessageCase(
            name: "--from-offset -1", arguments: ["consume", "--lake", "LAKE", "orders", "--from-offset", "-1"],
            status: 2, says: ["--from-offset must not be negative"], never: ["Missing value"]),
        MessageCase(
            name: "scrub of a truncated object", arguments: ["inspect", "scrub", "--lake", "LAKE"],
            damage: .truncateObject, status: 1, says: ["sizeMismatch", "1 problems"], never: ["0 problems"]),
        MessageCase(
            name: "recover of an unknown topic",
            arguments: ["recover", "--lake", "LAKE-new", "--cold", "COLD", "nosuch"],
            status: 2, says: ["'nosuch'", "its topics: orders", "nothing was recovered"],
            never: ["inspect topics"]),
    ]

    @Test(arguments: messageCases)
    func messagesSayWhatWasWrongWhereAndWhatToDo(_ scenario: MessageCase) async throws {
        let fixture = try await ChainFixture.make()
        defer {
            fixture.remove()
            try? FileManager.default.removeItem(atPath: fixture.dir + "-new")
        }
        try await fixture.lake.close()
        switch scenario.damage {
        case .none: break
        case .lakeJSON: try Data("{not json".utf8).write(to: URL(fileURLWithPath: fixture.dir + "/lake.json"))
        case .catalog:
            // A bit of the first record (the config) flipped: valid records follow it.
            let path = fixture.dir + "/catalog/00000000000000000000.log"
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            bytes[30] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        case .truncateObject:
            let path = fixture.coldRoot + "/" + (try #require(try fixture.coldSegmentFiles().first))
            try truncateFile(path, to: 100)
        }
        let arguments = scenario.arguments.map {
            $0.replacingOccurrences(of: "LAKE", with: fixture.dir)
                .replacingOccurrences(of: "COLD", with: "file://" + fixture.coldRoot)
        }
        let result = CLI.run(arguments, stdin: scenario.stdin)
        #expect(result.status == scenario.status, "\(result)")
        for text in scenario.says {
            #expect(result.stderr.contains(text) || result.stdout.contains(text), "\(text) in \(result)")
        }
        for text in scenario.never { #expect(!result.stderr.contains(text), "\(text) in \(result.stderr)") }
    }
}

// MARK: - Running the binary

enum CLI {
    static let binary = CLIRun.binary
    typealias Outcome = CLIRun.Outcome

    /// Runs `strata` to completion (`CLIRun`): a missing binary fails the test, never skips it.
    static func run(_ arguments: [String], stdin: String = "") -> Outcome {
        CLIRun.run(binary, arguments, stdin: stdin)
    }

    /// The config the lake's catalog holds for `topic`, as a reader opening it now sees it.
    static func topicConfig(_ lake: String, _ topic: String) throws -> TopicConfig {
        let catalog = try Catalog.openReader(LakePaths(root: lake), log: { _ in })
        return try #require(catalog.config(topic))
    }

    /// The last line of `output` as a JSON object.
    static func json(_ output: String) throws -> [String: Any] {
        let line = try #require(output.split(separator: "\n").last)
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
}
