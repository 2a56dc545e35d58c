// The keeper: a long-lived process that holds a user namespace whose id maps were
// already written (by newuidmap/newgidmap, or directly for --map self), so later
// sandboxes join it with setns instead of mapping afresh per start — podman's pause
// process. It also keeps a small pool of fresh network namespaces (owned by that user
// namespace, only lo, up; for --net slirp with its TAP made), see pool.c.
//
// The pool is kept by a second thread (pool.c), warm sandboxes are built and held
// mount namespaces closed by a third (see builder); the main thread only answers.
// Hand-off, over a SOCK_SEQPACKET socket in the caller's 0700 runtime dir: a run
// connects, the keeper answers one message carrying the user namespace fd and, when the
// pool has one, a network namespace fd (and its TAP's socket), which it then closes: each
// network namespace is handed out once and entered by nothing but the keeper's pool
// thread before the sandbox.
#include "wire.h"
#include "child.h"
#include "pool.h"
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define KEEPER_LISTEN_FD 3
#define KEEPER_PARENT_FD 4

static int unix_addr(struct sockaddr_un *sa, const char *path) {
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof sa->sun_path) return -ENAMETOOLONG;
    memcpy(sa->sun_path, path, n + 1);
    return 0;
}

int rl_keeper_listen(const char *path) {
    struct sockaddr_un sa;
    int rc = unix_addr(&sa, path);
    if (rc < 0) return rc;
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    unlink(path); // a dead keeper's socket (callers hold the start lock)
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 64) < 0) {
        int e = errno;
        close(s);
        return -e;
    }
    return s;
}

static int ns_type(int fd) { return ioctl(fd, NS_GET_NSTYPE); }

// The keeper's answer: its pid (host pid namespace: it made only a user namespace), and
// what the fds are: kind 0 [userns, netns?], kind 1 a warm sandbox [pidfd, socket] whose
// pid 1 is zpid, or for --net slirp [pidfd, socket, tap, userns] (tap: the socket its
// TAP's fd waits in; userns: ours, which the run joins so that its engine may make -p's
// sockets in the sandbox's network namespace, as a cold run does); and how many warm
// sandboxes it has ready and being built, and how many
// builds failed (for status: a build fails where a cold run would make a mount target in
// the user's files, see mounts.c). A keeper from an older build answers with less; the
// rest reads as 0.
struct keeper_answer { int32_t pid, kind, zpid, ready, building, failed; uint8_t build[20]; };

// This binary's GNU build id (the linker's hash of its contents), from its own program
// headers: a keeper serves only runs of the build it is (the answer carries it; another
// build has its own socket, see KeeperStore), so an upgrade never talks to an old keeper.
static int note_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    uint8_t *out = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof *nh, *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 && desc + nh->n_descsz <= end) {
                memcpy(out, desc, nh->n_descsz < 20 ? nh->n_descsz : 20);
                return 1;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    return 1; // the first object is this executable
}

int rl_build_id(uint8_t out[20]) {
    static uint8_t id[20];
    static int known;
    if (!known) { memset(id, 0, sizeof id); dl_iterate_phdr(note_cb, id); known = 1; }
    memcpy(out, id, 20);
    for (int i = 0; i < 20; i++) if (id[i]) return 0;
    return -ENOENT;
}

// Who answers on a keeper socket must be a keeper of ours, not a process in a sandbox that
// took the socket's place: the listener's credentials (the keeper calls listen() itself)
// name our uid, and it sits in our mount and pid namespaces, which no sandbox shares (each
// has its own of both). Checked before a byte of the request (the proof of who we are,
// argv, environment, stdio) is sent.
// 1: the same namespace; 0: another; -1: the process is gone (or going: its namespaces
// are released on exit, before its fds — a SIGKILLed keeper's socket may still queue us).
static int same_ns(int pid, const char *kind) {
    char p[64], q[64];
    snprintf(p, sizeof p, "/proc/%d/ns/%s", pid, kind);
    snprintf(q, sizeof q, "/proc/self/ns/%s", kind);
    struct stat a, b;
    if (stat(p, &a) < 0) return errno == ENOENT || errno == ESRCH ? -1 : 0;
    return stat(q, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int peer_unconfined(int pid);

// The peer whose pid was just looked up in /proc is still the process that connected (or
// listened): its pidfd (SO_PEERPIDFD, taken at connect/listen) has not seen it exit, so
// its pid cannot have been reused by another process meanwhile. Kernels without
// SO_PEERPIDFD (< 6.5): 1, as before.
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
static int peer_still_there(int s) {
    int pfd = -1;
    socklen_t l = sizeof pfd;
    if (getsockopt(s, SOL_SOCKET, SO_PEERPIDFD, &pfd, &l) < 0) return errno == ENOPROTOOPT || errno == EINVAL;
    struct pollfd p = { pfd, POLLIN, 0 };
    int gone = poll(&p, 1, 0) == 1;
    close(pfd);
    return !gone;
}

// 0: a keeper of ours; -ECONNREFUSED: a keeper that is dying (replace it, as a dead one);
// -EACCES: someone else (a sandbox's process, or a --userns none payload: it shares our
// namespaces but runs under no_new_privs and seccomp, which a keeper never does).
static int peer_is_keeper(int s) {
    struct ucred cr;
    socklen_t l = sizeof cr;
    if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 || cr.pid <= 0 || cr.uid != getuid()) return -EACCES;
    int m = same_ns(cr.pid, "mnt"), p = m == 1 ? same_ns(cr.pid, "pid") : m;
    if (m == 1 && p == 1) return peer_unconfined(cr.pid) && peer_still_there(s) ? 0 : -EACCES;
    return m < 0 || p < 0 ? -ECONNREFUSED : -EACCES;
}

// A connected socket to the keeper at path, its peer checked. -EACCES: someone else listens.
static int dial(const char *path) {
    struct sockaddr_un sa;
    int rc = unix_addr(&sa, path);
    if (rc < 0) return rc;
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    // A stopped keeper must not hang the run: it then maps its own namespace.
    struct timeval tv = { 1, 0 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) { int e = errno; close(s); return -e; }
    int who = peer_is_keeper(s);
    if (who < 0) { close(s); return who; }
    return s;
}

// Our user namespace, sent with every request: the keeper serves only the user it was
// started for (a process in a sandbox cannot open this namespace). A run that has joined
// the keeper's user namespace (its 'D' request) sends that one (see peer_outside).
static int proof_fd(void) { return open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC); }

