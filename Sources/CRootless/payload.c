// The payload's last steps before execve, in this order (each needs what the previous
// left): new session -> tty -> fds -> rlimits -> bounding set (needs CAP_SETPCAP) -> groups/gid/uid
// -> pdeathsig (cleared by uid changes) -> capabilities -> no_new_privs -> seccomp (last:
// it may forbid any call above) -> [a warm sandbox waits for its command] -> signal
// dispositions -> exec. Landlock sits between
// no_new_privs (it needs it, unprivileged) and seccomp (whose policy may deny its calls).
#include "child.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void drop_bounding_set(const struct rl_config *c, int rep) {
    for (int cap = 0; cap < 64; cap++) {
        if (c->cap_keep & (1ULL << cap)) continue;
        // One call per cap: DROP of a cap already gone succeeds, and EINVAL is only "past
        // cap_last_cap" (a READ first doubled the calls on every sandbox's start).
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL) break;
            rl_fail(rep, RL_STEP_CAPS, errno, cap);
        }
    }
}

static void set_caps(const struct rl_config *c, int rep) {
    // Ambient and inheritable are always empty (CVE-2022-29162 class).
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        rl_fail(rep, RL_STEP_CAPS, errno, -1);
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (c->uid == 0) {
        // A non-root payload lost its permitted set at setresuid(); root keeps the kept set.
        d[0].effective = d[0].permitted = (uint32_t)c->cap_keep;
        d[1].effective = d[1].permitted = (uint32_t)(c->cap_keep >> 32);
    }
    if (syscall(SYS_capset, &h, d) < 0) rl_fail(rep, RL_STEP_CAPS, errno, -1);
}

// Landlock: the payload may only touch what the rules grant, for every right the ABI
// handles. Paths are resolved in the new root (we are past pivot_root); a missing path
// is skipped (nothing to grant there). A non-directory only takes file rights.
// The ABI 6 layout of struct landlock_ruleset_attr (Debian 12's headers stop at ABI 1).
struct rl_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; // ABI 4
    uint64_t scoped;             // ABI 6
};

static void apply_landlock(const struct rl_config *c, int rep) {
    struct rl_ll_ruleset_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.handled_access_fs = c->ll_handled_fs;
    attr.handled_access_net = c->ll_handled_net;
    attr.scoped = c->ll_scoped;
    // The kernel accepts a shorter struct from older ABIs; send only what is set.
    size_t size = c->ll_scoped ? sizeof attr : c->ll_handled_net ? 2 * sizeof(uint64_t) : sizeof attr.handled_access_fs;
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0) rl_fail(rep, RL_STEP_LANDLOCK, errno, -1);
    const uint64_t file_rights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE
        | (1ULL << 14) /* TRUNCATE, ABI 3 */ | (1ULL << 15) /* IOCTL_DEV, ABI 5 */;
    for (int i = 0; i < c->n_ll_rules; i++) {
        int fd = open(c->ll_rules[i].path, O_PATH | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT || errno == ENOTDIR) continue;
            rl_fail(rep, RL_STEP_LANDLOCK, errno, i);
        }
        struct stat st;
        struct landlock_path_beneath_attr pb = { .allowed_access = c->ll_rules[i].access & c->ll_handled_fs, .parent_fd = fd };
        if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) pb.allowed_access &= file_rights;
        if (pb.allowed_access && syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
            rl_fail(rep, RL_STEP_LANDLOCK, errno, i);
        close(fd);
    }
    if (syscall(SYS_landlock_restrict_self, rs, 0) < 0) rl_fail(rep, RL_STEP_LANDLOCK, errno, -1);
    close(rs);
}

static void exec_search(const struct rl_config *c, int rep) {
    const char *file = c->argv[0];
    char *const *argv = (char *const *)c->argv;
    char *const *envp = (char *const *)c->envp;
    if (strchr(file, '/')) {
        execve(file, argv, envp);
        rl_fail(rep, RL_STEP_EXEC, errno, -1);
    }
    const char *p = c->search_path && *c->search_path ? c->search_path : "/usr/local/bin:/usr/bin:/bin";
    size_t flen = strlen(file);
    int saved = ENOENT;
    char buf[4096];
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
        if (dlen == 0) { buf[0] = '.'; dlen = 1; } else if (dlen + flen + 2 <= sizeof buf) memcpy(buf, p, dlen);
        if (dlen + flen + 2 <= sizeof buf) {
            buf[dlen] = '/';
            memcpy(buf + dlen + 1, file, flen + 1);
            execve(buf, argv, envp);
            int e = errno; // access() below may overwrite errno
            if (e == EACCES || e == ENOEXEC || e == EPERM) {
                // EACCES from an unsearchable PATH directory must not hide "not found":
                // remember it only when the file itself exists.
                if (access(buf, F_OK) == 0) saved = e;
            } else if (e != ENOENT && e != ENOTDIR && e != ELOOP) {
                rl_fail(rep, RL_STEP_EXEC, e, -1);
            }
        }
        if (!colon) break;
        p = colon + 1;
    }
    rl_fail(rep, RL_STEP_EXEC, saved, -1);
}

