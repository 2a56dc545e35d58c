import Glibc
@testable import RootlessOS
@testable import Cgroups
@testable import SeccompCompile
@testable import RootlessCore
@testable import FastStart
@testable import Images
@testable import Registry
@testable import RootlessCommands
import XCTest

/// The D-Bus wire format for the systemd scope request: encoding, decoding, hostile
/// input, and one exchange with a real dbus-daemon (which validates every message).
final class DBusTests: XCTestCase {
    func testHelloEncodesAsTheSpecLaysItOut() {
        let b = DBusMessage(call: "Hello", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", destination: "org.freedesktop.DBus", serial: 1)
            .encode()
        XCTAssertEqual(Array(b.prefix(12)), [0x6c, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0], "little-endian call, version 1, empty body, serial 1")
        XCTAssertEqual(b.count % 8, 0)
        // The path field: code 1, signature "o", then the string aligned to 4.
        XCTAssertEqual(Array(b[16..<24]), [1, 1, 0x6f, 0, 21, 0, 0, 0])
        XCTAssertEqual(try DBusMessage.length(head: b[...]), b.count)
        let m = try? DBusMessage(decoding: b[...])
        XCTAssertEqual(m?.member, "Hello")
        XCTAssertEqual(m?.destination, "org.freedesktop.DBus")
        XCTAssertEqual(m?.path, "/org/freedesktop/DBus")
    }

    func testScopeRequestRoundTrips() throws {
        let m = startTransientScope(name: "rootless-7-9.scope", pids: [7], description: "rootless sandbox", serial: 3)
        XCTAssertEqual(m.signature, "ssa(sv)a(sa(sv))")
        let d = try DBusMessage(decoding: m.encode()[...])
        XCTAssertEqual(d.signature, "ssa(sv)a(sa(sv))")
        XCTAssertEqual(d.body, m.body)
        XCTAssertEqual(d.arguments(), [.string("rootless-7-9.scope"), .string("fail")], "leading basic arguments; the arrays are not read back")
        // The a(sv) starts 8-aligned after two strings, and Delegate's variant holds a b.
        let text = String(decoding: m.body.map { $0 < 32 || $0 > 126 ? UInt8(ascii: ".") : $0 }, as: UTF8.self)
        XCTAssertTrue(text.contains("Delegate..b."), text)
        XCTAssertTrue(text.contains("PIDs..au"), text)
    }

    func testSignalArgumentsAndBigEndian() throws {
        var w = DBusWriter()
        w.u32(5); w.string("/org/freedesktop/systemd1/job/5"); w.string("rootless-1-2.scope"); w.string("done")
        var m = DBusMessage(kind: .signal, serial: 9, signature: "uoss", body: w.bytes)
        m.member = "JobRemoved"
        let d = try DBusMessage(decoding: m.encode()[...])
        XCTAssertEqual(d.arguments(), [.uint32(5), .objectPath("/org/freedesktop/systemd1/job/5"), .string("rootless-1-2.scope"), .string("done")])
        // A big-endian header is read too (the bus passes on its sender's byte order).
        let be: [UInt8] = [0x42, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 8, 5, 1, 0x75, 0, 0, 0, 0, 3]
        let r = try DBusMessage(decoding: be[...])
        XCTAssertEqual(r.kind, .reply)
        XCTAssertEqual(r.serial, 4)
        XCTAssertEqual(r.replySerial, 3)
    }

    func testBusAddresses() {
        XCTAssertEqual(dbusUnixSocket(address: "unix:path=/run/user/1000/bus"), "/run/user/1000/bus")
        XCTAssertEqual(dbusUnixSocket(address: "tcp:host=x,port=1;unix:guid=ab,path=/tmp/a%20b"), "/tmp/a b")
        XCTAssertEqual(dbusUnixSocket(address: "unix:abstract=/tmp/dbus-XYZ,guid=1"), "@/tmp/dbus-XYZ")
        XCTAssertNil(dbusUnixSocket(address: "unix:path=/bad%zz"))
        XCTAssertNil(dbusUnixSocket(address: "tcp:host=localhost,port=4"))
        XCTAssertNil(dbusUnixSocket(address: ""))
    }

    /// Random and mutated messages: every outcome is a value or a DBusError, never a crash
    /// or an out-of-bounds read.
    func testFuzzedInputNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        let seed = startTransientScope(name: "rootless-1-2.scope", pids: [1, 2, 3], description: "d", serial: 3).encode()
        for i in 0..<20000 {
            var b = FuzzInputs.make(i, seed: seed, changes: 1...6, randomUpTo: 64, using: &rng)
            if i % 2 == 1, b.count > 4 {  // random bytes: a little-endian message header
                b[0] = UInt8(ascii: "l")
                b[3] = 1
            }
            _ = try? DBusMessage.length(head: b[...])
            if let m = try? DBusMessage(decoding: b[...]) { _ = m.arguments() }
        }
    }