// Connect, send the request (iov, and fd when >= 0), take the answer and its fds. 0 or -errno.
static int ask_any(const char *path, struct iovec *req, int nreq, int fd, struct keeper_answer *a, int fds[4], int *nfds, int any_build) {
    int s = dial(path);
    if (s < 0) return s;
    struct msghdr out;
    union rl_fd_ctl ou;
    rl_fd_msghdr(&out, req, req[0].iov_base, req[0].iov_len, &ou);
    out.msg_iovlen = (size_t)nreq;
    if (fd >= 0) rl_fd_put(&out, &fd, 1);
    else { out.msg_control = NULL; out.msg_controllen = 0; }
    if (sendmsg(s, &out, MSG_NOSIGNAL) < 0) { int e = errno; close(s); return -e; }
    memset(a, 0, sizeof *a);
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr m;
    rl_fd_msghdr(&m, &iov, a, sizeof *a, &u);
    ssize_t r;
    do r = recvmsg(s, &m, MSG_CMSG_CLOEXEC); while (r < 0 && errno == EINTR);
    int e = r < 0 ? errno : EPROTO;
    close(s);
    int n = r > 0 ? rl_fd_take(&m, fds, 4) : 0;
    if (r < (ssize_t)sizeof a->pid || a->pid <= 0 || n < 1 || (a->kind == 0 && n > 3) || (a->kind == 1 && n != 2 && n != 4) || a->kind < 0
        || a->kind > 1) {
        for (int i = 0; i < n; i++) close(fds[i]);
        return -e;
    }
    // Another build's keeper (an answer without ours): not ours to use.
    uint8_t mine[20];
    rl_build_id(mine);
    if (!any_build && (r < (ssize_t)sizeof *a || memcmp(mine, a->build, sizeof mine) != 0)) {
        for (int i = 0; i < n; i++) close(fds[i]);
        return -ESTALE;
    }
    *nfds = n;
    return 0;
}

static int ask(const char *path, struct iovec *req, int nreq, int fd, struct keeper_answer *a, int fds[4], int *nfds) {
    return ask_any(path, req, nreq, fd, a, fds, nfds, 0);
}

// Only namespaces of the right kinds, a network namespace the user namespace owns, and
// with it a socket (its TAP's, made ahead: pool.c) only when asked with a key.
static int check_namespaces(int *fds, int n, int keyed, int *userns, int *netns, int *tap) {
    struct stat st;
    int ok = ns_type(fds[0]) == CLONE_NEWUSER && (n < 3 || (keyed && fstat(fds[2], &st) == 0 && S_ISSOCK(st.st_mode)));
    if (ok && n >= 2) {
        int owner = ioctl(fds[1], NS_GET_USERNS);
        struct stat a, b;
        ok = ns_type(fds[1]) == CLONE_NEWNET && owner >= 0 && fstat(owner, &a) == 0 && fstat(fds[0], &b) == 0
            && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
        if (owner >= 0) close(owner);
    }
    if (!ok) { for (int i = 0; i < n; i++) close(fds[i]); return -EPROTO; }
    *userns = fds[0];
    *netns = n >= 2 ? fds[1] : -1;
    *tap = n == 3 ? fds[2] : -1;
    return 0;
}

int rl_keeper_connect(const char *path, int want_net, const void *key, size_t key_len, int *userns, int *netns, int *tap, int *pid) {
    *userns = *netns = *tap = *pid = -1;
    char req = !want_net ? 'U' : key_len > 0 ? 'T' : 'J';
    struct iovec iov[2] = { { &req, 1 }, { (void *)key, key_len } };
    struct keeper_answer a;
    int fds[4] = { -1, -1, -1, -1 }, n = 0;
    int proof = proof_fd();
    int rc = ask(path, iov, req == 'T' ? 2 : 1, proof, &a, fds, &n);
    if (proof >= 0) close(proof);
    if (rc == 0 && a.kind != 0) { for (int i = 0; i < n; i++) close(fds[i]); rc = -EPROTO; }
    if (rc == 0) rc = check_namespaces(fds, n, req == 'T', userns, netns, tap);
    if (rc == 0) *pid = a.pid;
    return rc;
}

int rl_keeper_status(const char *path, int *pid, int *ready, int *building, int *failed, int *same_build) {
    char req = 'U';
    struct iovec iov = { &req, 1 };
    struct keeper_answer a;
    int fds[4] = { -1, -1, -1, -1 }, n = 0;
    int proof = proof_fd();
    // Any build's keeper answers status (and so `keeper stop` reaches it); *same_build says
    // whether runs of this binary would use it.
    int rc = ask_any(path, &iov, 1, proof, &a, fds, &n, 1);
    uint8_t mine[20];
    rl_build_id(mine);
    *same_build = rc == 0 && memcmp(mine, a.build, sizeof mine) == 0;
    if (proof >= 0) close(proof);
    for (int i = 0; i < n; i++) close(fds[i]);
    if (rc < 0) return rc;
    *pid = a.pid;
    *ready = a.ready;
    *building = a.building;
    *failed = a.failed;
    return 0;
}

int rl_keeper_warm(const char *path, const void *req, size_t len, int want_net, int *userns, int *netns, int *pid,
                   int *zpid, int *pidfd, int *sock, int *tap) {
    *userns = *netns = *pid = *zpid = *pidfd = *sock = *tap = -1;
    char w = want_net ? 'W' : 'V';
    struct iovec iov[2] = { { &w, 1 }, { (void *)req, len } };
    struct keeper_answer a;
    int fds[4] = { -1, -1, -1, -1 }, n = 0;
    // Our user namespace goes along: the keeper builds only for the user it serves.
    int proof = proof_fd();
    int rc = ask(path, iov, 2, proof, &a, fds, &n);
    if (proof >= 0) close(proof);
    if (rc < 0) return rc;
    *pid = a.pid;
    if (a.kind == 0) {
        // No warm sandbox this time (none yet, or this caller may not have one): the
        // namespaces, as for 'J'/'U'/'T' (the request's config is the key).
        rc = check_namespaces(fds, n, want_net, userns, netns, tap);
        return rc < 0 ? rc : 0;
    }
    struct stat st;
    if (a.zpid <= 0 || syscall(SYS_pidfd_send_signal, fds[0], 0, NULL, 0) < 0 || fstat(fds[1], &st) < 0 || !S_ISSOCK(st.st_mode)) {
        for (int i = 0; i < n; i++) close(fds[i]);
        return -EPROTO;
    }
    *zpid = a.zpid;
    *pidfd = fds[0];
    *sock = fds[1];
    if (n == 4) {
        if (fstat(fds[2], &st) < 0 || !S_ISSOCK(st.st_mode) || ns_type(fds[3]) != CLONE_NEWUSER) {
            for (int i = 0; i < n; i++) close(fds[i]);
            return -EPROTO;
        }
        *tap = fds[2];
        *userns = fds[3];
    }
    return 1;
}

