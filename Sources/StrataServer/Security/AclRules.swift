import Foundation

/// What a principal does to a topic or group (formats/acl.md).
public enum AclOperation: String, Sendable, CaseIterable {
    case read, write, create, delete, describe
}

/// What a rule names: topics or consumer groups.
public enum AclResource: String, Sendable {
    case topic, group
}

/// An `--acl` file that cannot be used, with the file and line.
public struct AclError: Error, Sendable, CustomStringConvertible {
    public var path: String
    /// 1-based; 0 when the file as a whole is the problem (unreadable).
    public var line: Int
    public var message: String

    public var description: String { line > 0 ? "\(path):\(line): \(message)" : "\(path): \(message)" }
}

/// The allow rules of an `--acl` file (formats/acl.md). What no rule allows is denied; read,
/// write and delete imply describe, as in Kafka.
public struct AclRules: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        /// `User:NAME`, or `*` for every principal (anonymous ones included).
        public var principal: String
        public var resource: AclResource
        /// Names starting with this; empty (`*` in the file) for every name.
        public var namePrefix: String
        public var operations: Set<AclOperation>
    }

    public private(set) var rules: [Rule] = []

    /// Rules at most in one file: each request checks them in turn.
    public static let rulesMax = 10_000

    /// True when some rule allows `principal` to do `operation` to the named topic or group.
    public func allows(_ principal: String, _ operation: AclOperation, _ resource: AclResource, _ name: String) -> Bool {
        rules.contains { rule in
            rule.resource == resource && (rule.principal == "*" || rule.principal == principal)
                && name.hasPrefix(rule.namePrefix)
                && (rule.operations.contains(operation)
                    || (operation == .describe && !rule.operations.isDisjoint(with: [.read, .write, .delete])))
        }
    }

    /// Parses an ACL file's text. Blank lines and lines starting with `#` are skipped.
    /// - Throws: `AclError` naming the first bad line and what is wrong with it.
    public static func parse(_ text: String, path: String) throws(AclError) -> AclRules {
        var acl = AclRules()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            func bad(_ message: String) -> AclError { AclError(path: path, line: index + 1, message: message) }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.drop(while: { $0 == " " }).hasPrefix("#") {
                continue
            }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count == 5 else {
                throw bad("\(fields.count) fields; expected: allow PRINCIPAL topic|group NAME-PREFIX OPERATIONS")
            }
            guard fields[0] == "allow" else { throw bad("'\(fields[0])' is not 'allow' (only allow rules exist)") }
            let principal = fields[1]
            guard principal == "*" || (principal.hasPrefix("User:") && principal.count > 5) else {
                throw bad("principal '\(principal)' is not User:NAME or *")
            }
            guard let resource = AclResource(rawValue: fields[2]) else {
                throw bad("resource '\(fields[2])' is not topic or group")
            }
            let prefix = fields[3] == "*" ? "" : fields[3]
            if prefix.contains("*") { throw bad("name prefix '\(fields[3])': '*' stands alone (every name)") }
            var operations = Set<AclOperation>()
            for word in fields[4].split(separator: ",", omittingEmptySubsequences: false) {
                if word == "all" {
                    operations.formUnion(AclOperation.allCases)
                } else if let operation = AclOperation(rawValue: String(word)) {
                    operations.insert(operation)
                } else {
                    throw bad("operation '\(word)' is not read, write, create, delete, describe or all")
                }
            }
            guard acl.rules.count < rulesMax else { throw bad("more than \(rulesMax) rules") }
            acl.rules.append(Rule(principal: principal, resource: resource, namePrefix: prefix, operations: operations))
        }
        return acl
    }

    /// Reads and parses an ACL file.
    public static func load(path: String) throws(AclError) -> AclRules {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw AclError(path: path, line: 0, message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, path: path)
    }
}
