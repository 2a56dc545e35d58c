// The launch config, declared once as field tables (X-macros). From these tables come:
// the C structs (and so the Swift side's view of them, imported from these declarations),
// the flattened wire format of warm requests and cached-start entries (wire.c: pack,
// unpack, bounds checks, scrubbing), which configs may run warm or from a cached start,
// and the format's version (a hash of the tables, so any change of a field changes it).
// Adding a field is one line here plus its use.
//
// A table entry is one of (comments in tables are /* */: a // comment would swallow the
// line continuation):
//   SCALAR(type, name, warm, want)   a number
//   FD(name)                         an fd of the calling process: never carried (-1 there)
//   PTR(type, name)                  memory of the calling process: never carried (NULL);
//                                    a config with one set never runs warm
//   STR(name, warm, required)        a NUL-terminated string, or NULL unless required
//   STRV(name, warm)                 a NULL-terminated string list
//   LIST(type, name, warm, count, max)  `count` elements of struct type (its own table)
//   BYTES(name, count, unit, min, max)  (in an element) count * unit raw bytes
// warm: KEY  — the sandbox's own: a warm sandbox and its run have the same value (carried,
//              compared byte for byte);
//       RUN  — the run's: may differ between a warm sandbox and its run (not in a warm
//              request; a cached start keeps scalars and makes the rest per run);
//       COLD — a config may run warm or from a cached start only with the value `want`
//              (lists and strings: none).
#ifndef RL_CONFIG_H
#define RL_CONFIG_H

#include <stdint.h>

// ---- mount operations, walked in order inside the child -------------------------------
enum rl_mount_kind {
    RL_MOUNT_BIND = 1,    // source: host path, cloned with open_tree before pivot_root
    RL_MOUNT_TMPFS = 2,   // data: "size=..,mode=.."
    RL_MOUNT_PROC = 3,    // fresh procfs of the new pid namespace
    RL_MOUNT_SYSFS = 4,   // fresh sysfs (needs our own net namespace)
    RL_MOUNT_CGROUP2 = 5, // cgroup2 of the new cgroup namespace
    RL_MOUNT_DEVPTS = 6,  // new devpts instance
    RL_MOUNT_MQUEUE = 7,
    RL_MOUNT_MASK = 8,    // file: bind of /dev/null (checked to be char 1:3); dir: empty ro tmpfs
    RL_MOUNT_READONLY = 9,// re-bind an existing path onto itself read-only
    RL_MOUNT_SYMLINK = 10,// create symlink target -> source
    RL_MOUNT_DEVICE = 11, // bind a host device node (source) on an empty file
};

enum rl_mount_flags {
    RL_MF_RDONLY = 1u << 0,
    RL_MF_NOSUID = 1u << 1,
    RL_MF_NODEV = 1u << 2,
    RL_MF_NOEXEC = 1u << 3,
    RL_MF_OPTIONAL = 1u << 4,   // skip silently when source/target is missing or fs unsupported
    RL_MF_NOSYMLINK = 1u << 5,  // target path may not contain symlinks (proc, sys, dev)
    // 1u << 6 unused: file vs directory targets follow the source (fstat in the child).
    RL_MF_NOCREATE = 1u << 7,   // target must exist
};

// Bounds of a warm sandbox's command (argv, envp, PATH in one message; the run checks them
// before asking for one) and of any string list carried.
#define RL_WARM_MAX_BYTES (256 * 1024)
#define RL_WARM_MAX_STRINGS 8192

// Most mount ops one sandbox may carry; the Swift planner enforces it (Plan.maxMounts).
#define RL_MAX_MOUNTS 256

// One mount op. source: host path (BIND, DEVICE) or symlink contents (SYMLINK); target: an
// absolute path inside the new root; data: filesystem options "k=v,k2=v2,flag" (TMPFS, DEVPTS).
#define RL_MOUNT_TABLE(SCALAR, STR, BYTES) \
    SCALAR(int32_t, kind) \
    SCALAR(uint32_t, flags) \
    STR(source, 0) \
    STR(target, 1) \
    STR(data, 0)