int rl_keeper_defer(const char *path, int pidfd, int pid) {
    char ns[64];
    snprintf(ns, sizeof ns, "/proc/%d/ns/mnt", pid);
    int fds[3] = { pidfd, open(ns, O_RDONLY | O_CLOEXEC), proof_fd() };
    int s = fds[1] < 0 || fds[2] < 0 ? -errno : dial(path);
    if (s < 0) { if (fds[1] >= 0) close(fds[1]); if (fds[2] >= 0) close(fds[2]); return s; }
    char byte = 'D';
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr m;
    rl_fd_msghdr(&m, &iov, &byte, 1, &u);
    rl_fd_put(&m, fds, 3);
    // In flight, the fds are the socket's: the keeper holds them even if we exit first.
    int rc = sendmsg(s, &m, MSG_NOSIGNAL) == 1 ? 0 : -errno;
    close(s);
    close(fds[1]);
    close(fds[2]);
    return rc;
}

int rl_keeper_spawn(int listen_fd, struct rl_child *out) {
    int syncp[2];
    // Our user namespace, the keeper's parent: only a process in it may take a warm
    // sandbox (one in a sandbox, in the keeper's namespace, may not). Handed over as fd 4.
    int parent_ns = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    if (parent_ns < 0) return -errno;
    if (pipe2(syncp, O_CLOEXEC) < 0) { int e = errno; close(parent_ns); return -e; }
    int pidfd = -1;
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.flags = CLONE_NEWUSER | CLONE_PIDFD;
    a.pidfd = (uint64_t)(uintptr_t)&pidfd;
    a.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &a, sizeof a);
    if (pid < 0 && errno == ENOSYS) pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | CLONE_PIDFD | SIGCHLD), 0L, &pidfd, 0L, 0L);
    if (pid == 0) {
        // Child, C only. Order: wait for the maps (EOF: the parent gave up) -> leave the
        // caller's session and cwd -> drop every inherited fd (a pipe end kept here would
        // keep a reader of the caller's output waiting forever) -> default signal mask ->
        // exec our own binary under the name main.swift recognises. Exec (not a loop
        // here) so ps shows "rootless-keeper" and not the caller's command line.
        close(syncp[1]);
        char b;
        ssize_t r;
        do r = read(syncp[0], &b, 1); while (r < 0 && errno == EINTR);
        if (r != 1) _exit(125);
        setsid();
        if (chdir("/") < 0) _exit(125);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0) _exit(125);
        for (int fd = 0; fd < 3; fd++) if (dup2(null, fd) < 0) _exit(125);
        // The listening socket stays, at fd 3 (dup2 clears CLOEXEC on the copy).
        if (dup2(listen_fd, KEEPER_LISTEN_FD) < 0) _exit(125);
        if (parent_ns != KEEPER_PARENT_FD && dup2(parent_ns, KEEPER_PARENT_FD) < 0) _exit(125);
        if (parent_ns == KEEPER_PARENT_FD) fcntl(KEEPER_PARENT_FD, F_SETFD, 0);
        syscall(SYS_close_range, (unsigned)KEEPER_PARENT_FD + 1, ~0U, 0U);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char *const argv[] = { "rootless-keeper", NULL };
        char *const envp[] = { NULL };
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    int e = errno;
    close(syncp[0]);
    close(parent_ns);
    if (pid < 0) { close(syncp[1]); return -e; }
    memset(out, 0, sizeof *out);
    out->pid = (int)pid;
    out->pidfd = pidfd;
    out->sync_fd = syncp[1];
    out->report_fd = out->pty_master = out->notify_sock = -1;
    return 0;
}

