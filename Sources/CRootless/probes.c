// Throw-away children for `rootless doctor`. Each answers one question with an errno.
#include "crootless.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static int run_child(uint64_t flags, int (*fn)(void *), void *arg) {
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.flags = flags;
    a.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &a, sizeof a);
    if (pid < 0) return errno;
    if (pid == 0) _exit(fn(arg) & 0xff);
    int st;
    while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(st) ? WEXITSTATUS(st) : EINTR;
}

static int nothing(void *arg) { (void)arg; return 0; }

int rl_probe_userns(void) { return run_child(CLONE_NEWUSER, nothing, NULL); }

static int write_file(const char *path, const char *s) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ssize_t n = write(fd, s, strlen(s));
    int e = n < 0 ? errno : 0;
    close(fd);
    return e;
}

struct maps { char uid[64]; char gid[64]; };

static int overlay_child(void *arg) {
    struct maps *m = arg;
    int e;
    if ((e = write_file("/proc/self/setgroups", "deny")) && e != ENOENT) return e;
    if ((e = write_file("/proc/self/uid_map", m->uid))) return e;
    if ((e = write_file("/proc/self/gid_map", m->gid))) return e;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return errno;
    if (mount("tmpfs", "/tmp", "tmpfs", 0, NULL) < 0) return errno;
    const char *dirs[] = { "/tmp/l", "/tmp/u", "/tmp/w", "/tmp/m" };
    for (int i = 0; i < 4; i++) if (mkdir(dirs[i], 0755) < 0) return errno;
    if (mount("overlay", "/tmp/m", "overlay", 0, "lowerdir=/tmp/l,upperdir=/tmp/u,workdir=/tmp/w,userxattr") < 0)
        return errno;
    return 0;
}

// The same question for a store: lower is an empty directory on the store's filesystem
// (the layers' one: some filesystems cannot be an overlay lower), the upper and work
// dirs on a tmpfs mounted at scratch (also an empty directory), as a run mounts them.
struct overlay_at { struct maps m; const char *lower, *scratch; char opts[8400], u[4100], w[4100]; };

static int overlay_at_child(void *arg) {
    struct overlay_at *o = arg;
    int e;
    if ((e = write_file("/proc/self/setgroups", "deny")) && e != ENOENT) return e;
    if ((e = write_file("/proc/self/uid_map", o->m.uid))) return e;
    if ((e = write_file("/proc/self/gid_map", o->m.gid))) return e;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return errno;
    if (mount("tmpfs", o->scratch, "tmpfs", 0, "mode=0755") < 0) return errno;
    if (mkdir(o->u, 0755) < 0 || mkdir(o->w, 0700) < 0) return errno;
    if (mount("overlay", o->scratch, "overlay", 0, o->opts) < 0) return errno;
    return 0;
}

int rl_probe_overlay_at(const char *lower, const char *scratch) {
    static struct overlay_at o;
    snprintf(o.m.uid, sizeof o.m.uid, "0 %u 1", (unsigned)getuid());
    snprintf(o.m.gid, sizeof o.m.gid, "0 %u 1", (unsigned)getgid());
    if (strlen(lower) > 4000 || strlen(scratch) > 4000) return ENAMETOOLONG;
    snprintf(o.u, sizeof o.u, "%s/u", scratch);
    snprintf(o.w, sizeof o.w, "%s/w", scratch);
    snprintf(o.opts, sizeof o.opts, "lowerdir=%s,upperdir=%s,workdir=%s,userxattr", lower, o.u, o.w);
    o.lower = lower;
    o.scratch = scratch;
    return run_child(CLONE_NEWUSER | CLONE_NEWNS, overlay_at_child, &o);
}

int rl_probe_overlay(void) {
    struct maps m;
    snprintf(m.uid, sizeof m.uid, "0 %u 1", (unsigned)getuid());
    snprintf(m.gid, sizeof m.gid, "0 %u 1", (unsigned)getgid());
    return run_child(CLONE_NEWUSER | CLONE_NEWNS, overlay_child, &m);
}

int rl_landlock_abi(void) {
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? -errno : (int)v;
}

int rl_has_file_caps(const char *path) {
    return getxattr(path, "security.capability", NULL, 0) > 0;
}

int rl_kernel_serves_x32(void) {
#ifdef __x86_64__
    // Already under a seccomp filter (a nested sandbox): an x32 call could be killed by
    // it — ours kills x32 numbers when it has no x32 branch — so do not probe; answer 0,
    // and our filter then kills x32 calls too, the safe side.
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 0) return 0;
    // getpid through the x32 ABI: ENOSYS where CONFIG_X86_X32_ABI is off or syscall.x32=n.
    return syscall(0x40000000 | SYS_getpid) >= 0;
#else
    return 0;
#endif
}

long rl_fs_type(const char *path) {
    struct statfs s;
    return statfs(path, &s) == 0 ? (long)s.f_type : -1;
}
