// /etc/subuid and /etc/subgid, parsed from text (callers read the file).
// Format (shadow's subuid(5)): one "OWNER:START:COUNT" per line; OWNER is a login name
// or a numeric uid; '#' starts a comment line; blank lines are ignored.

public struct IDRange: Equatable, Sendable {
    public var start: UInt32
    public var count: UInt32
    public init(start: UInt32, count: UInt32) {
        self.start = start
        self.count = count
    }
}

public struct SubIDEntry: Equatable, Sendable {
    public var owner: String
    public var range: IDRange
    public var line: Int
}

public struct SubIDProblem: Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var text: String
    public var reason: String
    public var description: String { "line \(line): \(reason): \"\(text)\"" }
}

public struct SubIDTable: Equatable, Sendable {
    public var entries: [SubIDEntry] = []
    public var problems: [SubIDProblem] = []

    public init(parsing text: String) {
        var lineNo = 0
        for raw in lines(text) {
            lineNo += 1
            let line = trim(raw)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 3 else {
                problems.append(SubIDProblem(line: lineNo, text: String(line), reason: "expected OWNER:START:COUNT"))
                continue
            }
            let owner = String(fields[0])
            guard !owner.isEmpty else {
                problems.append(SubIDProblem(line: lineNo, text: String(line), reason: "empty owner"))
                continue
            }
            guard let start = parseDecimal(fields[1]), let count = parseDecimal(fields[2]) else {
                problems.append(SubIDProblem(line: lineNo, text: String(line), reason: "START and COUNT must be decimal numbers below 2^32"))
                continue
            }
            guard count > 0 else {
                problems.append(SubIDProblem(line: lineNo, text: String(line), reason: "COUNT is 0"))
                continue
            }
            guard UInt64(start) + UInt64(count) <= UInt64(UInt32.max) + 1 else {
                problems.append(SubIDProblem(line: lineNo, text: String(line), reason: "range runs past 4294967295"))
                continue
            }
            entries.append(SubIDEntry(owner: owner, range: IDRange(start: start, count: count), line: lineNo))
        }
    }

    /// The ranges newuidmap would grant `user` (matched by name or by numeric uid), in file order.
    public func ranges(user: String?, uid: UInt32) -> [IDRange] {
        let numeric = String(uid)
        return entries.filter { e in e.owner == numeric || user.map { e.owner == $0 } == true }.map(\.range)
    }
}

func trim(_ s: Substring) -> Substring {
    var s = s
    while let c = s.first, c == " " || c == "\t" || c == "\r" { s.removeFirst() }
    while let c = s.last, c == " " || c == "\t" || c == "\r" { s.removeLast() }
    return s
}

func parseDecimal(_ s: Substring) -> UInt32? {
    let s = trim(s)
    guard !s.isEmpty, s.count <= 10 else { return nil }
    var v: UInt64 = 0
    for c in s.utf8 {
        guard c >= 48, c <= 57 else { return nil }
        v = v * 10 + UInt64(c - 48)
    }
    return v <= UInt64(UInt32.max) ? UInt32(v) : nil
}

/// Lines of a text file. Swift treats "\r\n" as one Character, so splitting on "\n"
/// alone would glue CRLF lines together.
func lines(_ text: String) -> [Substring] {
    text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
}
