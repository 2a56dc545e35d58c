// Private to CRootless: the keeper's pool of fresh network namespaces (pool.c).
#ifndef CROOTLESS_POOL_H
#define CROOTLESS_POOL_H
#include <stddef.h>

// Starts the thread that fills the pool, with start(fn, stack size): its result.
int rl_pool_start(int (*start)(void *(*)(void *), size_t));
// A pooled network namespace (the refill thread is told). For a run that asked with a TAP's key (rl_tap_key; len 0: none): a namespace whose tap0
// was made with exactly those requests, and *sock, the socket [tap, netns] wait in
// (returns 1); else a plain one in *netns, or -1 (returns 0). A key other than the
// pool's becomes the pool's. Every fd given is the caller's.
int rl_pool_take(const char *key, size_t len, int *netns, int *sock);

#endif
