// The keeper: a long-lived process that holds a user namespace whose id maps were
// already written (by newuidmap/newgidmap, or directly for --map self), so later
// sandboxes join it with setns instead of mapping afresh per start — podman's pause
// process. It also keeps a small pool of fresh network namespaces (owned by that user
// namespace, only lo, up): creating one costs ~0.6 ms, the largest single step of a
// start, and the keeper makes the next one while nobody is asking.
//
// The pool is kept by a second thread (see refill); the main thread only answers.
// Hand-off, over a SOCK_SEQPACKET socket in the caller's 0700 runtime dir: a run
// connects, the keeper answers one message carrying the user namespace fd and, when the
// pool has one, a network namespace fd, which it then closes: each network namespace is
// handed out once and never entered by anything before the sandbox.
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define KEEPER_LISTEN_FD 3
#define KEEPER_POOL 2

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

int rl_keeper_connect(const char *path, int want_net, int *userns, int *netns, int *pid) {
    *userns = *netns = *pid = -1;
    struct sockaddr_un sa;
    int rc = unix_addr(&sa, path);
    if (rc < 0) return rc;
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    // A stopped keeper must not hang the run: it then maps its own namespace.
    struct timeval tv = { 1, 0 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) { int e = errno; close(s); return -e; }
    if (send(s, want_net ? "J" : "U", 1, MSG_NOSIGNAL) != 1) { int e = errno; close(s); return -e; }
    int32_t kpid = -1;
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr m;
    rl_fd_msghdr(&m, &iov, &kpid, sizeof kpid, &u);
    ssize_t r;
    do r = recvmsg(s, &m, MSG_CMSG_CLOEXEC); while (r < 0 && errno == EINTR);
    int e = r < 0 ? errno : EPROTO;
    close(s);
    int fds[2] = { -1, -1 };
    int n = r > 0 ? rl_fd_take(&m, fds, 2) : 0;
    if (r != sizeof kpid || kpid <= 0 || n < 1) { for (int i = 0; i < n; i++) close(fds[i]); return -e; }
    // Only namespaces of the right kinds, and a network namespace the user namespace owns.
    int ok = ns_type(fds[0]) == CLONE_NEWUSER;
    if (ok && n == 2) {
        int owner = ioctl(fds[1], NS_GET_USERNS);
        struct stat a, b;
        ok = ns_type(fds[1]) == CLONE_NEWNET && owner >= 0 && fstat(owner, &a) == 0 && fstat(fds[0], &b) == 0
            && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
        if (owner >= 0) close(owner);
    }
    if (!ok) { for (int i = 0; i < n; i++) close(fds[i]); return -EPROTO; }
    *userns = fds[0];
    *netns = n == 2 ? fds[1] : -1;
    *pid = kpid;
    return 0;
}

int rl_keeper_defer(const char *path, int pidfd, int pid) {
    char ns[64];
    snprintf(ns, sizeof ns, "/proc/%d/ns/mnt", pid);
    int fds[2] = { pidfd, open(ns, O_RDONLY | O_CLOEXEC) };
    if (fds[1] < 0) return -errno;
    struct sockaddr_un sa;
    int rc = unix_addr(&sa, path);
    int s = rc < 0 ? -1 : socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) { int e = rc < 0 ? -rc : errno; close(fds[1]); return -e; }
    char byte = 'D';
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr m;
    rl_fd_msghdr(&m, &iov, &byte, 1, &u);
    rl_fd_put(&m, fds, 2);
    // In flight, the fds are the socket's: the keeper holds them even if we exit first.
    rc = connect(s, (struct sockaddr *)&sa, sizeof sa) == 0 && sendmsg(s, &m, MSG_NOSIGNAL) == 1 ? 0 : -errno;
    close(s);
    close(fds[1]);
    return rc;
}

int rl_keeper_spawn(int listen_fd, struct rl_child *out) {
    int syncp[2];
    if (pipe2(syncp, O_CLOEXEC) < 0) return -errno;
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
        syscall(SYS_close_range, (unsigned)KEEPER_LISTEN_FD + 1, ~0U, 0U);
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
    if (pid < 0) { close(syncp[1]); return -e; }
    memset(out, 0, sizeof *out);
    out->pid = (int)pid;
    out->pidfd = pidfd;
    out->sync_fd = syncp[1];
    out->report_fd = out->pty_master = out->notify_sock = -1;
    return 0;
}

// One more fresh network namespace for the pool: the keeper moves into a new one (it
// holds every capability in its user namespace, which owns it), brings lo up as the
// sandbox's child would, and keeps an fd. Returns the fd or -1.
static int fresh_netns(void) {
    if (unshare(CLONE_NEWNET) < 0) return -1;
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    int up = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
    if (s >= 0) close(s);
    if (!up) { close(fd); return -1; }
    return fd;
}

