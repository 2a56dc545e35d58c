// The keeper: a long-lived process that only holds a user namespace whose id maps
// newuidmap/newgidmap already wrote, so later `--map auto` sandboxes join it with setns
// instead of paying the two setuid helpers (~3 ms) per start — podman's pause process.
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int rl_keeper_spawn(struct rl_child *out) {
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
        syscall(SYS_close_range, 3U, ~0U, 0U);
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

__attribute__((noreturn)) void rl_keeper_loop(void) {
    // exec'd through /proc/self/exe, so comm would read "exe"; name it for ps -C / top.
    prctl(PR_SET_NAME, "rootless-keeper", 0, 0, 0);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    for (;;) pause();
}

int rl_setns_user(int fd) { return setns(fd, CLONE_NEWUSER) < 0 ? -errno : 0; }

int rl_pidfd_open(int pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

int rl_pidfd_alive(int pidfd) {
    struct pollfd p = { pidfd, POLLIN, 0 };
    return poll(&p, 1, 0) == 0;
}

int rl_pidfd_kill(int pidfd, int sig) {
    return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

int rl_flock(int fd, int op) { return flock(fd, op) < 0 ? -errno : 0; }
