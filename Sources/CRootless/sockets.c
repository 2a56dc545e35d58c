// SlirpNet's host side (SlirpHost): socket calls Swift's Glibc module does not export —
// the fds the child hands over, a thread's network namespace, splice(2) between sockets.
// Used by the front's engine thread, never between clone and exec.
#define _GNU_SOURCE
#include "crootless.h"
#include "child.h" // the one list of forwarded signals
#include "fdpass.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
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

int rl_udp_pktinfo(int fd, int family) {
    int one = 1;
    int r = family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one)
                               : setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    return r < 0 ? -errno : 0;
}

long rl_recv_dst(int fd, void *buf, size_t len, struct sockaddr_storage *from, struct sockaddr_storage *dst) {
    struct iovec iov = { buf, len };
    union { char b[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))]; struct cmsghdr align; } ctl;
    struct msghdr m = { .msg_name = from, .msg_namelen = sizeof *from, .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b };
    ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);
    if (n < 0) return -errno;
    memset(dst, 0, sizeof *dst); // AF_UNSPEC: not told
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        // IPv4: the local address to answer from (the kernel's: for a datagram to a
        // broadcast or multicast address, the receiving interface's own). IPv6: the address
        // written to, unless a multicast group (no source to answer from: the kernel's choice).
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            struct sockaddr_in *a = (struct sockaddr_in *)(void *)dst;
            a->sin_family = AF_INET;
            a->sin_addr = pi.ipi_spec_dst;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            if (IN6_IS_ADDR_MULTICAST(&pi.ipi6_addr)) continue;
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)(void *)dst;
            a->sin6_family = AF_INET6;
            a->sin6_addr = pi.ipi6_addr;
        }
    }
    return (long)n;
}

long rl_send_src(int fd, const void *buf, size_t len, const struct sockaddr *to, unsigned tolen, const struct sockaddr_storage *src) {
    struct iovec iov = { (void *)buf, len };
    union { char b[CMSG_SPACE(sizeof(struct in6_pktinfo))]; struct cmsghdr align; } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr m = { .msg_name = (void *)to, .msg_namelen = tolen, .msg_iov = &iov, .msg_iovlen = 1 };
    int v4 = src && src->ss_family == AF_INET, v6 = src && src->ss_family == AF_INET6;
    if (v4 || v6) {
        // The source goes in IPv4's ipi_spec_dst or IPv6's ipi6_addr; the rest stays zero.
        struct in_pktinfo p4;
        struct in6_pktinfo p6;
        memset(&p4, 0, sizeof p4);
        memset(&p6, 0, sizeof p6);
        if (v4) p4.ipi_spec_dst = ((const struct sockaddr_in *)(const void *)src)->sin_addr;
        else p6.ipi6_addr = ((const struct sockaddr_in6 *)(const void *)src)->sin6_addr;
        const void *pi = v4 ? (const void *)&p4 : (const void *)&p6;
        size_t size = v4 ? sizeof p4 : sizeof p6;
        struct cmsghdr *c = (struct cmsghdr *)(void *)ctl.b;
        c->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
        c->cmsg_type = v4 ? IP_PKTINFO : IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(size);
        memcpy(CMSG_DATA(c), pi, size);
        m.msg_control = ctl.b;
        m.msg_controllen = CMSG_SPACE(size);
    }
    ssize_t n = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    // A source the kernel will not send from (gone since, or not one it answers from): the
    // answer still goes, from the kernel's choice.
    if (n < 0 && m.msg_control && (errno == EINVAL || errno == EADDRNOTAVAIL || errno == ENETUNREACH)) {
        m.msg_control = NULL;
        m.msg_controllen = 0;
        n = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    return n < 0 ? -errno : (long)n;
}

int rl_forwarded_signalfd(void) {
    sigset_t s;
    sigemptyset(&s);
    for (int i = 0; i < rl_n_forwarded_signals; i++) {
        struct sigaction a;
        if (sigaction(rl_forwarded_signals[i], NULL, &a) == 0 && a.sa_handler != SIG_IGN) sigaddset(&s, rl_forwarded_signals[i]);
    }
    int fd = signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int rl_signalfd_stops(int fd) {
    struct signalfd_siginfo si;
    int stop = 0;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP || si.ssi_signo == SIGQUIT) stop = 1;
    return stop;
}
