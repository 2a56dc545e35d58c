// Escape payloads for the integration suite: each tries one thing a sandboxed
// process must not be able to do and prints "NAME=ok" or "NAME=ERRNONAME". The tests
// decide what "fails closed" means; this file only tries.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *en(int e) { const char *n = strerrorname_np(e); return n ? n : "E?"; }
static void res(const char *k, long r) { printf("%s=%s\n", k, r >= 0 ? "ok" : en(errno)); }

// A 32-bit syscall from 64-bit code: int 0x80 takes the i386 table (eax nr, ebx arg0).
static long int80(long nr, long a0) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a0) : "memory", "r8", "r9", "r10", "r11");
    if (ret < 0 && ret > -4096) { errno = (int)-ret; return -1; }
    return ret;
}

static int abstract_connect(const char *name) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(name);
    if (n > sizeof a.sun_path - 2) n = sizeof a.sun_path - 2;
    memcpy(a.sun_path + 1, name, n);
    int r = connect(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n));
    res("abstract", r);
    return 0;
}

// /proc/<pid>/exe of every visible process: the runtime binary must not be among them
// (CVE-2019-5736), and pid 1's must not open for writing.
static int exe_scan(const char *runtime) {
    DIR *d = opendir("/proc");
    int found = 0, seen = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char p[300], t[PATH_MAX];
        snprintf(p, sizeof p, "/proc/%s/exe", e->d_name);
        ssize_t n = readlink(p, t, sizeof t - 1);
        seen++;
        if (n > 0) { t[n] = 0; if (!strcmp(t, runtime)) found++; }
    }
    if (d) closedir(d);
    printf("procs=%d\nruntime_visible=%d\n", seen, found);
    char t[PATH_MAX];
    res("readlink_pid1_exe", readlink("/proc/1/exe", t, sizeof t));
    res("open_pid1_exe_w", open("/proc/1/exe", O_WRONLY | O_CLOEXEC));
    return 0;
}

static int ptrace_child(void) {
    pid_t c = fork();
    if (c == 0) { pause(); _exit(0); }
    long r = ptrace(PTRACE_ATTACH, c, 0, 0);
    res("ptrace_attach", r);
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    return 0;
}

// The calls `untrusted` denies, each tried harmlessly (bad arguments are fine: a filter
// answers before the kernel looks at them, so EPERM/ENOSYS means "filtered").
static int denied_set(void) {
    res("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    res("bpf", syscall(SYS_bpf, 0, NULL, 0));
    res("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    res("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
    res("io_uring_setup", syscall(425, 1, NULL));
    res("fsopen", syscall(430, "tmpfs", 1));
    res("open_tree", syscall(428, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */));
    res("setns", syscall(SYS_setns, 0, 0));
    return 0;
}

// Benchmark payload: ns per getppid() (a syscall the kernel does almost nothing for, so
// the seccomp filter's cost dominates).
static int getppid_loop(long n) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / (double)n;
    printf("ns_per_getppid=%.1f\n", ns);
    return 0;
}

// A fake keeper: listens at path (in the sandbox) and reports what the first client sent:
// a real run must send nothing to it (it checks who listens), a naive client does.
static int fake_keeper(const char *path) {
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    unlink(path);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0) { res("fake_listen", -1); return 0; }
    printf("fake_listen=ok\n");
    struct pollfd p = { s, POLLIN, 0 };
    if (poll(&p, 1, 20000) != 1) { printf("fake_conn=none\n"); return 0; }
    int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
    printf("fake_conn=ok\n");
    struct pollfd q = { c, POLLIN, 0 };
    char buf[65536];
    union { struct cmsghdr h; char b[CMSG_SPACE(8 * sizeof(int))]; } u;
    struct iovec iov = { buf, sizeof buf };
    struct msghdr m = { 0 };
    m.msg_iov = &iov; m.msg_iovlen = 1; m.msg_control = u.b; m.msg_controllen = sizeof u.b;
    ssize_t n = poll(&q, 1, 3000) == 1 ? recvmsg(c, &m, 0) : -1;
    int fds = 0;
    for (struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&m) : NULL; cm; cm = CMSG_NXTHDR(&m, cm))
        if (cm->cmsg_type == SCM_RIGHTS) fds += (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    printf("fake_got_bytes=%zd\nfake_got_fds=%d\n", n < 0 ? 0 : n, fds);
    return 0;
}

