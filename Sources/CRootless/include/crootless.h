// CRootless: everything between clone and exec, in small allocation-free C.
//
// Why C: a child cloned from a (possibly multi-threaded) Swift process must not run
// Swift: a lock held at clone time by another thread deadlocks it (design.md §3). The
// Swift side fills `struct rl_config` (all memory owned by Swift, alive until
// rl_supervise returns), calls rl_spawn, writes the id maps, calls rl_release and then
// rl_supervise. The child only reads the struct, makes syscalls and reports failures as
// (step, errno, index) records over a CLOEXEC pipe.
#ifndef CROOTLESS_H
#define CROOTLESS_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "rl_config.h"

// ---- steps reported back when the child fails (keep in sync with ChildStep.swift) --------
enum rl_step {
    RL_STEP_NONE = 0,
    RL_STEP_SYNC = 1,        // waiting for the parent to write the id maps
    RL_STEP_HOSTNAME = 2,
    RL_STEP_LOOPBACK = 3,
    RL_STEP_PRIVATE = 4,     // make / rprivate
    RL_STEP_OPEN_ROOT = 5,   // open_tree of the root (host / or rootfs dir)
    RL_STEP_OPEN_SOURCE = 6, // open_tree of a bind source (index = mount)
    RL_STEP_ATTACH_ROOT = 7,
    RL_STEP_TARGET = 8,      // resolving / creating a mount target in the new root (index)
    RL_STEP_MOUNT = 9,       // creating or moving the mount (index)
    RL_STEP_ROOT_RDONLY = 10,
    RL_STEP_PIVOT = 11,
    RL_STEP_CHDIR = 12,
    RL_STEP_FORK_PAYLOAD = 13,
    RL_STEP_SETSID = 14,
    RL_STEP_TTY = 15,
    RL_STEP_FDS = 16,
    RL_STEP_SETGROUPS = 17,
    RL_STEP_SETGID = 18,
    RL_STEP_SETUID = 19,
    RL_STEP_CAPS = 20,
    RL_STEP_NNP = 21,
    RL_STEP_SECCOMP = 22,
    RL_STEP_EXEC = 23,
    RL_STEP_PDEATHSIG = 24,
    RL_STEP_CWD_ESCAPE = 25, // cwd resolved outside the new root (CVE-2024-21626 class)
    RL_STEP_LANDLOCK = 26,
    RL_STEP_RLIMIT = 27,     // index = position in rlimits
    RL_STEP_CGROUPNS = 28,   // unshare(CLONE_NEWCGROUP) once inside the sandbox's cgroup
    RL_STEP_OVERLAY = 29,    // the image's overlayfs root (index = lower layer, or -1)
    RL_STEP_NETNS = 30,      // joining the keeper's pooled network namespace
    RL_STEP_WARM = 31,       // a warm sandbox's payload receiving its command (warm.c)
    RL_STEP_STATUS = 100,    // not an error: pid 1 reports the payload's wait status
    RL_STEP_READY = 101,     // not an error: a warm sandbox waits for its command
};

struct rl_report {
    int32_t step;
    int32_t err;   // errno, or the wait status for RL_STEP_STATUS
    int32_t index; // mount index, or -1
    int32_t pad;
};

struct rl_child {
    int pid;        // in the caller's pid namespace
    int pidfd;
    int sync_fd;    // write end: one byte releases the child (maps written)
    int report_fd;  // read end of the report pipe
    int pty_master; // -1 without a tty
    int notify_sock;// parent end of the socket the seccomp listener fd arrives on, or -1
    int foreign;    // 1: not our child (a warm sandbox, the keeper's): exit seen on the
                    // pidfd, status only from pid 1's report
};

enum rl_outcome {
    RL_EXITED = 1,      // code = exit status
    RL_SIGNALED = 2,    // code = signal number
    RL_SETUP_FAILED = 3,// report holds the step/errno/index
    RL_TIMED_OUT = 4,
    RL_LOST = 5,        // child vanished without status (e.g. killed from outside)
};

