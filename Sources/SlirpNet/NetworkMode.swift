// Network drivers: `none` (a new, empty network namespace with lo up), `host` (share the
// host's), `slirp` (our own user-mode stack: a TAP in the sandbox's namespace, the NAT
// engine in the supervising process); `pasta` and `slirp4netns` run the peer tool against
// the sandbox's namespace instead.

public enum NetworkMode: String, Sendable, CaseIterable {
    case none
    case host
    case slirp
    case pasta
    case slirp4netns

    /// Whether the sandbox gets its own network namespace.
    public var newNamespace: Bool { self != .host }
}
