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
        discussion: "Exit codes: 0 ok, 1 problem found, 2 usage error, 3 I/O or store error.",
        subcommands: [Demo.self, Produce.self, Consume.self, Offload.self, Recover.self, Export.self, Inspect.self, Bench.self]
    )

    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            Foundation.exit(Self.report(error))
        }
    }

    /// Prints `error` the way an operator needs it and returns the documented exit code.
    static func report(_ error: any Error) -> Int32 {
        if let exitCode = error as? ExitCode { return exitCode.rawValue }
        if let error = error as? StrataError {
            printError("error: \(error)\(hint(for: error))")
            return exitCode(for: error.code)
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

    static func exitCode(for code: StrataError.Code) -> Int32 {
        switch code {
        case .invalidArgument, .notFound, .offsetOutOfRange, .tooLarge: return 2
        case .corrupt: return 1
        case .io, .locked, .closed, .fenced, .busy: return 3
        }
    }

    static func hint(for error: StrataError) -> String {
        switch error.code {
        case .notFound where error.topic != nil: return "\nhint: `strata inspect topics --lake DIR` lists the topics"
        case .offsetOutOfRange: return "\nhint: pick an offset inside the valid range"
        case .locked: return "\nhint: another strata process has this lake open; stop it or use another --lake"
        case .corrupt: return "\nhint: `strata inspect verify --lake DIR` lists every damaged batch"
        default: return ""
        }
    }
}

/// `strata inspect …`: browse and check hot files, cold objects and manifests.
struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Browse and verify segments, cold objects and manifests.",
        subcommands: [InspectDump.self, InspectTopics.self, InspectSegments.self, InspectManifest.self, InspectVerify.self, InspectScrub.self]
    )
}
