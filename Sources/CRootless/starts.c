// Cached starts. A warm start spends most of its time before the keeper answers: the
// Swift runtime, the flags, the host's facts, the plan, the filters (~0.5 ms of ~3). A run
// whose plan the keeper could build ahead leaves the config it made in an entry, keyed
// by everything the plan was made from; the next run with the same key sends the request
// straight from here, before any Swift code runs, and supervises the warm sandbox it gets.
//
// What the plan was made from, and how each is checked on a hit, in this order:
//  1. the inputs, compared byte for byte: the boot (boot_id: kernel, seccomp arch,
//     Landlock ABI), this binary (dev, inode, size, times: the built-in policies and the
//     planner's code), uid, gid, cwd, argv;
//  2. every fact read from the host while planning (SystemFacts through rl_observe: a
//     stat, a file's bytes, a statfs type, an access check, a file-caps check, an
//     environment variable), each done again and its result compared. Same inputs and
//     same facts make the same plan;
//  3. what rl_warm_pack reads (mount namespace, cgroup, LSM label, umask, limits, ids of
//     the sources; no_new_privs and seccomp refuse), read afresh for every request.
// The environment is not an input: the sandbox's is made afresh from this run's by the
// plan's recipe (--clearenv, -e; rl_start_env, as Planner.environment does), so a
// variable that changes from run to run (a shell's, hyperfine's) still hits.
// Anything else — no entry, a mismatch, no keeper, no sandbox ready — leaves the run to
// the Swift path, which plans from scratch (and writes the entry when it had none).
// Entries live in the caller's 0700 runtime directory, one per bucket of the key's hash
// (at most START_BUCKETS files; a colliding run overwrites, the inputs tell them apart),
// and are read as untrusted bytes (rl_start_parse checks every offset; fuzzed in tests).
#include "wire.h"
#include "child.h"
#include "rl_starts.h"
#include "rl_os.h"
#include "rl_mac.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <time.h>
#include <unistd.h>

#define START_MAGIC 0x31545352u // "RST1"
// The entry's own format (its header), bumped by hand; the config inside it is versioned
// by its tables (rl_config_layout), which follow every field by themselves.
#define START_FORMAT 3u
#define START_MAX (1u << 20)
#define START_BUCKETS 256
#define OBS_MAX_READ (256 * 1024)

struct start_hdr {
    uint32_t magic, format;
    uint64_t layout;           // rl_config_layout()
    uint64_t total;
    uint64_t inputs, n_inputs; // the inputs (1. above), compared byte for byte
    uint64_t obs, n_obs;       // the observations (2. above)
    uint64_t notes;            // the plan's notes as written to stderr, or 0
    uint64_t sock;             // the keeper's socket
    uint64_t argv, sets;       // offsets of argc+1 / n_sets+1 string offsets (0-terminated)
    uint32_t argc, n_sets;     // sets: the -e entries, in order ("K=V" sets, "K" copies)
    uint32_t clear_env, pad;
    uint64_t default_path;     // PATH when the environment has none
    uint64_t cfg;              // the run's rl_config, flattened (flat.c)
};

// ---- observations ----------------------------------------------------------------------------

// Where path really is, in three calls whatever its depth (realpath(3) reads every
// component's link): the kernel resolves it (O_PATH, symlinks followed) and names what
// it found. A path that does not exist yet is its parent's, resolved, plus its name.
static int resolve_path(const char *path, char *out, size_t cap) {
    // Most paths hold no symlink: then the (normalised) path is its own answer, in two calls.
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS;
    size_t len = strlen(path);
    int plain = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
    if (plain >= 0) {
        close(plain);
        if (path[0] == '/' && len < cap && !strstr(path, "/./") && !strstr(path, "/../") && !strstr(path, "//")) {
            memcpy(out, path, len + 1);
            return 0;
        }
    }
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        const char *slash = strrchr(path, '/');
        char parent[4096];
        size_t k = slash ? (size_t)(slash - path) : 0;
        if (!slash || k == 0 || k >= sizeof parent) { errno = ENOENT; return -1; }
        memcpy(parent, path, k);
        parent[k] = 0;
        if (resolve_path(parent, out, cap) < 0) return -1;
        size_t n = strlen(out), m = strlen(slash);
        if (n + m >= cap) { errno = ENAMETOOLONG; return -1; }
        memcpy(out + (n == 1 ? 0 : n), slash, m + 1);
        return 0;
    }
    if (fd < 0) return -1;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, cap - 1);
    int e = errno;
    close(fd);
    if (n <= 0 || out[0] != '/') { errno = n < 0 ? e : ENOENT; return -1; }
    out[n] = 0;
    return 0;
}

