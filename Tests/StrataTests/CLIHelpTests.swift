import Foundation
import Testing

@testable import Strata

/// Runs the built `strata` binary (STRATA_BIN, else .build/debug/strata) to completion.
enum CLIRun {
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["STRATA_BIN"], !path.isEmpty { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.path + "/.build/debug/strata"
    }()
    static var exists: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// `strata arguments…` with `stdin` as its input; output goes through files so no pipe fills.
    static func strata(_ arguments: [String], stdin: String = "") throws -> Outcome {
        let dir = NSTemporaryDirectory() + "strata-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["in", "out", "err"] { _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: nil) }
        try Data(stdin.utf8).write(to: URL(fileURLWithPath: dir + "/in"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: dir + "/in"))
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/err"))
        try process.run()
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? "")
    }
}

/// Every command's `--help` carries a runnable example; `--version` answers.
@Suite(.enabled(if: CLIRun.exists, "needs the strata binary (STRATA_BIN or .build/debug/strata)"))
struct CLIHelpTests {
    static let commands: [[String]] = [
        [], ["demo"], ["produce"], ["consume"], ["offload"], ["recover"], ["repair"], ["export"], ["bench"],
        ["topics"], ["topics", "create"], ["topics", "describe"], ["topics", "alter-config"], ["topics", "delete"],
        ["delete-records"],
        ["inspect"], ["inspect", "dump"], ["inspect", "topics"], ["inspect", "segments"], ["inspect", "manifest"],
        ["inspect", "verify"], ["inspect", "scrub"],
    ]

    @Test(arguments: commands)
    func helpShowsAnExampleOfTheCommand(_ command: [String]) throws {
        let result = try CLIRun.strata(command + ["--help"])
        #expect(result.status == 0, "\(command): \(result.stderr)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // An unknown subcommand's --help prints the root help: check this one answered.
        #expect(
            lines.contains { $0.hasPrefix("USAGE: " + (["strata"] + command).joined(separator: " ")) },
            "\(command): \(result.stdout.prefix(200))")
        let example = try #require(
            lines.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "Example:" },
            "\(command) has no Example: block")
        let next = lines.dropFirst(example + 1).first { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? ""
        // The example runs this very command (after a pipe for produce).
        let invocation = (["strata"] + command).joined(separator: " ")
        #expect(next.contains(invocation), "\(command): example line '\(next)'")
        // Help wraps at 80 columns: a longer example would reach the reader broken in two.
        let block = lines.dropFirst(example + 1).prefix { !$0.isEmpty }
        #expect(block.allSatisfy { $0.hasPrefix("  ") }, "\(command): example wrapped: \(Array(block))")
    }

    /// Every subcommand the root help lists is covered above, so a new one cannot ship without an example.
    @Test func everyListedSubcommandIsChecked() throws {
        for group in [[], ["topics"], ["inspect"]] {
            let help = try CLIRun.strata(group + ["--help"]).stdout
            guard let start = help.range(of: "SUBCOMMANDS:") else {
                Issue.record("no SUBCOMMANDS in \(group) help")
                continue
            }
            let listed = help[start.upperBound...].split(separator: "\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                guard line.hasPrefix("  "), !line.hasPrefix("   "), let first = words.first else { return nil }
                return String(first)
            }.filter { $0 != "help" && $0 != "See" }
            #expect(!listed.isEmpty)
            for name in listed { #expect(Self.commands.contains(group + [name]), "\(group + [name]) is not checked") }
        }
    }

    @Test func versionPrintsOneVersionLine() throws {
        let result = try CLIRun.strata(["--version"])
        #expect(result.status == 0)
        let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = text.split(separator: ".")
        #expect(parts.count == 3 && parts.allSatisfy { Int($0) != nil }, "'\(text)'")
    }
}
