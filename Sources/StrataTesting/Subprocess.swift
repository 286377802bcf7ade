import Foundation
import Synchronization

/// A child process for tests, started with `posix_spawn` and reaped with `waitpid`.
///
/// Not Foundation's `Process`: on Linux its `run()` finds the highest open descriptor by copying
/// each `/proc/self/fd` entry's whole 256-byte `d_name` out of the directory buffer, and when the
/// test process holds about 1,360 descriptors (parallel suites with lakes open) the last, short
/// entry sits at the end of that buffer and the copy reads past it: a SIGSEGV that took a CI run
/// down in `CLISafetyTests`. Here the child gets exactly its three standard descriptors: the
/// spawn dup2s them and then closes every descriptor from 3 up (`closefrom`), so no child holds
/// another test's pipe or socket open.
public final class ChildProcess: Sendable {
    /// How a child ended.
    public enum Termination: Equatable, Sendable {
        case exited(Int32)
        case signaled(Int32)

        /// The exit status, or -1 for a child that a signal ended.
        public var status: Int32 {
            if case .exited(let code) = self { return code }
            return -1
        }
    }

    public let pid: pid_t
    private let ended = Mutex<Termination?>(nil)

    /// Starts `executable` (a path, not looked up in PATH) with `arguments`. Descriptors 0, 1
    /// and 2 of the child are `stdin`, `stdout` and `stderr`, each `nil` for /dev/null; the
    /// child's environment is this process's with `environment` laid over it.
    public convenience init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        stdin: Int32? = nil, stdout: Int32? = nil, stderr: Int32? = nil
    ) throws {
        try self.init(
            executable, arguments, environment: environment, stdin: stdin, stdout: stdout, stderr: stderr,
            closeFrom: Self.closeFrom)
    }

    /// The same, closing the child's descriptors from 3 up with `closeFrom` when given, else one
    /// close action per descriptor open now (`closeEach`: glibc before 2.34; tests take this
    /// path on purpose, since this glibc has `closefrom`).
    init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        stdin: Int32? = nil, stdout: Int32? = nil, stderr: Int32? = nil, closeFrom: CloseFrom?
    ) throws {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard null >= 0 else { throw SpawnError(executable, "cannot open /dev/null", errno) }
        defer { close(null) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, source) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            posix_spawn_file_actions_adddup2(&actions, source ?? null, target)
        }
        let closing = closeFrom.map { $0(&actions, 3) } ?? Self.closeEach(&actions)
        guard closing == 0 else { throw SpawnError(executable, "cannot plan the descriptors", closing) }

        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { $1 }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0)=\($1)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }

        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else { throw SpawnError(executable, "cannot start", spawned) }
        self.pid = pid
    }

    /// Blocks until the child ends (at once if it already has).
    @discardableResult
    public func wait() -> Termination {
        if let termination = ended.withLock({ $0 }) { return termination }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return record(status)
    }

    /// Whether the child is still running; reaps it when it has ended.
    public var isRunning: Bool {
        if ended.withLock({ $0 }) != nil { return false }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return true }
        record(status)
        return false
    }

    /// Sends `signal` to a child that has not been reaped yet.
    public func signal(_ signal: Int32) {
        if ended.withLock({ $0 }) == nil { kill(pid, signal) }
    }

    @discardableResult
    private func record(_ status: Int32) -> Termination {
        let termination: Termination =
            status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        return ended.withLock { stored in
            if stored == nil { stored = termination }
            return stored!
        }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+); Swift's Glibc module leaves
    /// it out because it is a GNU extension.
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let closeFrom: CloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(symbol, to: CloseFrom.self)
    }()

    /// Without `closefrom`: a close action per descriptor open now, read from /proc/self/fd
    /// without copying any entry's name buffer. One another thread opens without close-on-exec
    /// after the listing reaches the child (`closefrom` has no such window).
    private static func closeEach(_ actions: inout posix_spawn_file_actions_t) -> Int32 {
        guard let directory = opendir("/proc/self/fd") else { return errno }
        var open: [Int32] = []
        while let entry = readdir(directory) {
            let fd = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 1) { Int32(String(cString: $0)) }
            }
            if let fd, fd >= 3 { open.append(fd) }
        }
        let own = dirfd(directory)
        closedir(directory)
        for fd in open where fd != own {
            let result = posix_spawn_file_actions_addclose(&actions, fd)
            if result != 0 { return result }
        }
        return 0
    }
}

/// A child that could not be started: the program, what failed and the errno.
public struct SpawnError: Error, CustomStringConvertible {
    public let description: String
    init(_ program: String, _ what: String, _ code: Int32) {
        description = "\(program): \(what): \(String(cString: strerror(code)))"
    }
}

/// A pipe whose two ends are closed on exec, so only the child that is handed one end holds it.
public struct ChildPipe: Sendable {
    public let read: Int32
    public let write: Int32

    public init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SpawnError("pipe", "cannot create", errno) }
        // pipe2(O_CLOEXEC) is a GNU extension Swift's Glibc module leaves out; ChildProcess
        // closes every other descriptor anyway, this keeps other spawners from inheriting it.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        (read, write) = (fds[0], fds[1])
    }
}

/// Reads `fd` to its end and closes it.
public func readToEnd(closing fd: Int32) -> [UInt8] {
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            bytes += chunk[0 ..< n]
        } else if n == 0 || errno != EINTR {
            return bytes
        }
    }
}

/// Runs `executable arguments…` to its end with stdin from /dev/null and returns its status and
/// its stdout (and, with `mergingStderr`, its stderr in the same stream); a program that cannot
/// start is status -1 with the reason as its output.
public func runToEnd(
    _ executable: String, _ arguments: [String], mergingStderr: Bool = false
) -> (status: Int32, output: [UInt8]) {
    do {
        let output = try ChildPipe()
        let child: ChildProcess
        do {
            child = try ChildProcess(
                executable, arguments, stdout: output.write, stderr: mergingStderr ? output.write : nil)
        } catch {
            close(output.read)
            close(output.write)
            throw error
        }
        close(output.write)
        let bytes = readToEnd(closing: output.read)
        return (child.wait().status, bytes)
    } catch {
        return (-1, Array("\(error)".utf8))
    }
}

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
    let (status, output) = runToEnd("/usr/bin/env", [program] + arguments, mergingStderr: true)
    return (status, String(decoding: output, as: UTF8.self))
}
