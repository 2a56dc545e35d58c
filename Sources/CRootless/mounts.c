// The new root, built inside the child's private mount namespace.
//
// Order (and why):
//   1. "/" becomes rprivate, so nothing we do propagates back to the host.
//   2. Every host-side source (bind sources, the root itself, /dev/null for masks) is
//      cloned with open_tree(OPEN_TREE_CLONE) *before* anything is mounted: later steps
//      cover /tmp, and a source under it must still be the host's.
//   3. The root tree is made read-only/nosuid/nodev while still detached (host view), so
//      nothing below can create files on the host: a missing mount target fails EROFS.
//   4. The root is attached at /tmp (of the private namespace) so it has a path for
//      pivot_root; from then on every target is resolved *relative to the root fd* with
//      openat2(RESOLVE_IN_ROOT): a symlink in a rootfs ("mnt -> /") resolves inside the
//      new root and can never redirect a mount onto the host (CVE-2021-30465 class).
//      Missing targets are created one component at a time with mkdirat on a parent fd
//      that was itself resolved in-root (CVE-2024-45310 class).
//   5. Mounts are made detached (fsopen/fsmount or the open_tree clones) and attached
//      by fd with move_mount: there is no path-based window between check and mount.
//   6. Read-only root (rootfs --read-only) is applied last, after all targets exist.
//   7. pivot_root(".", ".") + lazy unmount of the old root.
#include "child.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = flags;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

static const char *relpath(const char *p) {
    while (*p == '/') p++;
    return *p ? p : ".";
}

// A warm sandbox (zygote) is built ahead of the run that will take it, maybe never: it
// must not change the user's files, not even by making a missing mount target. (It did:
// `rm -rf rootfs` right after a run raced the keeper's build making rootfs/dev and failed
// "Directory not empty".) So in a zygote build a target may be made only on a filesystem
// this build mounted (fresh /dev, /tmp, --tmpfs), found by mount id. A target missing
// from the rootfs or a bind fails the build (EXDEV, even for an optional mount: a cold
// run would have made it); the keeper drops it, and the run starts cold and makes the
// target itself, in its own time, as a cold run always does.
struct own_mounts { uint64_t id[RL_MAX_MOUNTS]; int n, only; };

static uint64_t mount_id(int fd) {
    struct statx sx;
    return statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) == 0 && (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : 0;
}

static int may_create_in(const struct own_mounts *own, int dirfd) {
    if (!own->only) return 1;
    uint64_t id = mount_id(dirfd);
    for (int i = 0; i < own->n; i++) if (id && own->id[i] == id) return 1;
    return 0;
}

