import ArgumentParser
import Foundation
import Glibc
import StrataServer

/// `strata users`: the `--sasl-users` file of `strata serve` (formats/sasl-users.md).
struct Users: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make and list the SASL users `strata serve --sasl-users FILE` authenticates.",
        discussion: """
            The file keeps, per user and SCRAM mechanism, a random salt, the iteration count, StoredKey and \\
            ServerKey (RFC 5802), never the password; PLAIN logins are checked against the same entries. \\
            The password is read from standard input (one line), never from the command line.

            Example:
              strata users add alice --password-stdin --file users.txt < pw.txt
            """,
        subcommands: [UsersAdd.self, UsersList.self]
    )
}

struct UsersAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a user's SCRAM entries to a users file (made if absent, mode 0600).",
        discussion: """
            Example:
              strata users add alice --password-stdin --file users.txt < pw.txt
            """)

    @Argument(help: "User name: UTF-8 without spaces; the principal is User:NAME.")
    var name: String
    @Option(
        help: ArgumentHelp(
            "scram-sha-256, scram-sha-512 or all (both). PLAIN works with either.", valueName: "mechanism"))
    var mechanism = "all"
    @Flag(help: "Read the password from standard input (one line; required: passwords never go on the command line).")
    var passwordStdin = false
    @Option(help: ArgumentHelp("The users file.", valueName: "file"))
    var file: String
    @Option(help: "PBKDF2 iterations (4096 to 1,000,000).")
    var iterations = 8192
    @Flag(help: "Replace the user's existing entry for the mechanism instead of refusing.")
    var replace = false

    func validate() throws {
        guard passwordStdin else { throw ValidationError("--password-stdin is required: give the password on stdin") }
        guard mechanism == "all" || SaslMechanism.scram.contains(where: { $0.fileName == mechanism }) else {
            throw ValidationError("--mechanism '\(mechanism)' is not scram-sha-256, scram-sha-512 or all")
        }
    }

    func run() throws {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            printError("error: no password on standard input")
            throw ExitCode(2)
        }
        let mechanisms = mechanism == "all" ? SaslMechanism.scram : SaslMechanism.scram.filter { $0.fileName == mechanism }
        do throws(SaslUsersError) {
            var users = FileManager.default.fileExists(atPath: file) ? try SaslUsers.load(path: file) : SaslUsers()
            for m in mechanisms {
                try users.add(
                    user: name, mechanism: m, password: Array(line.utf8), iterations: iterations, replace: replace,
                    path: file)
            }
            try Self.save(users.encoded(), to: file)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        print("\(name): \(mechanisms.map(\.fileName).joined(separator: ", ")) in \(file)")
    }

    /// Writes through a temporary file and a rename, so a crash leaves the old file whole.
    static func save(_ text: String, to path: String) throws(SaslUsersError) {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else {
            throw SaslUsersError(path: temporary, line: 0, message: "cannot create: \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        Glibc.close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw SaslUsersError(path: path, line: 0, message: "cannot write: \(String(cString: strerror(errno)))")
        }
    }
}

struct UsersList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the users and mechanisms of a users file (no secrets).",
        discussion: """
            Example:
              strata users list --file users.txt
            """)

    @Option(help: ArgumentHelp("The users file.", valueName: "file"))
    var file: String

    func run() throws {
        do throws(SaslUsersError) {
            for entry in try SaslUsers.load(path: file).entries { print("\(entry.user) \(entry.mechanism.fileName)") }
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}
