// Parent-side file helpers for the image store and the unpacker (which runs as root in
// the store's user namespace, but in an ordinary exec'd process, not a cloned child).
// In C because Glibc's Swift module lacks openat2, the xattr calls and FICLONE.
#include "crootless.h"
#include "fdpass.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

int rl_openat2_beneath(int dirfd, const char *path, int flags, int mode) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? (uint64_t)mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    int fd;
    do fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how); while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

int rl_fsetxattr(int fd, const char *name, const void *value, size_t size) {
    return fsetxattr(fd, name, value, size, 0) < 0 ? -errno : 0;
}

long rl_fgetxattr(int fd, const char *name, void *value, size_t size) {
    ssize_t n = fgetxattr(fd, name, value, size);
    return n < 0 ? -errno : n;
}

int rl_mknod_at(int dirfd, const char *name, unsigned mode, unsigned major, unsigned minor) {
    return mknodat(dirfd, name, mode, makedev(major, minor)) < 0 ? -errno : 0;
}

// A reflink where the filesystem shares extents (btrfs, xfs), else copy_file_range
// (in-kernel copy). Returns 0, or -errno.
int rl_copy_file(int from, int to, long long size) {
    if (ioctl(to, FICLONE, from) == 0) return 0;
    loff_t left = size;
    while (left > 0) {
        ssize_t n = copy_file_range(from, NULL, to, NULL, (size_t)(left > (1 << 30) ? (1 << 30) : left), 0);
        if (n < 0) { if (errno == EINTR) continue; return -errno; }
        if (n == 0) break;
        left -= n;
    }
    return 0;
}

// Whether a stat'ed char device is an overlay whiteout (0:0).
int rl_is_whiteout(unsigned long long rdev) { return major(rdev) == 0 && minor(rdev) == 0; }

long rl_flistxattr(int fd, char *list, size_t size) {
    ssize_t n = flistxattr(fd, list, size);
    return n < 0 ? -errno : n;
}

// One fd received over a unix socket (SCM_RIGHTS, one byte of data), or -errno (EOF: -EPIPE).
int rl_recv_fd(int sock) {
    int fd = -1;
    int n = rl_recv_fds(sock, &fd, 1);
    return n < 0 ? n : fd;
}

// accept4(fd, SOCK_NONBLOCK | SOCK_CLOEXEC): a GNU extension Swift's Glibc module does not export.
int rl_accept_nb(int fd) {
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return c < 0 ? -errno : c;
}