struct rl_result {
    int32_t outcome;
    int32_t code;
    struct rl_report report;
};

// Creates the child with clone3(). Returns 0 or -errno (out unchanged on failure).
// Blocks the forwarded signals in the caller (undone by rl_supervise).
int rl_spawn(const struct rl_config *cfg, struct rl_child *out);
// Tells the child the id maps are in place.
int rl_release(struct rl_child *child);
// Kills and reaps a child that will not be released (id-map failure).
void rl_abort(struct rl_child *child);
// Relays tty/signals, enforces the timeout, reaps, fills res. Closes the child's fds.
int rl_supervise(const struct rl_config *cfg, struct rl_child *child, struct rl_result *res);

// ---- small probes for `doctor`, each in a throw-away child --------------------------------
// 0 when an unprivileged user namespace can be created, else errno.
int rl_probe_userns(void);
// 0 when overlayfs with userxattr mounts inside a fresh user+mount namespace, else errno.
int rl_probe_overlay(void);
// The same with lower on a given filesystem (an empty dir) and a tmpfs upper on scratch.
int rl_probe_overlay_at(const char *lower, const char *scratch);
// Landlock ABI version, or -errno.
int rl_landlock_abi(void);
// 1 if the kernel serves x32-ABI syscalls (probed only when no seccomp filter is on us).
int rl_kernel_serves_x32(void);

// ---- files.c: for the image store and the unpacker (not used between clone and exec).
// openat2 with RESOLVE_BENEATH|NO_SYMLINKS|NO_MAGICLINKS|NO_XDEV: fd or -errno.
int rl_openat2_beneath(int dirfd, const char *path, int flags, int mode);
int rl_fsetxattr(int fd, const char *name, const void *value, size_t size);
long rl_fgetxattr(int fd, const char *name, void *value, size_t size);
long rl_flistxattr(int fd, char *list, size_t size);
int rl_mknod_at(int dirfd, const char *name, unsigned mode, unsigned major, unsigned minor);
int rl_copy_file(int from, int to, long long size);
int rl_is_whiteout(unsigned long long rdev);

// statfs(path).f_type, or -1 (errno set).
long rl_fs_type(const char *path);
// 1 if the file has a security.capability xattr.
int rl_has_file_caps(const char *path);

// pipe2(O_CLOEXEC): a GNU extension Swift's Glibc module does not export.
int rl_pipe_cloexec(int fds[2]);

// memfd_create(name, MFD_CLOEXEC): a GNU extension Swift's Glibc module does not export
// (the seccomp compile exports its BPF into one). Returns the fd or -errno.
int rl_memfd(const char *name);

// strerrorname_np ("EPERM"): a GNU extension Swift's Glibc module does not export. NULL if unknown.
const char *rl_errno_name(int e);

// PR_SET_PDEATHSIG on the calling thread (the one that will clone).
int rl_set_pdeathsig(int sig);

