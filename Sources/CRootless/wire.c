// The launch config flattened into one buffer, everything driven by the field tables of
// rl_config.h: strings and arrays follow a header and pointers hold their offsets. Written
// by a run (a warm request, warm.c; a cached start, starts.c) and checked offset by offset
// when read back: the bytes come from a socket or a file, so a bad one is refused, never
// followed. Not used between clone and exec.
#include "wire.h"
#include <errno.h>
#include <stddef.h>
#include <string.h>

_Static_assert(sizeof(void *) == sizeof(uint64_t), "pointers are rewritten into offsets in place");

// ---- the tables as data ------------------------------------------------------------------
enum kind { K_SCALAR = 1, K_FD, K_PTR, K_STR, K_STRV, K_LIST, K_BYTES };
enum warm { W_KEY = 1, W_RUN, W_COLD };
#define W_(w) W_##w

struct layout;
struct field {
    const char *name;
    uint32_t off, size;
    uint8_t kind, warm, required, pad;
    int64_t want;                // COLD scalars: the value a warm config has
    uint32_t count_off, unit;    // LIST, BYTES: the count field; BYTES: bytes per count
    int32_t min, max;            // LIST, BYTES: bounds of the count
    const struct layout *elem;   // LIST: the element's table
};
struct layout { const char *name; uint32_t size, n; const struct field *f; };

// Elements.
#define E_SCALAR(type, name) { #name, offsetof(S, name), sizeof(type), K_SCALAR, W_KEY, 0, 0, 0, 0, 0, 0, 0, NULL },
#define E_STR(name, req) { #name, offsetof(S, name), sizeof(char *), K_STR, W_KEY, req, 0, 0, 0, 0, 0, 0, NULL },
#define E_BYTES(name, count, u, lo, hi) { #name, offsetof(S, name), sizeof(void *), K_BYTES, W_KEY, 0, 0, 0, offsetof(S, count), u, lo, hi, NULL },
#define S struct rl_mount
static const struct field mount_f[] = { RL_MOUNT_TABLE(E_SCALAR, E_STR, E_BYTES) };
#undef S
#define S struct rl_bpf
static const struct field bpf_f[] = { RL_BPF_TABLE(E_SCALAR, E_STR, E_BYTES) };
#undef S
#define S struct rl_landlock_rule
static const struct field ll_f[] = { RL_LANDLOCK_RULE_TABLE(E_SCALAR, E_STR, E_BYTES) };
#undef S
#define S struct rl_rlimit
static const struct field rlimit_f[] = { RL_RLIMIT_TABLE(E_SCALAR, E_STR, E_BYTES) };
#undef S
#define S struct rl_nlmsg
static const struct field nlmsg_f[] = { RL_NLMSG_TABLE(E_SCALAR, E_STR, E_BYTES) };
#undef S
#define LAYOUT(id, type, f) static const struct layout id = { #type, sizeof(struct type), sizeof f / sizeof f[0], f };
LAYOUT(rl_mount_l, rl_mount, mount_f)
LAYOUT(rl_bpf_l, rl_bpf, bpf_f)
LAYOUT(rl_landlock_rule_l, rl_landlock_rule, ll_f)
LAYOUT(rl_rlimit_l, rl_rlimit, rlimit_f)
LAYOUT(rl_nlmsg_l, rl_nlmsg, nlmsg_f)

// The config.
#define S struct rl_config
#define C_SCALAR(type, name, w, v) { #name, offsetof(S, name), sizeof(type), K_SCALAR, W_(w), 0, 0, v, 0, 0, 0, 0, NULL },
#define C_FD(name) { #name, offsetof(S, name), sizeof(int32_t), K_FD, W_RUN, 0, 0, -1, 0, 0, 0, 0, NULL },
#define C_PTR(type, name) { #name, offsetof(S, name), sizeof(void *), K_PTR, W_COLD, 0, 0, 0, 0, 0, 0, 0, NULL },
#define C_STR(name, w, req) { #name, offsetof(S, name), sizeof(char *), K_STR, W_(w), req, 0, 0, 0, 0, 0, 0, NULL },
// A string list is the run's or keeps a config cold: never carried (a KEY one fails to compile).
#define C_STRV(name, w) { #name, offsetof(S, name), sizeof(void *), K_STRV, W_(w) + 0 * sizeof(char[W_(w) == W_KEY ? -1 : 1]), 0, 0, 0, 0, 0, 0, 0, NULL },
#define C_LIST(type, name, w, count, hi) { #name, offsetof(S, name), sizeof(void *), K_LIST, W_(w), 0, 0, 0, offsetof(S, count), 0, 0, hi, &type##_l },
static const struct field config_f[] = { RL_CONFIG_TABLE(C_SCALAR, C_FD, C_PTR, C_STR, C_STRV, C_LIST) };
#undef S
LAYOUT(config_l, rl_config, config_f)

