// clone3 and the child's life up to the new root. See design.md §3 for the order.
#include "child.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void noop_handler(int sig) { (void)sig; }

// Moves fd to >= min (keeping CLOEXEC) so it cannot collide with --preserve-fds.
static int lift_fd(int fd, int min) {
    if (fd < 0 || fd >= min) return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, min);
    int e = errno;
    close(fd);
    errno = e;
    return nfd;
}

// The missing components of cwd, made one at a time: each prefix is resolved in the
// root (symlinks stay inside, magic links refused) and only its last, plain name is
// created there, root-owned 0755 as docker does for a WorkingDir. Stack buffer only.
static void make_cwd(int rootfd, const char *rel, int rep) {
    char buf[4096];
    size_t n = strlen(rel);
    if (n >= sizeof buf) rl_fail(rep, RL_STEP_CHDIR, ENAMETOOLONG, -1);
    memcpy(buf, rel, n + 1);
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    int parent = dup(rootfd);
    if (parent < 0) rl_fail(rep, RL_STEP_CHDIR, errno, -1);
    char *start = buf;
    for (char *p = buf;; p++) {
        if (*p != '/' && *p != 0) continue;
        char end = *p;
        *p = 0;
        if (*start) {
            int fd = (int)syscall(SYS_openat2, rootfd, buf, &how, sizeof how);
            if (fd < 0 && errno == ENOENT) {
                if (mkdirat(parent, start, 0755) < 0 && errno != EEXIST) rl_fail(rep, RL_STEP_CHDIR, errno, -1);
                fd = (int)syscall(SYS_openat2, rootfd, buf, &how, sizeof how);
            }
            if (fd < 0) rl_fail(rep, errno == ELOOP ? RL_STEP_CWD_ESCAPE : RL_STEP_CHDIR, errno, -1);
            close(parent);
            parent = fd;
        }
        if (end == 0) break;
        *p = '/';
        start = p + 1;
    }
    close(parent);
}

static void loopback_up(int rep) {
    int rc = rl_lo_up();
    if (rc < 0) rl_fail(rep, RL_STEP_LOOPBACK, -rc, -1);
}

// pid 1, once its payload has exec'd: nothing it holds may help the payload undo the
// sandbox. It keeps only CAP_KILL (to signal a payload running as another uid), sets
// no_new_privs, and loads a filter of its own that allows just what this loop calls. It
// was made non-dumpable before the payload was cloned, so ptrace of it (and its /proc
// files) needs CAP_SYS_PTRACE in the sandbox's user namespace — which a payload whose
// capabilities include it does not have: that one runs in a nested namespace (nest_userns).
static void harden_init(int rep) {
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    d[0].effective = d[0].permitted = 1u << CAP_KILL;
    if (syscall(SYS_capset, &h, d) < 0) rl_fail(rep, RL_STEP_CAPS, errno, -3);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) rl_fail(rep, RL_STEP_NNP, errno, -3);
#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        ALLOW(SYS_poll), ALLOW(SYS_read), ALLOW(SYS_write), ALLOW(SYS_kill), ALLOW(SYS_wait4),
        ALLOW(SYS_exit_group), ALLOW(SYS_exit), ALLOW(SYS_rt_sigreturn), ALLOW(SYS_restart_syscall),
        ALLOW(SYS_clock_gettime), ALLOW(SYS_close),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    };
#undef ALLOW
    struct sock_fprog prog = { (unsigned short)(sizeof f / sizeof f[0]), f };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) rl_fail(rep, RL_STEP_SECCOMP, errno, -3);
}


