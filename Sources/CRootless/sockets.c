// SlirpNet's host side (SlirpHost): socket calls Swift's Glibc module does not export —
// the fds the child hands over, a thread's network namespace, splice(2) between sockets.
// Used by the front's engine thread, never between clone and exec.
#define _GNU_SOURCE
#include "crootless.h"
#include "fdpass.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

int rl_cpus_allowed(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) < 0) return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

int rl_recv_fds(int sock, int *fds, int max) {
    int n = rl_fd_recv(sock, 0, fds, max);
    return n == 0 ? -EPIPE : n;
}

int rl_setns_net(int fd) { return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0; }

long rl_splice_nb(int from, int to, size_t len) {
    ssize_t n;
    do n = splice(from, NULL, to, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK); while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int rl_pipe_nb(int fds[2], int size) {
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
    if (size > 0) (void)fcntl(fds[0], F_SETPIPE_SZ, size); // a hint: past the user's pipe budget it stays 64 KiB
    return 0;
}