// Read-only, and never blocking (a FIFO is not waited on): replayed for every cached start.
long rl_observe(int op, const char *path, uint32_t arg, void *out, size_t cap) {
    char *o = out;
    int32_t e = 0;
    switch (op) {
    case RL_OBS_STAT: {
        struct stat st;
        uint32_t r[3] = { 0, 0, 0 };
        if (stat(path, &st) == 0) { r[1] = st.st_mode; r[2] = st.st_uid; } else r[0] = (uint32_t)errno;
        if (cap < sizeof r) return -1;
        memcpy(o, r, sizeof r);
        return sizeof r;
    }
    case RL_OBS_READ: {
        if (cap < 4 || arg > cap - 4) return -1;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        size_t n = 0;
        if (fd < 0) e = errno;
        while (fd >= 0 && n < arg) {
            ssize_t r = read(fd, o + 4 + n, arg - n);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) { e = errno; break; }
            if (r == 0) break;
            n += (size_t)r;
        }
        // A file longer than arg: its tail unread, so it cannot be vouched for.
        char more;
        if (fd >= 0 && n == arg && read(fd, &more, 1) > 0) e = -1;
        if (fd >= 0) close(fd);
        if (e) n = 0;
        memcpy(o, &e, 4);
        return (long)(4 + n);
    }
    case RL_OBS_FSTYPE: {
        struct statfs s;
        int64_t t = statfs(path, &s) == 0 ? (int64_t)s.f_type : -(int64_t)errno;
        if (cap < sizeof t) return -1;
        memcpy(o, &t, sizeof t);
        return sizeof t;
    }
    case RL_OBS_ACCESS:
        e = access(path, (int)arg) == 0 ? 0 : errno;
        break;
    case RL_OBS_FCAPS:
        e = rl_has_file_caps(path);
        break;
    case RL_OBS_ENV: {
        const char *v = getenv(path);
        size_t n = v ? strlen(v) : 0;
        if (cap < 4 || n > cap - 4) return -1;
        e = v ? 0 : ENOENT;
        memcpy(o, &e, 4);
        if (v) memcpy(o + 4, v, n);
        return (long)(4 + n);
    }
    case RL_OBS_REALPATH: {
        char r[4096];
        size_t n = 0;
        if (resolve_path(path, r, sizeof r) == 0) n = strlen(r); else e = errno;
        if (cap < 4 || n > cap - 4) return -1;
        memcpy(o, &e, 4);
        memcpy(o + 4, r, n);
        return (long)(4 + n);
    }
    default:
        return -1;
    }
    if (cap < 4) return -1;
    memcpy(o, &e, 4);
    return 4;
}

// One record: op (u32), arg (u32), path length (u32, NUL included), result length (u32),
// the path, the result. Walked by rl_start_parse (bounds) and replay (results).
struct obs_rec { uint32_t op, arg, path_len, res_len; };

long rl_observe_record(void *buf, size_t cap, int op, const char *path, uint32_t arg, const void *res, size_t res_len) {
    size_t pl = strlen(path) + 1;
    struct obs_rec r = { (uint32_t)op, arg, (uint32_t)pl, (uint32_t)res_len };
    if (cap < sizeof r || pl > cap - sizeof r || res_len > cap - sizeof r - pl) return -E2BIG;
    char *b = buf;
    memcpy(b, &r, sizeof r);
    memcpy(b + sizeof r, path, pl);
    memcpy(b + sizeof r + pl, res, res_len);
    return (long)(sizeof r + pl + res_len);
}

