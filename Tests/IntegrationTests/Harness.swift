import Foundation
import XCTest

/// Runs the real `rootless` CLI. scripts/test runs this test binary as the unprivileged
/// user `rltest` (and the fallback tests as `rlnosub`); as root, or without the
/// environment scripts/test sets, every test skips loudly with the reason.
struct Harness {
    let bin: String
    let probe: String
    let scratch: URL

    struct Result {
        var status: Int32
        var out: String
        var err: String
        subscript(_ key: String) -> String? {
            for line in out.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
                let l = line.trimmingCharacters(in: .whitespacesAndNewlines)
                if l.hasPrefix(key + "=") { return String(l.dropFirst(key.count + 1)) }
            }
            return nil
        }
    }

    static func make(role: String = "subids") throws -> Harness {
        let env = ProcessInfo.processInfo.environment
        guard let bin = env["ROOTLESS_BIN"], let probe = env["ROOTLESS_PROBE"] else {
            throw XCTSkip("SKIP: ROOTLESS_BIN/ROOTLESS_PROBE not set — integration tests run through scripts/test as an unprivileged user")
        }
        guard getuid() != 0 else {
            throw XCTSkip("SKIP: running as root proves nothing about rootless behaviour — scripts/test runs these as rltest")
        }
        guard env["ROOTLESS_ROLE"] == role else {
            throw XCTSkip("SKIP: this case needs the \(role) test user (ROOTLESS_ROLE=\(env["ROOTLESS_ROLE"] ?? "unset"))")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rlit-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return Harness(bin: bin, probe: probe, scratch: dir)
    }

    func cleanup() { try? FileManager.default.removeItem(at: scratch) }

    /// For a class whose tests need no keeper of an earlier test's: make, then stop them.
    static func withoutKeepers() throws -> Harness {
        let h = try make()
        _ = try h.run(["keeper", "stop"])
        return h
    }

    /// Stops the keepers the test started (they outlive runs by design), then cleans up.
    func stopKeepersAndClean() {
        _ = try? run(["keeper", "stop"])
        cleanup()
    }

    /// rootless ARGS, in `cwd` (default: scratch), stdin from /dev/null unless given,
    /// with `env` over the test's environment.
    @discardableResult
    func run(_ args: [String], cwd: URL? = nil, stdin: FileHandle? = nil, shell: String? = nil, env: [String: String] = [:]) throws -> Result {
        let p = Process()
        if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        if let shell {
            // For fd games: sh -c '<shell> "$@"' with $0.. as the rootless argv.
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", shell, bin] + args
        } else {
            p.executableURL = URL(fileURLWithPath: bin)
            p.arguments = args
        }
        p.currentDirectoryURL = cwd ?? scratch
        // stdout through a pipe, stderr into a file: no reader threads, no deadlock.
        let out = Pipe()
        let errPath = scratch.appendingPathComponent(".stderr-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let errHandle = FileHandle(forWritingAtPath: errPath)!
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        p.standardOutput = out
        p.standardError = errHandle
        p.standardInput = stdin ?? FileHandle(forReadingAtPath: "/dev/null")
        try p.run()
        try errHandle.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let errData = FileManager.default.contents(atPath: errPath) ?? Data()
        let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
        return Result(status: status, out: String(decoding: outData, as: UTF8.self), err: String(decoding: errData, as: UTF8.self))
    }

    /// A process whose stdout the test reads as it comes (for "ready" handshakes).
    final class Running {
        let process: Process
        let fd: Int32
        init(_ p: Process, _ fd: Int32) {
            process = p
            self.fd = fd
        }
        /// Reads until `marker` has arrived (returns all read so far), or until EOF when
        /// marker is nil (returns the rest). nil when `timeout` seconds pass first.
        func read(until marker: String?, timeout: Double) -> String? {
            var text = ""
            var buf = [UInt8](repeating: 0, count: 512)
            while true {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, Int32(timeout * 1000)) == 1 else { return nil }
                let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { return marker == nil ? text : nil }
                text += String(decoding: buf[0..<n], as: UTF8.self)
                if let m = marker, text.contains(m) { return text }
            }
        }
    }

    /// Starts `executable ARGS` (default: rootless) with stdout on a pipe, stderr to
    /// /dev/null (or the file `stderr`), stdin from /dev/null, `env` over the test's environment.
    func start(_ args: [String], executable: String? = nil, env: [String: String] = [:], stderr: String? = nil) throws -> Running {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable ?? bin)
        p.arguments = args
        p.currentDirectoryURL = scratch
        if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        let out = Pipe()
        p.standardOutput = out
        if let e = stderr { FileManager.default.createFile(atPath: e, contents: nil) }
        p.standardError = FileHandle(forWritingAtPath: stderr ?? "/dev/null")
        p.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        try p.run()
        return Running(p, out.fileHandleForReading.fileDescriptor)
    }

    /// Pids (in this pid namespace)  whose argv is exactly `argv`.
    func processes(withArgv argv: [String]) -> [String] {
        let want = argv.joined(separator: "\u{0}") + "\u{0}"
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            guard pid.allSatisfy(\.isNumber), let d = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: d, as: UTF8.self) == want
        }
    }

    /// Two rootless commands started together; each one's exit status and stdout.
    func together(_ a: [String], _ b: [String], timeout: Double = 120) throws -> [(status: Int32, out: String?)] {
        let running = [try start(a), try start(b)]
        let outs = running.map { $0.read(until: nil, timeout: timeout) }
        return zip(running, outs).map { r, o in
            r.process.waitUntilExit(); return (r.process.terminationStatus, o)
        }
    }

    /// sh -c script in the scratch dir (stdout discarded): its status and stderr.
    func shell(_ script: String) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        p.currentDirectoryURL = scratch
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: e, as: UTF8.self))
    }

    /// A busybox root filesystem with the probe at /probe.
    func busyboxRoot(_ name: String = "rootfs") throws -> URL {
        let fm = FileManager.default
        let r = scratch.appendingPathComponent(name)
        for d in ["bin", "etc", "tmp"] { try fm.createDirectory(at: r.appendingPathComponent(d), withIntermediateDirectories: true) }
        try fm.copyItem(atPath: "/bin/busybox", toPath: r.appendingPathComponent("bin/busybox").path)
        for tool in ["sh", "true", "false", "ls", "cat", "echo", "id", "touch", "mkdir", "sleep"] {
            try fm.createSymbolicLink(atPath: r.appendingPathComponent("bin/\(tool)").path, withDestinationPath: "busybox")
        }
        try fm.copyItem(atPath: probe, toPath: r.appendingPathComponent("probe").path)
        return r
    }
}