// The message: our pid (host pid namespace: we made only a user namespace), for
// `keeper status|stop`, and the kind of the fds that ride along (struct keeper_answer).
static int n_ready(void);
static int n_spares_all(void);
static int n_to_build(void);
static int n_failed; // warm builds that failed (main thread, mu held)
static int answer(int conn, int kind, int zpid, const int *fds, int n) {
    int ready = n_ready();
    struct keeper_answer a = { getpid(), kind, zpid, ready, n_spares_all() - ready + n_to_build(), n_failed, { 0 } };
    rl_build_id(a.build);
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr m;
    rl_fd_msghdr(&m, &iov, &a, sizeof a, &u);
    rl_fd_put(&m, fds, n);
    return sendmsg(conn, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof a ? 0 : -1;
}

// Sandboxes whose mount namespace we hold until their pid 1 is gone (see rl_keeper_defer),
// and warm sandboxes that were taken (we also reap those: their pid 1 is our child). The
// main thread's alone.
#define KEEPER_WATCH 64
static struct pollfd watch[KEEPER_WATCH];
static int held_mnt[KEEPER_WATCH], n_watch;
// A taken warm sandbox's request: the next one is built when it is gone (see serve_warm).
static struct { char *req; size_t len; } held_next[KEEPER_WATCH];

// ---- the builder thread ----------------------------------------------------------------------
// Chores, done by their own thread so that the main thread only answers: a run that
// connects while a sandbox is being built (clone3 copies our mount table, ~0.5 ms) or a
// mount namespace is torn down (~0.45 ms) no longer waits behind it. (Measured on 2 CPUs,
// back-to-back warm runs: the keeper phase took over 0.6 ms in 24-27% of runs before,
// 21-24% after; the rest of that tail is the CPUs being busy, not this thread.) A chore
// is `count` warm sandboxes for req (owned by the chore), or closing a held mount
// namespace fd.
//
// `mu` guards the spares and the chore list. The builder only appends spares, and the
// main thread finds the ones it polled by pidfd, not by index, so neither moves the
// other's entries under it. Capacity is made by the main thread before it queues a build
// (it alone drops spares: dropping one touches the held list).
struct chore { int fd; char *req; size_t len; int count; };
static struct chore chores[KEEPER_WATCH];
static int n_chores;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t chore_cv = PTHREAD_COND_INITIALIZER;
static int wake_fd = -1; // eventfd: the builder added a spare; the main thread polls it
static int have_builder;  // without one: no warm sandboxes, and fds are closed at once

// With mu held (queue_chore: without).
static void queue_chore_held(struct chore c) {
    int ok = have_builder && n_chores < KEEPER_WATCH;
    if (ok) chores[n_chores++] = c;
    pthread_cond_signal(&chore_cv);
    if (!ok) { if (c.req) free(c.req); else close(c.fd); } // the fd closes here, now
}

static void queue_chore(struct chore c) {
    pthread_mutex_lock(&mu);
    queue_chore_held(c);
    pthread_mutex_unlock(&mu);
}

// Holds mnt (closed when pidfd fires), and then builds a warm sandbox for next_req (owned
// from here on) if given. With the list full, pid 1 tears its namespace down itself, and
// the next warm sandbox is built at once. Main thread, mu held (its callers serve a run
// or drop a spare).
static void hold(int pidfd, int mnt, char *next_req, size_t next_len) {
    if (n_watch == KEEPER_WATCH) {
        close(pidfd);
        close(mnt);
        if (next_req) queue_chore_held((struct chore){ -1, next_req, next_len, 1 });
        return;
    }
    watch[n_watch] = (struct pollfd){ pidfd, POLLIN, 0 };
    held_next[n_watch].req = next_req;
    held_next[n_watch].len = next_len;
    held_mnt[n_watch++] = mnt;
}

// ---- warm sandboxes (see warm.c) -----------------------------------------------------------
// At most KEEPER_SPARES wait here, WARM_PER_REQUEST per request; one unused for WARM_IDLE_MS
// goes (it holds memory, a network namespace and the files it bound; a change of the
// host's mounts drops it at once, see struct spare).
// Three per request: in a series of equal runs, a rebuild has two runs' time to finish
// instead of one before a run asks for it.
#define KEEPER_SPARES 8
#define WARM_PER_REQUEST 3
#define WARM_IDLE_MS 60000
#define WARM_REQ_MAX (192 * 1024)
// minfo: the ready sandbox's /proc/PID/mountinfo, opened when it says ready. Its mount
// table then changes only if the host takes a mount away: rmdir of a bind target in the
// user's rootfs detaches the bind in every namespace (the kernel's rule since 3.18).
// Such a sandbox is no longer the one a cold run would build (that run would make the
// target again and bind it), so it goes when poll says POLLPRI on that file.
// gen: host_gen when its build began. A sandbox's root is a copy of the host's mounts
// (open_tree, recursive) made then: a mount the host adds or removes later under the
// rootfs (a FUSE mount in it, say) is in a cold run's root and not in this one. Any change
// of the host's (our) mount table bumps host_gen, and older sandboxes go.
// tap: our end of the socket its TAP's fd waits in (--net slirp), handed over with it; or -1.
struct spare { char *req; size_t len; int pid, pidfd, sock, mnt, ready; int64_t since; int minfo; uint64_t gen; int tap; };
static struct spare spares[KEEPER_SPARES];
static int n_spares;
static uint64_t host_gen; // mu
static int host_minfo = -1; // our /proc/self/mountinfo (main thread)

// Polls our mount table (main thread, mu): a change bumps host_gen. poll itself consumes
// the change, so each is counted once, here or in the loop.
static void note_host_mounts(int revents) {
    struct pollfd p = { host_minfo, POLLPRI, 0 };
    if (revents < 0) revents = host_minfo >= 0 && poll(&p, 1, 0) == 1 ? p.revents : 0;
    if (revents & (POLLPRI | POLLERR)) host_gen++;
}
static struct { uint64_t parent_dev, parent_ino, mnt_dev, mnt_ino; int have_parent; char cgroup[4096], label[4096]; } self;


static void read_text(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? 0 : read(fd, buf, cap - 1);
    if (fd >= 0) close(fd);
    buf[n > 0 ? n : 0] = 0;
}

// Takes spare i off the list (main thread, mu held), its socket and mountinfo closed;
// its pidfd, mount namespace and request are the caller's (for hold).
static struct spare unlist_spare(int i) {
    struct spare x = spares[i];
    close(x.sock);
    if (x.tap >= 0) close(x.tap);
    if (x.minfo >= 0) close(x.minfo);
    spares[i] = spares[--n_spares];
    return x;
}

// Drops spare i (main thread, mu held): killed if alive; its pid 1 is reaped when its
// pidfd fires (held list) or by the sweep in the loop.
static void drop_spare(int i, int kill) {
    if (kill) syscall(SYS_pidfd_send_signal, spares[i].pidfd, SIGKILL, NULL, 0);
    struct spare x = unlist_spare(i);
    hold(x.pidfd, x.mnt, NULL, 0);
    free(x.req);
}

// The peer must be a process of our parent user namespace: the user, not a sandbox (those
// are in ours) nor anything nested below. It proves it by sending an fd of its user
// namespace: from inside, the kernel gives no fd of a namespace above one's own
// (NS_GET_PARENT, NS_GET_USERNS: EPERM), and our sandboxes' /proc shows only their own
// pids. (Looking at the peer instead fails: /proc/PID/ns of a process above us is EACCES
// here, and PIDFD_GET_USER_NAMESPACE refuses it too.)
// The other end of a connection is not a process of any sandbox: its uid is the user's,
// and either it sits in our mount namespace (the host's: no sandbox does — each has its
// own) or we cannot look at its namespaces at all, which we could (holding every
// capability there) if it ran in our user namespace or one below it, where every sandbox
// we serve runs. (A run asks first from the user's own namespace, then, having joined
// ours, from the host's mount namespace.)
//
// And it runs under neither no_new_privs nor a seccomp filter: a `--userns none` payload
// shares the user's namespaces (and so has the proof) but always carries both; rootless
// itself asks only without them (rl_warm_pack refuses the same), else it maps its own.
static int peer_unconfined(int pid) {
    char p[64], b[8192];
    snprintf(p, sizeof p, "/proc/%d/status", pid);
    read_text(p, b, sizeof b);
    const char *n = strstr(b, "\nNoNewPrivs:"), *f = strstr(b, "\nSeccomp:");
    return n && f && atoi(n + 12) == 0 && atoi(f + 9) == 0;
}

// Returns 0 (refuse), PEER_USER (outside our namespaces: its proof must be the user's own
// user namespace) or PEER_JOINED (a run that joined our user namespace, in our mount
// namespace: its proof is our user namespace).
#define PEER_USER 1
#define PEER_JOINED 2
static int peer_outside(int conn) {
    struct ucred cr;
    socklen_t l = sizeof cr;
    if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 || cr.pid <= 0 || cr.uid != getuid()) return 0;
    if (!peer_unconfined(cr.pid)) return 0;
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/ns/mnt", cr.pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    int kind = 0;
    if (fd < 0) {
        kind = errno == EACCES || errno == EPERM ? PEER_USER : 0;
    } else {
        struct stat st;
        kind = fstat(fd, &st) == 0 && st.st_dev == self.mnt_dev && st.st_ino == self.mnt_ino ? PEER_JOINED : 0;
        close(fd);
    }
    return kind && peer_still_there(conn) ? kind : 0;
}


static int peer_is_user(int proof) {
    struct stat st;
    return self.have_parent && proof >= 0 && ioctl(proof, NS_GET_NSTYPE) == CLONE_NEWUSER && fstat(proof, &st) == 0
        && st.st_dev == self.parent_dev && st.st_ino == self.parent_ino;
}

