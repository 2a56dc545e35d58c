// The child: clone, the steps between clone and exec, pid 1, supervision (spawn.c,
// mounts.c, payload.c, zygote.c, supervise.c, report.c). Reads a struct rl_config only.
#ifndef RL_CHILD_H
#define RL_CHILD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "rl_config.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- steps reported back when the child fails (keep in sync with ChildStep.swift) --------
enum rl_step {
    RL_STEP_NONE = 0,
    RL_STEP_SYNC = 1,        // waiting for the parent to write the id maps
    RL_STEP_HOSTNAME = 2,
    RL_STEP_LOOPBACK = 3,
    RL_STEP_PRIVATE = 4,     // make / rprivate
    RL_STEP_OPEN_ROOT = 5,   // open_tree of the root (host / or rootfs dir)
    RL_STEP_OPEN_SOURCE = 6, // open_tree of a bind source (index = mount)
    RL_STEP_ATTACH_ROOT = 7,
    RL_STEP_TARGET = 8,      // resolving / creating a mount target in the new root (index)
    RL_STEP_MOUNT = 9,       // creating or moving the mount (index)
    RL_STEP_ROOT_RDONLY = 10,
    RL_STEP_PIVOT = 11,
    RL_STEP_CHDIR = 12,
    RL_STEP_FORK_PAYLOAD = 13,
    RL_STEP_SETSID = 14,
    RL_STEP_TTY = 15,
    RL_STEP_FDS = 16,
    RL_STEP_SETGROUPS = 17,
    RL_STEP_SETGID = 18,
    RL_STEP_SETUID = 19,
    RL_STEP_CAPS = 20,
    RL_STEP_NNP = 21,
    RL_STEP_SECCOMP = 22,
    RL_STEP_EXEC = 23,
    RL_STEP_PDEATHSIG = 24,
    RL_STEP_CWD_ESCAPE = 25, // cwd resolved outside the new root (CVE-2024-21626 class)
    RL_STEP_LANDLOCK = 26,
    RL_STEP_RLIMIT = 27,     // index = position in rlimits
    RL_STEP_CGROUPNS = 28,   // unshare(CLONE_NEWCGROUP) once inside the sandbox's cgroup
    RL_STEP_OVERLAY = 29,    // the image's overlayfs root (index = lower layer, or -1)
    RL_STEP_NETNS = 30,      // joining the keeper's pooled network namespace
    RL_STEP_WARM = 31,       // a warm sandbox's payload receiving its command (warm.c)
    RL_STEP_TAP = 32,        // making the SlirpNet TAP (net.c)
    RL_STEP_TAP_CONFIG = 33, // configuring it (index = the rtnetlink request)
    RL_STEP_STATUS = 100,    // not an error: pid 1 reports the payload's wait status
    RL_STEP_READY = 101,     // not an error: a warm sandbox waits for its command
};

struct rl_report {
    int32_t step;
    int32_t err;   // errno, or the wait status for RL_STEP_STATUS
    int32_t index; // mount index, or -1
    int32_t pad;
};

struct rl_child {
    int pid;        // in the caller's pid namespace
    int pidfd;
    int sync_fd;    // write end: one byte releases the child (maps written)
    int report_fd;  // read end of the report pipe
    int pty_master; // -1 without a tty
    int notify_sock;// parent end of the socket the seccomp listener fd arrives on, or -1
    int foreign;    // 1: not our child (a warm sandbox, the keeper's): exit seen on the
                    // pidfd, status only from pid 1's report
};

enum rl_outcome {
    RL_EXITED = 1,      // code = exit status
    RL_SIGNALED = 2,    // code = signal number
    RL_SETUP_FAILED = 3,// report holds the step/errno/index
    RL_TIMED_OUT = 4,
    RL_LOST = 5,        // child vanished without status (e.g. killed from outside)
};

struct rl_result {
    int32_t outcome;
    int32_t code;
    struct rl_report report;
};

// Creates the child with clone3(). Returns 0 or -errno (out unchanged on failure).
// Blocks the forwarded signals in the caller (undone by rl_supervise).
int rl_spawn(const struct rl_config *cfg, struct rl_child *out);
// Tells the child the id maps are in place.
int rl_release(struct rl_child *child);
// Kills and reaps a child that will not be released (id-map failure).
void rl_abort(struct rl_child *child);
// Relays tty/signals, enforces the timeout, reaps, fills res. Closes the child's fds.
int rl_supervise(const struct rl_config *cfg, struct rl_child *child, struct rl_result *res);

#ifdef __cplusplus
}
#endif
#endif