// Resolves `path` inside the root (creating what is missing when `create`), returns an
// O_PATH fd (or, for a file it just created, the creating fd) or -errno.
//
// Found: one openat2. Missing: the deepest existing ancestor is found walking back (for a
// device in a fresh /dev: one call, "dev"), then each missing component is made on its
// parent's fd and opened *from it* with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS: one
// component, no "..", no symlink, so nothing planted between the mkdirat and the open (a
// rootfs is the user's, and may change under us) can send it elsewhere. A file is created
// O_EXCL|O_NOFOLLOW and its own fd is the target (move_mount takes any fd). A fresh /dev
// costs three calls per device, not six. A loop, not recursion: the path is the user's
// (a bind target), and pid 1 may run on the keeper's 1 MiB builder stack.
static int ensure_target(int rootfd, const char *path, int want_file, int create, uint64_t resolve,
                         const struct own_mounts *own) {
    const char *r = relpath(path);
    int fd = sys_openat2(rootfd, r, O_PATH | O_CLOEXEC, resolve);
    if (fd >= 0) return fd;
    if (errno != ENOENT || !create) return -errno;

    char buf[4096];
    size_t n = strlen(r);
    if (n >= sizeof buf) return -ENAMETOOLONG;
    memcpy(buf, r, n + 1);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;

    // Walk back to the deepest ancestor that exists.
    int parent = rootfd;
    char *cut = strrchr(buf, '/');
    while (cut) {
        *cut = 0;
        int p = buf[0] ? sys_openat2(rootfd, buf, O_PATH | O_CLOEXEC, resolve) : -1;
        int e = buf[0] ? errno : ENOENT;
        *cut = '/';
        if (p >= 0) { parent = p; break; }
        if (e != ENOENT) return -e;
        char *prev = cut;
        while (prev > buf && *(prev - 1) != '/') prev--;
        cut = prev > buf ? prev - 1 : NULL;
    }

    // Make the rest, one component at a time, each opened from its parent (all on the
    // parent's mount: what we make is no mount point).
    if (!may_create_in(own, parent)) {
        if (parent != rootfd) close(parent);
        return -EXDEV;
    }
    char *c = cut ? cut + 1 : buf;
    for (;;) {
        char *next = strchr(c, '/');
        int last = next == NULL;
        if (!last) *next = 0;
        if (*c == 0) { c = next + 1; continue; } // "a//b"
        if (strcmp(c, "..") == 0 || strcmp(c, ".") == 0) { fd = -1; errno = EINVAL; }
        else if (last && want_file) {
            fd = openat(parent, c, O_CREAT | O_EXCL | O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd < 0 && errno == EEXIST) fd = -2; // raced, or a dangling symlink: refused below
        } else {
            fd = mkdirat(parent, c, 0755) < 0 && errno != EEXIST ? -1 : -2;
        }
        if (fd == -2) {
            struct open_how how;
            memset(&how, 0, sizeof how);
            how.flags = O_PATH | O_CLOEXEC;
            how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
            fd = (int)syscall(SYS_openat2, parent, c, &how, sizeof how);
        }
        int e = errno;
        if (parent != rootfd) close(parent);
        if (fd < 0) return -e;
        if (last) return fd;
        parent = fd;
        c = next + 1;
    }
}

static uint64_t attr_bits(uint32_t flags) {
    uint64_t a = 0;
    if (flags & RL_MF_RDONLY) a |= MOUNT_ATTR_RDONLY;
    if (flags & RL_MF_NOSUID) a |= MOUNT_ATTR_NOSUID;
    if (flags & RL_MF_NODEV) a |= MOUNT_ATTR_NODEV;
    if (flags & RL_MF_NOEXEC) a |= MOUNT_ATTR_NOEXEC;
    return a;
}

static int set_attrs(int mfd, uint32_t flags, int recursive) {
    struct mount_attr a;
    memset(&a, 0, sizeof a);
    a.attr_set = attr_bits(flags);
    if (!a.attr_set) return 0;
    return mount_setattr(mfd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a);
}

static int attach(int mfd, int targetfd) {
    return move_mount(mfd, "", targetfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

// fsopen + options ("k=v,flag,...") + fsmount. Returns a detached mount fd or -errno.
static int new_fs(const char *type, const char *data, uint32_t flags) {
    int fs = fsopen(type, FSOPEN_CLOEXEC);
    if (fs < 0) return -errno;
    if (data && *data) {
        char buf[512];
        size_t n = strlen(data);
        if (n >= sizeof buf) { close(fs); return -E2BIG; }
        memcpy(buf, data, n + 1);
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            int rc;
            if (eq) { *eq = 0; rc = fsconfig(fs, FSCONFIG_SET_STRING, tok, eq + 1, 0); }
            else rc = fsconfig(fs, FSCONFIG_SET_FLAG, tok, NULL, 0);
            if (rc < 0) { int e = errno; close(fs); return -e; }
        }
    }
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) { int e = errno; close(fs); return -e; }
    int m = fsmount(fs, FSMOUNT_CLOEXEC, (unsigned)attr_bits(flags));
    int e = errno;
    close(fs);
    return m < 0 ? -e : m;
}

static const char *fs_type(int kind) {
    switch (kind) {
    case RL_MOUNT_TMPFS: return "tmpfs";
    case RL_MOUNT_PROC: return "proc";
    case RL_MOUNT_SYSFS: return "sysfs";
    case RL_MOUNT_CGROUP2: return "cgroup2";
    case RL_MOUNT_DEVPTS: return "devpts";
    case RL_MOUNT_MQUEUE: return "mqueue";
    default: return NULL;
    }
}