// ---- the keeper of a mapped user namespace (keeper.c) ------------------------------------
// A listening SOCK_SEQPACKET socket at path (a stale one unlinked first): fd or -errno.
int rl_keeper_listen(const char *path);
// clone3(CLONE_NEWUSER) child that waits for one byte on out->sync_fd (the maps are
// written), detaches (setsid, cwd /, fds 0-2 on /dev/null, listen_fd as fd 3, the rest
// closed) and execs /proc/self/exe as "rootless-keeper". Fills pid, pidfd, sync_fd.
// Returns 0 or -errno.
int rl_keeper_spawn(int listen_fd, struct rl_child *out);
// This binary's GNU build id (20 bytes; zeros and -ENOENT if the linker left none).
int rl_build_id(uint8_t out[20]);
// What "rootless-keeper" runs: answer connections on fd 3 with its user namespace and
// a pooled fresh network namespace; refill the pool while idle. Never returns.
__attribute__((noreturn)) void rl_keeper_loop(void);
// Asks the keeper at path: *userns gets its user namespace, *netns (want_net only) a
// fresh network namespace it owns (or -1 when the pool is empty), *pid the keeper's pid.
// Kinds and ownership are checked. 0 or -errno (ENOENT/ECONNREFUSED: no live keeper).
int rl_keeper_connect(const char *path, int want_net, int *userns, int *netns, int *pid);
// The keeper's pid and how many warm sandboxes it has ready / being built, and whether it
// is this build's (any build's keeper answers). 0 or -errno.
int rl_keeper_status(const char *path, int *pid, int *ready, int *building, int *failed, int *same_build);
// Hands the keeper at path a sandbox's pidfd and mount namespace (/proc/PID/ns/mnt): it
// holds the namespace until that pid 1 exits and then drops it, so the teardown of the
// sandbox's mounts is not on its caller's path. 0 or -errno (then pid 1 tears it down).
int rl_keeper_defer(const char *path, int pidfd, int pid);
// ---- warm sandboxes (warm.c) ---------------------------------------------------------------
// A warm request: what identifies the sandbox cfg would build for this caller, and the
// config itself without the process part (argv, envp, PATH), flattened with offsets for
// pointers. Two runs whose requests are byte-equal get interchangeable sandboxes. It
// covers the caller's mount namespace, cgroup, LSM label, umask and rlimits, and the
// (dev, inode) of the root and of every bind source, so a replaced directory is a miss.
// Returns the length, or -errno: EPERM when the caller runs under no_new_privs or a
// seccomp filter (a sandbox the keeper built would not carry them), E2BIG past cap.
long rl_warm_pack(const struct rl_config *cfg, void *buf, size_t cap);
// Asks the keeper at path for a warm sandbox matching req (rl_warm_pack). On a hit:
// returns 1 with *zpid, *pidfd, *sock (pid 1's, and the socket of rl_warm_go). Otherwise
// the keeper answers as rl_keeper_connect does (returns 0, namespaces filled) and builds
// one for the next run with this request. -errno on failure.
int rl_keeper_warm(const char *path, const void *req, size_t len, int want_net, int *userns, int *netns, int *pid,
                   int *zpid, int *pidfd, int *sock);
// Sends a warm sandbox its command: cfg's argv, envp and PATH, and our fds 0-2. Blocks
// the forwarded signals first (rl_supervise reads them). 0 or -errno (E2BIG: too long
// for one message; EBADF: one of 0-2 is not open).
int rl_warm_go(int sock, const struct rl_config *cfg);
// Bounds of one go message (the run checks them before asking for a warm sandbox).
#define RL_WARM_MAX_BYTES (256 * 1024)
#define RL_WARM_MAX_STRINGS 8192

// ---- cached starts (starts.c) ----------------------------------------------------------------
// The facts a plan reads from the host, each as one operation whose result bytes are
// recorded when planned and compared when a cached start is checked.
enum rl_obs {
    RL_OBS_STAT = 1,   // stat(path): errno, st_mode, st_uid
    RL_OBS_READ = 2,   // the file's first arg bytes: errno (-1: longer than arg), bytes
    RL_OBS_FSTYPE = 3, // statfs(path).f_type, or -errno
    RL_OBS_ACCESS = 4, // access(path, arg): 0 or errno
    RL_OBS_FCAPS = 5,  // rl_has_file_caps(path)
    RL_OBS_ENV = 6,    // getenv(path): 0 and the value, or ENOENT
    RL_OBS_REALPATH = 7, // realpath(path): 0 and the resolved path, or errno
};
// Does op on path into out: the result's length, or -1 (unknown op, cap too small).
long rl_observe(int op, const char *path, uint32_t arg, void *out, size_t cap);
// Appends one observation (op, path, arg, result) to buf: its length, or -E2BIG.
long rl_observe_record(void *buf, size_t cap, int op, const char *path, uint32_t arg, const void *res, size_t res_len);

