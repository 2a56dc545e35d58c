// The rootless process after release: relay the tty, forward signals to pid 1, enforce
// the timeout, reap, and turn what happened into an rl_result.
// In C because it shares the signal mask set up around clone with rl_spawn and relays
// a pty in raw mode; it runs on the caller's single thread.
#include "child.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/seccomp.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>



static void write_all(int fd, const char *b, ssize_t n) {
    while (n > 0) {
        ssize_t w = write(fd, b, (size_t)n);
        if (w < 0) { if (errno == EINTR) continue; return; }
        b += w; n -= w;
    }
}

// --seccomp-log: the listener fd arrives once on the notify socket.
static int recv_listener(int sock) {
    int fd = -1;
    return rl_fd_recv(sock, 0, &fd, 1) == 1 ? fd : -1;
}

static int arg_matches(const struct rl_notify_arg *a, uint64_t v) {
    switch (a->op) {
    case 1: return v != a->a;
    case 2: return v < a->a;
    case 3: return v <= a->a;
    case 4: return v == a->a;
    case 5: return v >= a->a;
    case 6: return v > a->a;
    case 7: return (v & a->a) == a->b;
    default: return 0;
    }
}

// What the policy would have answered: first matching ERRNO rule, else the default.
static int decide(const struct rl_config *c, const struct seccomp_data *d) {
    for (int i = 0; i < c->n_notify_rules; i++) {
        const struct rl_notify_rule *r = &c->notify_rules[i];
        if (r->arch != d->arch || r->nr != d->nr) continue;
        int ok = 1;
        for (int j = 0; j < r->n_args && ok; j++) ok = r->args[j].index < 6 && arg_matches(&r->args[j], d->args[r->args[j].index]);
        if (ok) return r->err;
    }
    return c->notify_default_errno;
}

static void count_denial(const struct rl_config *c, const struct seccomp_data *d, int err) {
    if (!c->denials || !c->n_denials) return;
    for (int i = 0; i < *c->n_denials; i++) {
        struct rl_denial *x = &c->denials[i];
        if (x->arch == d->arch && x->nr == d->nr && x->err == err) { x->count++; return; }
    }
    if (*c->n_denials < c->max_denials) c->denials[(*c->n_denials)++] = (struct rl_denial){ d->arch, d->nr, err, 1 };
}

// One notification: the payload waits in the kernel until we answer. A notification
// whose task died meanwhile fails NOTIF_SEND with ENOENT; nothing to do then.
static void answer(const struct rl_config *c, int lfd) {
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    memset(&req, 0, sizeof req);
    if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) return;
    int err = decide(c, &req.data);
    count_denial(c, &req.data, err);
    memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    resp.error = -err;
    resp.val = 0;
    ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

static int read_report(int fd, struct rl_report *r) {
    ssize_t n;
    do n = read(fd, r, sizeof *r); while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof *r ? 1 : (n == 0 ? 0 : -1);
}