// Each record well-formed (its path NUL-terminated, its lengths within n): 0 or -1.
static int obs_walk(const char *b, size_t n, int replay) {
    static char now[4 + OBS_MAX_READ];
    size_t at = 0;
    while (at < n) {
        struct obs_rec r;
        if (n - at < sizeof r) return -1;
        memcpy(&r, b + at, sizeof r);
        at += sizeof r;
        if (r.path_len < 2 || r.path_len > n - at || b[at + r.path_len - 1] != 0 || memchr(b + at, 0, r.path_len) != b + at + r.path_len - 1)
            return -1;
        const char *path = b + at;
        at += r.path_len;
        if (r.res_len > n - at || r.res_len > sizeof now) return -1;
        if (replay) {
            long k = rl_observe((int)r.op, path, r.arg, now, sizeof now);
            if (k != (long)r.res_len || memcmp(now, b + at, r.res_len) != 0) return -1;
        }
        at += r.res_len;
    }
    return 0;
}

// ---- entries ---------------------------------------------------------------------------------

long rl_start_encode(void *buf, size_t cap, const struct rl_start *in, const struct rl_config *c) {
    // Only what a warm start runs with (rl_config_cold_field), before it is made one (zygote).
    if (rl_config_cold_field(c) || c->zygote || !c->argv || !c->argv[0]) return -EINVAL;
    struct rl_pk p = { buf, cap, 0, 0 };
    struct start_hdr h;
    memset(&h, 0, sizeof h);
    rl_pk_put(&p, NULL, sizeof h);
    h.magic = START_MAGIC;
    h.format = START_FORMAT;
    h.layout = rl_config_layout();
    if (!in->sock || !in->default_path) return -EINVAL;
    for (const char *const *e = in->sets; e && *e; e++) if (!**e || **e == '=') return -EINVAL;
    h.inputs = rl_pk_put(&p, in->inputs, in->n_inputs);
    h.n_inputs = in->n_inputs;
    h.obs = in->n_obs ? rl_pk_put(&p, in->obs, in->n_obs) : 0;
    h.n_obs = in->n_obs;
    h.notes = in->notes && *in->notes ? (uint64_t)(uintptr_t)rl_pk_str(&p, in->notes) : 0;
    h.sock = (uint64_t)(uintptr_t)rl_pk_str(&p, in->sock);
    h.argv = rl_pk_strv(&p, c->argv, &h.argc);
    h.sets = rl_pk_strv(&p, in->sets, &h.n_sets);
    h.clear_env = in->clear_env ? 1 : 0;
    h.default_path = (uint64_t)(uintptr_t)rl_pk_str(&p, in->default_path);
    // The run's whole config but what is made per process: envp and PATH (rl_start_env),
    // argv (above), fds; the run's scalars (its timeout) are kept.
    h.cfg = rl_pk_config(&p, c, 1);
    if (p.err) return -p.err;
    h.total = p.n;
    memcpy(p.b, &h, sizeof h);
    return (long)p.n;
}

