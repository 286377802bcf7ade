import ArgumentParser
import Foundation
import Strata

/// `strata`: the command for operators, batch jobs and brokers' tooling. One subcommand per file.
///
/// Exit codes: 0 ok · 1 problem found (corruption, verify failures) · 2 usage (bad flags,
/// unknown topic, bad range) · 3 I/O or store error.
@main
struct StrataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "Strata: a tiered storage engine for streams (hot segments on disk, cold objects in blob storage).",
        discussion: """
            Exit codes: 0 ok, 1 problem found, 2 usage error, 3 I/O or store error.

            Example:
              seq 3 | strata produce --lake /tmp/lake t && strata consume --lake /tmp/lake t
            """,
        version: strataVersion,
        subcommands: [
            Demo.self, Produce.self, Consume.self, Offload.self, Recover.self, Repair.self, Export.self, Topics.self,
            DeleteRecords.self, Compact.self, Inspect.self, Table.self, Serve.self, Users.self, Bench.self,
        ]
    )

    static func main() async {
        var parsed: ParsableCommand.Type? = nil
        do {
            var command = try parseAsRoot(joiningNegativeValues(Array(CommandLine.arguments.dropFirst())))
            parsed = type(of: command)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            Foundation.exit(Self.report(error, command: parsed))
        }
    }

    /// `--from-offset -1` becomes `--from-offset=-1`: ArgumentParser reads a negative number as
    /// a flag and answers "Missing value", which hides the real problem (or rejects a valid
    /// negative time). Strata has no flags that look like numbers.
    static func joiningNegativeValues(_ arguments: [String]) -> [String] {
        var joined: [String] = []
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            if argument.hasPrefix("--"), argument.count > 2, !argument.contains("="), i + 1 < arguments.count,
                isNegativeNumber(arguments[i + 1])
            {
                joined.append(argument + "=" + arguments[i + 1])
                i += 2
                continue
            }
            if argument == "--" {
                joined += arguments[i...]
                break
            }
            joined.append(argument)
            i += 1
        }
        return joined
    }

    private static func isNegativeNumber(_ text: String) -> Bool {
        guard text.hasPrefix("-"), text.count > 1 else { return false }
        return text.dropFirst().allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") }
    }

    /// Prints `error` the way an operator needs it and returns the documented exit code.
    /// - Parameter command: the subcommand that was running, when parsing got that far.
    static func report(_ error: any Error, command: ParsableCommand.Type? = nil) -> Int32 {
        if let exitCode = error as? ExitCode { return exitCode.rawValue }
        if let error = error as? StrataError {
            printError("error: \(error)\(hint(for: error))")
            return exitCode(for: error.code)
        }
        // A ValidationError thrown by `run()` (not by parsing) would otherwise print only the
        // generic usage line and lose the message saying what was wrong.
        if let error = error as? ValidationError {
            let help = command.flatMap(commandPath(to:)).map { "\nhint: `\($0) --help` lists the options" } ?? ""
            printError("error: \(error.message)\(help)")
            return 2
        }
        let code = Self.exitCode(for: error)
        let message = Self.fullMessage(for: error)
        if code == .success {
            print(message)
            return 0
        }
        printError(message)
        return 2
    }

    /// `strata inspect dump` for `InspectDump.self`: the words that run a subcommand.
    static func commandPath(to command: ParsableCommand.Type) -> String? {
        func search(_ node: ParsableCommand.Type, _ path: [String]) -> [String]? {
            let here = path + [node._commandName]
            if ObjectIdentifier(node) == ObjectIdentifier(command) { return here }
            for child in node.configuration.subcommands {
                if let found = search(child, here) { return found }
            }
            return nil
        }
        return search(StrataCommand.self, []).map { $0.joined(separator: " ") }
    }

    /// `lake.json`, the topic catalog and the old per-topic files a migration reads: damage there
    /// refuses the open, so it is fixed by hand (or from a backup), not found by `verify`.
    private static func isConfigFile(_ path: String) -> Bool {
        path.hasSuffix("/lake.json") || path.hasSuffix("/topic.json") || path.hasSuffix("/partitions")
            || path.contains("/catalog/") || path.hasSuffix("start-offset") || path.hasSuffix("/DELETING")
    }

    static func exitCode(for code: StrataError.Code) -> Int32 {
        switch code {
        case .invalidArgument, .notFound, .offsetOutOfRange, .tooLarge: return 2
        case .corrupt: return 1
        case .io, .locked, .closed, .fenced, .busy: return 3
        case .readOnly, .outOfOrderSequence, .invalidProducerEpoch, .unknownProducerId: return 2
        }
    }

    static func hint(for error: StrataError) -> String {
        switch error.code {
        case .notFound where error.topic != nil: return "\nhint: `strata inspect topics --lake DIR` lists the topics"
        case .offsetOutOfRange: return "\nhint: pick an offset inside the valid range"
        case .locked: return "\nhint: another strata process has this lake open; stop it or use another --lake"
        case .corrupt where error.file.map(isConfigFile) == true: return ""
        case .corrupt: return "\nhint: `strata inspect verify --lake DIR` lists every damaged batch"
        default: return ""
        }
    }
}

/// `strata inspect …`: browse and check hot files, cold objects and manifests.
struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Browse and verify segments, cold objects and manifests.",
        discussion: """
            Example:
              strata inspect verify --lake /lake
            """,
        subcommands: [
            InspectDump.self, InspectTopics.self, InspectSegments.self, InspectManifest.self, InspectVerify.self,
            InspectScrub.self, InspectGroups.self, InspectCatalog.self,
        ]
    )
}
