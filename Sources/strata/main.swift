import ArgumentParser

struct StrataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "strata", abstract: "Tiered storage engine for streams.")
}
StrataCommand.main()