int rl_supervise(const struct rl_config *c, struct rl_child *ch, struct rl_result *res) {
    memset(res, 0, sizeof *res);
    sigset_t fwd;
    sigemptyset(&fwd);
    for (int i = 0; i < rl_n_forwarded_signals; i++) sigaddset(&fwd, rl_forwarded_signals[i]);
    int sfd = signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK);

    struct termios saved;
    int raw = 0;
    // Without -t the command shares our terminal (the first of fds 0-2 that is one): its
    // settings are put back when the run ends, so a payload's `stty -echo` or raw mode does
    // not outlive it (the changes that would, the terminal policy refuses).
    struct termios shared;
    int shared_fd = -1;
    for (int fd = 0; ch->pty_master < 0 && fd < 3 && shared_fd < 0; fd++)
        if (isatty(fd) && tcgetattr(fd, &shared) == 0) shared_fd = fd;
    if (ch->pty_master >= 0 && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
        struct termios t = saved;
        cfmakeraw(&t);
        raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
    }
    int master = ch->pty_master;
    if (master >= 0) fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    int in_open = master >= 0;

    int64_t deadline = c->timeout_ms > 0 ? now_ms() + c->timeout_ms : 0;
    int timed_out = 0, have_status = 0, have_error = 0, exited = 0;
    int status = 0;
    siginfo_t wsi;
    memset(&wsi, 0, sizeof wsi);
    int report_fd = ch->report_fd;
    char buf[8192];

    int nsock = ch->notify_sock, lfd = -1;
    while (!exited) {
        struct pollfd p[7];
        int np = 0;
        int i_pid = np; p[np++] = (struct pollfd){ ch->pidfd, POLLIN, 0 };
        int i_rep = -1, i_sig = -1, i_in = -1, i_master = -1, i_ns = -1, i_lfd = -1;
        if (nsock >= 0) { i_ns = np; p[np++] = (struct pollfd){ nsock, POLLIN, 0 }; }
        if (lfd >= 0) { i_lfd = np; p[np++] = (struct pollfd){ lfd, POLLIN, 0 }; }
        if (report_fd >= 0) { i_rep = np; p[np++] = (struct pollfd){ report_fd, POLLIN, 0 }; }
        if (sfd >= 0) { i_sig = np; p[np++] = (struct pollfd){ sfd, POLLIN, 0 }; }
        if (in_open) { i_in = np; p[np++] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 }; }
        if (master >= 0) { i_master = np; p[np++] = (struct pollfd){ master, POLLIN, 0 }; }
        int wait_ms = -1;
        if (deadline && !timed_out) {
            int64_t left = deadline - now_ms();
            wait_ms = left < 0 ? 0 : (int)left;
        }
        int n = poll(p, (nfds_t)np, wait_ms);
        if (n < 0 && errno != EINTR) break;
        if (deadline && !timed_out && now_ms() >= deadline) {
            // Killing pid 1 tears down the whole pid namespace.
            syscall(SYS_pidfd_send_signal, ch->pidfd, SIGKILL, NULL, 0);
            timed_out = 1;
        }
        if (n <= 0) continue;
        if (i_ns >= 0 && (p[i_ns].revents & (POLLIN | POLLHUP | POLLERR))) {
            lfd = recv_listener(nsock);
            close(nsock);
            nsock = -1;
        }
        if (i_lfd >= 0 && (p[i_lfd].revents & POLLIN)) answer(c, lfd);
        if (i_lfd >= 0 && (p[i_lfd].revents & (POLLHUP | POLLERR))) { close(lfd); lfd = -1; }
        if (i_rep >= 0 && (p[i_rep].revents & (POLLIN | POLLHUP))) {
            struct rl_report r;
            int k = read_report(report_fd, &r);
            if (k == 1) {
                if (r.step == RL_STEP_STATUS) { have_status = 1; status = r.err; }
                else if (!have_error) { have_error = 1; res->report = r; }
            } else {
                close(report_fd);
                report_fd = -1;
            }
        }
        if (i_sig >= 0 && (p[i_sig].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if ((int)si.ssi_signo == SIGWINCH && master >= 0) {
                    struct winsize ws;
                    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
                } else {
                    syscall(SYS_pidfd_send_signal, ch->pidfd, (int)si.ssi_signo, NULL, 0);
                }
            }
        }
        if (i_in >= 0 && (p[i_in].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t k = read(STDIN_FILENO, buf, sizeof buf);
            if (k > 0) write_all(master, buf, k);
            else if (k == 0 || errno != EINTR) {
                in_open = 0;
                if (!raw) { char eof = 4; write_all(master, &eof, 1); }
            }
        }
        if (i_master >= 0 && (p[i_master].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t k = read(master, buf, sizeof buf);
            if (k > 0) write_all(STDOUT_FILENO, buf, k);
            else if (k == 0 || (errno != EINTR && errno != EAGAIN)) { close(master); master = -1; }
        }
        if (p[i_pid].revents & POLLIN) {
            // A warm sandbox's pid 1 is the keeper's child (it reaps): gone is all we see.
            if (ch->foreign || waitid(P_PIDFD, (id_t)ch->pidfd, &wsi, WEXITED) == 0) exited = 1;
        }
    }

    // Drain what is left: pid 1 wrote the status before it exited.
    if (report_fd >= 0) {
        fcntl(report_fd, F_SETFL, O_NONBLOCK);
        struct rl_report r;
        while (read_report(report_fd, &r) == 1) {
            if (r.step == RL_STEP_STATUS) { have_status = 1; status = r.err; }
            else if (!have_error) { have_error = 1; res->report = r; }
        }
        close(report_fd);
    }
    if (master >= 0) {
        ssize_t k;
        while ((k = read(master, buf, sizeof buf)) > 0) write_all(STDOUT_FILENO, buf, k);
        close(master);
    }
    if (raw) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    struct termios now;
    if (shared_fd >= 0 && tcgetattr(shared_fd, &now) == 0 && memcmp(&now, &shared, sizeof now) != 0) {
        // SIGTTOU blocked: a run in the background restores without being stopped for it.
        sigset_t ttou, was;
        sigemptyset(&ttou);
        sigaddset(&ttou, SIGTTOU);
        sigprocmask(SIG_BLOCK, &ttou, &was);
        tcsetattr(shared_fd, TCSANOW, &shared);
        sigprocmask(SIG_SETMASK, &was, NULL);
    }
    if (sfd >= 0) close(sfd);
    if (nsock >= 0) close(nsock);
    if (lfd >= 0) close(lfd);
    close(ch->pidfd);
    ch->pidfd = ch->report_fd = ch->pty_master = ch->notify_sock = -1;
    // A run with a network of the sandbox's own keeps them blocked to its exit (hold_signals).
    if (!c->hold_signals) sigprocmask(SIG_UNBLOCK, &fwd, NULL);

    if (have_error) {
        res->outcome = RL_SETUP_FAILED;
    } else if (timed_out) {
        res->outcome = RL_TIMED_OUT;
    } else if (have_status) {
        if (WIFEXITED(status)) { res->outcome = RL_EXITED; res->code = WEXITSTATUS(status); }
        else { res->outcome = RL_SIGNALED; res->code = WTERMSIG(status); }
    } else if (!c->use_init && wsi.si_code == CLD_EXITED) {
        res->outcome = RL_EXITED; res->code = wsi.si_status;
    } else if (!c->use_init) {
        res->outcome = RL_SIGNALED; res->code = wsi.si_status;
    } else {
        res->outcome = RL_LOST; res->code = wsi.si_code == CLD_EXITED ? wsi.si_status : -wsi.si_status;
    }
    return 0;
}
