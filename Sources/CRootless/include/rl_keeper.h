// The keeper of a mapped user namespace (keeper.c) and the warm sandboxes it builds (warm.c).
#ifndef RL_KEEPER_H
#define RL_KEEPER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "rl_child.h"

#ifdef __cplusplus
extern "C" {
#endif

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
// With key (a --net slirp run's, rl_tap_key; key_len 0: none), *tap may get the socket
// whose message holds [tap, netns] of a TAP the keeper made in *netns with exactly those
// requests (as the engine expects it: the child then makes none), else -1.
// Kinds and ownership are checked. 0 or -errno (ENOENT/ECONNREFUSED: no live keeper).
int rl_keeper_connect(const char *path, int want_net, const void *key, size_t key_len, int *userns, int *netns, int *tap, int *pid);
// What identifies cfg's TAP for the keeper's pool: its setup requests, back to back, into
// buf. The length, or 0 (no TAP, or requests that do not split by their headers). The
// keeper takes only what SlirpNet's setup makes (pool.c); for another key it answers
// with a plain network namespace.
size_t rl_tap_key(const struct rl_config *cfg, void *buf, size_t cap);
// The longest key the keeper takes (and so the buffer a key is made in).
#define RL_TAP_KEY_MAX (8 * 1024)
// Whether the keeper takes key (len bytes) to make TAPs with (pool.c): 1 or 0.
int rl_tap_key_ok(const void *key, size_t len);
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
// returns 1 with *zpid, *pidfd, *sock (pid 1's, and the socket of rl_warm_go), and for
// --net slirp *tap (the socket its TAP's fd waits in, as the engine expects) and *userns
// (the keeper's: joined, the engine may make sockets in the sandbox's network namespace);
// else both -1. Otherwise
// the keeper answers as rl_keeper_connect does (returns 0, namespaces filled, and with
// want_net a TAP made ahead in *tap if the pool has one for the request's config) and
// builds one for the next run with this request. -errno on failure.
int rl_keeper_warm(const char *path, const void *req, size_t len, int want_net, int *userns, int *netns, int *pid,
                   int *zpid, int *pidfd, int *sock, int *tap);
// Sends a warm sandbox its command: cfg's argv, envp and PATH, and our fds 0-2. Blocks
// the forwarded signals first (rl_supervise reads them). 0 or -errno (E2BIG: too long
// for one message; EBADF: one of 0-2 is not open).
int rl_warm_go(int sock, const struct rl_config *cfg);
// A warm sandbox that will not get (or keep) its command: pid 1 killed, and its fds closed
// (tap, userns: -1 for none).
void rl_warm_drop(int pidfd, int sock, int tap, int userns);

#ifdef __cplusplus
}
#endif
#endif
