import RootlessOS

/// One option of a command: its spellings, its value's name (nil: a switch), its help, the
/// values it accepts (for completions and the help check), and what it does. The parser,
/// `--help`, the man pages and the shell completions are all made from these tables, so a
/// flag cannot exist without its help line.
public struct Opt<Spec> {
    public let names: [String]
    public let value: String?
    public let help: String
    public let choices: [String]
    /// Shown in help, man and completions (false: an accepted spelling documented with
    /// its canonical option, such as -it).
    public let listed: Bool
    /// bwrap's two-word form, `--bind SRC DST`, is also taken where unambiguous: `--`
    /// follows DST.
    public let pair: Bool
    let apply: (inout Spec, String, OptContext) throws -> Void

    public init(
        _ names: [String], _ value: String? = nil, _ help: String, choices: [String] = [], listed: Bool = true, pair: Bool = false,
        _ apply: @escaping (inout Spec, String, OptContext) throws -> Void
    ) {
        self.names = names
        self.value = value
        self.help = help
        self.choices = choices
        self.listed = listed
        self.pair = pair
        self.apply = apply
    }
}

/// What an option's action may need besides its value.
public struct OptContext {
    /// The spelling used (for messages).
    public let flag: String
    /// The caller's working directory: a relative host path resolves against it.
    public let cwd: String?

    /// A host path: absolute, or relative to the caller's cwd (as bwrap and podman do).
    public func host(_ p: String) throws -> String {
        guard !p.hasPrefix("/"), let cwd, cwd.hasPrefix("/") else { return try RunArguments.absolute(p, flag) }
        return try Paths.normalize(cwd + "/" + p, flag)
    }
}

/// A command: its name (as typed after `rootless`), synopsis lines, a summary, its
/// options, and a longer description for the man page.
public struct CommandSpec<Spec> {
    public let name: String
    public let synopsis: [String]
    public let summary: String
    public let options: [Opt<Spec>]
    public let details: String

    public init(_ name: String, synopsis: [String], summary: String, options: [Opt<Spec>], details: String = "") {
        self.name = name
        self.synopsis = synopsis
        self.summary = summary
        self.options = options
        self.details = details
    }

    /// The option spelled `name`.
    func option(_ name: String) -> Opt<Spec>? { options.first { $0.names.contains(name) } }

    /// Parses args into spec: options (each as its table says), then operands. `firstOperandEnds`:
    /// the first word that is not an option starts the operands and ends the options (a
    /// command's own arguments follow it); otherwise options and operands may mix. `--`
    /// always ends the options. Returns the operands. Errors name the flag and the fix; an
    /// unknown option suggests the nearest known one.
    public func parse(_ args: [String], into spec: inout Spec, cwd: String? = nil, firstOperandEnds: Bool) throws -> [String] {
        var operands: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--" {
                operands += args[(i + 1)...]
                break
            }
            if !a.hasPrefix("-") || a == "-" {
                if firstOperandEnds {
                    operands += args[i...]
                    break
                }
                operands.append(a)
                i += 1
                continue
            }
            var flag = a
            var inline: String?
            if a.hasPrefix("--"), let eq = a.firstIndex(of: "=") {
                flag = String(a[..<eq])
                inline = String(a[a.index(after: eq)...])
            }
            guard let o = option(flag) else { throw unknown(flag) }
            let ctx = OptContext(flag: flag, cwd: cwd)
            if o.value == nil || o.value?.hasPrefix("=") == true && inline == nil {
                guard inline == nil else { throw RootlessError("\(flag) takes no value (\"\(a)\")", fix: "write \(flag) alone") }
                try o.apply(&spec, "", ctx)
            } else {
                var v: String
                if let inline {
                    v = inline
                } else {
                    i += 1
                    guard i < args.count else {
                        throw RootlessError("\(flag) needs a value", fix: "e.g. \(flag) \(o.value ?? "VALUE"); see rootless \(name) --help")
                    }
                    v = args[i]
                }
                // bwrap's `--bind SRC DST`: taken only when DST is absolute and `--` follows
                // it. Otherwise DST is the command, and everything after it its arguments:
                // an option of ours there (`--bind /d /usr/bin/env --home=rw sh`) is the
                // command's, never ours.
                if o.pair, inline == nil, !v.contains(":"), i + 2 < args.count, args[i + 1].hasPrefix("/"), args[i + 2] == "--" {
                    v += ":" + args[i + 1]
                    i += 1
                }
                try o.apply(&spec, v, ctx)
            }
            i += 1
        }
        return operands
    }

    func unknown(_ flag: String) -> RootlessError {
        let names = options.filter(\.listed).flatMap(\.names)
        let near = names.map { ($0, OptionText.distance($0, flag)) }.filter { $0.1 <= max(2, flag.count / 4) }.min { $0.1 < $1.1 }
        return RootlessError(
            "unknown option \(flag)\(near.map { " (did you mean \($0.0)?)" } ?? "")",
            fix: "see rootless \(name) --help\(firstWordHint)")
    }
    var firstWordHint: String { name == "run" ? "; put -- before a command that starts with '-'" : "" }

    /// `rootless NAME --help`.
    public var help: String {
        var out = "usage: " + synopsis.joined(separator: "\n       ") + "\n\n" + summary + "\n"
        let rows = options.filter(\.listed)
        if !rows.isEmpty { out += "\noptions:\n" + rows.map(OptionText.helpRow).joined() }
        return out
    }
}