// One classic-BPF seccomp program (struct sock_filter[len]). Several are stacked (the
// kernel applies the strictest result): the policy, then fake-root's ERRNO(0) rules on top.
#define RL_BPF_TABLE(SCALAR, STR, BYTES) \
    BYTES(prog, len, 8, 1, 4096) \
    SCALAR(int32_t, len) \
    SCALAR(int32_t, pad)

// One Landlock path rule, resolved inside the new root after pivot_root; access:
// LANDLOCK_ACCESS_FS_* (file-only rights are kept for non-directories).
#define RL_LANDLOCK_RULE_TABLE(SCALAR, STR, BYTES) \
    STR(path, 1) \
    SCALAR(uint64_t, access)

// --ulimit: setrlimit in the payload before exec.
#define RL_RLIMIT_TABLE(SCALAR, STR, BYTES) \
    SCALAR(int32_t, resource) \
    SCALAR(int32_t, pad) \
    SCALAR(uint64_t, soft) \
    SCALAR(uint64_t, hard)

// One rtnetlink request for the sandbox's TAP (SlirpNet), sent by the child as it is but
// for the interface index, which it fills in (ifinfomsg/ifaddrmsg, offset 20).
#define RL_NLMSG_TABLE(SCALAR, STR, BYTES) \
    BYTES(bytes, len, 1, 20, 1024) \
    SCALAR(int32_t, len) \
    SCALAR(int32_t, pad)

#define RL_DECL_ESCALAR(type, name) type name;
#define RL_DECL_ESTR(name, required) const char *name;
#define RL_DECL_EBYTES(name, count, unit, min, max) const void *name;
struct rl_mount { RL_MOUNT_TABLE(RL_DECL_ESCALAR, RL_DECL_ESTR, RL_DECL_EBYTES) };
struct rl_bpf { RL_BPF_TABLE(RL_DECL_ESCALAR, RL_DECL_ESTR, RL_DECL_EBYTES) };
struct rl_landlock_rule { RL_LANDLOCK_RULE_TABLE(RL_DECL_ESCALAR, RL_DECL_ESTR, RL_DECL_EBYTES) };
struct rl_rlimit { RL_RLIMIT_TABLE(RL_DECL_ESCALAR, RL_DECL_ESTR, RL_DECL_EBYTES) };
struct rl_nlmsg { RL_NLMSG_TABLE(RL_DECL_ESCALAR, RL_DECL_ESTR, RL_DECL_EBYTES) };

// --seccomp-log: the policy filter is compiled with ERRNO turned into USER_NOTIF. The
// supervisor answers each notification with the errno the policy would have returned —
// the first rule (in policy order) whose arch, nr and args match, else the default — and
// counts it in `denials`. ops are libseccomp's scmp_compare values (1 NE .. 7 MASKED_EQ).
// Never carried (a config with them runs cold), so not tabled.
struct rl_notify_arg { uint32_t index; uint32_t op; uint64_t a; uint64_t b; };
struct rl_notify_rule {
    uint32_t arch;      // AUDIT_ARCH_* as in seccomp_data (x32: x86_64 with nr | 0x40000000)
    int32_t nr;
    int32_t err;        // errno to return (0: success without effect)
    int32_t n_args;
    struct rl_notify_arg args[6];
};
struct rl_denial { uint32_t arch; int32_t nr; int32_t err; uint32_t count; };

