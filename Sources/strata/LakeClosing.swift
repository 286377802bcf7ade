import Strata

extension Lake {
    /// Closes the lake after a command failed with `error`: that error is what the command
    /// reports, so a failed close (a final flush that did not reach the disk) is printed as well
    /// rather than lost.
    func close(after _: any Error) async {
        do throws(StrataError) { try await close() } catch {
            printError("strata: closing the lake failed as well: \(error)")
        }
    }
}