// The message: our pid (host pid namespace: we made only a user namespace), for
// `keeper status|stop`; the fds ride along.
static void answer(int conn, int userns, int netns) {
    int32_t pid = getpid();
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr m;
    rl_fd_msghdr(&m, &iov, &pid, sizeof pid, &u);
    int fds[2] = { userns, netns };
    rl_fd_put(&m, fds, netns >= 0 ? 2 : 1);
    sendmsg(conn, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
}

// The pool, filled by its own thread: a netns made right after another one was torn
// down waits for the kernel's cleanup (rtnl), up to milliseconds, and a run asking then
// must not wait behind it. unshare(CLONE_NEWNET) moves only the calling thread.
static struct {
    pthread_mutex_t mu;
    pthread_cond_t low;
    int fds[KEEPER_POOL];
    int n;
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { -1 }, 0 };

static void *refill(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&pool.mu);
        while (pool.n >= KEEPER_POOL) pthread_cond_wait(&pool.low, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
        int fd = fresh_netns();
        if (fd < 0) return NULL; // e.g. max_net_namespaces reached: runs make their own
        pthread_mutex_lock(&pool.mu);
        pool.fds[pool.n++] = fd;
        pthread_mutex_unlock(&pool.mu);
    }
}

// Sandboxes whose mount namespace we hold until their pid 1 is gone (see rl_keeper_defer).
#define KEEPER_WATCH 64

// One request: 'J' (join: answer with the namespaces), 'U' (the user namespace only: a run
// with the host network, status, stop) or 'D' + [pidfd, mntns fd] (hold
// the mount namespace until that pid 1 exits). A client that sends nothing within 200 ms
// is dropped: the keeper must not hang on one.
static void serve(int conn, int userns, struct pollfd *watch, int *mnt, int *nw) {
    struct timeval tv = { 0, 200000 };
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req = 0;
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr m;
    rl_fd_msghdr(&m, &iov, &req, 1, &u);
    ssize_t r = recvmsg(conn, &m, MSG_CMSG_CLOEXEC);
    int fds[2] = { -1, -1 };
    int n = r > 0 ? rl_fd_take(&m, fds, 2) : 0;
    if (r == 1 && (req == 'J' || req == 'U')) {
        int net = -1;
        if (req == 'J') {
            pthread_mutex_lock(&pool.mu);
            if (pool.n > 0) net = pool.fds[--pool.n];
            pthread_cond_signal(&pool.low);
            pthread_mutex_unlock(&pool.mu);
        }
        answer(conn, userns, net);
        if (net >= 0) close(net);
    } else if (r == 1 && req == 'D' && n == 2 && *nw < KEEPER_WATCH && ns_type(fds[1]) == CLONE_NEWNS) {
        watch[1 + *nw] = (struct pollfd){ fds[0], POLLIN, 0 };
        mnt[*nw] = fds[1];
        (*nw)++;
        n = 0; // kept
    }
    for (int i = 0; i < n; i++) close(fds[i]); // a full list: pid 1 then tears it down itself
}

__attribute__((noreturn)) void rl_keeper_loop(void) {
    // exec'd through /proc/self/exe, so comm would read "exe"; name it for ps -C / top.
    prctl(PR_SET_NAME, "rootless-keeper", 0, 0, 0);
    syscall(SYS_close_range, (unsigned)KEEPER_LISTEN_FD + 1, ~0U, 0U);
    int userns = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fstat(KEEPER_LISTEN_FD, &st) < 0 || !S_ISSOCK(st.st_mode) || userns < 0) for (;;) pause();
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_create(&t, &attr, refill, NULL); // no thread, no pool: runs make their own
    struct pollfd watch[1 + KEEPER_WATCH];
    int mnt[KEEPER_WATCH], nw = 0;
    watch[0] = (struct pollfd){ KEEPER_LISTEN_FD, POLLIN, 0 };
    for (;;) {
        if (poll(watch, (nfds_t)(1 + nw), -1) < 0) continue;
        // A held mount namespace goes once its pid 1 has exited: the last reference, so
        // its teardown (unmounts, an RCU grace period, superblocks) runs here, off the
        // path the sandbox's caller waits on.
        for (int i = 0; i < nw; i++) {
            if (!watch[1 + i].revents) continue;
            close(mnt[i]);
            close(watch[1 + i].fd);
            nw--;
            watch[1 + i] = watch[1 + nw];
            mnt[i] = mnt[nw];
            i--;
        }
        if (watch[0].revents & POLLIN) {
            int conn = accept4(KEEPER_LISTEN_FD, NULL, NULL, SOCK_CLOEXEC);
            if (conn >= 0) {
                serve(conn, userns, watch, mnt, &nw);
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
