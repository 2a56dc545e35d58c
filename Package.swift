// swift-tools-version:6.0
// rootless: an unprivileged sandbox. Module map, process model and rules: docs/architecture.md.
// No package dependencies: the run path stays small and static (argument parsing is a
// hand-written, golden-tested parser in RootlessCore).
import PackageDescription

let package = Package(
    name: "rootless",
    products: [
        .executable(name: "rootless", targets: ["RootlessCLI"]),
        .library(name: "Rootless", targets: ["RootlessCommands"]),
    ],
    targets: [
        // Between clone and exec, and syscalls Swift cannot make. Allocation-free child code.
        .target(name: "CRootless", cSettings: [.define("_GNU_SOURCE")]),
        // Header-only module for <seccomp.h>; libseccomp is linked statically (design.md §3).
        .target(name: "CSeccomp", linkerSettings: [.linkedLibrary(":libseccomp.a")]),
        // PURE: /etc/subuid text -> ranges -> uid_map lines / newuidmap argv.
        .target(name: "IDMap"),
        // PURE: a strict, bounded JSON parser (policies, image manifests and configs).
        .target(name: "PureJSON"),
        // PURE: OCI/Docker seccomp JSON -> validated, resolved rules.
        .target(name: "SeccompPolicy", dependencies: ["PureJSON"]),
        // PURE: tar streams, OCI/Docker manifests, indexes, configs, image references.
        .target(name: "ImageFormat", dependencies: ["PureJSON"]),
        // PURE: HTTP/1.1 heads and chunked bodies, URLs, auth challenges and auth files.
        .target(name: "RegistryWire", dependencies: ["PureJSON", "ImageFormat"]),
        // zlib, zstd, libcrypto SHA-256 and libssl TLS (registry pulls), linked statically.
        .target(
            name: "CArchive",
            linkerSettings: [.linkedLibrary(":libzstd.a"), .linkedLibrary(":libz.a"), .linkedLibrary(":libssl.a"), .linkedLibrary(":libcrypto.a")]),
        // PURE: user-mode networking: frame codecs (Ethernet, ARP, IPv4, ICMP, UDP, TCP),
        // rtnetlink requests, the egress policy and the NAT engine (effects out, no sockets).
        .target(name: "SlirpNet"),
        // The layers below are imported upward only (scripts/check-architecture enforces the
        // map; docs/architecture.md draws it): RootlessOS < Cgroups, SeccompCompile <
        // RootlessCore < FastStart < Images < Registry < RootlessCommands < RootlessCLI.
        //
        // OS wrappers: files, processes, threads, the runtime directory, observed host facts
        // (Observe: what cached starts replay), errors (RootlessError), text helpers.
        .target(name: "RootlessOS", dependencies: ["CRootless", "IDMap"]),
        // Cgroups: the cgroup v2 layout and delegation facts, the sandbox's leaf and limits,
        // usage, and the systemd user manager's D-Bus client (scopes), all in one place.
        .target(name: "Cgroups", dependencies: ["RootlessOS", "CRootless"]),
        // Seccomp compile and cache: policy JSON (SeccompPolicy) -> BPF via libseccomp, the
        // MAC'd per-user cache, the embedded policies, --seccomp-log's notifying variant.
        .target(name: "SeccompCompile", dependencies: ["RootlessOS", "CRootless", "CSeccomp", "SeccompPolicy"]),
        // SlirpNet's host side: the epoll loop over the sandbox's TAP and the host sockets
        // its flows opened, driving the pure engine; started after the clone, stopped with it.
        .target(name: "SlirpHost", dependencies: ["RootlessOS", "SlirpNet", "CRootless"]),
        // Core: spec -> plan -> launch. Run flags into a RunSpec, the pure Planner into a
        // printable Plan, CConfig into the C struct, the Launcher walks it through Kernel.
        // Fast starts are reached only through the FastStarts protocol.
        .target(name: "RootlessCore", dependencies: ["RootlessOS", "Cgroups", "SeccompCompile", "SlirpHost", "CRootless", "IDMap", "SlirpNet"]),
        // Fast starts: the per-user keeper (its mapped user namespace, pooled network
        // namespaces), warm sandboxes built ahead, and cached-start entries (StartCache).
        .target(name: "FastStart", dependencies: ["RootlessCore", "CRootless", "IDMap"]),
        // Images: the content-addressed store, layer unpacking in the store's namespace,
        // root drivers (overlay, fuse-overlayfs, copy), imports, GC.
        .target(name: "Images", dependencies: ["RootlessCore", "FastStart", "CRootless", "CArchive", "IDMap", "ImageFormat"]),
        // Registry: the OCI distribution client (HTTP/TLS, auth, pulls with progress).
        .target(name: "Registry", dependencies: ["Images", "CArchive", "IDMap", "PureJSON", "ImageFormat", "RegistryWire"]),
        // Commands: the CLI's subcommands (run, doctor, policy, keeper, images, gc) and
        // the state directories they make; the executable only calls CLI.entry.
        .target(
            name: "RootlessCommands",
            dependencies: [
                "Registry", "FastStart", "Images", "RootlessCore", "CRootless", "CSeccomp", "IDMap", "PureJSON", "SeccompPolicy", "ImageFormat", "RegistryWire",
            ]),
        .executableTarget(name: "RootlessCLI", dependencies: ["RootlessCommands", "FastStart"]),
        .testTarget(name: "IDMapTests", dependencies: ["IDMap"]),
        // Counts a thread's heap allocations; SlirpHotPath, built for release by
        // scripts/test, shows the engine's per-frame path makes none.
        .target(name: "AllocCount", path: "Tests/AllocCount"),
        .executableTarget(name: "SlirpHotPath", dependencies: ["SlirpNet", "AllocCount"], path: "Tests/SlirpHotPath"),
        .testTarget(name: "SlirpNetTests", dependencies: ["SlirpNet"]),
        // The commands the README and docs/ show, read one way for both doc tests.
        .target(name: "DocPages", path: "Tests/DocPages"),
        .testTarget(
            name: "RootlessTests",
            dependencies: [
                "RootlessCommands", "FastStart", "Registry", "Images", "RootlessCore", "SeccompCompile", "Cgroups", "RootlessOS", "SeccompPolicy", "DocPages",
            ]),
        .testTarget(name: "SeccompPolicyTests", dependencies: ["SeccompPolicy"]),
        .testTarget(name: "ImageFormatTests", dependencies: ["ImageFormat", "RegistryWire"]),
        // Real sandboxes; run as an unprivileged user by scripts/test (skips loudly otherwise).
        .testTarget(name: "IntegrationTests", dependencies: ["DocPages"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)

// Release builds reach generic types' metadata through accessor functions rather than by
// mangled name: on first use the runtime then neither demangles a name nor checks the
// type's requirements (a scan of every protocol conformance in the binary, once per type).
// That was ~0.15 ms of the CPU of a --net slirp start, whose Swift code runs once per
// sandbox (an alternated A/B of 300 runs). C targets have no Swift sources to apply it to.
for t in package.targets {
    t.swiftSettings =
        (t.swiftSettings ?? []) + [
            .unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"], .when(configuration: .release))
        ]
}
