// Private to CRootless: the child's steps between clone and exec (spawn.c, mounts.c,
// payload.c, zygote.c, supervise.c, report.c). Nothing here allocates.
#ifndef CROOTLESS_CHILD_H
#define CROOTLESS_CHILD_H
#include "rl_child.h"
#include "fdpass.h"

// Signals the rootless process forwards to pid 1 and pid 1 forwards to the payload.
// One list: rl_spawn blocks exactly these and rl_supervise reads exactly these.
extern const int rl_forwarded_signals[];
extern const int rl_n_forwarded_signals;

// Writes one failure record on the report pipe and exits 125. Async-signal-safe.
__attribute__((noreturn)) void rl_fail(int report_fd, int step, int err, int index);

// Builds the new root as the plan says and pivots into it (child only). Reports and
// exits on failure; returns only on success, with the cwd at the new "/".
void rl_build_root(const struct rl_config *c, int report_fd);

// Runs the payload: session, tty, fds, ids, caps, no_new_privs, seccomp, exec. Never returns.
// notify_sock: child end of the listener socket (--seccomp-log), or -1.
__attribute__((noreturn)) void rl_exec_payload(const struct rl_config *c, int report_fd, int pty_slave, int notify_sock);

// net.c: the SlirpNet TAP, made and configured in the sandbox's network namespace, its fd
// sent on sock (then closed). Reports and exits on failure.
void rl_net_tap(const struct rl_config *c, int report_fd, int sock);
// lo up in the caller's network namespace (the child's loopback_up, the pool's namespaces): 0 or -errno.
int rl_lo_up(void);
// Its steps, for the keeper's pool too (pool.c), each 0 (or an fd) or -errno:
// tap0 opened in the caller's network namespace, persistent; its index, looked up on nl;
int rl_tap_open(void);
int rl_tap_index(int nl);
// one rtnetlink request on nl (tap0's index patched into link and address requests), acked;
int rl_tap_request(int nl, const void *msg, size_t len, int32_t index);
// [tap, the calling thread's network namespace] sent on sock, as the engine takes them.
int rl_tap_send(int sock, int tap);

// zygote.c: a warm sandbox's own steps (built by the keeper ahead of its run).
// Its payload: says RL_STEP_READY on rep, waits for its command and
// takes it into c (argv, envp, PATH) and fds 0-2. Exits quietly on EOF.
void rl_warm_wait(struct rl_config *c, int rep);

// Its pid 1 keeps nothing of the keeper's open: every fd >= 3 but keep[0..3] (-1: none) is closed.
void rl_zygote_close_others(const int keep[4]);
// The command message (warm.c sends it, rl_warm_wait reads it). has_mask: the run's CPU
// affinity follows the header (the sandbox was built with the keeper's).
struct rl_go_hdr { uint32_t magic, argc, envc, has_path, has_mask, pad; };
#define RL_GO_MAGIC 0x21214f47u // "GO!!"

#endif
