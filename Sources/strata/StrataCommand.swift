import ArgumentParser

/// `strata`: the command for brokers' operators and batch jobs. Subcommands live one per file.
@main
struct StrataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "Strata: a tiered storage engine for streams (hot segments on disk, cold objects in blob storage).",
        subcommands: [Inspect.self]
    )
}

/// `strata inspect …`: browse and check hot files, cold objects and manifests.
struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Browse and verify segments, cold objects and manifests.",
        subcommands: [InspectDump.self]
    )
}