    /// A real dbus-daemon: auth, Hello, AddMatch and the scope request all pass its
    /// validation; with no systemd on that bus the answer is ServiceUnknown, reported
    /// with what failed and what to do.
    func testExchangeWithARealBus() throws {
        guard access("/usr/bin/dbus-daemon", X_OK) == 0 else { throw XCTSkip("SKIP: /usr/bin/dbus-daemon missing (apt install dbus-daemon)") }
        let dir = try tempDir()
        defer { _ = OS.removeTree(dir) }
        let config = dir + "/session.conf"
        XCTAssertTrue(
            OS.replaceFile(
                config,
                Array(
                    """
                    <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
                    <busconfig><type>session</type><listen>unix:path=\(dir)/bus</listen><auth>EXTERNAL</auth>
                    <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/><allow user="*"/></policy></busconfig>
                    """.utf8)))
        let daemon = try spawn(["/usr/bin/dbus-daemon", "--config-file=" + config, "--nofork", "--print-address=1"])
        defer { kill(daemon.pid, SIGTERM); var st: Int32 = 0; waitpid(daemon.pid, &st, 0); close(daemon.out) }
        // The printed address is the readiness signal (no sleeping).
        var line: [UInt8] = []
        var c: UInt8 = 0
        while read(daemon.out, &c, 1) == 1 && c != 10 { line.append(c) }
        XCTAssertEqual(dbusUnixSocket(address: String(decoding: line, as: UTF8.self)), dir + "/bus")
        XCTAssertThrowsError(try SystemdScope.start(socket: dir + "/bus", name: "rootless-1-2.scope", timeout: 10)) { e in
            let err = e as! RootlessError
            XCTAssertTrue(err.message.hasPrefix("systemd could not create scope rootless-1-2.scope: org.freedesktop.DBus.Error.ServiceUnknown"), err.message)
            XCTAssertNotNil(err.fix)
        }
        XCTAssertThrowsError(try SystemdScope.start(socket: dir + "/none", name: "x.scope")) {
            XCTAssertTrue("\($0)".contains("cannot reach the D-Bus session bus at \(dir)/none: No such file or directory"), "\($0)")
        }
    }

    func tempDir() throws -> String {
        var t = Array("/tmp/rl-dbus.XXXXXX".utf8CString)
        guard let p = mkdtemp(&t) else { throw XCTSkip("mkdtemp failed") }
        return String(cString: p)
    }

    func spawn(_ argv: [String]) throws -> (pid: pid_t, out: Int32) {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        var pid: pid_t = 0
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        let r = posix_spawn(&pid, argv[0], &actions, nil, cargs, environ)
        posix_spawn_file_actions_destroy(&actions)
        close(fds[1])
        guard r == 0 else { throw XCTSkip("cannot start \(argv[0]): \(r)") }
        return (pid, fds[0])
    }
}
