// Private to CRootless: fds over unix sockets and the monotonic clock (child, keeper,
// warm hand-off). Header-only, allocation-free.
#ifndef CROOTLESS_FDPASS_H
#define CROOTLESS_FDPASS_H
#include <stdint.h>
// fds over a unix socket with SCM_RIGHTS: the --seccomp-log listener hand-off (payload.c
// sends, supervise.c receives; one byte of data), a TAP's (net.c sends, the engine and the
// keeper receive) and the keeper's answer (keeper.c: its pid as data, up to four fds).
#include <errno.h>
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
// Room for four fds (the most: a warm sandbox for --net slirp comes with its pidfd, its
// socket, its TAP's socket and the keeper's user namespace).
union rl_fd_ctl { struct cmsghdr h; char b[CMSG_SPACE(4 * sizeof(int))]; };
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

// Receives one message of one byte and up to max fds into fds (flags: MSG_PEEK, MSG_DONTWAIT;
// the fds are close-on-exec). How many fds, or -errno (-EPIPE: the peer closed).
static inline int rl_fd_recv(int sock, int flags, int *fds, int max) {
    char one;
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr m;
    rl_fd_msghdr(&m, &iov, &one, 1, &u);
    ssize_t r;
    do r = recvmsg(sock, &m, flags | MSG_CMSG_CLOEXEC); while (r < 0 && errno == EINTR);
    if (r < 0) return -errno;
    return r == 0 ? -EPIPE : rl_fd_take(&m, fds, max);
}

// Puts n (1 to 4) fds in m as one SCM_RIGHTS message, sized to them.
static inline void rl_fd_put(struct msghdr *m, const int *fds, int n) {
    struct cmsghdr *cm = CMSG_FIRSTHDR(m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(n * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
    m->msg_controllen = CMSG_SPACE(n * sizeof(int));
}

#endif