// The proof a peer of this kind must send (its last fd).
static int proof_ok(int kind, int proof, int userns) {
    if (kind == PEER_USER) return peer_is_user(proof);
    struct stat a, b;
    return kind == PEER_JOINED && proof >= 0 && ioctl(proof, NS_GET_NSTYPE) == CLONE_NEWUSER && fstat(proof, &a) == 0
        && fstat(userns, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// A request's config, unpacked into work (8-aligned, len bytes, a copy: the kept bytes
// stay as sent, for comparing), if every offset checks (rl_warm_unpack); *ours: the
// caller's mount namespace, cgroup and LSM label are ours, the ones the sandbox is built
// in. warm_config: both. Checked before a first build is queued and again by the build; a
// request equal to a kept one was checked when that one was built, so a hit is a byte
// comparison.
static struct rl_config *warm_unpacked(char *work, const char *req, size_t len, int *ours) {
    struct rl_config *c;
    const char *cg, *lb;
    uint64_t md, mi;
    memcpy(work, req, len);
    *ours = 0;
    if (rl_warm_unpack(work, len, &c, &cg, &lb, &md, &mi) < 0) return NULL;
    *ours = md == self.mnt_dev && mi == self.mnt_ino && strcmp(cg, self.cgroup) == 0 && strcmp(lb, self.label) == 0;
    return c;
}

static struct rl_config *warm_config(char *work, const char *req, size_t len) {
    int ours;
    struct rl_config *c = warm_unpacked(work, req, len, &ours);
    return ours ? c : NULL;
}

// Builds a warm sandbox for req and keeps it (builder thread; mu not held): it says
// RL_STEP_READY on its socket once its payload waits. 0 or -1.
static int build_spare(const char *req, size_t len) {
    char *keep = malloc(len), *work = aligned_alloc(8, (len + 7) & ~(size_t)7);
    struct rl_config *c;
    int z[2] = { -1, -1 }, t[2] = { -1, -1 }, net = -1;
    if (!keep || !work || !(c = warm_config(work, req, len))) goto fail;
    memcpy(keep, req, len);
    pthread_mutex_lock(&mu);
    uint64_t gen = host_gen; // before the copy of the host's mounts is made
    pthread_mutex_unlock(&mu);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, z) < 0) goto fail;
    c->zygote_fd = z[1];
    c->netns_fd = -1;
    // --net slirp: pid 1 makes the TAP now and sends its fd here; the run that takes the
    // sandbox gets t[0] with it and its engine reads the fd from there.
    if (c->tap && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, t) < 0) goto fail;
    c->net_sock = t[1];
    if (c->clone_flags & CLONE_NEWNET) {
        int none;  // no key: never a TAP
        rl_pool_take(NULL, 0, &net, &none);
        if (net >= 0) { c->netns_fd = net; c->clone_flags &= ~(uint64_t)CLONE_NEWNET; }
    }
    // rl_spawn leaves the forwarded signals blocked for a supervisor; we are none.
    sigset_t saved;
    pthread_sigmask(SIG_SETMASK, NULL, &saved);
    struct rl_child ch;
    int rc = rl_spawn(c, &ch);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    close(z[1]);
    z[1] = -1;
    if (t[1] >= 0) close(t[1]);
    t[1] = -1;
    if (net >= 0) close(net);
    if (rc < 0) goto fail;
    rl_release(&ch);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/mnt", ch.pid);
    int mnt = open(path, O_RDONLY | O_CLOEXEC);
    free(work);
    pthread_mutex_lock(&mu);
    int room = n_spares < KEEPER_SPARES;
    if (room) spares[n_spares++] = (struct spare){ keep, len, ch.pid, ch.pidfd, z[0], mnt, 0, now_ms(), -1, gen, t[0] };
    pthread_mutex_unlock(&mu);
    if (!room) { // the main thread filled the list meanwhile: not kept
        syscall(SYS_pidfd_send_signal, ch.pidfd, SIGKILL, NULL, 0);
        queue_chore((struct chore){ mnt, NULL, 0, 0 });
        close(ch.pidfd);
        close(z[0]);
        if (t[0] >= 0) close(t[0]);
        free(keep);
        return -1;
    }
    uint64_t one = 1;
    if (write(wake_fd, &one, sizeof one) < 0) {} // the main thread polls the new spare
    return 0;
fail:
    if (z[0] >= 0) close(z[0]);
    if (z[1] >= 0) close(z[1]);
    if (t[0] >= 0) close(t[0]);
    if (t[1] >= 0) close(t[1]);
    free(keep);
    free(work);
    return -1;
}

static int count_spares(const char *req, size_t len) {
    int n = 0;
    for (int i = 0; i < n_spares; i++) n += spares[i].len == len && memcmp(spares[i].req, req, len) == 0;
    return n;
}

// Builds the builder has taken from the list and not yet made (mu): with the queued ones
// and the spares not ready, what `keeper status` calls "building".
static int taken_builds;

static int n_to_build(void) {
    int n = taken_builds;
    for (int i = 0; i < n_chores; i++) if (chores[i].req) n += chores[i].count;
    return n;
}

static void *builder(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (n_chores == 0) pthread_cond_wait(&chore_cv, &mu);
        struct chore c = chores[0];
        memmove(chores, chores + 1, (size_t)--n_chores * sizeof chores[0]);
        if (c.req) taken_builds = c.count;
        pthread_mutex_unlock(&mu);
        if (!c.req) { close(c.fd); continue; }
        for (int k = 0; k < c.count; k++) {
            pthread_mutex_lock(&mu);
            int want = count_spares(c.req, c.len) < WARM_PER_REQUEST && n_spares < KEEPER_SPARES;
            pthread_mutex_unlock(&mu);
            int built = want && build_spare(c.req, c.len) == 0; // appended: counted as a spare now
            pthread_mutex_lock(&mu);
            taken_builds = built ? c.count - k - 1 : 0;
            pthread_mutex_unlock(&mu);
            if (!built) break;
        }
        free(c.req);
    }
    return NULL;
}

// A spare's socket is readable before it is taken: READY, or a failure / EOF (dropped).
static void spare_said(int i) {
    struct rl_report r;
    ssize_t n = recv(spares[i].sock, &r, sizeof r, MSG_DONTWAIT);
    if (n == (ssize_t)sizeof r && r.step == RL_STEP_READY) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/mountinfo", spares[i].pid);
        spares[i].ready = 1;
        spares[i].minfo = open(path, O_RDONLY | O_CLOEXEC); // -1: unwatched, as before
    } else if (!(n < 0 && errno == EAGAIN)) { n_failed++; drop_spare(i, 1); }
}

// The first spare for req that is ready (ready = 1) or any (ready = 0); -1 if none.
static int find_spare(const char *req, size_t len, int ready) {
    for (int i = 0; i < n_spares; i++)
        if ((!ready || spares[i].ready) && spares[i].len == len && memcmp(spares[i].req, req, len) == 0) return i;
    return -1;
}

