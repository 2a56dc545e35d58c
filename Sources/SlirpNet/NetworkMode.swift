// Network drivers. So far only the two that need no user-mode stack: `none` (a new,
// empty network namespace with lo up) and `host` (share the host's). slirp/pasta/
// slirp4netns arrive with the SlirpNet issue and keep this interface.

public enum NetworkMode: String, Sendable, CaseIterable {
    case none
    case host
    case slirp
    case pasta
    case slirp4netns

    /// Whether the sandbox gets its own network namespace.
    public var newNamespace: Bool { self != .host }

    /// Modes this build can run; the others get a clear "not yet" error.
    public var available: Bool { self == .none || self == .host }
}