const char *rl_config_field(int i) { return i >= 0 && (uint32_t)i < config_l.n ? config_f[i].name : NULL; }

// FNV-1a over every table, elements included: the version of the packed format.
static uint64_t fnv(uint64_t h, const void *d, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)d)[i]) * 0x100000001b3ull;
    return h;
}
static uint64_t hash_layout(uint64_t h, const struct layout *l) {
    h = fnv(h, l->name, strlen(l->name) + 1);
    h = fnv(h, &l->size, sizeof l->size);
    for (uint32_t i = 0; i < l->n; i++) {
        const struct field *f = &l->f[i];
        h = fnv(h, f->name, strlen(f->name) + 1);
        uint64_t v[10] = { f->off, f->size, f->kind, f->warm, f->required, (uint64_t)f->want, f->count_off, f->unit,
                           (uint64_t)(int64_t)f->min, (uint64_t)(int64_t)f->max };
        h = fnv(h, v, sizeof v);
        if (f->elem) h = hash_layout(h, f->elem);
    }
    return h;
}
uint64_t rl_config_layout(void) {
    static uint64_t cached;
    uint64_t h = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (!h) { h = hash_layout(0xcbf29ce484222325ull, &config_l); __atomic_store_n(&cached, h, __ATOMIC_RELAXED); }
    return h;
}

// ---- field access ----------------------------------------------------------------------------
static int64_t get_int(const void *obj, uint32_t off, uint32_t size) {
    const char *p = (const char *)obj + off;
    switch (size) {
    case 1: { int8_t v; memcpy(&v, p, 1); return v; }
    case 2: { int16_t v; memcpy(&v, p, 2); return v; }
    case 4: { int32_t v; memcpy(&v, p, 4); return v; }
    default: { int64_t v; memcpy(&v, p, 8); return v; }
    }
}
static void set_int(void *obj, uint32_t off, uint32_t size, int64_t v) {
    char *p = (char *)obj + off;
    if (size == 4) { int32_t x = (int32_t)v; memcpy(p, &x, 4); } else memcpy(p, &v, size);
}
static uint64_t get_word(const void *obj, uint32_t off) { uint64_t v; memcpy(&v, (const char *)obj + off, 8); return v; }
static void set_word(void *obj, uint32_t off, uint64_t v) { memcpy((char *)obj + off, &v, 8); }
#define PTR_AT(obj, off) ((const void *)(uintptr_t)get_word(obj, off))

const char *rl_config_cold_field(const struct rl_config *c) {
    for (uint32_t i = 0; i < config_l.n; i++) {
        const struct field *f = &config_f[i];
        if (f->warm != W_COLD) continue;
        int ok = f->kind == K_SCALAR ? get_int(c, f->off, f->size) == f->want : get_word(c, f->off) == 0;
        if (!ok) return f->name;
    }
    return NULL;
}

// ---- packing ---------------------------------------------------------------------------------
uint64_t rl_pk_put(struct rl_pk *p, const void *d, size_t len) {
    size_t off = (p->n + 7) & ~(size_t)7;
    if (off > p->cap || len > p->cap - off) { p->err = E2BIG; return 0; }
    if (off > p->n) memset(p->b + p->n, 0, off - p->n);
    if (d) memcpy(p->b + off, d, len); else memset(p->b + off, 0, len);
    p->n = off + len;
    return off;
}

const char *rl_pk_str(struct rl_pk *p, const char *s) { return s ? (const char *)(uintptr_t)rl_pk_put(p, s, strlen(s) + 1) : NULL; }

uint64_t rl_pk_strv(struct rl_pk *p, const char *const *v, uint32_t *count) {
    uint32_t k = 0;
    while (v && v[k]) k++;
    *count = k;
    uint64_t at = rl_pk_put(p, NULL, ((size_t)k + 1) * 8);
    for (uint32_t i = 0; i < k && !p->err; i++) {
        uint64_t s = (uint64_t)(uintptr_t)rl_pk_str(p, v[i]);
        if (!p->err) memcpy(p->b + at + (size_t)i * 8, &s, 8);
    }
    return at;
}

