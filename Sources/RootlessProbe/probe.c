// rootless-probe: a tiny static binary the integration tests run *inside* sandboxes to
// report what the sandbox looks like from within. Output: "key=value" lines.
// Built by scripts/build-probe with `cc -static` (it must run in a bare busybox rootfs).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

int escape_main(const char *c, const char *a); // escape.c

static const char *ename(int e) { const char *n = strerrorname_np(e); return n ? n : "E?"; }

static void cat_joined(const char *key, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { printf("%s=%s\n", key, ename(errno)); return; }
    char line[512];
    printf("%s=", key);
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        // collapse runs of spaces
        char out[512]; int o = 0, sp = 1;
        for (char *p = line; *p && o < 510; p++) {
            if (*p == ' ' || *p == '\t') { if (!sp) out[o++] = ' '; sp = 1; }
            else { out[o++] = *p; sp = 0; }
        }
        while (o > 0 && out[o - 1] == ' ') o--;
        out[o] = 0;
        printf("%s%s", first ? "" : ";", out);
        first = 0;
    }
    printf("\n");
    fclose(f);
}

static int cmd_ids(void) {
    printf("uid=%u\ngid=%u\neuid=%u\negid=%u\n", getuid(), getgid(), geteuid(), getegid());
    gid_t g[64]; int n = getgroups(64, g);
    printf("groups=");
    for (int i = 0; i < n; i++) printf("%s%u", i ? "," : "", g[i]);
    printf("\n");
    cat_joined("uid_map", "/proc/self/uid_map");
    cat_joined("gid_map", "/proc/self/gid_map");
    cat_joined("setgroups", "/proc/self/setgroups");
    return 0;
}

static int cmd_status(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 1;
    char line[256];
    const char *keys[] = { "NoNewPrivs:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "Seccomp:", "Seccomp_filters:" };
    while (fgets(line, sizeof line, f)) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            size_t k = strlen(keys[i]);
            if (strncmp(line, keys[i], k) == 0) {
                char *v = line + k;
                while (*v == ' ' || *v == '\t') v++;
                v[strcspn(v, "\n")] = 0;
                printf("%.*s=%s\n", (int)(k - 1), keys[i], v);
            }
        }
    }
    fclose(f);
    return 0;
}

static int cmd_netdevs(void) {
    FILE *f = fopen("/proc/net/dev", "r");
    if (!f) { printf("netdevs=%s\n", ename(errno)); return 1; }
    char line[512]; int n = 0;
    printf("netdevs=");
    while (fgets(line, sizeof line, f)) {
        char *c = strchr(line, ':');
        if (!c) continue;
        *c = 0;
        char *name = line; while (*name == ' ') name++;
        printf("%s%s", n++ ? "," : "", name);
    }
    printf("\n");
    fclose(f);
    return 0;
}

static int cmd_write(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { printf("write=%s\n", ename(errno)); return 0; }
    ssize_t w = write(fd, "probe\n", 6);
    printf("write=%s\n", w == 6 ? "ok" : ename(errno));
    close(fd);
    return 0;
}

static int cmd_read(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { printf("read=%s\n", ename(errno)); return 0; }
    char buf[4096]; ssize_t total = 0, n;
    while ((n = read(fd, buf, sizeof buf)) > 0 && total < (1 << 20)) total += n;
    printf("read=%s\nbytes=%zd\n", n < 0 ? ename(errno) : "ok", total);
    close(fd);
    return 0;
}

static int cmd_stat(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) { printf("stat=%s\n", ename(errno)); return 0; }
    const char *t = S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file" : S_ISLNK(st.st_mode) ? "link"
                  : S_ISCHR(st.st_mode) ? "char" : S_ISBLK(st.st_mode) ? "block" : "other";
    printf("stat=ok\ntype=%s\nmode=%o\nuid=%u\ngid=%u\nrdev=%u:%u\nsize=%lld\n", t, st.st_mode & 07777, st.st_uid, st.st_gid,
           major(st.st_rdev), minor(st.st_rdev), (long long)st.st_size);
    return 0;
}

