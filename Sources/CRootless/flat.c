// A config flattened into one buffer: its strings and arrays follow a header, and its
// pointers hold their offsets. Written by a run (a warm request, warm.c; a cached start,
// starts.c) and checked offset by offset when read back: the bytes come from a socket or
// a file, so a bad one is refused, never followed.
#include "internal.h"
#include <errno.h>
#include <string.h>

// The one rule for what a sandbox built ahead (a warm one) or started from a cached entry
// may be: nothing tied to its run's own process — no tty, no preserved fds, no cgroup of
// its own, no joined namespace, no image root, no seccomp listener or its records — and a
// whole sandbox (a new root, a user namespace, our pid 1). Checked where a config is
// packed (warm request, start entry) and where one is read back (rl_warm_unpack,
// rl_start_parse); the plan's own reasons, for the user, are Planner.warmOff's.
int rl_warm_shape(const struct rl_config *c) {
    return !c->use_tty && !c->preserve_fds && !c->into_cgroup && !c->join_userns && !c->n_overlay_lower && c->notify_filter == -1
        && !c->n_notify_rules && !c->notify_rules && !c->denials && !c->n_denials && !c->keep_root && !c->no_userns && c->use_init;
}

uint64_t rl_pk_put(struct rl_pk *p, const void *d, size_t len) {
    size_t off = (p->n + 7) & ~(size_t)7;
    if (off > p->cap || len > p->cap - off) { p->err = E2BIG; return 0; }
    if (off > p->n) memset(p->b + p->n, 0, off - p->n);
    if (d) memcpy(p->b + off, d, len); else memset(p->b + off, 0, len);
    p->n = off + len;
    return off;
}

const char *rl_pk_str(struct rl_pk *p, const char *s) { return s ? (const char *)(uintptr_t)rl_pk_put(p, s, strlen(s) + 1) : NULL; }

void rl_pk_config(struct rl_pk *p, const struct rl_config *c, struct rl_config *w) {
    w->rootfs = rl_pk_str(p, c->rootfs);
    w->hostname = rl_pk_str(p, c->hostname);
    w->cwd = rl_pk_str(p, c->cwd);
    if (c->n_mounts > RL_MAX_MOUNTS) { p->err = E2BIG; return; }
    uint64_t mo = c->n_mounts ? rl_pk_put(p, NULL, (size_t)c->n_mounts * sizeof(struct rl_mount)) : 0;
    for (int i = 0; i < c->n_mounts && !p->err; i++) {
        struct rl_mount m = c->mounts[i];
        m.source = rl_pk_str(p, m.source);
        m.target = rl_pk_str(p, m.target);
        m.data = rl_pk_str(p, m.data);
        if (!p->err) memcpy(p->b + mo + (size_t)i * sizeof m, &m, sizeof m);
    }
    w->mounts = (const struct rl_mount *)(uintptr_t)mo;
    uint64_t fo = c->n_filters > 0 ? rl_pk_put(p, NULL, (size_t)c->n_filters * sizeof(struct rl_bpf)) : 0;
    for (int i = 0; i < c->n_filters && !p->err; i++) {
        struct rl_bpf f = c->filters[i];
        f.prog = (const void *)(uintptr_t)rl_pk_put(p, f.prog, (size_t)f.len * 8);
        if (!p->err) memcpy(p->b + fo + (size_t)i * sizeof f, &f, sizeof f);
    }
    w->filters = (const struct rl_bpf *)(uintptr_t)fo;
    uint64_t lo = c->n_ll_rules > 0 ? rl_pk_put(p, NULL, (size_t)c->n_ll_rules * sizeof(struct rl_landlock_rule)) : 0;
    for (int i = 0; i < c->n_ll_rules && !p->err; i++) {
        struct rl_landlock_rule r = c->ll_rules[i];
        r.path = rl_pk_str(p, r.path);
        if (!p->err) memcpy(p->b + lo + (size_t)i * sizeof r, &r, sizeof r);
    }
    w->ll_rules = (const struct rl_landlock_rule *)(uintptr_t)lo;
}

int rl_fix_str(char *b, size_t len, size_t min, const char **f) {
    uintptr_t off = (uintptr_t)*f;
    if (!off) return 0;
    if (off < min || off >= len || !memchr(b + off, 0, len - off)) return -1;
    *f = b + off;
    return 0;
}

int rl_fix_arr(char *b, size_t len, size_t min, const void **f, int32_t n, size_t size, int32_t max) {
    uintptr_t off = (uintptr_t)*f;
    if (n < 0 || n > max) return -1;
    if (n == 0) { *f = NULL; return 0; }
    if (off < min || (off & 7) || off > len || (size_t)n * size > len - off) return -1;
    *f = b + off;
    return 0;
}

int rl_fix_config(char *b, size_t len, size_t min, struct rl_config *c) {
    if (rl_fix_str(b, len, min, &c->rootfs) < 0 || rl_fix_str(b, len, min, &c->hostname) < 0 || rl_fix_str(b, len, min, &c->cwd) < 0)
        return -1;
    if (!c->host_view && !c->rootfs) return -1;
    if (rl_fix_arr(b, len, min, (const void **)&c->mounts, c->n_mounts, sizeof(struct rl_mount), RL_MAX_MOUNTS) < 0) return -1;
    for (int i = 0; i < c->n_mounts; i++) {
        struct rl_mount *m = (struct rl_mount *)&c->mounts[i];
        if (rl_fix_str(b, len, min, &m->source) < 0 || rl_fix_str(b, len, min, &m->target) < 0
            || rl_fix_str(b, len, min, &m->data) < 0 || !m->target)
            return -1;
    }
    if (rl_fix_arr(b, len, min, (const void **)&c->filters, c->n_filters, sizeof(struct rl_bpf), 8) < 0) return -1;
    for (int i = 0; i < c->n_filters; i++) {
        struct rl_bpf *f = (struct rl_bpf *)&c->filters[i];
        if (f->len < 1 || f->len > 4096 || rl_fix_arr(b, len, min, &f->prog, f->len, 8, 4096) < 0) return -1;
    }
    if (rl_fix_arr(b, len, min, (const void **)&c->ll_rules, c->n_ll_rules, sizeof(struct rl_landlock_rule), 1024) < 0) return -1;
    for (int i = 0; i < c->n_ll_rules; i++)
        if (rl_fix_str(b, len, min, &((struct rl_landlock_rule *)&c->ll_rules[i])->path) < 0 || !c->ll_rules[i].path) return -1;
    return 0;
}
