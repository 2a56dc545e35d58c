// SlirpNet's side of the child: the sandbox's TAP. Made by the child in the sandbox's new
// network namespace (where it holds CAP_NET_ADMIN), before the root is built (the host's
// /dev/net/tun is still in view); configured with the rtnetlink requests the plan built
// (pure Swift, golden-tested) — never by running `ip`; its fd handed to the front
// process, whose engine is the other end of the wire. Allocation-free.
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

static char nl_buf[1024] __attribute__((aligned(8)));
static char nl_ack[1024] __attribute__((aligned(8)));

void rl_net_tap(const struct rl_config *c, int rep, int sock) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) rl_fail(rep, RL_STEP_TAP, errno, -1);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "tap0", 5);
    // A VirtioNet header before each frame, both ways: the engine's frames may leave TCP
    // checksums partial (NEEDS_CSUM), which a locally delivered packet never sums.
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) rl_fail(rep, RL_STEP_TAP, errno, -1);
    // The sandbox's kernel may leave its TCP and UDP checksums to the link (the header
    // says so: the engine checks none of those). Without it, frames come summed: a
    // kernel that refuses costs speed, not function.
    (void)ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM);
    // Persistent: closing the last fd (the engine's, at the run's end) then leaves the
    // device to its network namespace, whose teardown (a kernel worker, after the last
    // process is gone) removes it. A non-persistent TAP is unregistered in close() itself,
    // an RCU grace period (~30 ms) on the run's exit path.
    if (ioctl(fd, TUNSETPERSIST, 1) < 0) rl_fail(rep, RL_STEP_TAP, errno, -1);
    int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (nl < 0) rl_fail(rep, RL_STEP_TAP_CONFIG, errno, -1);
    if (ioctl(nl, SIOCGIFINDEX, &ifr) < 0) rl_fail(rep, RL_STEP_TAP_CONFIG, errno, -1);
    int32_t index = ifr.ifr_ifindex;
    for (int i = 0; i < c->n_net_setup; i++) {
        const struct rl_nlmsg *m = &c->net_setup[i];
        if (m->len < 24 || (size_t)m->len > sizeof nl_buf) rl_fail(rep, RL_STEP_TAP_CONFIG, EINVAL, i);
        memcpy(nl_buf, m->bytes, (size_t)m->len);
        uint16_t type;
        memcpy(&type, nl_buf + 4, sizeof type);
        if (type == RTM_NEWLINK || type == RTM_NEWADDR) memcpy(nl_buf + 20, &index, sizeof index);
        ssize_t w;
        do w = send(nl, nl_buf, (size_t)m->len, 0); while (w < 0 && errno == EINTR);
        if (w != m->len) rl_fail(rep, RL_STEP_TAP_CONFIG, w < 0 ? errno : EIO, i);
        ssize_t r;
        do r = recv(nl, nl_ack, sizeof nl_ack, 0); while (r < 0 && errno == EINTR);
        if (r < (ssize_t)(sizeof(struct nlmsghdr) + sizeof(struct nlmsgerr))) rl_fail(rep, RL_STEP_TAP_CONFIG, r < 0 ? errno : EPROTO, i);
        struct nlmsghdr h;
        struct nlmsgerr e;
        memcpy(&h, nl_ack, sizeof h);
        memcpy(&e, nl_ack + sizeof h, sizeof e);
        if (h.nlmsg_type != NLMSG_ERROR) rl_fail(rep, RL_STEP_TAP_CONFIG, EPROTO, i);
        if (e.error != 0) rl_fail(rep, RL_STEP_TAP_CONFIG, -e.error, i);
    }
    close(nl);
    // With the TAP, the namespace itself: the engine opens -p's connections to the
    // sandbox's listeners from inside it when it can (a socket keeps the namespace it was
    // made in), and splices them, rather than carrying them over the TAP.
    int fds[2] = { fd, open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC) };
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr msg;
    char one = 1;
    rl_fd_msghdr(&msg, &iov, &one, 1, &u);
    rl_fd_put(&msg, fds, fds[1] >= 0 ? 2 : 1);
    ssize_t w;
    do w = sendmsg(sock, &msg, MSG_NOSIGNAL); while (w < 0 && errno == EINTR);
    if (w != 1) rl_fail(rep, RL_STEP_TAP, w < 0 ? errno : EIO, -1);
    close(fd);
    if (fds[1] >= 0) close(fds[1]);
    close(sock);
}
