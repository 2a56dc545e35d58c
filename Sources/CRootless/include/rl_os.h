// Small OS calls the Swift side cannot make itself: doctor's probes (probes.c), the image
// store's file operations (files.c), GNU extensions Swift's Glibc module does not export.
#ifndef RL_OS_H
#define RL_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/epoll.h> // for SlirpHost: Swift's Glibc module leaves it out
#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- small probes for `doctor`, each in a throw-away child --------------------------------
// 0 when an unprivileged user namespace can be created, else errno.
int rl_probe_userns(void);
// 0 when overlayfs with userxattr mounts inside a fresh user+mount namespace, else errno.
int rl_probe_overlay(void);
// The same with lower on a given filesystem (an empty dir) and a tmpfs upper on scratch.
int rl_probe_overlay_at(const char *lower, const char *scratch);
// Landlock ABI version, or -errno.
int rl_landlock_abi(void);
// 1 if the kernel serves x32-ABI syscalls (probed only when no seccomp filter is on us).
int rl_kernel_serves_x32(void);

// ---- files.c: for the image store and the unpacker (not used between clone and exec).
// openat2 with RESOLVE_BENEATH|NO_SYMLINKS|NO_MAGICLINKS|NO_XDEV: fd or -errno.
int rl_openat2_beneath(int dirfd, const char *path, int flags, int mode);
int rl_fsetxattr(int fd, const char *name, const void *value, size_t size);
long rl_fgetxattr(int fd, const char *name, void *value, size_t size);
long rl_flistxattr(int fd, char *list, size_t size);
int rl_mknod_at(int dirfd, const char *name, unsigned mode, unsigned major, unsigned minor);
int rl_copy_file(int from, int to, long long size);
int rl_is_whiteout(unsigned long long rdev);

// statfs(path).f_type, or -1 (errno set).
long rl_fs_type(const char *path);
// 1 if the file has a security.capability xattr.
int rl_has_file_caps(const char *path);

// pipe2(O_CLOEXEC): a GNU extension Swift's Glibc module does not export.
int rl_pipe_cloexec(int fds[2]);

// One fd received over a unix socket (SCM_RIGHTS), or -errno (-EPIPE: the peer closed).
int rl_recv_fd(int sock);
// accept4(fd, SOCK_NONBLOCK | SOCK_CLOEXEC): the connection's fd or -errno.
int rl_accept_nb(int fd);

// ---- sockets.c: SlirpHost's engine thread ------------------------------------------------
// Up to max fds received in one message over a unix socket: how many, or -errno (-EPIPE:
// the peer closed, or sent none).
int rl_recv_fds(int sock, int *fds, int max);
// setns(fd, CLONE_NEWNET) for the calling thread only (sockets it makes then belong to
// that namespace, and keep it). 0 or -errno.
int rl_setns_net(int fd);
// splice(2) of up to len bytes, non-blocking, between a socket and a pipe: the bytes
// moved, 0 at EOF, or -errno (-EAGAIN: nothing to move now).
long rl_splice_nb(int from, int to, size_t len);
// How many CPUs the calling thread may run on (sched_getaffinity), at least 1.
int rl_cpus_allowed(void);
// The signals a run forwards to its sandbox (SIGINT, SIGTERM, ...; blocked in its threads
// to its exit), once the sandbox has ended: a signalfd reading those this process does
// not ignore (a blocked signal is queued even then: nohup's SIGHUP must not count),
// non-blocking, close-on-exec: the fd or -errno. So Ctrl-C while the engine waits for the
// connections the sandbox left ends that wait, and the run still cleans up.
int rl_forwarded_signalfd(void);
// Reads every signal waiting on such a signalfd: 1 if one came that stops a program
// (SIGINT, SIGTERM, SIGHUP, SIGQUIT: the wait ends), else 0 (SIGWINCH, SIGCONT, SIGUSR1
// and SIGUSR2 do not end it).
int rl_signalfd_stops(int fd);
// pipe2(O_CLOEXEC | O_NONBLOCK), asked to hold size bytes (0: the default): 0 or -errno.
int rl_pipe_nb(int fds[2], int size);
// -p /udp on a wildcard address: each datagram's destination (the host's address the
// sender chose), so the answer leaves from it — a connected client drops one from
// another. rl_udp_pktinfo asks the listener for it (IP_PKTINFO, IPV6_RECVPKTINFO): 0 or
// -errno. rl_recv_dst: recvmsg (non-blocking) of one datagram, its sender in *from and the
// local address to answer it from in *dst (port 0; AF_UNSPEC if not told): the bytes, or
// -errno. rl_send_src: sendmsg (non-blocking) of one datagram to `to`, from src's address
// (rl_recv_dst's dst as it came; NULL or AF_UNSPEC, or a source the kernel refuses: the
// kernel's choice): the bytes, or -errno.
struct sockaddr;
struct sockaddr_storage;
int rl_udp_pktinfo(int fd, int family);
long rl_recv_dst(int fd, void *buf, size_t len, struct sockaddr_storage *from, struct sockaddr_storage *dst);
long rl_send_src(int fd, const void *buf, size_t len, const struct sockaddr *to, unsigned tolen, const struct sockaddr_storage *src);

// The commit the binary was built from (NUL-terminated, at most 63 bytes; buildinfo.c).
const char *rl_build_info(void);

// memfd_create(name, MFD_CLOEXEC): a GNU extension Swift's Glibc module does not export
// (the seccomp compile exports its BPF into one). Returns the fd or -errno.
int rl_memfd(const char *name);

// strerrorname_np ("EPERM"): a GNU extension Swift's Glibc module does not export. NULL if unknown.
const char *rl_errno_name(int e);

// PR_SET_PDEATHSIG on the calling thread (the one that will clone).
int rl_set_pdeathsig(int sig);
// prctl(PR_SET_DUMPABLE): 0 makes this process's /proc files root's and refuses ptrace
// and pidfd_getfd to anyone without CAP_SYS_PTRACE over the initial user namespace.
int rl_set_dumpable(int on);


// setns(fd, CLONE_NEWUSER) for the calling process (must be single-threaded). 0 or -errno.
int rl_setns_user(int fd);
// pidfd_open(pid, 0): fd or -errno.
int rl_pidfd_open(int pid);
int rl_pidfd_kill(int pidfd, int sig);
// flock(2) (LOCK_EX = 2, LOCK_UN = 8): 0 or -errno.
int rl_flock(int fd, int op);

#ifdef __cplusplus
}
#endif
#endif