// Splits "/a/b/c" into parent "/a/b" (in buf) and returns the last component.
static const char *split_parent(const char *path, char *buf, size_t cap) {
    size_t n = strlen(path);
    if (n >= cap) return NULL;
    memcpy(buf, path, n + 1);
    char *slash = strrchr(buf, '/');
    if (!slash) { buf[0] = '/'; buf[1] = 0; return path; }
    *slash = 0;
    if (buf[0] == 0) { buf[0] = '/'; buf[1] = 0; }
    return path + (slash - buf) + 1;
}

// fuse-overlayfs. The daemon lives in this mount namespace for the sandbox's lifetime,
// so its root must not be the root we are about to pivot away from: pivot_root moves
// every process whose root is the old one into the new root — here the FUSE mount
// itself, which the daemon would then serve to itself and deadlock. So, in order:
//   1. the host tree is bind-cloned (recursively) at scratch/host, and the daemon is
//      chrooted there: the same files at the same paths (its libraries, /dev/fuse, the
//      layers, the tmpfs upper), but a root pivot_root leaves alone;
//   2. it mounts on scratch/merged as *it* sees it, which from here is
//      scratch/host/scratch/merged (on the clone of the tmpfs);
//   3. its foreground process exits 0 once the mount is up (it daemonizes);
//   4. that mount is cloned detached and becomes the root like any other tree.
// The option string is built in a static buffer (the layer list can be long); the
// daemon gets no environment and none of our fds.
static char fuse_opts[1 << 16];

// out = a + b, or the step fails with ENAMETOOLONG.
static void join(char *out, size_t cap, const char *a, const char *b, int rep) {
    size_t na = strlen(a), nb = strlen(b);
    if (na + nb + 1 > cap) rl_fail(rep, RL_STEP_OVERLAY, ENAMETOOLONG, -1);
    memcpy(out, a, na);
    memcpy(out + na, b, nb + 1);
}