/// Help rows, man pages and completions, from the tables.
public enum OptionText {
    /// "  -e, --env K[=V]         text", the text wrapped under itself past the first line.
    static func helpRow<S>(_ o: Opt<S>) -> String {
        let head = "  " + o.names.joined(separator: ", ") + (o.value.map { " " + $0 } ?? "")
        let lines = o.help.split(separator: "\n", omittingEmptySubsequences: false)
        let pad = String(repeating: " ", count: 26)
        var out = head.count < 25 ? head + String(repeating: " ", count: 26 - head.count) + lines[0] + "\n" : head + "\n" + pad + lines[0] + "\n"
        for l in lines.dropFirst() { out += pad + l + "\n" }
        return out
    }

    /// Edit distance (insertions, deletions, substitutions) between two spellings.
    public static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a.utf8), y = Array(b.utf8)
        var prev = Array(0...y.count)
        for i in 1...max(x.count, 1) where !x.isEmpty {
            var cur = [i] + [Int](repeating: 0, count: y.count)
            for j in 1...max(y.count, 1) where !y.isEmpty {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return x.isEmpty ? y.count : prev[y.count]
    }

    /// The man page (roff) of a command.
    public static func man<S>(_ c: CommandSpec<S>, version: String) -> String {
        let title = c.name.isEmpty ? "ROOTLESS" : "ROOTLESS-" + c.name.uppercased()
        // roff: a backslash is \e, a hyphen \- (so man shows a real minus), a line starting
        // with . or ' is text, not a request.
        func esc(_ s: String) -> String {
            var out = ""
            var lineStart = true
            for ch in s {
                if lineStart && (ch == "." || ch == "'") { out += "\\&" }
                switch ch {
                case "\\": out += "\\e"
                case "-": out += "\\-"
                default: out.append(ch)
                }
                lineStart = ch == "\n"
            }
            return out
        }
        var out = ".TH \(title) 1 \"\" \"rootless \(version)\" \"User Commands\"\n.SH NAME\n"
        out += (c.name.isEmpty ? "rootless" : "rootless\\-" + c.name) + " \\- " + esc(c.summary) + "\n.SH SYNOPSIS\n"
        out += c.synopsis.map { ".B " + esc($0) }.joined(separator: "\n.br\n") + "\n"
        if !c.details.isEmpty { out += ".SH DESCRIPTION\n" + esc(c.details) + "\n" }
        let rows = c.options.filter(\.listed)
        if !rows.isEmpty {
            out += ".SH OPTIONS\n"
            for o in rows {
                out += ".TP\n" + o.names.map { "\\fB" + esc($0) + "\\fR" }.joined(separator: ", ") + (o.value.map { " \\fI" + esc($0) + "\\fR" } ?? "") + "\n"
                out += esc(o.help.split(separator: "\n").joined(separator: " ")) + "\n"
            }
        }
        return out
    }
}

/// A command's table with its spec type erased: what help, man pages and completions need.
public struct CommandInfo {
    public let name: String
    public let synopsis: [String]
    public let summary: String
    public let help: String
    public let man: (String) -> String
    /// Each listed option's spellings, whether it takes a value, the values it accepts,
    /// its help, and a sample value the parser must accept (the help check).
    public let options: [(names: [String], takesValue: Bool, choices: [String], help: String, value: String?)]

    /// Whether the command's parser takes `flag value` (the help check; nil: not checked).
    public let accepts: ((String, String) -> Bool)?

    /// blank: a spec to parse into, for the help check.
    public init<S>(_ c: CommandSpec<S>, blank: S? = nil) {
        accepts = blank.map { b in
            { flag, value in
                var s = b
                return (try? c.parse([flag + "=" + value], into: &s, cwd: "/", firstOperandEnds: false)) != nil
            }
        }
        name = c.name
        synopsis = c.synopsis
        summary = c.summary
        help = c.help
        man = { OptionText.man(c, version: $0) }
        options = c.options.filter(\.listed).map { ($0.names, $0.value != nil, $0.choices, $0.help, $0.value) }
    }
}
