// Warm sandboxes: the keeper builds the sandbox a run will need before the run asks, so
// a run that finds one only sends its command. Three parts, in the order they happen:
//  1. the run packs its config (no argv/envp/PATH) with what identifies it for this
//     caller (rl_warm_pack) and sends it to the keeper (rl_keeper_warm, keeper.c);
//  2. the keeper unpacks it (rl_warm_unpack, every offset checked: the bytes come from a
//     socket) and calls rl_spawn with zygote set: pid 1 builds the root, its payload
//     goes through every step up to seccomp, says RL_STEP_READY and waits (rl_warm_wait);
//  3. a later run with byte-equal bytes gets that sandbox's pidfd and socket, and sends
//     argv, envp, PATH and its fds 0-2 (rl_warm_go); the payload execs. The run then
//     supervises it as its own (rl_supervise, foreign: the keeper reaps pid 1).
#include "wire.h"
#include "child.h"
#include "rl_os.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WARM_MAGIC 0x314c5752u // "RWL1"
// The request's own format (its header and the GO message): bumped by hand, and sent with
// the config tables' version (rl_config_layout), which follows every field by itself.
#define WARM_FORMAT 3u
#define WARM_NLIMITS 16        // RLIMIT_NLIMITS on Linux

struct warm_hdr {
    uint32_t magic, format;
    uint64_t layout;           // rl_config_layout()
    uint64_t total;
    uint64_t cfg;              // offset of the packed struct rl_config
    uint64_t mnt_dev, mnt_ino; // the caller's mount namespace (the keeper's must match)
    uint64_t cgroup;           // offset: /proc/self/cgroup text (must match the keeper's)
    uint64_t label;            // offset: /proc/self/attr/current (must match the keeper's)
    uint64_t ids, n_ids;       // (dev, ino) of the root and of each bind/device source
};

static size_t read_small(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    return n > 0 ? (size_t)n : 0;
}

long rl_warm_pack(const struct rl_config *c, void *buf, size_t cap) {
    // A caller under no_new_privs or a seccomp filter (a Landlock domain needs one of
    // them unprivileged) is confined; a sandbox built by the keeper would not be.
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0 || prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 0) return -EPERM;
    if (rl_config_cold_field(c) || c->zygote) return -EINVAL;
    struct rl_pk p = { buf, cap, 0, 0 };
    rl_pk_put(&p, NULL, sizeof(struct warm_hdr));
    struct warm_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = WARM_MAGIC;
    h.format = WARM_FORMAT;
    h.layout = rl_config_layout();
    struct stat st;
    if (stat("/proc/self/ns/mnt", &st) < 0) return -errno;
    h.mnt_dev = st.st_dev;
    h.mnt_ino = st.st_ino;
    char text[4096];
    size_t n = read_small("/proc/self/cgroup", text, sizeof text);
    text[n] = 0;
    h.cgroup = rl_pk_put(&p, text, n + 1);
    n = read_small("/proc/self/attr/current", text, sizeof text);
    text[n] = 0;
    h.label = rl_pk_put(&p, text, n + 1);

    // Identities: a directory replaced since the sandbox was built is a different key.
    uint64_t ids[2 * (RL_MAX_MOUNTS + 1)];
    size_t k = 0;
    if (stat(c->host_view || !c->rootfs ? "/" : c->rootfs, &st) < 0) return -errno;
    ids[k++] = st.st_dev; ids[k++] = st.st_ino;
    for (int i = 0; i < c->n_mounts && i < RL_MAX_MOUNTS; i++) {
        const struct rl_mount *m = &c->mounts[i];
        if ((m->kind != RL_MOUNT_BIND && m->kind != RL_MOUNT_DEVICE) || !m->source) continue;
        if (stat(m->source, &st) < 0) { ids[k++] = 0; ids[k++] = 0; continue; } // optional: absent
        ids[k++] = st.st_dev; ids[k++] = st.st_ino;
    }
    h.ids = rl_pk_put(&p, ids, k * sizeof ids[0]);
    h.n_ids = k / 2;

    // What the keeper builds from: the process part (argv, envp, PATH, the timeout) goes
    // with the command and is left out by the table (RUN); the user namespace is the
    // keeper's; the run's umask, and its rlimits before --ulimit's (the keeper's are not
    // the caller's).
    struct rl_config w = *c;
    w.clone_flags &= ~(uint64_t)0x10000000; // CLONE_NEWUSER: built in the keeper's
    mode_t um = umask(0);
    umask(um);
    w.set_umask = 1; w.umask_value = (uint32_t)um;
    struct rl_rlimit lim[WARM_NLIMITS + 64];
    int nl = 0;
    for (int r = 0; r < WARM_NLIMITS; r++) {
        struct rlimit rl;
        if (getrlimit(r, &rl) < 0) continue;
        lim[nl++] = (struct rl_rlimit){ r, 0, (uint64_t)rl.rlim_cur, (uint64_t)rl.rlim_max };
    }
    if (c->n_rlimits < 0 || c->n_rlimits > 64) return -E2BIG;
    for (int i = 0; i < c->n_rlimits; i++) lim[nl++] = c->rlimits[i];
    w.rlimits = lim;
    w.n_rlimits = nl;
    h.cfg = rl_pk_config(&p, &w, 0);
    // Made one for the keeper: the packed copy says so (zygote is RUN: zeroed above).
    if (!p.err) ((struct rl_config *)(void *)(p.b + h.cfg))->zygote = 1;
    if (p.err) return -p.err;
    h.total = p.n;
    memcpy(p.b, &h, sizeof h);
    return (long)p.n;
}

