import Foundation

/// Runs `program` (looked up in PATH) with `arguments` and returns its exit status and its
/// stdout and stderr together. The wait happens on a Dispatch thread: real readers (python with
/// pyarrow, pyiceberg, DuckDB, Spark) take seconds, and a wait on the cooperative pool — two
/// threads here, shared by every suite of the run — would stall every other async test meanwhile.
public func runProgram(_ program: String, _ arguments: [String]) async -> (status: Int32, output: String) {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: runProgramBlocking(program, arguments)) }
    }
}

/// `runProgram` on the calling thread: only for one-off checks such as whether a module imports.
public func runProgramBlocking(_ program: String, _ arguments: [String]) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [program] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    do {
        try process.run()
    } catch {
        return (-1, "cannot run \(program): \(error)")
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