int rl_start_parse(void *buf, size_t len, struct rl_start *out) {
    char *b = buf;
    struct start_hdr h;
    if (((uintptr_t)b & 7) || len < sizeof h) return -1;
    memcpy(&h, b, sizeof h);
    if (h.magic != START_MAGIC || h.format != START_FORMAT || h.layout != rl_config_layout() || h.total != len || h.clear_env > 1 || h.pad) return -1;
    if (h.inputs < sizeof h || h.inputs > len || h.n_inputs > len - h.inputs) return -1;
    if (h.n_obs && (h.obs < sizeof h || h.obs > len || h.n_obs > len - h.obs)) return -1;
    if (h.n_obs && obs_walk(b + h.obs, h.n_obs, 0) < 0) return -1;
    const char *notes = (const char *)(uintptr_t)h.notes, *sock = (const char *)(uintptr_t)h.sock;
    const char *dpath = (const char *)(uintptr_t)h.default_path;
    if (!sock || !dpath || rl_fix_str(b, len, sizeof h, &notes) < 0 || rl_fix_str(b, len, sizeof h, &sock) < 0
        || rl_fix_str(b, len, sizeof h, &dpath) < 0)
        return -1;
    if (h.cfg < sizeof h || (h.cfg & 7) || h.cfg > len || len - h.cfg < sizeof(struct rl_config)) return -1;
    struct rl_config *c = (struct rl_config *)(b + h.cfg);
    if (c->zygote || rl_fix_config(b, len, sizeof h, c) < 0) return -1;
    const char *const *sets = (const char *const *)(uintptr_t)h.sets;
    c->argv = (const char *const *)(uintptr_t)h.argv;
    if (h.argc < 1 || rl_fix_strv(b, len, sizeof h, &c->argv, h.argc) < 0 || rl_fix_strv(b, len, sizeof h, &sets, h.n_sets) < 0) return -1;
    for (uint32_t i = 0; i < h.n_sets; i++) if (!sets[i][0] || sets[i][0] == '=') return -1;
    out->inputs = b + h.inputs;
    out->n_inputs = h.n_inputs;
    out->obs = h.n_obs ? b + h.obs : NULL;
    out->n_obs = h.n_obs;
    out->notes = notes;
    out->sock = sock;
    out->clear_env = (int32_t)h.clear_env;
    out->sets = sets;
    out->default_path = dpath;
    out->cfg = c;
    return 0;
}

static int has_key(const char *e, const char *key, size_t k) { return strncmp(e, key, k) == 0 && e[k] == '='; }

// The sandbox's environment: the one recipe, for the planner (Planner.environment) and for
// a cached start. Start from base (nothing with --clearenv), apply each -e in order ("K=V"
// replaces the first K and drops the other Ks; "K" does that with the caller's first K, if
// any), add PATH when missing; PATH for the search is the last one. Strings compare as
// bytes. One malloc'd block (free *envp); the strings stay the caller's.
int rl_env_recipe(char *const *base, char *const *caller, int clear_env, const char *const *sets, const char *default_path,
                  const char ***envp, const char **search_path) {
    size_t n = 0, nc = 0, n_sets = 0;
    for (char *const *e = base; e && *e; e++) n++;
    for (char *const *e = caller; e && *e; e++) nc++;
    while (sets && sets[n_sets]) n_sets++;
    size_t dl = strlen(default_path);
    const char **v = malloc((n + n_sets + 2) * sizeof *v + dl + 6);
    if (!v) return -ENOMEM;
    char *path_kv = (char *)(v + n + n_sets + 2);
    memcpy(path_kv, "PATH=", 5);
    memcpy(path_kv + 5, default_path, dl + 1);
    size_t k = 0;
    if (!clear_env) for (size_t i = 0; i < n; i++) v[k++] = base[i];
    for (size_t j = 0; j < n_sets; j++) {
        const char *kv = sets[j], *eq = strchr(kv, '=');
        size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
        if (!eq) {
            kv = NULL;
            for (size_t i = 0; i < nc && !kv; i++) if (has_key(caller[i], sets[j], kl)) kv = caller[i];
            if (!kv) continue;
        }
        size_t at = k;
        for (size_t i = 0; i < k; i++) if (has_key(v[i], kv, kl)) { at = i; break; }
        if (at == k) v[k++] = kv; else v[at] = kv;
        size_t w = 0;
        for (size_t i = 0; i < k; i++) if (!has_key(v[i], kv, kl) || strcmp(v[i], kv) == 0) v[w++] = v[i];
        k = w;
    }
    const char *path = NULL;
    for (size_t i = 0; i < k; i++) if (has_key(v[i], "PATH", 4)) path = v[i];
    if (!path) v[k++] = path = path_kv;
    v[k] = NULL;
    *envp = v;
    *search_path = path + 5;
    return 0;
}

