// A warm sandbox's own steps in the child (the keeper builds it ahead of the run that will
// take it; warm.c has the request and the hand-off). The cold path's units ask only
// c->zygote and call in here: its pid 1 closes what the keeper had open, and its payload,
// every step up to seccomp done, says ready and waits for its command. Allocation-free.
#include "child.h"
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void rl_zygote_close_others(const int keep[4]) {
    int lo = 3;
    for (;;) {
        int next = -1;
        for (int i = 0; i < 4; i++) if (keep[i] >= lo && (next < 0 || keep[i] < next)) next = keep[i];
        if (next < 0) { syscall(SYS_close_range, (unsigned)lo, ~0U, 0); return; }
        if (next > lo) syscall(SYS_close_range, (unsigned)lo, (unsigned)next - 1, 0);
        lo = next + 1;
    }
}

static char go_buf[RL_WARM_MAX_BYTES] __attribute__((aligned(8)));
static char *go_ptrs[RL_WARM_MAX_STRINGS + 2];

void rl_warm_wait(struct rl_config *c, int rep) {
    struct rl_report ready = { RL_STEP_READY, 0, -1, 0 };
    ssize_t w;
    do w = write(rep, &ready, sizeof ready); while (w < 0 && errno == EINTR);
    if (w != (ssize_t)sizeof ready) _exit(125);
    struct iovec iov;
    union rl_fd_ctl u;
    struct msghdr m;
    rl_fd_msghdr(&m, &iov, go_buf, sizeof go_buf, &u);
    ssize_t r;
    do r = recvmsg(rep, &m, MSG_CMSG_CLOEXEC); while (r < 0 && errno == EINTR);
    // EOF: the keeper is gone, or the run that took us gave up before sending.
    if (r <= 0) _exit(125);
    int fds[3] = { -1, -1, -1 };
    int nf = rl_fd_take(&m, fds, 3);
    if ((m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nf != 3 || (size_t)r < sizeof(struct rl_go_hdr))
        rl_fail(rep, RL_STEP_WARM, (m.msg_flags & MSG_TRUNC) ? E2BIG : EPROTO, -1);
    struct rl_go_hdr h;
    memcpy(&h, go_buf, sizeof h);
    if (h.magic != RL_GO_MAGIC || h.argc < 1 || h.argc > RL_WARM_MAX_STRINGS || h.envc > RL_WARM_MAX_STRINGS
        || h.argc + h.envc > RL_WARM_MAX_STRINGS || h.has_path > 1 || h.has_mask > 1
        || (size_t)r < sizeof h + (h.has_mask ? sizeof(cpu_set_t) : 0))
        rl_fail(rep, RL_STEP_WARM, EPROTO, -1);
    char *p = go_buf + sizeof h, *end = go_buf + r;
    // The run's CPU affinity, not the keeper's (the sandbox's builder): before exec, so
    // the command and everything it starts inherit it, as from a cold start.
    if (h.has_mask) {
        cpu_set_t mask;
        memcpy(&mask, p, sizeof mask);
        if (sched_setaffinity(0, sizeof mask, &mask) < 0) rl_fail(rep, RL_STEP_WARM, errno, -1);
        p += sizeof mask;
    }
    // The strings, each NUL-terminated, all within what arrived: PATH?, argv, envp.
    uint32_t want = h.has_path + h.argc + h.envc;
    for (uint32_t i = 0; i < want; i++) {
        char *z = memchr(p, 0, (size_t)(end - p));
        if (!z) rl_fail(rep, RL_STEP_WARM, EPROTO, -1);
        if (h.has_path && i == 0) c->search_path = p;
        else go_ptrs[i - h.has_path + (i - h.has_path >= h.argc ? 1 : 0)] = p;
        p = z + 1;
    }
    go_ptrs[h.argc] = NULL;
    go_ptrs[h.argc + 1 + h.envc] = NULL;
    c->argv = (const char *const *)go_ptrs;
    c->envp = (const char *const *)(go_ptrs + h.argc + 1);
    // The run's stdio becomes ours (dup2 clears CLOEXEC on 0-2 only).
    for (int i = 0; i < 3; i++) {
        if (dup2(fds[i], i) < 0) rl_fail(rep, RL_STEP_WARM, errno, i);
        close(fds[i]);
    }
}