// Hands the seccomp listener to the rootless process (SCM_RIGHTS). Runs under the filter
// it belongs to, so the policy must allow sendmsg and close (checked before clone).
static void send_listener(int sock, int lfd, int rep) {
    char byte = 'L';
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr m;
    rl_fd_msghdr(&m, &iov, &byte, 1, &u);
    rl_fd_put(&m, &lfd, 1);
    if (sendmsg(sock, &m, MSG_NOSIGNAL) < 0) rl_fail(rep, RL_STEP_SECCOMP, errno, -2);
    close(lfd);
    close(sock);
}

void rl_exec_payload(const struct rl_config *c, int rep, int pty_slave, int notify_sock) {
    if (c->set_umask) umask((mode_t)c->umask_value);
    // New session: no controlling terminal, so TIOCSTI into the caller's tty is refused
    // (CVE-2017-5226).
    if (setsid() < 0) rl_fail(rep, RL_STEP_SETSID, errno, -1);
    if (c->use_tty) {
        if (ioctl(pty_slave, TIOCSCTTY, 0) < 0) rl_fail(rep, RL_STEP_TTY, errno, -1);
        for (int fd = 0; fd < 3; fd++)
            if (dup2(pty_slave, fd) < 0) rl_fail(rep, RL_STEP_TTY, errno, fd);
        close(pty_slave);
    }

    // 0-2 and the preserved fds stay; everything else closes at exec (not now: the
    // report pipe is needed until then).
    int keep = c->preserve_fds > 0 ? c->preserve_fds : 0;
    for (int fd = 3; fd < 3 + keep; fd++)
        if (fcntl(fd, F_SETFD, 0) < 0) rl_fail(rep, RL_STEP_FDS, errno, fd);
    if (syscall(SYS_close_range, 3 + keep, ~0U, CLOSE_RANGE_CLOEXEC) < 0) rl_fail(rep, RL_STEP_FDS, errno, -1);

    // Before the capabilities go: lowering is always allowed, and a hard limit above the
    // caller's fails EPERM either way (CAP_SYS_RESOURCE counts in the initial namespace).
    for (int i = 0; i < c->n_rlimits; i++) {
        struct rlimit rl = { (rlim_t)c->rlimits[i].soft, (rlim_t)c->rlimits[i].hard };
        if (setrlimit(c->rlimits[i].resource, &rl) < 0) rl_fail(rep, RL_STEP_RLIMIT, errno, i);
    }

    if (!c->no_userns) {
        drop_bounding_set(c, rep);
        // Raw syscalls, not glibc's wrappers: those apply the change to every thread the
        // process had (SIGSETXID, then a futex wait for each to answer). A child cloned
        // from a multi-threaded process — the keeper, whose pool thread builds network
        // namespaces, clones warm sandboxes — has one thread, but glibc's list still
        // names the others, and the wait never ends (seen: warm sandboxes stuck there).
        if (c->clear_groups && syscall(SYS_setgroups, 0, NULL) < 0) rl_fail(rep, RL_STEP_SETGROUPS, errno, -1);
        if (syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0) rl_fail(rep, RL_STEP_SETGID, errno, -1);
        if (syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0) rl_fail(rep, RL_STEP_SETUID, errno, -1);
    }
    if (!c->use_init && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) rl_fail(rep, RL_STEP_PDEATHSIG, errno, -1);
    if (!c->no_userns) set_caps(c, rep);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) rl_fail(rep, RL_STEP_NNP, errno, -1);
    if (c->landlock) apply_landlock(c, rep);
    // The notifying filter goes last: after it, only sendmsg/close (the hand-off) and the
    // calls below up to execve run under it.
    for (int i = 0; i < c->n_filters; i++) {
        if (i == c->notify_filter) continue;
        struct sock_fprog prog = { (unsigned short)c->filters[i].len, (struct sock_filter *)c->filters[i].prog };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) rl_fail(rep, RL_STEP_SECCOMP, errno, i);
    }
    if (c->notify_filter >= 0 && c->notify_filter < c->n_filters) {
        const struct rl_bpf *f = &c->filters[c->notify_filter];
        struct sock_fprog prog = { (unsigned short)f->len, (struct sock_filter *)f->prog };
        int lfd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        if (lfd < 0) rl_fail(rep, RL_STEP_SECCOMP, errno, c->notify_filter);
        send_listener(notify_sock, lfd, rep);
    }

    // Dispositions: SIG_IGN survives exec, so reset everything (~64 calls, so before a
    // warm sandbox's wait, not on its run's path). Signals stay blocked until just
    // before exec: one that arrives meanwhile waits, pending, for the command.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, NULL);

    // A warm sandbox stops here, every step above done ahead of its run: the command and
    // fds 0-2 arrive on rep (signals still blocked, so none is lost or acted on meanwhile).
    struct rl_config warm;
    if (c->zygote) {
        warm = *c;
        rl_warm_wait(&warm, rep);
        c = &warm;
    }

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    exec_search(c, rep);
    _exit(125);
}
