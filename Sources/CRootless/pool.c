// The keeper's pool of fresh network namespaces (owned by its user namespace, lo up):
// creating one costs ~0.6 ms, the largest single step of a start, and the keeper makes
// the next one while nobody is asking. Two kinds:
//  - plain: for a run with a network namespace of its own (--net none), and for the warm
//    sandboxes the keeper builds;
//  - with tap0 made and configured (--net slirp): a TAP's making (register the device,
//    bring it up, addresses, routes) costs a cold start ~1 ms more, most of it waiting
//    for the kernel's rtnl lock, which the teardown of the last run's namespace holds.
//    Made with the setup requests of the last --net slirp run that asked (its key); a run
//    with other ones gets a plain namespace and makes its TAP itself, and the pool is
//    made anew for the new key.
// Kept by a thread of their own (refill): a namespace made right after another was torn
// down waits for the kernel's cleanup (rtnl), up to milliseconds, and a run asking then
// must not wait behind it. unshare(CLONE_NEWNET) moves only the calling thread.
#include "child.h"
#include "pool.h"
#include "rl_keeper.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define POOL_PLAIN 2
#define POOL_TAP 2
// After a namespace or a TAP could not be made (max_net_namespaces reached for a while,
// no /dev/net/tun), the next try waits this long: runs meanwhile make their own.
#define RETRY_MS 1000

// A TAP made ahead: its network namespace, and the socket [tap, netns] wait in (the only
// reference to the TAP: none is open in the keeper while it waits, as for a warm sandbox).
struct tap_entry { int netns, sock; };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t low;
    int plain[POOL_PLAIN];
    int n_plain;
    struct tap_entry taps[POOL_TAP];
    int n_taps;
    // Made with an old key: closed by the refill thread (a TAP's last close waits for the
    // kernel's rtnl lock and an RCU grace period, not for a run's answer). It makes no TAP
    // while one waits here, so these and the pooled ones are never more than POOL_TAP.
    struct tap_entry stale[POOL_TAP];
    int n_stale;
    // The key the TAPs are made with (key_len 0: none yet); gen counts its changes, so an
    // entry made with an older key is not pooled. tap_failed_at, plain_failed_at: when
    // making one last failed (for this key), or 0.
    char key[RL_TAP_KEY_MAX];
    size_t key_len;
    uint64_t gen;
    int64_t tap_failed_at, plain_failed_at;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .low = PTHREAD_COND_INITIALIZER };

// One more fresh network namespace: this thread moves into a new one (the keeper holds
// every capability in its user namespace, which owns it), brings lo up as the sandbox's
// child would, and keeps an fd. Returns the fd or -1.
static int fresh_netns(void) {
    if (unshare(CLONE_NEWNET) < 0) return -1;
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (rl_lo_up() < 0) { close(fd); return -1; }
    return fd;
}

// Whether msg (len bytes, a whole rtnetlink request) is one SlirpNet's setup makes
// (SlirpNet.Netlink): a link request with only an MTU, an address request with only its
// address, a route request with only a gateway. A key comes only from a peer proven to be
// the user, outside every sandbox (keeper.c), and is sent only in a namespace made for it,
// as that user's own run would send it; it is checked all the same, since the keeper
// sends it for every later run, from its own fd table (an attribute naming an fd, such as
// IFLA_NET_NS_FD, would name one of the keeper's).
static int setup_request(const char *msg, size_t len) {
    struct nlmsghdr h;
    memcpy(&h, msg, sizeof h);
    size_t fixed = h.nlmsg_type == RTM_NEWLINK ? sizeof(struct ifinfomsg)
                   : h.nlmsg_type == RTM_NEWADDR ? sizeof(struct ifaddrmsg)
                   : h.nlmsg_type == RTM_NEWROUTE ? sizeof(struct rtmsg) : 0;
    // Acknowledged (rl_tap_request waits for each ack), nothing echoed; a new address or
    // route, never one replaced.
    uint16_t flags = NLM_F_REQUEST | NLM_F_ACK | (h.nlmsg_type == RTM_NEWLINK ? 0 : NLM_F_CREATE | NLM_F_EXCL);
    if (!fixed || h.nlmsg_flags != flags || len < NLMSG_LENGTH(fixed)) return 0;
    for (size_t at = NLMSG_ALIGN(NLMSG_LENGTH(fixed)); at < len;) {
        struct rtattr a;
        if (len - at < sizeof a) return 0;
        memcpy(&a, msg + at, sizeof a);
        if (a.rta_len < sizeof a || a.rta_len > len - at) return 0;
        int ok = h.nlmsg_type == RTM_NEWLINK ? a.rta_type == IFLA_MTU
                 : h.nlmsg_type == RTM_NEWADDR ? a.rta_type == IFA_LOCAL || a.rta_type == IFA_ADDRESS
                 : a.rta_type == RTA_GATEWAY;
        if (!ok) return 0;
        at += RTA_ALIGN(a.rta_len);
    }
    return 1;
}

