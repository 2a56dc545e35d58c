// What every child step reports through, and the one list of forwarded signals: a unit
// of its own so the child's units (spawn, mounts, payload, zygote) call into it and never
// into each other in a cycle.
#include "child.h"
#include <errno.h>
#include <signal.h>
#include <unistd.h>

void rl_fail(int rep, int step, int err, int index) {
    struct rl_report r = { step, err, index, 0 };
    ssize_t w;
    do w = write(rep, &r, sizeof r); while (w < 0 && errno == EINTR);
    _exit(125);
}

// Forwarded from pid 1 to the payload (and from the rootless process to pid 1).
const int rl_forwarded_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH };
const int rl_n_forwarded_signals = sizeof rl_forwarded_signals / sizeof rl_forwarded_signals[0];
