// Every error the user sees: what failed, on what, and what to do. Exit status 125 for
// our own failures (podman's convention); the payload's status otherwise.

public struct RootlessError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var fix: String?
    public var exitCode: Int32

    public init(_ message: String, fix: String? = nil, exitCode: Int32 = 125) {
        self.message = message
        self.fix = fix
        self.exitCode = exitCode
    }

    /// One line: "message — fix".
    public var description: String { fix.map { "\(message) — \($0)" } ?? message }
}