// Rewrites obj (a copy of src, laid out by l) for the wire: what it points to goes into p
// and its pointers become offsets; fds become -1 and pointers into this process NULL; the
// run's strings and lists are left out (NULL; a start entry carries argv on its own), and
// its scalars too unless keep_run.
static void pack_obj(struct rl_pk *p, const struct layout *l, const void *src, void *obj, int keep_run) {
    for (uint32_t i = 0; i < l->n && !p->err; i++) {
        const struct field *f = &l->f[i];
        switch (f->kind) {
        case K_SCALAR:
            if (f->warm == W_RUN && !keep_run) set_int(obj, f->off, f->size, 0);
            break;
        case K_FD: set_int(obj, f->off, f->size, -1); break;
        case K_PTR: set_word(obj, f->off, 0); break;
        case K_STR:
            set_word(obj, f->off, f->warm == W_RUN ? 0 : (uint64_t)(uintptr_t)rl_pk_str(p, PTR_AT(src, f->off)));
            break;
        case K_STRV: set_word(obj, f->off, 0); break;
        case K_BYTES: case K_LIST: {
            int64_t n = get_int(src, f->count_off, 4);
            const char *from = PTR_AT(src, f->off);
            if (n <= 0 || !from) { set_word(obj, f->off, 0); break; }
            if (n > f->max) { p->err = E2BIG; return; }
            size_t each = f->kind == K_BYTES ? f->unit : f->elem->size;
            if (f->kind == K_BYTES) { set_word(obj, f->off, rl_pk_put(p, from, (size_t)n * each)); break; }
            uint64_t at = rl_pk_put(p, NULL, (size_t)n * each);
            char tmp[64];
            _Static_assert(sizeof(struct rl_mount) <= 64 && sizeof(struct rl_bpf) <= 64 && sizeof(struct rl_nlmsg) <= 64, "element copies fit tmp");
            if (each > sizeof tmp) { p->err = E2BIG; return; }
            for (int64_t k = 0; k < n && !p->err; k++) {
                memcpy(tmp, from + k * each, each);
                pack_obj(p, f->elem, from + k * each, tmp, keep_run);
                if (!p->err) memcpy(p->b + at + (size_t)k * each, tmp, each);
            }
            set_word(obj, f->off, at);
            break;
        }
        }
    }
}

uint64_t rl_pk_config(struct rl_pk *p, const struct rl_config *c, int keep_run) {
    if (rl_config_cold_field(c)) { p->err = EINVAL; return 0; }
    struct rl_config w = *c;
    pack_obj(p, &config_l, c, &w, keep_run);
    return rl_pk_put(p, &w, sizeof w);
}

// ---- reading back ----------------------------------------------------------------------------
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

int rl_fix_strv(char *b, size_t len, size_t min, const char *const **v, uint32_t n) {
    const void *arr = *v;
    if (n > RL_WARM_MAX_STRINGS || rl_fix_arr(b, len, min, &arr, (int32_t)n + 1, 8, RL_WARM_MAX_STRINGS + 1) < 0) return -1;
    const char **s = (const char **)arr;
    if (s[n] != NULL) return -1;
    for (uint32_t i = 0; i < n; i++)
        if (!s[i] || rl_fix_str(b, len, min, &s[i]) < 0) return -1;
    *v = (const char *const *)s;
    return 0;
}

// The reverse of pack_obj, in place: every offset checked, every field the wire never
// carries checked to be absent.
static int fix_obj(char *b, size_t len, size_t min, const struct layout *l, void *obj) {
    for (uint32_t i = 0; i < l->n; i++) {
        const struct field *f = &l->f[i];
        switch (f->kind) {
        case K_SCALAR: break;
        case K_FD: if (get_int(obj, f->off, f->size) != -1) return -1; break;
        case K_PTR: if (get_word(obj, f->off)) return -1; break;
        case K_STR: {
            const char *s = PTR_AT(obj, f->off);
            if ((f->warm == W_RUN && s) || rl_fix_str(b, len, min, &s) < 0 || (f->required && !s)) return -1;
            set_word(obj, f->off, (uint64_t)(uintptr_t)s);
            break;
        }
        case K_STRV: if (get_word(obj, f->off)) return -1; break;
        case K_BYTES: case K_LIST: {
            int64_t n = get_int(obj, f->count_off, 4);
            const void *a = PTR_AT(obj, f->off);
            size_t each = f->kind == K_BYTES ? f->unit : f->elem->size;
            if (n < f->min || rl_fix_arr(b, len, min, &a, (int32_t)n, each, f->max) < 0) return -1;
            set_word(obj, f->off, (uint64_t)(uintptr_t)a);
            for (int64_t k = 0; f->kind == K_LIST && k < n; k++)
                if (fix_obj(b, len, min, f->elem, (char *)a + k * each) < 0) return -1;
            break;
        }
        }
    }
    return 0;
}

int rl_fix_config(char *b, size_t len, size_t min, struct rl_config *c) {
    if (rl_config_cold_field(c) || fix_obj(b, len, min, &config_l, c) < 0) return -1;
    if (!c->host_view && !c->rootfs) return -1;
    if (c->landlock < 0 || c->timeout_ms < 0) return -1;
    return 0;
}