// A cached start's environment: the recipe over this run's own environment.
int rl_start_env(const struct rl_start *s, char *const *environ_, const char ***envp, const char **search_path) {
    return rl_env_recipe(environ_, environ_, s->clear_env, s->sets, s->default_path, envp, search_path);
}

int rl_start_valid(const struct rl_start *s, const void *inputs, size_t n_inputs) {
    if (s->n_inputs != n_inputs || memcmp(s->inputs, inputs, n_inputs) != 0) return 0;
    return s->n_obs == 0 || obs_walk(s->obs, s->n_obs, 1) == 0;
}

// ---- the inputs and where entries live ----------------------------------------------------

// Built by the constructor (start_fast), kept for rl_start_save (the same process, the same inputs).
static struct { char *b; size_t n, cap; int err; uint64_t hash; const char *cwd; } in;

static void in_put(const void *d, size_t n) {
    if (in.err) return;
    if (n > in.cap - in.n) {
        size_t cap = (in.cap ? in.cap * 2 : 8192) + n;
        char *q = realloc(in.b, cap);
        if (!q) { in.err = 1; return; }
        in.b = q;
        in.cap = cap;
    }
    memcpy(in.b + in.n, d, n);
    in.n += n;
}
static void in_str(const char *s) { in_put(s, strlen(s) + 1); }