// A keeper client with no checks: sends 'U' with our user namespace as the proof and
// reports how many fds came back (0: refused).
static int keeper_ask(const char *path, char kind) {
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    struct timeval tv = { 2, 0 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { res("ask_connect", -1); return 0; }
    int fds[3] = { open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC), -1, -1 };
    int nfd = 1;
    if (kind == 'D') { fds[0] = (int)syscall(SYS_pidfd_open, getpid(), 0); fds[1] = open("/proc/self/ns/mnt", O_RDONLY); fds[2] = open("/proc/self/ns/user", O_RDONLY); nfd = 3; }
    union { struct cmsghdr h; char b[CMSG_SPACE(3 * sizeof(int))]; } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = { &kind, 1 };
    struct msghdr m = { 0 };
    m.msg_iov = &iov; m.msg_iovlen = 1; m.msg_control = u.b; m.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS; cm->cmsg_len = CMSG_LEN(nfd * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, nfd * sizeof(int));
    res("ask_sent", sendmsg(s, &m, MSG_NOSIGNAL));
    char ans[64];
    union { struct cmsghdr h; char b[CMSG_SPACE(4 * sizeof(int))]; } v;
    struct iovec iv = { ans, sizeof ans };
    struct msghdr r = { 0 };
    r.msg_iov = &iv; r.msg_iovlen = 1; r.msg_control = v.b; r.msg_controllen = sizeof v.b;
    ssize_t n = recvmsg(s, &r, 0);
    int got = 0;
    for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&r) : NULL; c; c = CMSG_NXTHDR(&r, c))
        if (c->cmsg_type == SCM_RIGHTS) got += (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    printf("ask_answer_bytes=%zd\nask_answer_fds=%d\n", n < 0 ? 0 : n, got);
    // 'D' is never answered: stay (holding our pidfd alive) until stdin closes, so the
    // test can look at what the keeper holds.
    if (kind == 'D') { char b; alarm(30); while (read(0, &b, 1) > 0) {} }
    return 0;
}

// What --cap-add SYS_ADMIN must not undo: remount the view writable, unmount what the
// sandbox mounted over the host's (proc, tmp). The control: a mount of our own can be
// made and unmounted (the capability is live).
static int unlock(const char *home) {
    res("remount_root_rw", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
    res("umount_proc", umount2("/proc", MNT_DETACH));
    res("umount_tmp", umount2("/tmp", MNT_DETACH));
    char p[4096];
    snprintf(p, sizeof p, "%s/.rootless-escape-%d", home, getpid());
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    res("write_home", fd);
    if (fd >= 0) { close(fd); unlink(p); }
    res("mount_own", mount("none", "/dev/shm", "tmpfs", 0, "size=1m"));
    res("umount_own", umount2("/dev/shm", 0));
    return 0;
}

// ptrace of pid 1: must fail even with CAP_SYS_PTRACE. Detached at once if it worked.
static int ptrace_init(void) {
    long r = ptrace(PTRACE_ATTACH, 1, 0, 0);
    res("ptrace_pid1", r);
    if (r == 0) { waitpid(1, NULL, __WALL); ptrace(PTRACE_DETACH, 1, 0, 0); }
    char b[16];
    int fd = open("/proc/1/mem", O_RDONLY | O_CLOEXEC);
    res("open_pid1_mem", fd);
    res("read_pid1_environ", (fd = open("/proc/1/environ", O_RDONLY | O_CLOEXEC)) >= 0 ? read(fd, b, sizeof b) : -1);
    return 0;
}

// Fills path with 1 MiB writes up to max_mb: how many fit, and how it ended.
static int fill(const char *path, long max_mb) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) { res("fill_open", -1); return 0; }
    static char mb[1 << 20];
    long n = 0;
    int e = 0;
    for (; n < max_mb; n++) {
        ssize_t w = write(fd, mb, sizeof mb);
        if (w != (ssize_t)sizeof mb) { e = w < 0 ? errno : ENOSPC; break; }
    }
    printf("filled_mb=%ld\nfill=%s\n", n, e ? en(e) : "ok");
    close(fd);
    unlink(path);
    return 0;
}

// What a payload without -t could do to the caller's terminal (fd 0): echo off, another
// line discipline, exclusive mode. Reports each; a line discipline that took is undone
// at once (N_TTY) so the test's own terminal survives a failure of the guard.
static int tty_attack(void) {
    struct termios t;
    if (tcgetattr(0, &t) < 0) { res("tty", -1); return 0; }
    t.c_lflag &= ~(tcflag_t)ECHO;
    res("tcsets_noecho", tcsetattr(0, TCSANOW, &t));
    int ldisc = 27 /* N_NULL */, tty = 0 /* N_TTY */;
    long r = ioctl(0, TIOCSETD, &ldisc);
    res("tiocsetd", r);
    if (r == 0) ioctl(0, TIOCSETD, &tty);
    r = ioctl(0, TIOCEXCL);
    res("tiocexcl", r);
    if (r == 0) ioctl(0, TIOCNXCL);
    return 0;
}