static int fuse_root(const struct rl_config *c, const char *upper, const char *work, int rep) {
    char merged[4096], host[4096], seen[8192];
    join(merged, sizeof merged, c->overlay_scratch, "/merged", rep);
    join(host, sizeof host, c->overlay_scratch, "/host", rep);
    join(seen, sizeof seen, host, merged, rep);
    if (mkdir(merged, 0755) < 0 || mkdir(host, 0755) < 0) rl_fail(rep, RL_STEP_OVERLAY, errno, -1);
    int h = open_tree(AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (h < 0 || move_mount(h, "", AT_FDCWD, host, MOVE_MOUNT_F_EMPTY_PATH) < 0) rl_fail(rep, RL_STEP_OVERLAY, errno, -1);
    close(h);
    size_t len = 0;
#define PUT(s) do { size_t l_ = strlen(s); if (len + l_ + 1 > sizeof fuse_opts) rl_fail(rep, RL_STEP_OVERLAY, E2BIG, -1); memcpy(fuse_opts + len, s, l_); len += l_; } while (0)
    PUT("lowerdir=");
    for (int i = 0; i < c->n_overlay_lower; i++) { if (i) PUT(":"); PUT(c->overlay_lower[i]); }
    PUT(",upperdir="); PUT(upper);
    PUT(",workdir="); PUT(work);
    // Anyone inside (uid 1000 of the image too) may use the mount, not only its owner.
    PUT(",allow_other");
#undef PUT
    fuse_opts[len] = 0;
    // Its stderr goes to a memfd, shown only if the mount fails (fuse-overlayfs 1.10
    // prints a harmless "unknown argument ignored: lazytime" on every start).
    int log = (int)syscall(SYS_memfd_create, "fuse-overlayfs-stderr", 1U /* MFD_CLOEXEC */);
    pid_t p = fork();
    if (p < 0) rl_fail(rep, RL_STEP_OVERLAY, errno, -1);
    if (p == 0) {
        const char *argv[] = { "fuse-overlayfs", "-o", fuse_opts, merged, NULL };
        const char *envp[] = { NULL };
        if (log >= 0) dup2(log, 2);
        syscall(SYS_close_range, 3U, ~0U, 0U);
        if (chroot(host) < 0 || chdir("/") < 0) _exit(126);
        execve(c->overlay_fuse, (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    int st;
    while (waitpid(p, &st, 0) < 0) if (errno != EINTR) rl_fail(rep, RL_STEP_OVERLAY, errno, -1);
    // The index -2 tells the parent it was fuse-overlayfs that failed (exit status as errno).
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char msg[2048];
        ssize_t got = log >= 0 ? pread(log, msg, sizeof msg, 0) : -1;
        if (got > 0) { (void)!write(2, "rootless: fuse-overlayfs said: ", 31); (void)!write(2, msg, (size_t)got); }
        rl_fail(rep, RL_STEP_OVERLAY, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), -2);
    }
    if (log >= 0) close(log);
    int m = open_tree(AT_FDCWD, seen, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (m < 0) rl_fail(rep, RL_STEP_OVERLAY, errno, -1);
    return m;
}

// The image root: tmpfs on the scratch dir (in this mount namespace only) -> upper and
// work in it -> overlay of the layers (lowerdir+ one by one: no length limit on the
// list) with userxattr, the whiteout/opaque format our unpacker writes.
static int overlay_root(const struct rl_config *c, int rep) {
    int t = new_fs("tmpfs", "mode=0755", RL_MF_NOSUID | RL_MF_NODEV);
    if (t < 0) rl_fail(rep, RL_STEP_OVERLAY, -t, -1);
    if (move_mount(t, "", AT_FDCWD, c->overlay_scratch, MOVE_MOUNT_F_EMPTY_PATH) < 0) rl_fail(rep, RL_STEP_OVERLAY, errno, -1);
    close(t);
    char upper[4096], work[4096];
    join(upper, sizeof upper, c->overlay_scratch, "/upper", rep);
    join(work, sizeof work, c->overlay_scratch, "/work", rep);
    // The upper root must look like the image's root directory (mode 0755, root-owned).
    if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0) rl_fail(rep, RL_STEP_OVERLAY, errno, -1);
    if (c->overlay_fuse) return fuse_root(c, upper, work, rep);
    int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0) rl_fail(rep, RL_STEP_OVERLAY, errno, -1);
    for (int i = 0; i < c->n_overlay_lower; i++)
        if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", c->overlay_lower[i], 0) < 0) rl_fail(rep, RL_STEP_OVERLAY, errno, i);
    if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0 ||
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        rl_fail(rep, RL_STEP_OVERLAY, errno, -1);
    int m = fsmount(fs, FSMOUNT_CLOEXEC, 0);
    if (m < 0) rl_fail(rep, RL_STEP_OVERLAY, errno, -1);
    close(fs);
    return m;
}

// A host directory (bind source, --rootfs) cloned with no symlink followed on the way:
// the plan resolved every one (and checked the result against rootless's own state), so
// a symlink here was swapped in since, by someone racing us. -1 with errno (ELOOP).
static int clone_source(const char *path) {
    int p = sys_openat2(AT_FDCWD, path, O_PATH | O_CLOEXEC, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (p < 0) return -1;
    int fd = open_tree(p, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    int e = errno;
    close(p);
    errno = e;
    return fd;
}

void rl_build_root(const struct rl_config *c, int rep) {
    int n = c->n_mounts;
    if (n < 0 || n > RL_MAX_MOUNTS) rl_fail(rep, RL_STEP_MOUNT, E2BIG, -1);
    int src[RL_MAX_MOUNTS];
    // Masks share two sources, not one clone each: /dev/null cloned once (checked once)
    // for file masks, and one empty read-only tmpfs for directory masks. The first mask of
    // each kind attaches the source itself; later ones clone the *attached* mount (a mount
    // in our namespace may be cloned on every kernel; a detached one only since 6.15).
    // Why: a clone never attached (a mask whose path this kernel lacks: 7 of 12 here) is
    // dissolved at close, and each dissolve waits out an expedited RCU grace period —
    // IPIs to every CPU, the run beside us included. And every tmpfs is a superblock to
    // make now and to shut down with the namespace.
    int null_src = -1, null_mnt = -1, dir_mnt = -1;
    struct own_mounts own = { .n = 0, .only = c->zygote != 0 };

    // 1.
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) rl_fail(rep, RL_STEP_PRIVATE, errno, -1);

    // 2. host-side sources, all cloned before anything is mounted.
    for (int i = 0; i < n; i++) {
        const struct rl_mount *m = &c->mounts[i];
        src[i] = -1;
        const char *path = NULL;
        if (m->kind == RL_MOUNT_BIND || m->kind == RL_MOUNT_DEVICE) path = m->source;
        else if (m->kind == RL_MOUNT_MASK && null_src < 0) path = "/dev/null";
        else continue;
        int fd = m->kind == RL_MOUNT_BIND ? clone_source(path) : open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (fd < 0) {
            if ((m->flags & RL_MF_OPTIONAL) && errno == ENOENT) continue;
            rl_fail(rep, RL_STEP_OPEN_SOURCE, errno, i);
        }
        if (m->kind != RL_MOUNT_BIND) {
            // Devices and mask sources must really be the host's character devices: a
            // planted regular file or symlink here would mask nothing (CVE-2025-31133).
            struct stat st;
            if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) ||
                (m->kind == RL_MOUNT_MASK && st.st_rdev != makedev(1, 3)))
                rl_fail(rep, RL_STEP_OPEN_SOURCE, ENODEV, i);
        } else if (set_attrs(fd, m->flags, 1) < 0) {
            rl_fail(rep, RL_STEP_OPEN_SOURCE, errno, i);
        }
        if (m->kind == RL_MOUNT_MASK) null_src = fd; else src[i] = fd;
    }

    // 2b/3. the root tree itself.
    int root = c->n_overlay_lower > 0 ? overlay_root(c, rep)
             : c->host_view ? open_tree(AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)
             : clone_source(c->rootfs);
    if (root < 0) rl_fail(rep, RL_STEP_OPEN_ROOT, errno, -1);
    if (c->host_view && set_attrs(root, RL_MF_RDONLY | RL_MF_NOSUID | RL_MF_NODEV, 1) < 0)
        rl_fail(rep, RL_STEP_OPEN_ROOT, errno, -1);

    // 4.
    if (move_mount(root, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH) < 0)
        rl_fail(rep, RL_STEP_ATTACH_ROOT, errno, -1);

    // 5. the mount list, in plan order.
    for (int i = 0; i < n; i++) {
        const struct rl_mount *m = &c->mounts[i];
        int optional = (m->flags & RL_MF_OPTIONAL) != 0;
        uint64_t resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
        if (m->flags & RL_MF_NOSYMLINK) resolve |= RESOLVE_NO_SYMLINKS;
        int create = !(m->flags & RL_MF_NOCREATE);
        int t, mfd;

        switch (m->kind) {
        case RL_MOUNT_BIND:
        case RL_MOUNT_DEVICE: {
            if (src[i] < 0) continue;
            // A device was checked to be a character device in step 2.
            struct stat st;
            int is_file = m->kind == RL_MOUNT_DEVICE || (fstat(src[i], &st) == 0 && !S_ISDIR(st.st_mode));
            t = ensure_target(root, m->target, is_file, create, resolve, &own);
            if (t < 0) rl_fail(rep, RL_STEP_TARGET, -t, i);
            if (attach(src[i], t) < 0) rl_fail(rep, RL_STEP_MOUNT, errno, i);
            close(t);
            close(src[i]);
            src[i] = -1;
            break;
        }
        case RL_MOUNT_MASK: {
            t = ensure_target(root, m->target, 0, 0, resolve, &own);
            if (t < 0) {
                if (optional && t == -ENOENT) continue;
                rl_fail(rep, RL_STEP_TARGET, -t, i);
            }
            struct stat st;
            if (fstat(t, &st) < 0) rl_fail(rep, RL_STEP_TARGET, errno, i);
            int dir = S_ISDIR(st.st_mode);
            int *shared = dir ? &dir_mnt : &null_mnt;
            if (*shared >= 0) {
                mfd = open_tree(*shared, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
                if (mfd < 0) rl_fail(rep, RL_STEP_MOUNT, errno, i);
            } else if (dir) {
                mfd = new_fs("tmpfs", "size=4k,mode=0555", RL_MF_RDONLY | RL_MF_NOSUID | RL_MF_NODEV | RL_MF_NOEXEC);
                if (mfd < 0) rl_fail(rep, RL_STEP_MOUNT, -mfd, i);
            } else {
                if (null_src < 0) rl_fail(rep, RL_STEP_OPEN_SOURCE, ENOENT, i); // the host has no /dev/null
                mfd = null_src;
                null_src = -1;
            }
            if (attach(mfd, t) < 0) rl_fail(rep, RL_STEP_MOUNT, errno, i);
            if (*shared < 0) *shared = mfd; else close(mfd);
            close(t);
            break;
        }
        case RL_MOUNT_READONLY: {
            t = ensure_target(root, m->target, 0, 0, resolve, &own);
            if (t < 0) {
                if (optional && t == -ENOENT) continue;
                rl_fail(rep, RL_STEP_TARGET, -t, i);
            }
            mfd = open_tree(t, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
            if (mfd < 0 || set_attrs(mfd, m->flags | RL_MF_RDONLY, 1) < 0 || attach(mfd, t) < 0)
                rl_fail(rep, RL_STEP_MOUNT, errno, i);
            close(mfd);
            close(t);
            break;
        }
        case RL_MOUNT_SYMLINK: {
            char pbuf[4096];
            const char *base = split_parent(m->target, pbuf, sizeof pbuf);
            if (!base) rl_fail(rep, RL_STEP_TARGET, ENAMETOOLONG, i);
            t = ensure_target(root, pbuf, 0, create, resolve, &own);
            if (t < 0) rl_fail(rep, RL_STEP_TARGET, -t, i);
            if (!may_create_in(&own, t)) rl_fail(rep, RL_STEP_TARGET, EXDEV, i);
            // symlinkat needs a real directory fd, not O_PATH... O_PATH dirfds work for *at().
            if (symlinkat(m->source, t, base) < 0 && !(errno == EEXIST && optional))
                rl_fail(rep, RL_STEP_MOUNT, errno, i);
            close(t);
            break;
        }
        default: {
            const char *type = fs_type(m->kind);
            if (!type) rl_fail(rep, RL_STEP_MOUNT, EINVAL, i);
            t = ensure_target(root, m->target, 0, create, resolve, &own);
            if (t < 0) {
                if (optional && t != -EXDEV) continue;
                rl_fail(rep, RL_STEP_TARGET, -t, i);
            }
            mfd = new_fs(type, m->data, m->flags);
            if (mfd < 0) {
                if (optional) { close(t); continue; }
                rl_fail(rep, RL_STEP_MOUNT, -mfd, i);
            }
            if (attach(mfd, t) < 0) {
                if (!optional) rl_fail(rep, RL_STEP_MOUNT, errno, i);
            } else if (own.only && own.n < RL_MAX_MOUNTS) {
                own.id[own.n++] = mount_id(mfd);
            }
            close(mfd);
            close(t);
            break;
        }
        }
    }

    if (null_src >= 0) close(null_src); // no file mask's path exists: one dissolve
    if (null_mnt >= 0) close(null_mnt);
    if (dir_mnt >= 0) close(dir_mnt);

    // 6.
    if (c->root_readonly && set_attrs(root, RL_MF_RDONLY, 0) < 0)
        rl_fail(rep, RL_STEP_ROOT_RDONLY, errno, -1);

    // 7. The old root is stacked under "." by pivot_root(".", "."); detach it.
    if (fchdir(root) < 0) rl_fail(rep, RL_STEP_PIVOT, errno, -1);
    if (syscall(SYS_pivot_root, ".", ".") < 0) rl_fail(rep, RL_STEP_PIVOT, errno, -1);
    if (umount2(".", MNT_DETACH) < 0) rl_fail(rep, RL_STEP_PIVOT, errno, -1);
    if (chdir("/") < 0) rl_fail(rep, RL_STEP_PIVOT, errno, -1);
    close(root);
}
