// CRootless: everything between clone and exec, in small allocation-free C.
//
// Why C: a child cloned from a (possibly multi-threaded) Swift process must not run
// Swift: a lock held at clone time by another thread deadlocks it (design.md §3). The
// Swift side fills `struct rl_config` (all memory owned by Swift, alive until
// rl_supervise returns), calls rl_spawn, writes the id maps, calls rl_release and then
// rl_supervise. The child only reads the struct, makes syscalls and reports failures as
// (step, errno, index) records over a CLOEXEC pipe.
//
// One header per topic, included here for Swift (the module's umbrella):
//   rl_config.h  the launch config's field table and the wire format's rules
//   rl_child.h   spawn, the child's steps, pid 1, supervision
//   rl_keeper.h  the keeper and warm sandboxes
//   rl_starts.h  cached starts, observed facts, the environment recipe, the runtime dir
//   rl_mac.h     HMAC of what is read back from disk
//   rl_os.h      probes and small OS calls
#ifndef CROOTLESS_H
#define CROOTLESS_H
#include "rl_config.h"
#include "rl_child.h"
#include "rl_keeper.h"
#include "rl_starts.h"
#include "rl_mac.h"
#include "rl_os.h"
#endif
