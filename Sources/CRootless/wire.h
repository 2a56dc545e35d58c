// Private to CRootless: the flattened config (wire.c) and the warm request read by the
// keeper (warm.c). Not used between clone and exec.
#ifndef CROOTLESS_WIRE_H
#define CROOTLESS_WIRE_H
#include "rl_config.h"
#include "rl_keeper.h"
#include <stddef.h>

// wire.c: a config flattened into one buffer, pointers as offsets, by the field tables.
struct rl_pk { char *b; size_t cap, n; int err; };
// Appends len bytes (NULL: zeros) 8-aligned; returns the offset (p->err = E2BIG past cap).
uint64_t rl_pk_put(struct rl_pk *p, const void *d, size_t len);
const char *rl_pk_str(struct rl_pk *p, const char *s);
// A NULL-terminated list as count+1 offsets (the last 0): the array's offset.
uint64_t rl_pk_strv(struct rl_pk *p, const char *const *v, uint32_t *count);
// c, flattened into p (fds -1, pointers into this process NULL, the run's lists left out
// and its scalars zeroed unless keep_run): the packed config's offset. p->err = EINVAL when
// c must run cold (rl_config_cold_field).
uint64_t rl_pk_config(struct rl_pk *p, const struct rl_config *c, int keep_run);
// The reverse, in place in b: each offset (>= min, the header) checked to lie within len,
// each string NUL-terminated within it, each count within its table's bounds, and nothing
// a packed config never carries. 0, or -1 for bad bytes.
int rl_fix_str(char *b, size_t len, size_t min, const char **f);
int rl_fix_arr(char *b, size_t len, size_t min, const void **f, int32_t n, size_t size, int32_t max);
int rl_fix_strv(char *b, size_t len, size_t min, const char *const **v, uint32_t n);
int rl_fix_config(char *b, size_t len, size_t min, struct rl_config *c);

// warm.c. The keeper: checks every offset of a warm request in place and points *out at
// its config (and at the caller's cgroup and LSM label texts). 0, or -1 for bad bytes.
int rl_warm_unpack(char *b, size_t len, struct rl_config **out, const char **cgroup, const char **label,
                   uint64_t *mnt_dev, uint64_t *mnt_ino);
#endif