// ptrace of every process named `comm` (a helper daemon in our pid namespace, e.g.
// fuse-overlayfs): must fail as for pid 1. Detached at once if it worked.
static int ptrace_comm(const char *comm) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int seen = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char p[300], name[64] = { 0 };
        snprintf(p, sizeof p, "/proc/%s/comm", e->d_name);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, name, sizeof name - 1);
        close(fd);
        if (n > 0 && name[n - 1] == '\n') name[n - 1] = 0;
        if (strcmp(name, comm) != 0) continue;
        seen++;
        pid_t pid = atoi(e->d_name);
        long r = ptrace(PTRACE_ATTACH, pid, 0, 0);
        res("ptrace_helper", r);
        if (r == 0) { waitpid(pid, NULL, __WALL); ptrace(PTRACE_DETACH, pid, 0, 0); }
        snprintf(p, sizeof p, "/proc/%s/environ", e->d_name);
        char b[16];
        res("read_helper_environ", (fd = open(p, O_RDONLY | O_CLOEXEC)) >= 0 ? read(fd, b, sizeof b) : -1);
    }
    if (d) closedir(d);
    printf("helpers=%d\n", seen);
    return 0;
}

int escape_main(const char *c, const char *a) {
    if (!strcmp(c, "tty-attack")) return tty_attack();
    if (!strcmp(c, "ptrace-comm")) return ptrace_comm(a);
    if (!strcmp(c, "fake-keeper")) return fake_keeper(a);
    if (!strcmp(c, "keeper-ask")) return keeper_ask(a, 'U');
    if (!strcmp(c, "keeper-defer")) return keeper_ask(a, 'D');
    if (!strcmp(c, "unlock")) return unlock(a);
    if (!strcmp(c, "ptrace-pid1")) return ptrace_init();
    if (!strcmp(c, "fill")) { const char *sp = strchr(a, ':'); char p[4096]; snprintf(p, sizeof p, "%.*s", sp ? (int)(sp - a) : (int)strlen(a), a); return fill(p, sp ? atol(sp + 1) : 100); }
    if (!strcmp(c, "fs-size")) { struct statfs f; if (statfs(a, &f) < 0) { res("fs_size", -1); return 0; } printf("fs_size_mb=%llu\n", (unsigned long long)f.f_blocks * f.f_bsize >> 20); return 0; }
    if (!strcmp(c, "getppid-loop")) return getppid_loop(*a ? atol(a) : 2000000);
    if (!strcmp(c, "fchmodat2")) { res("fchmodat2", syscall(452, AT_FDCWD, "/tmp", 0755, 0)); return 0; }
    if (!strcmp(c, "int80-getpid")) { res("int80_getpid", int80(20, 0)); return 0; }
    if (!strcmp(c, "int80-unshare-user")) { res("int80_unshare", int80(310, CLONE_NEWUSER)); return 0; }
    if (!strcmp(c, "unshare-user")) { res("unshare_user", unshare(CLONE_NEWUSER)); return 0; }
    if (!strcmp(c, "clone3-user")) {
        struct clone_args ca;
        memset(&ca, 0, sizeof ca);
        ca.flags = CLONE_NEWUSER;
        ca.exit_signal = SIGCHLD;
        long p = syscall(SYS_clone3, &ca, sizeof ca);
        if (p == 0) _exit(0);
        if (p > 0) waitpid((pid_t)p, NULL, 0);
        res("clone3_user", p);
        return 0;
    }
    if (!strcmp(c, "abstract")) return abstract_connect(a);
    if (!strcmp(c, "kill")) { res("kill", kill(atoi(a), 0)); return 0; }
    if (!strcmp(c, "ptrace-child")) return ptrace_child();
    if (!strcmp(c, "exe-scan")) return exe_scan(a);
    if (!strcmp(c, "denied-set")) return denied_set();
    if (!strcmp(c, "mount-dev")) {
        res("mount_dev", mount(a, "/tmp", "ext4", MS_RDONLY, NULL));
        res("open_dev", open(a, O_RDONLY | O_CLOEXEC));
        return 0;
    }
    return -1;
}
