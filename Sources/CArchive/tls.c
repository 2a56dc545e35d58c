// TLS for registry pulls: a thin layer over libssl so the Swift side sees read/write on
// an opaque handle. One SSL_CTX per process (the CA bundle is parsed once), built on the
// first connect; the store's pulls are short-lived processes, so it is never freed.
#include "carchive.h"
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>

struct rl_tls { SSL *ssl; };

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *ctx_verify;   // with the system CAs (+ extras added per host below)

static void fill_err(char *err, size_t errlen, const char *what) {
    unsigned long e = ERR_get_error();
    char buf[200] = "";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
    ERR_clear_error();
}

static SSL_CTX *new_ctx(void) {
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c) return NULL;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    // The distro's bundle first; OPENSSLDIR defaults as a fallback.
    if (SSL_CTX_load_verify_locations(c, "/etc/ssl/certs/ca-certificates.crt", NULL) != 1) {
        ERR_clear_error();
        SSL_CTX_set_default_verify_paths(c);
    }
    SSL_CTX_set_mode(c, SSL_MODE_AUTO_RETRY);
    return c;
}

// Extra trust for one host (podman's certs.d/HOST/*.crt): added to a store the SSL
// object owns, so one host's private CA is never trusted for another.
static int add_extra(SSL *s, const char *extra, char *err, size_t errlen) {
    X509_STORE *st = X509_STORE_new();
    if (!st) return -1;
    X509_STORE *sys = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(s));
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(sys);
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
        if (x) X509_STORE_add_cert(st, x);
    }
    int added = 0;
    DIR *d = opendir(extra);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t n = strlen(e->d_name);
            if (n < 5 || (strcmp(e->d_name + n - 4, ".crt") && strcmp(e->d_name + n - 4, ".pem"))) continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", extra, e->d_name);
            if (X509_STORE_load_file(st, p) == 1) added++;
        }
        closedir(d);
    } else if (X509_STORE_load_file(st, extra) == 1) {
        added++;
    }
    ERR_clear_error();
    if (!added) { X509_STORE_free(st); snprintf(err, errlen, "no certificate could be read from %s", extra); return -1; }
    SSL_set0_verify_cert_store(s, st);   // s owns st now
    return 0;
}

rl_tls *rl_tls_connect(int fd, const char *host, const char *extra_ca, int verify, int *untrusted, char *err, size_t errlen) {
    *untrusted = 0;
    pthread_mutex_lock(&ctx_lock);
    if (!ctx_verify) ctx_verify = new_ctx();
    SSL_CTX *c = ctx_verify;
    pthread_mutex_unlock(&ctx_lock);
    if (!c) { fill_err(err, errlen, "cannot set up TLS"); return NULL; }
    SSL *s = SSL_new(c);
    if (!s) { fill_err(err, errlen, "cannot set up TLS"); return NULL; }
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (!is_ip) SSL_set_tlsext_host_name(s, host);   // SNI is for names only
    if (verify) {
        SSL_set_verify(s, SSL_VERIFY_PEER, NULL);
        X509_VERIFY_PARAM *p = SSL_get0_param(s);
        if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(p, host);
        else X509_VERIFY_PARAM_set1_host(p, host, 0);
        if (extra_ca && extra_ca[0] && add_extra(s, extra_ca, err, errlen) != 0) { SSL_free(s); return NULL; }
    } else {
        SSL_set_verify(s, SSL_VERIFY_NONE, NULL);
    }
    SSL_set_fd(s, fd);
    if (SSL_connect(s) != 1) {
        long v = SSL_get_verify_result(s);
        if (verify && v != X509_V_OK) {
            snprintf(err, errlen, "certificate verification failed: %s", X509_verify_cert_error_string(v));
            *untrusted = 1;
            ERR_clear_error();
        } else {
            fill_err(err, errlen, "TLS handshake failed");
        }
        SSL_free(s);
        return NULL;
    }
    rl_tls *t = calloc(1, sizeof *t);
    if (!t) { SSL_free(s); snprintf(err, errlen, "out of memory"); return NULL; }
    t->ssl = s;
    return t;
}

long rl_tls_read(rl_tls *t, void *buf, size_t n, char *err, size_t errlen) {
    size_t got = 0;
    int r = SSL_read_ex(t->ssl, buf, n, &got);
    if (r == 1) return (long)got;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    // A peer that closes without close_notify (common for HTTP/1.1 servers after the
    // body): the caller knows from the framing whether the body was complete.
    if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) { snprintf(err, errlen, "timed out reading"); return -1; }
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) { ERR_clear_error(); return 0; }
    if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) { ERR_clear_error(); return 0; }
    fill_err(err, errlen, "TLS read failed");
    return -1;
}

long rl_tls_write(rl_tls *t, const void *buf, size_t n, char *err, size_t errlen) {
    size_t put = 0;
    if (SSL_write_ex(t->ssl, buf, n, &put) == 1) return (long)put;
    fill_err(err, errlen, "TLS write failed");
    return -1;
}

void rl_tls_free(rl_tls *t) {
    if (!t) return;
    SSL_shutdown(t->ssl);
    SSL_free(t->ssl);
    free(t);
}