// ---- the keeper's side ---------------------------------------------------------------------

int rl_warm_unpack(char *b, size_t len, struct rl_config **out, const char **cgroup, const char **label,
                   uint64_t *mnt_dev, uint64_t *mnt_ino) {
    struct warm_hdr h;
    if (((uintptr_t)b & 7) || len < sizeof h) return -1;
    memcpy(&h, b, sizeof h);
    if (h.magic != WARM_MAGIC || h.format != WARM_FORMAT || h.layout != rl_config_layout() || h.total != len) return -1;
    if (h.cfg < sizeof h || (h.cfg & 7) || h.cfg > len || len - h.cfg < sizeof(struct rl_config)) return -1;
    const char *cg = (const char *)(uintptr_t)h.cgroup, *lb = (const char *)(uintptr_t)h.label;
    if (!cg || !lb || rl_fix_str(b, len, sizeof h, &cg) < 0 || rl_fix_str(b, len, sizeof h, &lb) < 0) return -1;
    struct rl_config *c = (struct rl_config *)(b + h.cfg);
    if (c->zygote != 1 || rl_fix_config(b, len, sizeof h, c) < 0) return -1;
    *out = c;
    *cgroup = cg;
    *label = lb;
    *mnt_dev = h.mnt_dev;
    *mnt_ino = h.mnt_ino;
    return 0;
}

// ---- the run's side ------------------------------------------------------------------------

int rl_warm_go(int sock, const struct rl_config *c) {
    for (int fd = 0; fd < 3; fd++) if (fcntl(fd, F_GETFD) < 0) return -EBADF;
    cpu_set_t mask;
    CPU_ZERO(&mask);
    // More CPUs than a cpu_set_t holds (1024): the command keeps the keeper's affinity.
    int has_mask = sched_getaffinity(0, sizeof mask, &mask) == 0;
    struct rl_go_hdr h = { RL_GO_MAGIC, 0, 0, c->search_path ? 1 : 0, (uint32_t)has_mask, 0 };
    size_t len = sizeof h + (has_mask ? sizeof mask : 0) + (c->search_path ? strlen(c->search_path) + 1 : 0);
    for (const char *const *a = c->argv; a && *a; a++) { h.argc++; len += strlen(*a) + 1; }
    for (const char *const *e = c->envp; e && *e; e++) { h.envc++; len += strlen(*e) + 1; }
    if (h.argc < 1 || len > RL_WARM_MAX_BYTES || h.argc + h.envc > RL_WARM_MAX_STRINGS) return -E2BIG;
    char *b = malloc(len);
    if (!b) return -ENOMEM;
    size_t n = 0;
    memcpy(b, &h, sizeof h);
    n = sizeof h;
    if (has_mask) { memcpy(b + n, &mask, sizeof mask); n += sizeof mask; }
#define PUTS(s) do { size_t l_ = strlen(s) + 1; memcpy(b + n, s, l_); n += l_; } while (0)
    if (c->search_path) PUTS(c->search_path);
    for (const char *const *a = c->argv; *a; a++) PUTS(*a);
    for (const char *const *e = c->envp; e && *e; e++) PUTS(*e);
#undef PUTS
    // As rl_spawn does for a cold start: the forwarded signals are read by rl_supervise.
    sigset_t fwd;
    sigemptyset(&fwd);
    for (int i = 0; i < rl_n_forwarded_signals; i++) sigaddset(&fwd, rl_forwarded_signals[i]);
    sigprocmask(SIG_BLOCK, &fwd, NULL);
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr m;
    int fds[3] = { 0, 1, 2 };
    rl_fd_msghdr(&m, &iov, b, n, &u);
    rl_fd_put(&m, fds, 3);
    ssize_t w;
    do w = sendmsg(sock, &m, MSG_NOSIGNAL); while (w < 0 && errno == EINTR);
    int e = errno;
    free(b);
    return w == (ssize_t)n ? 0 : -(w < 0 ? e : EPROTO);
}

void rl_warm_drop(int pidfd, int sock, int tap, int userns) {
    rl_pidfd_kill(pidfd, SIGKILL);
    close(pidfd);
    close(sock);
    if (tap >= 0) close(tap);
    if (userns >= 0) close(userns);
}