// Spare i's mounts are not what a cold run would get now (see struct spare): the host's
// mount table changed since its build began, or one of its own mounts went since it
// said ready.
static int mounts_changed(int i) {
    struct pollfd p = { spares[i].minfo, POLLPRI, 0 };
    return spares[i].gen != host_gen || (spares[i].minfo >= 0 && poll(&p, 1, 0) == 1 && (p.revents & (POLLPRI | POLLERR)));
}

// Spare i's mounts are each still where a cold run would put them: every mount it must
// have made (not optional, not a symlink, mask or read-only re-bind) is the root of a mount
// at its target, resolved in the sandbox's root as the build resolved it (in-root, no
// magic links, no symlinks where the plan forbids them). A directory of the rootfs renamed
// and replaced by a symlink after the build (proc -> elsewhere) fails here: a cold run
// would refuse it, so the spare is dropped, not handed out without its /proc.
// The nearest earlier mount enclosing target k is a tmpfs (a host bind in between: no).
static int beneath_own_tmpfs(const struct rl_config *c, int k) {
    const char *t = c->mounts[k].target;
    int best = -1;
    size_t best_n = 0;
    for (int j = 0; j < k; j++) {
        const char *d = c->mounts[j].target;
        size_t n = strlen(d);
        if (c->mounts[j].kind == RL_MOUNT_SYMLINK || c->mounts[j].kind == RL_MOUNT_MASK) continue;
        if (strncmp(t, d, n) == 0 && (t[n] == '/' || (n == 1 && d[0] == '/')) && n >= best_n) { best = j; best_n = n; }
    }
    return best >= 0 && c->mounts[best].kind == RL_MOUNT_TMPFS;
}

static int targets_intact(int i) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/root", spares[i].pid);
    int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    char *work = root >= 0 ? aligned_alloc(8, (spares[i].len + 7) & ~(size_t)7) : NULL;
    struct rl_config *c = work ? warm_config(work, spares[i].req, spares[i].len) : NULL;
    int ok = c != NULL;
    for (int k = 0; ok && k < c->n_mounts; k++) {
        const struct rl_mount *m = &c->mounts[k];
        if ((m->flags & RL_MF_OPTIONAL) || m->kind == RL_MOUNT_SYMLINK || m->kind == RL_MOUNT_MASK || m->kind == RL_MOUNT_READONLY) continue;
        // A target on a tmpfs this sandbox mounted earlier (/dev's nodes, what lies in its
        // /tmp or home) is private to its mount namespace: nothing outside can change it.
        if (beneath_own_tmpfs(c, k)) continue;
        struct open_how how;
        memset(&how, 0, sizeof how);
        how.flags = O_PATH | O_CLOEXEC;
        how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | ((m->flags & RL_MF_NOSYMLINK) ? RESOLVE_NO_SYMLINKS : 0);
        const char *rel = m->target;
        while (*rel == '/') rel++;
        int fd = (int)syscall(SYS_openat2, root, *rel ? rel : ".", &how, sizeof how);
        struct statx sx;
        ok = fd >= 0 && statx(fd, "", AT_EMPTY_PATH, 0, &sx) == 0 && (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
             && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
        if (fd >= 0) close(fd);
    }
    free(work);
    if (root >= 0) close(root);
    return ok;
}

static int index_of(int pidfd) {
    for (int i = 0; i < n_spares; i++) if (spares[i].pidfd == pidfd) return i;
    return -1;
}

static int n_spares_all(void) { return n_spares; }

static int n_ready(void) {
    int n = 0;
    for (int i = 0; i < n_spares; i++) n += spares[i].ready;
    return n;
}

// 'W'/'V' + a warm request (mu held): hand over a ready spare with the same bytes
// (waiting up to WARM_WAIT_MS for one still being built: a build takes ~2 ms, a cold
// start longer), else answer as 'J'/'U'; then have the next ones built.
#define WARM_WAIT_MS 20

// The TAP's fd waiting in a warm sandbox's socket, duplicated for us (MSG_PEEK clones the
// fds it sees and leaves the message for the run), or -1.
static int peek_tap(int sock) {
    int fds[2] = { -1, -1 };
    int n = rl_fd_recv(sock, MSG_PEEK | MSG_DONTWAIT, fds, 2);
    if (n == 2) close(fds[1]); // the sandbox's network namespace: the run's
    return n >= 1 ? fds[0] : -1;
}

// A pidfd of the process at the other end of conn (the run), or -1: SO_PEERPIDFD only
// (>= 6.5). A pid looked up now could already be another process's.
static int peer_pidfd(int conn) {
    int pfd = -1;
    socklen_t l = sizeof pfd;
    return getsockopt(conn, SOL_SOCKET, SO_PEERPIDFD, &pfd, &l) == 0 ? pfd : -1;
}

// The answer to 'J'/'U'/'T' (and to a warm request that gets no sandbox): our user
// namespace, and when want_net a pooled network namespace if there is one; for a
// --net slirp run (key: its TAP's, rl_tap_key) one with its TAP made, and the socket the
// TAP's fd waits in, if the pool has one made with that key. Ours to close after.
static void answer_namespaces(int conn, int userns, int want_net, const char *key, size_t key_len) {
    int net = -1, sock = -1;
    if (want_net) rl_pool_take(key, key_len, &net, &sock);
    // Our own reference to the TAP, held until the run has exited, as for a warm one
    // (serve_warm): the run's close is then never the last.
    int tapref = sock >= 0 ? peek_tap(sock) : -1;
    int fds[3] = { userns, net, sock };
    int sent = answer(conn, 0, 0, fds, net < 0 ? 1 : sock < 0 ? 2 : 3) == 0;
    int front = sent && tapref >= 0 ? peer_pidfd(conn) : -1;
    if (front >= 0 && n_watch + 2 <= KEEPER_WATCH) hold(front, tapref, NULL, 0);
    else { if (tapref >= 0) close(tapref); if (front >= 0) close(front); }
    if (net >= 0) close(net);
    if (sock >= 0) close(sock);
}

