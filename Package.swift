// swift-tools-version:6.0
// rootless: an unprivileged sandbox. Module map and import rules: ../shared/design.md §2.
// No package dependencies: the run path stays small and static (argument parsing is a
// hand-written, golden-tested parser in Rootless; see README "Why no ArgumentParser").
import PackageDescription

let package = Package(
    name: "rootless",
    products: [
        .executable(name: "rootless", targets: ["RootlessCLI"]),
        .library(name: "Rootless", targets: ["Rootless"]),
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
        .target(name: "CArchive", linkerSettings: [.linkedLibrary(":libzstd.a"), .linkedLibrary(":libz.a"), .linkedLibrary(":libssl.a"), .linkedLibrary(":libcrypto.a")]),
        // User-mode networking; only the `none`/`host` drivers so far.
        .target(name: "SlirpNet"),
        .target(name: "Rootless", dependencies: ["CRootless", "CSeccomp", "CArchive", "IDMap", "PureJSON", "SeccompPolicy", "ImageFormat", "RegistryWire", "SlirpNet"]),
        .executableTarget(name: "RootlessCLI", dependencies: ["Rootless"]),
        .testTarget(name: "IDMapTests", dependencies: ["IDMap"]),
        .testTarget(name: "RootlessTests", dependencies: ["Rootless", "SeccompPolicy"]),
        .testTarget(name: "SeccompPolicyTests", dependencies: ["SeccompPolicy"]),
        .testTarget(name: "ImageFormatTests", dependencies: ["ImageFormat", "RegistryWire"]),
        // Real sandboxes; run as an unprivileged user by scripts/test (skips loudly otherwise).
        .testTarget(name: "IntegrationTests", dependencies: [], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)