// pid 1: reaps everything, forwards signals to the payload's process group (a shell
// waiting on a child must see Ctrl-C too, as with tini -g), and reports the payload's
// wait status on the report pipe before exiting (the parent cannot see it otherwise:
// pid 1 cannot die of the payload's signal). When pid 1 exits the kernel kills the rest
// of the pid namespace, so no orphan outlives the sandbox. It also exits when the run
// that started the sandbox is gone (its end of rep closes: a warm sandbox's front, which
// is not our parent, killed with SIGKILL), and past the timeout (a backstop: the front
// kills at the timeout itself and reports it).
__attribute__((noreturn)) static void init_loop(const struct rl_config *c, pid_t payload, int rep) {
    // Signals sent to a namespace init with SIG_DFL are dropped by the kernel: give each
    // forwarded one a handler; they stay blocked and are read from a signalfd.
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = noop_handler;
    for (int i = 0; i < rl_n_forwarded_signals; i++) sigaction(rl_forwarded_signals[i], &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t all;
    sigfillset(&all);
    int sfd = signalfd(-1, &all, SFD_CLOEXEC);
    if (sfd < 0) rl_fail(rep, RL_STEP_FORK_PAYLOAD, errno, -3);
    int64_t deadline = c->timeout_ms > 0 ? now_ms() + c->timeout_ms + 2000 : 0;
    harden_init(rep);
    for (;;) {
        struct pollfd p[2] = { { sfd, POLLIN, 0 }, { rep, 0, 0 } };
        int wait = -1;
        if (deadline) { int64_t left = deadline - now_ms(); wait = left < 0 ? 0 : (int)left; }
        int n = poll(p, 2, wait);
        if (n == 0 && deadline) _exit(0);
        if (n < 0) continue;
        if (p[1].revents & (POLLHUP | POLLERR)) _exit(0);
        if (!(p[0].revents & POLLIN)) continue;
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si) continue;
        int sig = (int)si.ssi_signo;
        if (sig != SIGCHLD) {
            if (kill(-payload, sig) < 0) kill(payload, sig);
            continue;
        }
        int st;
        pid_t q;
        while ((q = waitpid(-1, &st, WNOHANG)) > 0) {
            if (q == payload) {
                struct rl_report r = { RL_STEP_STATUS, st, -1, 0 };
                ssize_t w;
                do w = write(rep, &r, sizeof r); while (w < 0 && errno == EINTR);
                _exit(0);
            }
        }
    }
}

// The nested user namespace of a payload that keeps CAP_SYS_ADMIN or CAP_SYS_PTRACE:
// the same ids (each range of ours mapped onto itself), written by us — we hold
// CAP_SETUID/CAP_SETGID in its parent. Its mount namespace is a copy made from a less
// privileged namespace, so the kernel locks every mount in it: none can be unmounted to
// uncover what lies beneath, nor made writable if it is read-only (bwrap's way).
static void write_nested_maps(pid_t p, int rep) {
    const char *files[2] = { "uid_map", "gid_map" };
    for (int k = 0; k < 2; k++) {
        char path[64], in[1024], out[1024];
        snprintf(path, sizeof path, "/proc/self/%s", files[k]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, in, sizeof in - 1) : -1;
        if (fd >= 0) close(fd);
        if (n <= 0) rl_fail(rep, RL_STEP_SYNC, n < 0 ? errno : EINVAL, -3);
        in[n] = 0;
        size_t len = 0;
        for (char *line = in; *line;) {
            unsigned long a, b, cnt;
            if (sscanf(line, "%lu %lu %lu", &a, &b, &cnt) == 3) {
                int w = snprintf(out + len, sizeof out - len, "%lu %lu %lu\n", a, a, cnt);
                if (w < 0 || (size_t)w >= sizeof out - len) rl_fail(rep, RL_STEP_SYNC, E2BIG, -3);
                len += (size_t)w;
            }
            char *nl = strchr(line, '\n');
            if (!nl) break;
            line = nl + 1;
        }
        snprintf(path, sizeof path, "/proc/%d/%s", (int)p, files[k]);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, out, len) != (ssize_t)len) rl_fail(rep, RL_STEP_SYNC, errno, -3);
        close(fd);
    }
}

struct payload_args { const struct rl_config *c; int rep, pty_slave, nsock, maps_rd; };
static char payload_stack[128 * 1024] __attribute__((aligned(64)));

static int payload_entry(void *arg) {
    const struct payload_args *a = arg;
    if (a->maps_rd >= 0) {
        // In a nested user namespace: nothing before pid 1 has written its maps.
        char b;
        ssize_t r;
        do r = read(a->maps_rd, &b, 1); while (r < 0 && errno == EINTR);
        if (r != 1) _exit(125);
        close(a->maps_rd);
    }
    rl_exec_payload(a->c, a->rep, a->pty_slave, a->nsock);
    return 125;
}