static void serve_warm(int conn, int userns, int proof, char kind, const char *req, size_t len) {
    int ok = peer_is_user(proof);
    int i = ok ? find_spare(req, len, 1) : -1;
    int b = ok && i < 0 ? find_spare(req, len, 0) : -1;
    if (b >= 0) {
        // Unlocked while waiting: the builder only appends, and only we drop.
        struct pollfd p = { spares[b].sock, POLLIN, 0 };
        pthread_mutex_unlock(&mu);
        int r = poll(&p, 1, WARM_WAIT_MS);
        pthread_mutex_lock(&mu);
        if (r == 1) spare_said(b);
        i = find_spare(req, len, 1);
        if (i < 0) i = -2; // still building: not this run's, and no more of them
    }
    // Checked again here, not only in the loop's poll: a mount may change between the two.
    if (i >= 0) note_host_mounts(-1);
    while (i >= 0 && (mounts_changed(i) || !targets_intact(i))) {
        drop_spare(i, 1);
        i = find_spare(req, len, 1);
    }
    if (i >= 0) {
        struct spare x = spares[i];
        // --net slirp: a reference of our own to its TAP, held until the run has exited
        // (its pidfd fires). A TAP's last close waits an RCU grace period (tun's detach,
        // ~0.35 ms); held here, the run's own close is never the last, and ours is made
        // by the builder, off every run's path.
        // Peeked before the answer (the run then takes the message), held only once the
        // answer went out, and only with room for the sandbox's own hold (below) left:
        // that one matters more.
        int tapref = x.tap >= 0 ? peek_tap(x.tap) : -1, front = tapref >= 0 ? peer_pidfd(conn) : -1;
        int fds[4] = { x.pidfd, x.sock, x.tap, userns };
        int sent = answer(conn, 1, x.pid, fds, x.tap >= 0 ? 4 : 2) == 0;
        if (sent && tapref >= 0 && front >= 0 && n_watch + 2 <= KEEPER_WATCH) hold(front, tapref, NULL, 0);
        else { if (tapref >= 0) close(tapref); if (front >= 0) close(front); }
        if (sent) {
            // Taken: the run holds pid 1's pidfd and the socket; we hold its mount
            // namespace until pid 1 exits (and reap it then). The next one is built then,
            // not now: its ~35 mounts and filters would compete for the CPUs with the
            // command just started (measured: a warm /bin/true took 1.8 ms instead of
            // 0.9 on two cores). A run that comes meanwhile takes another or starts cold.
            unlist_spare(i);
            hold(x.pidfd, x.mnt, x.req, x.len);
            return;
        }
        drop_spare(i, 1);
    }
    // A miss: the namespaces, as for 'J'/'T' (with --net slirp, the request's config is
    // its TAP's key, whatever world the caller is in); and the config checked for the
    // builds below when this is the first run like this.
    int first = ok && i == -1 && have_builder, valid = 0;
    if (i < 0 && (first || kind == 'W')) {
        static char key[RL_TAP_KEY_MAX];
        size_t key_len = 0;
        char *work = aligned_alloc(8, (len + 7) & ~(size_t)7);
        struct rl_config *c = work ? warm_unpacked(work, req, len, &valid) : NULL;
        if (c && kind == 'W') key_len = rl_tap_key(c, key, sizeof key);
        free(work);
        answer_namespaces(conn, userns, kind == 'W', key, key_len);
    } else if (i < 0) {
        answer_namespaces(conn, userns, kind == 'W', NULL, 0);
    }
    // The first run like this: room is made by dropping the oldest spares, then
    // WARM_PER_REQUEST are built, in the builder.
    if (first && valid) {
        char *copy = malloc(len);
        if (!copy) return;
        memcpy(copy, req, len);
        while (n_spares > KEEPER_SPARES - WARM_PER_REQUEST) {
            int old = 0;
            for (int k = 1; k < n_spares; k++) if (spares[k].since < spares[old].since) old = k;
            drop_spare(old, 1);
        }
        queue_chore_held((struct chore){ -1, copy, len, WARM_PER_REQUEST });
    }
}

// One request: 'J' (join: answer with the namespaces), 'T' + a TAP's key ('J' for a
// --net slirp run: rl_tap_key, see pool.c), 'U' (the user namespace only: a run
// with the host network, status, stop), 'W'/'V' + bytes (a warm sandbox, see serve_warm)
// or 'D' + [pidfd, mntns fd] (hold the mount namespace until that pid 1 exits). A client
// that sends nothing within 200 ms is dropped: the keeper must not hang on one.
static void serve(int conn, int userns) {
    static char body[WARM_REQ_MAX] __attribute__((aligned(8)));
    // Who it is, before anything is read: a peer that may not ask is dropped at once, so
    // it cannot hold the keeper for the read's timeout, connection after connection.
    int kind = peer_outside(conn);
    if (!kind) return;
    struct timeval tv = { 0, 200000 };
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req = 0;
    struct iovec iov[2] = { { &req, 1 }, { body, sizeof body } };
    union rl_fd_ctl u;
    struct msghdr m;
    rl_fd_msghdr(&m, iov, &req, 1, &u);
    m.msg_iovlen = 2;
    ssize_t r = recvmsg(conn, &m, MSG_CMSG_CLOEXEC);
    int fds[3] = { -1, -1, -1 };
    int n = r > 0 ? rl_fd_take(&m, fds, 3) : 0;
    // Every request carries the proof (the user's own user namespace) as its last fd, and
    // comes from outside every sandbox; anything else gets no answer.
    if (n < 1 || !proof_ok(kind, fds[n - 1], userns)) {
        for (int i = 0; i < n; i++) close(fds[i]);
        return;
    }
    pthread_mutex_lock(&mu); // answer() counts the spares
    if (r == 1 && n == 1 && (req == 'J' || req == 'U')) {
        answer_namespaces(conn, userns, req == 'J', NULL, 0);
    } else if (r > 1 && n == 1 && req == 'T' && !(m.msg_flags & MSG_TRUNC)) {
        answer_namespaces(conn, userns, 1, body, (size_t)r - 1);
    } else if (r > 1 && n == 1 && (req == 'W' || req == 'V') && !(m.msg_flags & MSG_TRUNC)) {
        serve_warm(conn, userns, fds[0], req, body, (size_t)r - 1);
    } else if (r == 1 && req == 'D' && n == 3 && n_watch < KEEPER_WATCH && ns_type(fds[1]) == CLONE_NEWNS) {
        close(fds[2]);
        hold(fds[0], fds[1], NULL, 0);
        n = 0; // kept
    }
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n; i++) close(fds[i]); // a full list: pid 1 then tears it down itself
}

static int start_thread(void *(*fn)(void *), size_t stack) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    int rc = pthread_create(&t, &attr, fn, NULL);
    pthread_attr_destroy(&attr);
    return rc == 0;
}

