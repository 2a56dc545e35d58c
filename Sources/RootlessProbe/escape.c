// Escape payloads for the integration suite (issue 3): each tries one thing a sandboxed
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
#include <sys/socket.h>
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

int escape_main(const char *c, const char *a) {
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