__attribute__((noreturn)) static void child_main(const struct rl_config *c, int sync_rd, int rep, int pty_slave, int nsock, int netfd,
                                                 int tapsock) {
    // Die with the rootless process (the thread that cloned us). Set before waiting so a
    // parent that dies while writing maps cannot leave us behind. Not a warm sandbox: its
    // parent is the keeper, and once taken it must outlive it; an untaken one ends when
    // the keeper's end of its socket closes (EOF in rl_warm_wait).
    if (!c->zygote && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) rl_fail(rep, RL_STEP_PDEATHSIG, errno, -1);

    // Wait for the id maps. EOF means the parent gave up (and already reported why).
    char b;
    ssize_t r;
    do r = read(sync_rd, &b, 1); while (r < 0 && errno == EINTR);
    if (r != 1) _exit(125);
    close(sync_rd);

    // Already inside the sandbox's cgroup (CLONE_INTO_CGROUP): a cgroup namespace made now
    // is rooted there, so /sys/fs/cgroup inside shows only the sandbox's own subtree.
    if (c->into_cgroup && unshare(CLONE_NEWCGROUP) < 0) rl_fail(rep, RL_STEP_CGROUPNS, errno, -1);
    if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
        rl_fail(rep, RL_STEP_HOSTNAME, errno, -1);
    // A pooled network namespace replaces CLONE_NEWNET (its lo is already up). We hold
    // CAP_SYS_ADMIN in the keeper's user namespace, which owns it.
    if (netfd >= 0) {
        if (setns(netfd, CLONE_NEWNET) < 0) rl_fail(rep, RL_STEP_NETNS, errno, -1);
        close(netfd);
    } else if (c->loopback_up) {
        loopback_up(rep);
    }
    // SlirpNet: the TAP, in the network namespace just joined or made (net.c).
    if (c->tap && !c->tap_made) rl_net_tap(c, rep, tapsock);

    if (!c->no_userns && !c->keep_root) rl_build_root(c, rep);

    // cwd inside the new root. A cwd such as /proc/self/fd/N naming a leaked host fd
    // would land outside the root (CVE-2024-21626), and getcwd() then still says "/" on
    // this kernel, so a check after chdir is not enough: resolve the path *in* the root
    // with magic links refused (ELOOP -> CWD_ESCAPE) and fchdir to what was resolved.
    if (c->cwd) {
        int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) rl_fail(rep, RL_STEP_CHDIR, errno, -1);
        const char *rel = c->cwd;
        while (*rel == '/') rel++;
        struct open_how how;
        memset(&how, 0, sizeof how);
        how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
        how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
        if (c->cwd_create && *rel) make_cwd(rootfd, rel, rep);
        int fd = *rel ? (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how) : dup(rootfd);
        if (fd < 0) rl_fail(rep, errno == ELOOP ? RL_STEP_CWD_ESCAPE : RL_STEP_CHDIR, errno, -1);
        if (fchdir(fd) < 0) rl_fail(rep, RL_STEP_CHDIR, errno, -1);
        close(fd);
        close(rootfd);
    }
    char cwdbuf[4096];
    if (getcwd(cwdbuf, sizeof cwdbuf) == NULL) {
        if (errno != ERANGE) rl_fail(rep, RL_STEP_CWD_ESCAPE, errno, -1);
    } else if (cwdbuf[0] != '/') {
        rl_fail(rep, RL_STEP_CWD_ESCAPE, EXDEV, -1);
    }

    if (!c->use_init) rl_exec_payload(c, rep, pty_slave, nsock);

    // The payload shares our memory until its execve (CLONE_VM|CLONE_VFORK, as
    // posix_spawn does): no copy of the rootless process's page tables for a child that
    // replaces them at once, and none to tear down. We are suspended meanwhile, so the
    // shared errno/TLS cannot race; it runs on its own stack, in static memory we never
    // touch. Its fd table, signal handlers, creds and seccomp filters are its own.
    //
    // A warm sandbox's payload waits for its run before that execve, for as long as the
    // keeper holds it. A vfork parent waits uninterruptibly (state D), so each idle warm
    // sandbox added 1 to the load average. So for those we wait on a pipe instead: its
    // write end is the payload's alone (close-on-exec), and read() returns at the payload's
    // execve or exit, as vfork does. Every signal is blocked here (rl_spawn), so nothing
    // interrupts the read, and until it returns we touch no shared state (errno).
    //
    // A nested payload (nest_userns) is cloned into its own user and mount namespaces and
    // waits on maps[0] until we have written its maps; it is not a vfork child either (we
    // must run meanwhile), so we wait for its exec on the pipe as for a warm sandbox.
    int nest = c->nest_userns != 0;
    struct payload_args pa = { c, rep, pty_slave, nsock, -1 };
    int ex[2] = { -1, -1 }, maps[2] = { -1, -1 };
    if ((c->zygote || nest) && pipe2(ex, O_CLOEXEC) < 0) rl_fail(rep, RL_STEP_FORK_PAYLOAD, errno, -1);
    if (nest && pipe2(maps, O_CLOEXEC) < 0) rl_fail(rep, RL_STEP_FORK_PAYLOAD, errno, -1);
    // Above 0-2: the payload dup2s the run's stdio there, which must not close ex[1].
    if ((c->zygote || nest) && ((ex[0] = lift_fd(ex[0], 3)) < 0 || (ex[1] = lift_fd(ex[1], 3)) < 0))
        rl_fail(rep, RL_STEP_FORK_PAYLOAD, errno, -1);
    if (nest && ((maps[0] = lift_fd(maps[0], 3)) < 0 || (maps[1] = lift_fd(maps[1], 3)) < 0))
        rl_fail(rep, RL_STEP_FORK_PAYLOAD, errno, -1);
    pa.maps_rd = maps[0];
    // Non-dumpable from before the payload runs (its exec gives it a fresh mm of its
    // own): our /proc files then belong to the initial namespace's root, so no ptrace of
    // us, no /proc/1/mem, environ or fd for the payload, whatever its capabilities. (A
    // nested payload's maps are written first: its /proc files are ours until then.)
    if (!nest && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) rl_fail(rep, RL_STEP_FORK_PAYLOAD, errno, -1);
    pid_t p = clone(payload_entry, payload_stack + sizeof payload_stack,
                    CLONE_VM | (c->zygote || nest ? 0 : CLONE_VFORK) | (nest ? CLONE_NEWUSER | CLONE_NEWNS : 0) | SIGCHLD, &pa);
    if (p < 0) rl_fail(rep, RL_STEP_FORK_PAYLOAD, errno, -1);
    if (nest) {
        close(maps[0]);
        write_nested_maps(p, rep);
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) rl_fail(rep, RL_STEP_FORK_PAYLOAD, errno, -1);
        char one = 1;
        if (write(maps[1], &one, 1) != 1) rl_fail(rep, RL_STEP_FORK_PAYLOAD, errno, -1);
        close(maps[1]);
    }
    if (c->zygote || nest) {
        close(ex[1]);
        char b;
        (void)!read(ex[0], &b, 1);
        close(ex[0]);
    }
    if (nsock >= 0) close(nsock);
    if (pty_slave >= 0) close(pty_slave);
    // pid 1 keeps only the report pipe (and 0-2): a preserved pipe end held here would
    // keep a reader outside from ever seeing EOF.
    if (rep > 3) syscall(SYS_close_range, 3, (unsigned)rep - 1, 0);
    syscall(SYS_close_range, (unsigned)rep + 1, ~0U, 0);
    init_loop(c, p, rep);
}