// Each request of a key, split by its header's length: a setup request of 24 to 1024
// bytes, at most 8 of them (what rl_tap_key makes of a SlirpNet config). Calls
// fn(msg, len, arg) for each while it returns 0; 0 when all were and the key is whole,
// else the first nonzero (or -EINVAL).
static int each_request(const char *key, size_t len, int (*fn)(const char *, size_t, void *), void *arg) {
    size_t at = 0;
    int n = 0;
    while (at < len) {
        struct nlmsghdr h;
        if (len - at < sizeof h || ++n > 8) return -EINVAL;
        memcpy(&h, key + at, sizeof h);
        if (h.nlmsg_len < 24 || h.nlmsg_len > 1024 || h.nlmsg_len > len - at || !setup_request(key + at, h.nlmsg_len)) return -EINVAL;
        int rc = fn(key + at, h.nlmsg_len, arg);
        if (rc) return rc;
        at += h.nlmsg_len;
    }
    return n > 0 ? 0 : -EINVAL;
}

static int check_one(const char *msg, size_t len, void *arg) { (void)msg; (void)len; (void)arg; return 0; }

int rl_tap_key_ok(const void *key, size_t len) { return len > 0 && len <= RL_TAP_KEY_MAX && each_request(key, len, check_one, NULL) == 0; }

struct tap_req { int nl; int32_t index; };
static int send_one(const char *msg, size_t len, void *arg) {
    struct tap_req *r = arg;
    return rl_tap_request(r->nl, msg, len, r->index);
}

// A fresh network namespace with tap0 made and configured with key's requests, as a
// cold run's child makes it (net.c), and a socket with [tap, netns] waiting in it, as the
// engine takes them: 0, or -1.
static int fresh_tap(const char *key, size_t len, struct tap_entry *e) {
    *e = (struct tap_entry){ fresh_netns(), -1 };
    struct tap_req r = { socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), 0 };
    int sp[2] = { -1, -1 }, tap = -1;
    // An ack that never comes fails this TAP, not the pool.
    struct timeval tv = { 1, 0 };
    if (r.nl >= 0) setsockopt(r.nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int ok = e->netns >= 0 && r.nl >= 0 && (tap = rl_tap_open()) >= 0 && (r.index = rl_tap_index(r.nl)) >= 0
             && each_request(key, len, send_one, &r) == 0
             && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0 && rl_tap_send(sp[1], tap) == 0;
    if (r.nl >= 0) close(r.nl);
    if (tap >= 0) close(tap);
    if (sp[1] >= 0) close(sp[1]); // the message stays readable at sp[0]
    e->sock = sp[0];
    if (ok) return 0;
    if (e->netns >= 0) close(e->netns);
    if (e->sock >= 0) close(e->sock);
    return -1;
}

static void close_entry(struct tap_entry e) {
    close(e.netns);
    close(e.sock);
}

