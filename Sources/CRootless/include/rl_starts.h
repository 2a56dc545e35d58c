// Cached starts (starts.c): entries, observed host facts, the environment recipe, the
// runtime directory.
#ifndef RL_STARTS_H
#define RL_STARTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "rl_child.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- cached starts (starts.c) ----------------------------------------------------------------
// The facts a plan reads from the host, each as one operation whose result bytes are
// recorded when planned and compared when a cached start is checked.
enum rl_obs {
    RL_OBS_STAT = 1,   // stat(path): errno, st_mode, st_uid
    RL_OBS_READ = 2,   // the file's first arg bytes: errno (-1: longer than arg), bytes
    RL_OBS_FSTYPE = 3, // statfs(path).f_type, or -errno
    RL_OBS_ACCESS = 4, // access(path, arg): 0 or errno
    RL_OBS_FCAPS = 5,  // rl_has_file_caps(path)
    RL_OBS_ENV = 6,    // getenv(path): 0 and the value, or ENOENT
    RL_OBS_REALPATH = 7, // realpath(path): 0 and the resolved path, or errno
};
// Does op on path into out: the result's length, or -1 (unknown op, cap too small).
long rl_observe(int op, const char *path, uint32_t arg, void *out, size_t cap);
// Appends one observation (op, path, arg, result) to buf: its length, or -E2BIG.
long rl_observe_record(void *buf, size_t cap, int op, const char *path, uint32_t arg, const void *res, size_t res_len);

// What the constructor did: nothing (not `run`, or the inputs could not be read); found no
// usable entry (the run should write one); found one but no warm sandbox (plan as usual);
// sent the command but must start cold; ran it (result filled); or holds a --net slirp
// warm sandbox for main to start the engine of (held filled: the engine is Swift), its
// command sent already (the config's tap_go_first) or sent by main once -p's listeners
// are bound.
enum rl_fast_state { RL_FAST_NOT_RUN = 0, RL_FAST_NONE = 1, RL_FAST_MISS = 2, RL_FAST_COLD = 3, RL_FAST_DONE = 4, RL_FAST_HELD = 5 };
// A held warm sandbox: pid 1's pid and pidfd, its socket, the socket its TAP's fd waits
// in, the keeper's user namespace, and the entry's config (argv, envp, PATH set) for
// rl_warm_go and rl_supervise; its tap_go_first says whether the command went. The fds
// are main's to close.
struct rl_held { int32_t pid, pidfd, sock, tap, userns; const struct rl_config *cfg; };
struct rl_fast { int32_t state; int32_t pad; struct rl_result result; struct rl_held held; };
// What the start-up constructor did (before main: a run whose entry is valid goes to the
// keeper from there, and one that ends with a plain status exits there).
const struct rl_fast *rl_start_state(void);
// An entry in memory: what a run saves (inputs: rl_start_save's own) and what a check
// reads back (rl_start_parse; cfg then points into the entry, argv included).
struct rl_start {
    const char *inputs;
    size_t n_inputs;
    const char *obs;          // rl_observe_record's records
    size_t n_obs;
    const char *notes;        // the plan's notes as written to stderr, or NULL
    const char *sock;         // the keeper's socket
    int32_t clear_env;        // --clearenv
    const char *const *sets;  // -e entries in order, NULL-terminated ("K=V" or "K")
    const char *default_path; // PATH when the environment has none
    struct rl_config *cfg;
};
// The entry for this process's inputs (after the constructor said NONE; inputs ignored),
// for the cwd the plan used and cfg (its envp and PATH are not kept). 0 or -errno.
int rl_start_save(const char *cwd, const struct rl_start *entry, const struct rl_config *cfg);
long rl_start_encode(void *buf, size_t cap, const struct rl_start *entry, const struct rl_config *cfg);
// Checks every offset of an entry in buf (8-aligned) and points out into it: 0 or -1.
int rl_start_parse(void *buf, size_t len, struct rl_start *out);
// 1 when the inputs are the entry's and every observation gives the same result again.
int rl_start_valid(const struct rl_start *s, const void *inputs, size_t n_inputs);
// The sandbox's environment, the one recipe (Planner.environment calls it too): base (the
// caller's, or an image's; nothing if clear_env), then each -e of sets in order ("K" copies
// the caller's K), PATH=default_path when none. malloc'd, one block (free *envp); the
// strings are base's, caller's, sets' or within the block. 0 or -ENOMEM.
int rl_env_recipe(char *const *base, char *const *caller, int clear_env, const char *const *sets, const char *default_path,
                  const char ***envp, const char **search_path);
// The sandbox's environment from environ by the entry's recipe (malloc'd, one block: free
// *envp), and the PATH a command is searched in (within it). 0 or -ENOMEM.
int rl_start_env(const struct rl_start *s, char *const *environ, const char ***envp, const char **search_path);

// The caller's private runtime directory into out: $XDG_RUNTIME_DIR/rootless (absolute
// only), else /tmp/rootless-UID, then sub (may be NULL) under it; each made if missing
// and used only if it is a directory of ours closed to others (a squatted /tmp path is
// refused). One rule for the Swift side (RuntimeDir) and the constructor. 0 or -errno.
int rl_runtime_dir(char *out, size_t cap, const char *sub);

#ifdef __cplusplus
}
#endif
#endif