// What the constructor did: nothing (not `run`, or the inputs could not be read); found no
// usable entry (the run should write one); found one but no warm sandbox (plan as usual);
// sent the command but must start cold; ran it (result filled).
enum rl_fast_state { RL_FAST_NOT_RUN = 0, RL_FAST_NONE = 1, RL_FAST_MISS = 2, RL_FAST_COLD = 3, RL_FAST_DONE = 4 };
struct rl_fast { int32_t state; int32_t pad; struct rl_result result; };
// What the start-up constructor did (before main: a run whose entry is valid goes to the
// keeper from there, and one that ends with a plain status exits there).
const struct rl_fast *rl_start_state(void);
// An entry in memory: what a run saves (inputs: rl_start_save's own) and what a check
// reads back (rl_start_parse; cfg then points into the entry, argv included).
struct rl_start {
    const char *inputs;
    size_t n_inputs;
    const char *obs;          // rl_observe_record's records
    size_t n_obs;
    const char *notes;        // the plan's notes as written to stderr, or NULL
    const char *sock;         // the keeper's socket
    int32_t want_net;
    int32_t clear_env;        // --clearenv
    const char *const *sets;  // -e entries in order, NULL-terminated ("K=V" or "K")
    const char *default_path; // PATH when the environment has none
    struct rl_config *cfg;
};
// The entry for this process's inputs (after the constructor said NONE; inputs ignored),
// for the cwd the plan used and cfg (its envp and PATH are not kept). 0 or -errno.
int rl_start_save(const char *cwd, const struct rl_start *entry, const struct rl_config *cfg);
long rl_start_encode(void *buf, size_t cap, const struct rl_start *entry, const struct rl_config *cfg);
// Checks every offset of an entry in buf (8-aligned) and points out into it: 0 or -1.
int rl_start_parse(void *buf, size_t len, struct rl_start *out);
// 1 when the inputs are the entry's and every observation gives the same result again.
int rl_start_valid(const struct rl_start *s, const void *inputs, size_t n_inputs);
// The sandbox's environment, the one recipe (Planner.environment calls it too): base (the
// caller's, or an image's; nothing if clear_env), then each -e of sets in order ("K" copies
// the caller's K), PATH=default_path when none. malloc'd, one block (free *envp); the
// strings are base's, caller's, sets' or within the block. 0 or -ENOMEM.
int rl_env_recipe(char *const *base, char *const *caller, int clear_env, const char *const *sets, const char *default_path,
                  const char ***envp, const char **search_path);
// The sandbox's environment from environ by the entry's recipe (malloc'd, one block: free
// *envp), and the PATH a command is searched in (within it). 0 or -ENOMEM.
int rl_start_env(const struct rl_start *s, char *const *environ, const char ***envp, const char **search_path);

// The caller's private runtime directory into out: $XDG_RUNTIME_DIR/rootless (absolute
// only), else /tmp/rootless-UID, then sub (may be NULL) under it; each made if missing
// and used only if it is a directory of ours closed to others (a squatted /tmp path is
// refused). One rule for the Swift side (RuntimeDir) and the constructor. 0 or -errno.
int rl_runtime_dir(char *out, size_t cap, const char *sub);

// ---- mac.c: authenticating what is read back from disk ---------------------------------------
void rl_sha256(const void *data, size_t n, uint8_t out[32]);
void rl_hmac_sha256(const uint8_t *key, size_t klen, const void *data, size_t n, uint8_t out[32]);
// The per-user key (<runtime dir>/key, made once, masked in every sandbox). 0 or -errno.
int rl_user_key(uint8_t out[32]);
// HMAC-SHA256 of data under the user's key. 0 or -errno (no runtime dir: nothing is trusted).
int rl_mac(const void *data, size_t n, uint8_t out[32]);
// 1 when mac is data's under the user's key (constant time), else 0.
int rl_mac_check(const void *data, size_t n, const uint8_t mac[32]);

// setns(fd, CLONE_NEWUSER) for the calling process (must be single-threaded). 0 or -errno.
int rl_setns_user(int fd);
// pidfd_open(pid, 0): fd or -errno.
int rl_pidfd_open(int pid);
int rl_pidfd_kill(int pidfd, int sig);
// flock(2) (LOCK_EX = 2, LOCK_UN = 8): 0 or -errno.
int rl_flock(int fd, int op);

#ifdef __cplusplus
}
#endif
#endif
