// Private to CRootless: shared by the child-side files. Nothing here allocates.
#ifndef CROOTLESS_INTERNAL_H
#define CROOTLESS_INTERNAL_H
#define _GNU_SOURCE
#include "crootless.h"

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

// wire.c: a config flattened into one buffer, pointers as offsets, by the field tables.
struct rl_pk { char *b; size_t cap, n; int err; };
// Appends len bytes (NULL: zeros) 8-aligned; returns the offset (p->err = E2BIG past cap).
uint64_t rl_pk_put(struct rl_pk *p, const void *d, size_t len);
const char *rl_pk_str(struct rl_pk *p, const char *s);
// A NULL-terminated list as count+1 offsets (the last 0): the array's offset.
uint64_t rl_pk_strv(struct rl_pk *p, const char *const *v, uint32_t *count);
// c, flattened into p (fds -1, pointers into this process NULL, the run's lists left out
// and its scalars zeroed unless keep_run): the packed config's offset. p->err = EINVAL when
// c must run cold (rl_config_cold_field).
uint64_t rl_pk_config(struct rl_pk *p, const struct rl_config *c, int keep_run);
// The reverse, in place in b: each offset (>= min, the header) checked to lie within len,
// each string NUL-terminated within it, each count within its table's bounds, and nothing
// a packed config never carries. 0, or -1 for bad bytes.
int rl_fix_str(char *b, size_t len, size_t min, const char **f);
int rl_fix_arr(char *b, size_t len, size_t min, const void **f, int32_t n, size_t size, int32_t max);
int rl_fix_strv(char *b, size_t len, size_t min, const char *const **v, uint32_t n);
int rl_fix_config(char *b, size_t len, size_t min, struct rl_config *c);

// warm.c. The keeper: checks every offset of a warm request in place and points *out at
// its config (and at the caller's cgroup and LSM label texts). 0, or -1 for bad bytes.
int rl_warm_unpack(char *b, size_t len, struct rl_config **out, const char **cgroup, const char **label,
                   uint64_t *mnt_dev, uint64_t *mnt_ino);
// The payload of a warm sandbox: says RL_STEP_READY on rep, waits for its command and
// takes it into c (argv, envp, PATH) and fds 0-2. Exits quietly on EOF.
void rl_warm_wait(struct rl_config *c, int rep);

// fds over a unix socket with SCM_RIGHTS: the --seccomp-log listener hand-off (payload.c
// sends, supervise.c receives; one byte of data) and the keeper's answer (keeper.c: its
// pid as data, up to two namespace fds).
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <time.h>

// Milliseconds on the monotonic clock (timeouts: the supervisor, pid 1, the keeper).
static inline int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
// Room for three fds (the most: a warm sandbox's command carries fds 0-2).
union rl_fd_ctl { struct cmsghdr h; char b[CMSG_SPACE(3 * sizeof(int))]; };
static inline void rl_fd_msghdr(struct msghdr *m, struct iovec *iov, void *data, size_t len, union rl_fd_ctl *u) {
    iov->iov_base = data;
    iov->iov_len = len;
    memset(u, 0, sizeof *u);
    memset(m, 0, sizeof *m);
    m->msg_iov = iov;
    m->msg_iovlen = 1;
    m->msg_control = u->b;
    m->msg_controllen = sizeof u->b;
}

// Takes up to max fds from a received m's SCM_RIGHTS messages into fds (any beyond are
// closed: they are ours once received). Returns how many.
static inline int rl_fd_take(struct msghdr *m, int *fds, int max) {
    int n = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
        int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            if (n < max) fds[n++] = fd; else close(fd);
        }
    }
    return n;
}

// Puts n (1 to 3) fds in m as one SCM_RIGHTS message, sized to them.
static inline void rl_fd_put(struct msghdr *m, const int *fds, int n) {
    struct cmsghdr *cm = CMSG_FIRSTHDR(m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(n * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
    m->msg_controllen = CMSG_SPACE(n * sizeof(int));
}

#endif