// The config. Field notes, in table order:
//  clone_flags: CLONE_NEW* (CLONE_PIDFD is added by rl_spawn). host_view: the root is a
//   clone of the host "/" (made read-only); else rootfs is the root directory.
//   root_readonly: the root mount is made read-only after all mounts. keep_root: no new
//   root at all (rootless unshare, the unpacker).
//  overlay_*: an overlayfs root (n_overlay_lower > 0): the layers top first, mounted with
//   userxattr over a tmpfs that holds the upper and work dirs, mounted on overlay_scratch
//   (an empty host directory) in our own mount namespace only, so the writable layer
//   vanishes with the sandbox. overlay_fuse: mount the layers with this fuse-overlayfs
//   binary instead (run in our namespaces before the root is attached; it daemonizes once
//   mounted and lives as long as the sandbox's pid namespace).
//  hostname: NULL keeps it. loopback_up: bring up lo in a new net namespace.
//  argv, envp: NULL-terminated. search_path: PATH used to find argv[0] without a '/'.
//   cwd: inside the new root; cwd_create: mkdir its missing components (an image's WorkingDir).
//  uid, gid: the payload's identity inside. clear_groups: setgroups(0) (only when
//   /proc/self/setgroups allows). cap_keep: its bounding/permitted/effective set.
//  use_init: pid 1 is our reaper, the payload its child. use_tty: the payload gets a pty.
//   preserve_fds: fds 3..3+n-1 stay open. timeout_ms: 0 none; the whole sandbox is killed
//   at expiry.
//  filters: seccomp programs, loaded last (after no_new_privs and Landlock), in order.
//  landlock (0 = off): ll_handled_fs/net (ABI >= 4: TCP bind/connect denied, no rule
//   grants any), ll_scoped (ABI >= 6), ll_rules.
//  no_userns: the no-user-namespace rung (--userns=none): no new root is built, ids and
//   capabilities are left as they are.
//  join_userns: the caller setns()es into userns_fd (the keeper's, maps written) before
//   clone, and clone_flags lack CLONE_NEWUSER (the Swift side does the setns, so its
//   failure gets its own message). netns_fd >= 0: a fresh network namespace from the
//   keeper's pool (lo up), joined by the child instead of CLONE_NEWNET.
//  into_cgroup: clone3 with CLONE_INTO_CGROUP into cgroup_fd (the sandbox's leaf, limits
//   written), so the child never runs outside it; the cgroup namespace is then unshared by
//   the child (clone3 would root it at the caller's cgroup, not the leaf).
//  notify_*: --seccomp-log (struct rl_notify_rule); notify_filter: index into filters or
//   -1. denials, n_denials: written by rl_supervise (Swift-owned buffer, max_denials).
//  zygote: a warm sandbox (warm.c), built by the keeper ahead of the run that will use it;
//   zygote_fd is its end of the socket that carries the command in and the reports out.
//   Its payload stops after seccomp, says RL_STEP_READY and waits for argv, envp, PATH and
//   fds 0-2. set_umask, umask_value: the payload's umask (a warm sandbox takes its run's).
//  nest_userns: the payload runs in a user and mount namespace of its own below the
//   sandbox's, so every mount it sees is locked (CAP_SYS_ADMIN or CAP_SYS_PTRACE added).
//  tap: SlirpNet: the child makes a TAP (tap0) in the sandbox's network namespace, sends
//   it the net_setup requests (link up, address, default route) and hands its fd back on
//   net_sock, the child's end of a socket the front process made (for a warm sandbox, the
//   keeper: it hands the other end over with the sandbox, the TAP's fd waiting in it).
//  tap_go_first: a run from a cached start may send its command before its engine runs
//   (no -p: no host listener must be bound first); the TAP queues the sandbox's first
//   frames until the engine reads them.
//  tap_made: the network namespace joined (netns_fd) has its TAP already, made by the
//   keeper with these net_setup requests (its pool): the child makes none.
//  hold_signals: the forwarded signals stay blocked when rl_supervise returns, to the
//   run's exit: the run reads them (a signalfd) while it waits for the connections the
//   sandbox left to deliver what it sent (--net slirp, pasta, slirp4netns), and one that
//   comes during its last cleanup must not kill it half done.
#define RL_CONFIG_TABLE(SCALAR, FD, PTR, STR, STRV, LIST) \
    SCALAR(uint64_t, clone_flags, KEY, 0) \
    SCALAR(int32_t, host_view, KEY, 0) \
    SCALAR(int32_t, root_readonly, KEY, 0) \
    STR(rootfs, KEY, 0) \
    SCALAR(int32_t, keep_root, COLD, 0) \
    STRV(overlay_lower, COLD) \
    SCALAR(int32_t, n_overlay_lower, COLD, 0) \
    STR(overlay_scratch, COLD, 0) \
    STR(overlay_fuse, COLD, 0) \
    STR(hostname, KEY, 0) \
    SCALAR(int32_t, loopback_up, KEY, 0) \
    LIST(rl_mount, mounts, KEY, n_mounts, RL_MAX_MOUNTS) \
    SCALAR(int32_t, n_mounts, KEY, 0) \
    STRV(argv, RUN) \
    STRV(envp, RUN) \
    STR(search_path, RUN, 0) \
    STR(cwd, KEY, 0) \
    SCALAR(int32_t, cwd_create, KEY, 0) \
    SCALAR(uint32_t, uid, KEY, 0) \
    SCALAR(uint32_t, gid, KEY, 0) \
    SCALAR(int32_t, clear_groups, KEY, 0) \
    SCALAR(uint64_t, cap_keep, KEY, 0) \
    SCALAR(int32_t, use_init, COLD, 1) \
    SCALAR(int32_t, use_tty, COLD, 0) \
    SCALAR(int32_t, preserve_fds, COLD, 0) \
    SCALAR(int64_t, timeout_ms, RUN, 0) \
    LIST(rl_bpf, filters, KEY, n_filters, 8) \
    SCALAR(int32_t, n_filters, KEY, 0) \
    SCALAR(int32_t, landlock, KEY, 0) \
    SCALAR(uint64_t, ll_handled_fs, KEY, 0) \
    SCALAR(uint64_t, ll_handled_net, KEY, 0) \
    SCALAR(uint64_t, ll_scoped, KEY, 0) \
    LIST(rl_landlock_rule, ll_rules, KEY, n_ll_rules, 1024) \
    SCALAR(int32_t, n_ll_rules, KEY, 0) \
    SCALAR(int32_t, no_userns, COLD, 0) \
    SCALAR(int32_t, join_userns, COLD, 0) \
    FD(userns_fd) \
    FD(netns_fd) \
    SCALAR(int32_t, into_cgroup, COLD, 0) \
    FD(cgroup_fd) \
    LIST(rl_rlimit, rlimits, KEY, n_rlimits, 80) \
    SCALAR(int32_t, n_rlimits, KEY, 0) \
    SCALAR(int32_t, notify_filter, COLD, -1) \
    PTR(const struct rl_notify_rule, notify_rules) \
    SCALAR(int32_t, n_notify_rules, COLD, 0) \
    SCALAR(int32_t, notify_default_errno, KEY, 0) \
    PTR(struct rl_denial, denials) \
    SCALAR(int32_t, max_denials, KEY, 0) \
    PTR(int32_t, n_denials) \
    SCALAR(int32_t, zygote, RUN, 0) \
    FD(zygote_fd) \
    SCALAR(int32_t, set_umask, KEY, 0) \
    SCALAR(uint32_t, umask_value, KEY, 0) \
    SCALAR(int32_t, nest_userns, KEY, 0) \
    SCALAR(int32_t, pad_nest, KEY, 0) \
    SCALAR(int32_t, tap, KEY, 0) \
    SCALAR(int32_t, tap_go_first, RUN, 0) \
    SCALAR(int32_t, tap_made, COLD, 0) \
    SCALAR(int32_t, hold_signals, RUN, 0) \
    FD(net_sock) \
    LIST(rl_nlmsg, net_setup, KEY, n_net_setup, 8) \
    SCALAR(int32_t, n_net_setup, KEY, 0)

#define RL_DECL_SCALAR(type, name, warm, want) type name;
#define RL_DECL_FD(name) int32_t name;
#define RL_DECL_PTR(type, name) type *name;
#define RL_DECL_STR(name, warm, required) const char *name;
#define RL_DECL_STRV(name, warm) const char *const *name;
#define RL_DECL_LIST(type, name, warm, count, max) const struct type *name;
struct rl_config { RL_CONFIG_TABLE(RL_DECL_SCALAR, RL_DECL_FD, RL_DECL_PTR, RL_DECL_STR, RL_DECL_STRV, RL_DECL_LIST) };

// What the tables say, for tests and tools: the config's fields in table order (NULL past
// the end), and the format's version (a hash of every table: names, types' sizes, offsets,
// kinds, warm classes, wanted values, counts, bounds).
const char *rl_config_field(int i);
uint64_t rl_config_layout(void);
// NULL when c may run warm or from a cached start; else the name of the first field that
// keeps it cold (the one rule: the packers and the readers of packed bytes all ask it).
const char *rl_config_cold_field(const struct rl_config *c);

#endif
