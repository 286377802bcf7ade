import ArgumentParser
import StrataFormat

/// `strata inspect dump PATH`: one line per batch of a hot `.seg` file or cold `.seg.zst` object.
struct InspectDump: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dump", abstract: "Print every batch of a segment file or cold object.")

    @Argument(help: "A hot segment (.seg) or a cold object (.seg.zst).")
    var path: String

    func run() async throws {
        throw ValidationError("not implemented yet")
    }
}