int rl_spawn(const struct rl_config *c, struct rl_child *out) {
    int min_fd = 3 + (c->preserve_fds > 0 ? c->preserve_fds : 0);
    int syncp[2], repp[2];
    int master = -1, slave = -1;
    int nsock[2] = { -1, -1 };
    if (c->notify_filter >= 0) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, nsock) < 0) return -errno;
        nsock[0] = lift_fd(nsock[0], min_fd);
        nsock[1] = lift_fd(nsock[1], min_fd);
    }
    if (pipe2(syncp, O_CLOEXEC) < 0) return -errno;
    // A warm sandbox reports on its socket (the run that takes it reads there), not a pipe.
    repp[0] = -1;
    if (c->zygote ? (repp[1] = fcntl(c->zygote_fd, F_DUPFD_CLOEXEC, min_fd)) < 0 : pipe2(repp, O_CLOEXEC) < 0) {
        int e = errno; close(syncp[0]); close(syncp[1]); return -e;
    }
    // The pooled netns fd, lifted too: the caller's copy may sit where --preserve-fds are.
    int netfd = -1;
    if (c->netns_fd >= 0 && (netfd = fcntl(c->netns_fd, F_DUPFD_CLOEXEC, min_fd)) < 0) {
        int e = errno; close(syncp[0]); close(syncp[1]); close(repp[0]); close(repp[1]); return -e;
    }
    // SlirpNet's socket for the TAP's fd, lifted likewise.
    int tapsock = -1;
    if (c->tap && !c->tap_made && (tapsock = fcntl(c->net_sock, F_DUPFD_CLOEXEC, min_fd)) < 0) {
        int e = errno; close(syncp[0]); close(syncp[1]); close(repp[0]); close(repp[1]); if (netfd >= 0) close(netfd); return -e;
    }
    syncp[0] = lift_fd(syncp[0], min_fd);
    syncp[1] = lift_fd(syncp[1], min_fd);
    repp[0] = lift_fd(repp[0], min_fd);
    repp[1] = lift_fd(repp[1], min_fd);
    if (c->use_tty) {
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) return -errno;
        // TIOCGPTPEER opens the peer through the master fd: no path lookup of /dev/pts/N
        // that another process could race (CVE-2025-52565 class).
        slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0) return -errno;
        master = lift_fd(master, min_fd);
        slave = lift_fd(slave, min_fd);
        struct winsize ws;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
    }

    // Everything blocked across clone: pid 1 must not lose a signal between its birth and
    // its sigwaitinfo loop; the payload unblocks before exec.
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);

    int pidfd = -1;
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.flags = c->clone_flags | CLONE_PIDFD;
    a.pidfd = (uint64_t)(uintptr_t)&pidfd;
    a.exit_signal = SIGCHLD;
    if (c->into_cgroup) {
        a.flags |= CLONE_INTO_CGROUP;
        a.cgroup = (uint64_t)c->cgroup_fd;
    }
    long pid = syscall(SYS_clone3, &a, sizeof a);
    if (pid < 0 && errno == ENOSYS && !c->into_cgroup) {
        // A seccomp policy around us (ours: `untrusted`) may answer clone3 with ENOSYS so
        // that clone's flags can be checked; clone(2) does the same job. x86_64 order:
        // flags, stack (0: share ours, as fork), parent_tid (gets the pidfd), child_tid, tls.
        pid = syscall(SYS_clone, (unsigned long)(a.flags | SIGCHLD), 0L, &pidfd, 0L, 0L);
    }
    if (pid == 0) {
        close(syncp[1]);
        close(repp[0]);
        // Built by the keeper: nothing of its (its socket, pooled namespaces, other warm
        // sandboxes' sockets) may stay open in the sandbox, or the keeper's death would go
        // unseen. Only the sync pipe, the socket, the netns and the TAP's socket are ours;
        // all are >= 3 (or -1).
        if (c->zygote) {
            int keep[4] = { syncp[0], repp[1], netfd, tapsock };
            rl_zygote_close_others(keep);
        }
        if (master >= 0) close(master);
        if (nsock[0] >= 0) close(nsock[0]);
        child_main(c, syncp[0], repp[1], slave, nsock[1], netfd, tapsock);
    }
    int e = errno;
    if (netfd >= 0) close(netfd);
    if (tapsock >= 0) close(tapsock);
    // The parent keeps the forwarded signals blocked (rl_supervise reads them from a
    // signalfd) and restores the rest.
    sigset_t fwd = old;
    for (int i = 0; i < rl_n_forwarded_signals; i++) sigaddset(&fwd, rl_forwarded_signals[i]);
    sigprocmask(SIG_SETMASK, &fwd, NULL);
    close(syncp[0]);
    close(repp[1]);
    if (slave >= 0) close(slave);
    if (nsock[1] >= 0) close(nsock[1]);
    if (pid < 0) {
        close(syncp[1]);
        if (repp[0] >= 0) close(repp[0]);
        if (master >= 0) close(master);
        if (nsock[0] >= 0) close(nsock[0]);
        return -e;
    }
    out->pid = (int)pid;
    out->pidfd = pidfd;
    out->sync_fd = syncp[1];
    out->report_fd = repp[0];
    out->pty_master = master;
    out->notify_sock = nsock[0];
    return 0;
}

int rl_release(struct rl_child *child) {
    char b = 1;
    ssize_t w;
    do w = write(child->sync_fd, &b, 1); while (w < 0 && errno == EINTR);
    int e = errno;
    close(child->sync_fd);
    child->sync_fd = -1;
    return w == 1 ? 0 : -e;
}

void rl_abort(struct rl_child *child) {
    syscall(SYS_pidfd_send_signal, child->pidfd, SIGKILL, NULL, 0);
    if (child->sync_fd >= 0) close(child->sync_fd);
    siginfo_t si;
    waitid(P_PIDFD, (id_t)child->pidfd, &si, WEXITED);
    close(child->pidfd);
    close(child->report_fd);
    if (child->pty_master >= 0) close(child->pty_master);
    if (child->notify_sock >= 0) close(child->notify_sock);
    child->sync_fd = child->report_fd = child->pty_master = child->pidfd = child->notify_sock = -1;
}

int rl_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig) < 0 ? -errno : 0; }

int rl_set_dumpable(int on) { return prctl(PR_SET_DUMPABLE, on) < 0 ? -errno : 0; }

const char *rl_errno_name(int e) { return strerrorname_np(e); }

int rl_memfd(const char *name) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int rl_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0; }
