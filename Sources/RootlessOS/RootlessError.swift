// Every error the user sees, as data: what step failed, the errno (where there is one),
// what failed on what, and what to do. The text is made at the edge (description), so
// tests, --format json and exit codes can match on the step and errno instead of words.
// Exit status 125 for our own failures (podman's convention); the payload's status otherwise.

public struct RootlessError: Error, Equatable, CustomStringConvertible {
    /// What was being done, as a stable name: "child.mount", "clone", "args", ... ("rootless"
    /// where no finer step is named).
    public var step: String
    /// The system's answer, when the failure is a failed call.
    public var errno: Int32?
    /// What failed, on what (without the errno's text).
    public var message: String
    public var fix: String?
    public var exitCode: Int32

    public init(_ message: String, errno: Int32? = nil, step: String = "rootless", fix: String? = nil, exitCode: Int32 = 125) {
        self.message = message
        self.errno = errno
        self.step = step
        self.fix = fix
        self.exitCode = exitCode
    }

    /// One line: "message: errno text — fix".
    public var description: String {
        let what = errno.map { "\(message): \(OS.errorText($0))" } ?? message
        return fix.map { "\(what) — \($0)" } ?? what
    }
}
