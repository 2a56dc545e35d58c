// Counts the heap allocations the calling thread makes between start and stop, so a test
// can assert that a hot path allocates nothing (SlirpNet's per-frame path). The test
// binary's own malloc, calloc and realloc forward to glibc's and count while on.
#pragma once
void rl_alloc_count_start(void);
long rl_alloc_count_stop(void);