static int cmd_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) { printf("fds=%s\n", ename(errno)); return 1; }
    int self = dirfd(d), n = 0;
    struct dirent *e;
    printf("fds=");
    int fds[256]; int count = 0;
    while ((e = readdir(d)) && count < 256) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd != self) fds[count++] = fd;
    }
    closedir(d);
    for (int i = 0; i < count; i++) for (int j = i + 1; j < count; j++) if (fds[j] < fds[i]) { int t = fds[i]; fds[i] = fds[j]; fds[j] = t; }
    for (int i = 0; i < count; i++) printf("%s%d", n++ ? "," : "", fds[i]);
    printf("\n");
    return 0;
}

static int cmd_wait_signal(void) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM); sigaddset(&s, SIGINT); sigaddset(&s, SIGUSR1); sigaddset(&s, SIGHUP);
    sigprocmask(SIG_BLOCK, &s, NULL);
    printf("ready\n");
    fflush(stdout);
    int sig = 0;
    sigwait(&s, &sig);
    printf("got=%d\n", sig);
    return 0;
}

static int cmd_tty(void) {
    printf("isatty=%d\n", isatty(0));
    printf("sid=%d\npgid=%d\n", getsid(0), getpgid(0));
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    printf("devtty=%s\n", fd >= 0 ? "ok" : ename(errno));
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) == 0) printf("winsize=%ux%u\n", ws.ws_col, ws.ws_row);
    return 0;
}

static int cmd_tiocsti(void) {
    char c = '#';
    int r = ioctl(0, TIOCSTI, &c);
    printf("tiocsti=%s\n", r == 0 ? "ok" : ename(errno));
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) { fprintf(stderr, "usage: probe ids|status|pid|hostname|netdevs|write P|read P|stat P|fds|cwd|env K|exit N|kill-self SIG|wait-signal|tty|tiocsti|sleep S\n"); return 2; }
    const char *c = argv[1];
    const char *a = argc > 2 ? argv[2] : "";
    if (!strcmp(c, "ids")) return cmd_ids();
    if (!strcmp(c, "status")) return cmd_status();
    if (!strcmp(c, "pid")) { printf("pid=%d\nppid=%d\nsid=%d\n", getpid(), getppid(), getsid(0)); return 0; }
    if (!strcmp(c, "hostname")) { char h[256] = {0}; gethostname(h, sizeof h - 1); printf("hostname=%s\n", h); return 0; }
    if (!strcmp(c, "netdevs")) return cmd_netdevs();
    if (!strcmp(c, "write")) return cmd_write(a);
    if (!strcmp(c, "read")) return cmd_read(a);
    if (!strcmp(c, "stat")) return cmd_stat(a);
    if (!strcmp(c, "fds")) return cmd_fds();
    if (!strcmp(c, "cwd")) { char b[4096]; printf("cwd=%s\n", getcwd(b, sizeof b) ? b : ename(errno)); return 0; }
    if (!strcmp(c, "env")) { const char *v = getenv(a); printf("env=%s\n", v ? v : "<unset>"); return 0; }
    if (!strcmp(c, "exit")) return atoi(a);
    if (!strcmp(c, "kill-self")) { fflush(stdout); kill(getpid(), atoi(a)); pause(); return 99; }
    if (!strcmp(c, "wait-signal")) return cmd_wait_signal();
    if (!strcmp(c, "tty")) return cmd_tty();
    if (!strcmp(c, "tiocsti")) return cmd_tiocsti();
    int esc = escape_main(c, a);
    if (esc >= 0) return esc;
    if (!strcmp(c, "sleep")) { sleep((unsigned)atoi(a)); return 0; }
    fprintf(stderr, "probe: unknown command %s\n", c);
    return 2;
}
