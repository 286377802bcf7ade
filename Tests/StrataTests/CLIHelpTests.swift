import Foundation
import Testing

@testable import Strata

/// Every command's `--help` carries a runnable example; `--version` answers.
@Suite
struct CLIHelpTests {
    static let commands: [[String]] = [
        [], ["demo"], ["produce"], ["consume"], ["offload"], ["recover"], ["repair"], ["export"], ["bench"],
        ["topics"], ["topics", "create"], ["topics", "describe"], ["topics", "alter-config"],
        ["topics", "add-partitions"], ["topics", "delete"],
        ["delete-records"], ["compact"],
        ["inspect"], ["inspect", "dump"], ["inspect", "topics"], ["inspect", "segments"], ["inspect", "manifest"],
        ["inspect", "verify"], ["inspect", "scrub"], ["inspect", "groups"], ["inspect", "catalog"], ["serve"],
        ["table"], ["table", "status"], ["table", "rebuild"], ["users"], ["users", "add"], ["users", "list"],
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
        for group in [[], ["topics"], ["inspect"], ["table"], ["users"]] {
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