// Whether one more is wanted now; a failed try is retried RETRY_MS after.
static int due(int64_t failed_at, int64_t now) { return !failed_at || now - failed_at >= RETRY_MS; }
static int plain_wanted(int64_t now) { return pool.n_plain < POOL_PLAIN && due(pool.plain_failed_at, now); }
static int tap_wanted(int64_t now) { return pool.key_len > 0 && pool.n_taps < POOL_TAP && due(pool.tap_failed_at, now); }

// Waits (pool.mu held) to be told (a take, a new key), or until a failed try is due.
static void wait_for_work(void) {
    int64_t at = 0;
    if (pool.n_plain < POOL_PLAIN && pool.plain_failed_at) at = pool.plain_failed_at + RETRY_MS;
    if (pool.key_len > 0 && pool.n_taps < POOL_TAP && pool.tap_failed_at && (!at || pool.tap_failed_at + RETRY_MS < at))
        at = pool.tap_failed_at + RETRY_MS;
    if (!at) {
        pthread_cond_wait(&pool.low, &pool.mu);
        return;
    }
    struct timespec ts = { (time_t)(at / 1000), (long)(at % 1000) * 1000000 };
    pthread_cond_timedwait(&pool.low, &pool.mu, &ts);
}

static void *refill(void *arg) {
    (void)arg;
    static char key[RL_TAP_KEY_MAX];
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        int64_t now = now_ms();
        if (pool.n_stale) {
            struct tap_entry e = pool.stale[--pool.n_stale];
            pthread_mutex_unlock(&pool.mu);
            close_entry(e);
            pthread_mutex_lock(&pool.mu);
        } else if (plain_wanted(now)) {
            pthread_mutex_unlock(&pool.mu);
            int fd = fresh_netns();
            pthread_mutex_lock(&pool.mu);
            if (fd >= 0) pool.plain[pool.n_plain++] = fd;
            pool.plain_failed_at = fd < 0 ? now_ms() : 0;
        } else if (tap_wanted(now)) {
            size_t len = pool.key_len;
            uint64_t gen = pool.gen;
            memcpy(key, pool.key, len);
            pthread_mutex_unlock(&pool.mu);
            struct tap_entry e;
            int rc = fresh_tap(key, len, &e);
            pthread_mutex_lock(&pool.mu);
            if (gen != pool.gen) { // the key changed meanwhile: made for no one
                if (rc == 0) {
                    pthread_mutex_unlock(&pool.mu);
                    close_entry(e);
                    pthread_mutex_lock(&pool.mu);
                }
            } else {
                if (rc == 0) pool.taps[pool.n_taps++] = e;
                pool.tap_failed_at = rc < 0 ? now_ms() : 0;
            }
        } else {
            wait_for_work();
        }
    }
}

// The refill thread's condition variable waits on the monotonic clock (its retries).
int rl_pool_start(int (*start)(void *(*)(void *), size_t)) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&pool.low, &a);
    pthread_condattr_destroy(&a);
    return start(refill, 64 * 1024);
}

int rl_pool_take(const char *key, size_t len, int *netns, int *sock) {
    *netns = *sock = -1;
    pthread_mutex_lock(&pool.mu);
    if (len > 0 && len == pool.key_len && memcmp(key, pool.key, len) == 0) {
        if (pool.n_taps > 0) {
            struct tap_entry e = pool.taps[--pool.n_taps];
            *netns = e.netns;
            *sock = e.sock;
        }
    } else if (rl_tap_key_ok(key, len)) {
        // A new key: the TAPs made with the old one go (closed by the refill thread); the
        // next ones are made with it.
        while (pool.n_taps > 0) pool.stale[pool.n_stale++] = pool.taps[--pool.n_taps];
        memcpy(pool.key, key, len);
        pool.key_len = len;
        pool.gen++;
        pool.tap_failed_at = 0;
    }
    if (*netns < 0 && pool.n_plain > 0) *netns = pool.plain[--pool.n_plain];
    pthread_cond_signal(&pool.low);
    pthread_mutex_unlock(&pool.mu);
    return *sock >= 0;
}