__attribute__((noreturn)) void rl_keeper_loop(void) {
    // exec'd through /proc/self/exe, so comm would read "exe"; name it for ps -C / top.
    prctl(PR_SET_NAME, "rootless-keeper", 0, 0, 0);
    struct stat st;
    if (fstat(KEEPER_PARENT_FD, &st) == 0 && ioctl(KEEPER_PARENT_FD, NS_GET_NSTYPE) == CLONE_NEWUSER) {
        self.parent_dev = st.st_dev;
        self.parent_ino = st.st_ino;
        self.have_parent = 1;
    }
    syscall(SYS_close_range, (unsigned)KEEPER_LISTEN_FD + 1, ~0U, 0U);
    // listen() again, by us: connections now carry the keeper's credentials (SO_PEERCRED
    // names the process that last listened), which every client checks (peer_is_keeper).
    listen(KEEPER_LISTEN_FD, 64);
    int userns = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    if (fstat(KEEPER_LISTEN_FD, &st) < 0 || !S_ISSOCK(st.st_mode) || userns < 0) for (;;) pause();
    if (stat("/proc/self/ns/mnt", &st) == 0) { self.mnt_dev = st.st_dev; self.mnt_ino = st.st_ino; }
    read_text("/proc/self/cgroup", self.cgroup, sizeof self.cgroup);
    read_text("/proc/self/attr/current", self.label, sizeof self.label);
    // No refill thread, no pool: runs make their own network namespaces. No builder, no
    // warm sandboxes: runs start cold (queue_chore).
    rl_pool_start(start_thread);
    wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    // The builder's stack is copied into each sandbox's pid 1 (clone3 without CLONE_VM),
    // which builds the root on it: child_main needs ~20 KiB.
    have_builder = wake_fd >= 0 && start_thread(builder, 1 << 20);
    // Our mount table is the host's (a run's request must name our mount namespace).
    host_minfo = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    // Our own binary, watched: once it is gone (an upgrade replaced it, the build was
    // removed), runs of other builds use keepers of their own, and we leave when idle.
    int exe_watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (exe_watch >= 0 && inotify_add_watch(exe_watch, "/proc/self/exe", IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
        close(exe_watch);
        exe_watch = -1;
    }
    int superseded = 0;
    struct pollfd p[4 + KEEPER_WATCH + 3 * KEEPER_SPARES];
    int polled[KEEPER_SPARES], n_polled;
    for (;;) {
        // [listen] [wake] [host mountinfo] [held: pidfds] [spares: pidfds]
        // [spares not ready: sockets] [spares ready: mountinfo]
        int np = 0;
        p[np++] = (struct pollfd){ KEEPER_LISTEN_FD, POLLIN, 0 };
        p[np++] = (struct pollfd){ wake_fd, POLLIN, 0 };
        p[np++] = (struct pollfd){ host_minfo, POLLPRI, 0 };
        for (int i = 0; i < n_watch; i++) p[np++] = watch[i];
        int s0 = np;
        pthread_mutex_lock(&mu);
        n_polled = n_spares;
        for (int i = 0; i < n_polled; i++) {
            polled[i] = spares[i].pidfd;
            p[s0 + i] = (struct pollfd){ spares[i].pidfd, POLLIN, 0 };
            p[s0 + n_polled + i] = (struct pollfd){ spares[i].ready ? -1 : spares[i].sock, POLLIN, 0 };
            p[s0 + 2 * n_polled + i] = (struct pollfd){ spares[i].ready ? spares[i].minfo : -1, POLLPRI, 0 };
        }
        np += 3 * n_polled;
        int i_exe = np;
        p[np++] = (struct pollfd){ exe_watch, POLLIN, 0 };
        int timeout = -1;
        int64_t now = now_ms();
        for (int i = 0; i < n_spares; i++) {
            int64_t left = spares[i].since + WARM_IDLE_MS - now;
            if (timeout < 0 || left < timeout) timeout = left < 0 ? 0 : (int)left;
        }
        pthread_mutex_unlock(&mu);
        if (poll(p, (nfds_t)np, timeout) < 0) continue;
        if (p[1].revents & POLLIN) {
            uint64_t v;
            if (read(wake_fd, &v, sizeof v) < 0) {}
        }
        // A held mount namespace goes once its pid 1 has exited: the last reference, so
        // its teardown (unmounts, an RCU grace period, superblocks) runs in the builder,
        // off the path the sandbox's caller waits on; the next warm sandbox first (a run
        // may wait for it).
        for (int i = n_watch - 1; i >= 0; i--) {
            if (!p[3 + i].revents) continue;
            siginfo_t si;
            waitid(P_PIDFD, (id_t)watch[i].fd, &si, WEXITED | WNOHANG); // ours (a warm one) or ECHILD
            close(watch[i].fd);
            if (held_next[i].req) queue_chore((struct chore){ -1, held_next[i].req, held_next[i].len, 1 });
            queue_chore((struct chore){ held_mnt[i], NULL, 0, 0 });
            n_watch--;
            watch[i] = watch[n_watch];
            held_mnt[i] = held_mnt[n_watch];
            held_next[i] = held_next[n_watch];
        }
        // Then the spares we polled, found by pidfd (dropping one moves another into its
        // place, and the builder may have added some).
        pthread_mutex_lock(&mu);
        note_host_mounts(p[2].revents);
        now = now_ms();
        for (int k = 0; k < n_polled; k++) {
            int i = index_of(polled[k]);
            if (i < 0) continue;
            // pid 1 of a spare not yet ready exited: its build failed.
            if (p[s0 + k].revents && !spares[i].ready) n_failed++;
            if (p[s0 + k].revents || now - spares[i].since >= WARM_IDLE_MS || p[s0 + 2 * n_polled + k].revents) drop_spare(i, 1);
            else if (spares[i].gen != host_gen) drop_spare(i, 1); // built from the old host mounts
            else if (p[s0 + n_polled + k].revents) spare_said(i);
        }
        pthread_mutex_unlock(&mu);
        // Warm sandboxes' pid 1s that exited while we held no pidfd for them.
        while (waitpid(-1, NULL, WNOHANG | __WALL) > 0) {}
        if (p[i_exe].revents & POLLIN) {
            char ev[4096];
            while (read(exe_watch, ev, sizeof ev) > 0) {}
            struct stat xs;
            superseded = stat("/proc/self/exe", &xs) < 0 || xs.st_nlink == 0;
        }
        // Gone and idle (no sandbox of ours still running): our socket goes with us; the
        // warm sandboxes not taken end when our ends of their sockets close.
        if (superseded && n_watch == 0) {
            struct sockaddr_un sa;
            socklen_t sl = sizeof sa;
            if (getsockname(KEEPER_LISTEN_FD, (struct sockaddr *)&sa, &sl) == 0 && sa.sun_path[0]) unlink(sa.sun_path);
            _exit(0);
        }
        if (p[0].revents & POLLIN) {
            int conn = accept4(KEEPER_LISTEN_FD, NULL, NULL, SOCK_CLOEXEC);
            if (conn >= 0) {
                serve(conn, userns);
                close(conn);
            }
        }
    }
}

int rl_setns_user(int fd) { return setns(fd, CLONE_NEWUSER) < 0 ? -errno : 0; }

int rl_pidfd_open(int pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

int rl_pidfd_kill(int pidfd, int sig) {
    return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

int rl_flock(int fd, int op) { return flock(fd, op) < 0 ? -errno : 0; }