static int build_inputs(int argc, char *const *argv) {
    char boot[40] = { 0 }, cwd[4096];
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t nb = fd >= 0 ? read(fd, boot, 37) : -1;
    if (fd >= 0) close(fd);
    struct stat st;
    if (nb != 37 || stat("/proc/self/exe", &st) < 0 || !getcwd(cwd, sizeof cwd)) return -1;
    uint64_t exe[7] = { st.st_dev, st.st_ino, (uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec,
                        (uint64_t)st.st_ctim.tv_sec, (uint64_t)st.st_ctim.tv_nsec };
    uint32_t ids[2] = { getuid(), getgid() };
    in.n = 0;
    in.err = 0;
    in_put("RSTI", 4);
    in_put(boot, 37);
    in_put(exe, sizeof exe);
    in_put(ids, sizeof ids);
    size_t cwd_at = in.n;
    in_str(cwd);
    uint32_t n = (uint32_t)argc - 1;
    in_put(&n, 4);
    for (int i = 1; i < argc; i++) in_str(argv[i]);
    if (in.err) return -1;
    in.cwd = in.b + cwd_at;
    uint64_t hsh = 0xcbf29ce484222325ull; // FNV-1a: picks the bucket; the bytes decide
    for (size_t i = 0; i < in.n; i++) hsh = (hsh ^ (uint8_t)in.b[i]) * 0x100000001b3ull;
    in.hash = hsh;
    return 0;
}

// A directory of ours closed to others (made if missing): 0 or -errno.
static int own_dir(const char *path) {
    struct stat st;
    if (mkdir(path, 0700) < 0 && errno != EEXIST) return -errno;
    if (lstat(path, &st) < 0) return -errno;
    return S_ISDIR(st.st_mode) && st.st_uid == getuid() && !(st.st_mode & 077) ? 0 : -EPERM;
}

int rl_runtime_dir(char *out, size_t cap, const char *sub) {
    // The base is checked once per process (a cached start asks for it twice: its entry,
    // then the key that seals it).
    static char base[4096];
    static int base_rc = 1;
    if (base_rc > 0) {
        const char *x = getenv("XDG_RUNTIME_DIR");
        int n = x && x[0] == '/' ? snprintf(base, sizeof base, "%s/rootless", x) : snprintf(base, sizeof base, "/tmp/rootless-%u", getuid());
        base_rc = n < 0 || (size_t)n >= sizeof base ? -ENAMETOOLONG : own_dir(base);
    }
    if (base_rc < 0) return base_rc;
    int n = sub ? snprintf(out, cap, "%s/%s", base, sub) : snprintf(out, cap, "%s", base);
    if (n < 0 || (size_t)n >= cap) return -ENAMETOOLONG;
    return sub ? own_dir(out) : 0;
}

// The entry's path in the runtime directory's starts/ (made if missing), or -1.
static int entry_path(char *out, size_t cap, int tmp) {
    char dir[4096];
    if (rl_runtime_dir(dir, sizeof dir, "starts") < 0) return -1;
    unsigned bucket = (unsigned)(in.hash % START_BUCKETS);
    int n = tmp ? snprintf(out, cap, "%s/.%02x.%d", dir, bucket, getpid()) : snprintf(out, cap, "%s/%02x", dir, bucket);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

// ---- the fast path and the save --------------------------------------------------------------

static long timing_start;
static long now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}
static void timing(const char *what) {
    const char *t = getenv("ROOTLESS_TIMING");
    if (!t || strcmp(t, "1") != 0) return;
    char line[160];
    int n = snprintf(line, sizeof line, "rootless timing: start cache %s %ld us\n", what, now_us() - timing_start);
    if (n > 0) (void)!write(2, line, (size_t)n);
}

static int32_t fast(int argc, char *const *argv, char *const *envp_in, struct rl_result *res, struct rl_held *held) {
    if (argc < 3 || strcmp(argv[1], "run") != 0 || build_inputs(argc, argv) < 0) return RL_FAST_NOT_RUN;
    char path[4200];
    if (entry_path(path, sizeof path, 0) < 0) return RL_FAST_NONE;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return RL_FAST_NONE;
    struct stat st;
    char *b = NULL;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == getuid() && st.st_size > 32 && st.st_size <= START_MAX
             && (b = malloc((size_t)st.st_size)) && read(fd, b, (size_t)st.st_size) == st.st_size;
    close(fd);
    // The entry's last 32 bytes: its MAC under the user's key (mac.c). One a sandbox
    // wrote or changed is not ours: planned afresh (and rewritten).
    size_t body = ok ? (size_t)st.st_size - 32 : 0;
    ok = ok && rl_mac_check(b, body, (const uint8_t *)b + body);
    struct rl_start s;
    if (!ok || rl_start_parse(b, body, &s) < 0 || !rl_start_valid(&s, in.b, in.n)) {
        free(b);
        timing("stale");
        return RL_FAST_NONE;
    }
    timing("entry checked:");
    const char **envp = NULL;
    if (rl_start_env(&s, envp_in, &envp, &s.cfg->search_path) < 0) { free(b); return RL_FAST_MISS; }
    s.cfg->envp = envp;
    // From here as the Swift path's warm start (Launcher.start, runWarm). The notes first.
    if (s.notes) (void)!write(2, s.notes, strlen(s.notes));
    long n = -E2BIG;
    char *req = NULL;
    for (size_t cap = 32 * 1024; n == -E2BIG && cap <= 192 * 1024; cap *= 6) {
        free(req);
        req = malloc(cap);
        n = req ? rl_warm_pack(s.cfg, req, cap) : -ENOMEM;
    }
    timing("request packed:");
    int u, nn, kpid, zpid, pidfd, sock, tap;
    // Without the namespaces a miss would bring (this path cannot use them: the Swift
    // path asks again), so that none of the keeper's pool is spent on it.
    int rc = n > 0 ? rl_keeper_warm(s.sock, req, (size_t)n, 0, &u, &nn, &kpid, &zpid, &pidfd, &sock, &tap) : -1;
    if (rc == 1 && (tap >= 0) != (s.cfg->tap != 0)) { // a TAP exactly when the config asked for one
        rl_warm_drop(pidfd, sock, tap, u);
        rc = -EPROTO;
    }
    free(req);
    if (rc != 1) {
        // No sandbox this time: the Swift path asks again (the keeper, asked once already,
        // is building one and hands it over when ready) or starts cold.
        if (rc == 0) { if (u >= 0) close(u); if (nn >= 0) close(nn); if (tap >= 0) close(tap); }
        free(envp);
        free(b);
        timing("miss");
        return RL_FAST_MISS;
    }
    timing("keeper answered:");
    // --net slirp: main starts the engine (StartCache.runHeld); the command goes first
    // when no -p listener must be bound before it (tap_go_first), so main's start-up and
    // the engine's overlap the command's. The entry and its environment stay, for the
    // config that points into them.
    int go = !s.cfg->tap || s.cfg->tap_go_first;
    if (go && rl_warm_go(sock, s.cfg) != 0) {
        rl_warm_drop(pidfd, sock, tap, u);
        free(envp);
        free(b);
        return RL_FAST_COLD;
    }
    if (s.cfg->tap) {
        *held = (struct rl_held){ zpid, pidfd, sock, tap, u, s.cfg };
        timing(go ? "held: warm: command sent" : "held:");
        return RL_FAST_HELD;
    }
    // (The Swift path's mark for a warm run, too: a hit is one.)
    timing("hit: warm: command sent");
    struct rl_child child = { zpid, pidfd, -1, sock, -1, -1, 1 };
    rl_supervise(s.cfg, &child, res);
    timing("run");
    free(envp);
    free(b);
    return RL_FAST_DONE;
}

static struct rl_fast fast_state;

// Before main, and before the Swift runtime's own start-up (its constructors run at the
// default priority, after this one): a hit that ends with a plain status leaves here with
// _exit (no atexit handler or destructor of a runtime that never started may run; nothing
// is buffered: only write(2) was used). glibc passes argc, argv and envp to constructors.
// Everything else is left in fast_state for main (StartCache.swift). In any process
// linking this target (the tests too) it does nothing unless argv[1] is "run".
__attribute__((constructor(101))) static void start_fast(int argc, char **argv, char **envp) {
    timing_start = now_us();
    fast_state.state = fast(argc, argv, envp, &fast_state.result, &fast_state.held);
    if (fast_state.state != RL_FAST_DONE) return;
    if (fast_state.result.outcome == RL_EXITED) _exit(fast_state.result.code);
    if (fast_state.result.outcome == RL_SIGNALED) _exit(128 + fast_state.result.code);
}

const struct rl_fast *rl_start_state(void) { return &fast_state; }

int rl_start_save(const char *cwd, const struct rl_start *e, const struct rl_config *c) {
    // Only for the inputs the constructor built in this process, and the cwd the plan used.
    if (!in.b || in.err || !cwd || strcmp(cwd, in.cwd) != 0) return -EINVAL;
    char path[4200], tmp[4200];
    if (entry_path(path, sizeof path, 0) < 0 || entry_path(tmp, sizeof tmp, 1) < 0) return -ENOENT;
    long n = -E2BIG;
    char *b = NULL;
    for (size_t cap = 64 * 1024; n == -E2BIG && cap <= START_MAX; cap *= 4) {
        free(b);
        b = malloc(cap);
        struct rl_start x = *e;
        x.inputs = in.b;
        x.n_inputs = in.n;
        n = b ? rl_start_encode(b, cap - 32, &x, c) : -ENOMEM;
    }
    // Sealed with the user's key: without one (no runtime dir) nothing is saved.
    if (n > 0) n = rl_mac(b, (size_t)n, (uint8_t *)b + n) == 0 ? n + 32 : -ENOENT;
    int fd = n > 0 ? open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
    int rc = n <= 0 ? (int)n : fd < 0 ? -errno : 0;
    if (fd >= 0) {
        if (write(fd, b, (size_t)n) != n) rc = -EIO;
        close(fd);
        // Whole or not at all: a run reading meanwhile sees the old entry or this one.
        if (rc == 0 && rename(tmp, path) < 0) rc = -errno;
        if (rc < 0) unlink(tmp);
    }
    free(b);
    return rc;
}
