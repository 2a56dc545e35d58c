// SlirpNet's side of the child: the sandbox's TAP. Made by the child in the sandbox's new
// network namespace (where it holds CAP_NET_ADMIN), before the root is built (the host's
// /dev/net/tun is still in view); configured with the rtnetlink requests the plan built
// (pure Swift, golden-tested) — never by running `ip`; its fd handed to the front
// process, whose engine is the other end of the wire. Or made ahead, the same way, by the
// keeper in a pooled network namespace (pool.c). Allocation-free.
#include "child.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

// lo up in the caller's network namespace: 0 or -errno. Allocation-free (the child calls it).
int rl_lo_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) == 0) ? 0 : -errno;
    close(s);
    return rc;
}

// tap0 in the caller's network namespace (where it holds CAP_NET_ADMIN): its fd, or -errno.
int rl_tap_open(void) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "tap0", 5);
    // A VirtioNet header before each frame, both ways: the engine's frames may leave TCP
    // checksums partial (NEEDS_CSUM), which a locally delivered packet never sums.
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    int ok = ioctl(fd, TUNSETIFF, &ifr) == 0;
    // The sandbox's kernel may leave its TCP and UDP checksums to the link (the header
    // says so: the engine checks none of those). Without it, frames come summed: a
    // kernel that refuses costs speed, not function.
    if (ok) (void)ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM);
    // Persistent: closing the last fd (the engine's, at the run's end) then leaves the
    // device to its network namespace, whose teardown (a kernel worker, after the last
    // process is gone) removes it. A non-persistent TAP is unregistered in close() itself,
    // an RCU grace period (~30 ms) on the run's exit path.
    if (!ok || ioctl(fd, TUNSETPERSIST, 1) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int rl_tap_index(int nl) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "tap0", 5);
    return ioctl(nl, SIOCGIFINDEX, &ifr) < 0 ? -errno : ifr.ifr_ifindex;
}

int rl_tap_request(int nl, const void *msg, size_t len, int32_t index) {
    char buf[1024] __attribute__((aligned(8)));
    char ack[1024] __attribute__((aligned(8)));
    if (len < 24 || len > sizeof buf) return -EINVAL;
    memcpy(buf, msg, len);
    uint16_t type;
    memcpy(&type, buf + 4, sizeof type);
    if (type == RTM_NEWLINK || type == RTM_NEWADDR) memcpy(buf + 20, &index, sizeof index);
    ssize_t w;
    do w = send(nl, buf, len, 0); while (w < 0 && errno == EINTR);
    if (w != (ssize_t)len) return w < 0 ? -errno : -EIO;
    ssize_t r;
    do r = recv(nl, ack, sizeof ack, 0); while (r < 0 && errno == EINTR);
    if (r < (ssize_t)(sizeof(struct nlmsghdr) + sizeof(struct nlmsgerr))) return r < 0 ? -errno : -EPROTO;
    struct nlmsghdr h;
    struct nlmsgerr e;
    memcpy(&h, ack, sizeof h);
    memcpy(&e, ack + sizeof h, sizeof e);
    if (h.nlmsg_type != NLMSG_ERROR || e.error > 0) return -EPROTO;
    return e.error;
}

// Sends [tap, the caller's network namespace] on sock, as the engine reads them: 0 or -errno.
int rl_tap_send(int sock, int tap) {
    // With the TAP, the namespace itself: the engine opens -p's connections to the
    // sandbox's listeners from inside it when it can (a socket keeps the namespace it was
    // made in), and splices them, rather than carrying them over the TAP.
    int fds[2] = { tap, open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC) };
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr msg;
    char one = 1;
    rl_fd_msghdr(&msg, &iov, &one, 1, &u);
    rl_fd_put(&msg, fds, fds[1] >= 0 ? 2 : 1);
    ssize_t w;
    do w = sendmsg(sock, &msg, MSG_NOSIGNAL); while (w < 0 && errno == EINTR);
    int e = errno;
    if (fds[1] >= 0) close(fds[1]);
    return w == 1 ? 0 : w < 0 ? -e : -EIO;
}

void rl_net_tap(const struct rl_config *c, int rep, int sock) {
    int fd = rl_tap_open();
    if (fd < 0) rl_fail(rep, RL_STEP_TAP, -fd, -1);
    int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (nl < 0) rl_fail(rep, RL_STEP_TAP_CONFIG, errno, -1);
    int32_t index = rl_tap_index(nl);
    if (index < 0) rl_fail(rep, RL_STEP_TAP_CONFIG, -index, -1);
    for (int i = 0; i < c->n_net_setup; i++) {
        const struct rl_nlmsg *m = &c->net_setup[i];
        int rc = m->len < 0 ? -EINVAL : rl_tap_request(nl, m->bytes, (size_t)m->len, index);
        if (rc < 0) rl_fail(rep, RL_STEP_TAP_CONFIG, -rc, i);
    }
    close(nl);
    int rc = rl_tap_send(sock, fd);
    if (rc < 0) rl_fail(rep, RL_STEP_TAP, -rc, -1);
    close(fd);
    close(sock);
}

// The key of a TAP made ahead (pool.c): cfg's setup requests, back to back, each exactly
// as long as its header says (so that the keeper, splitting them by their headers, sends
// what the child would have). Its length, or 0: no TAP, or requests that do not split so
// (a key the keeper will not take for other reasons gets a plain namespace).
size_t rl_tap_key(const struct rl_config *c, void *buf, size_t cap) {
    size_t n = 0;
    if (!c->tap || c->n_net_setup <= 0 || c->n_net_setup > 8) return 0;
    for (int i = 0; i < c->n_net_setup; i++) {
        const struct rl_nlmsg *m = &c->net_setup[i];
        uint32_t hl;
        if (m->len < 24 || m->len > 1024 || (size_t)m->len > cap - n) return 0;
        memcpy(&hl, m->bytes, sizeof hl);
        if (hl != (uint32_t)m->len) return 0;
        memcpy((char *)buf + n, m->bytes, (size_t)m->len);
        n += (size_t)m->len;
    }
    return n;
}
