// Streaming decompression (gzip via zlib, zstd) and SHA-256 (libcrypto), for image
// layers. In C because these are C libraries; linked statically (Package.swift).
// Used only by the parent-side Swift code, never between clone and exec.
#pragma once
#include <stddef.h>
#include <stdint.h>

enum rl_codec { RL_CODEC_GZIP = 1, RL_CODEC_ZSTD = 2 };

typedef struct rl_decoder rl_decoder;

rl_decoder *rl_decoder_new(int codec);
// Consumes from in (sets *in_used), produces into out (sets *out_len). Returns 0 while
// the stream goes on, 1 at its end (concatenated gzip members / zstd frames continue),
// -1 on corrupt data (rl_decoder_error says why).
int rl_decoder_run(rl_decoder *d, const uint8_t *in, size_t in_len, size_t *in_used,
                   uint8_t *out, size_t out_cap, size_t *out_len);
const char *rl_decoder_error(const rl_decoder *d);
void rl_decoder_free(rl_decoder *d);

typedef struct rl_sha256 rl_sha256;
rl_sha256 *rl_sha256_new(void);
void rl_sha256_update(rl_sha256 *h, const void *p, size_t n);
// Writes 32 bytes and frees the context.
void rl_sha256_final(rl_sha256 *h, uint8_t out[32]);

// TLS client over a connected socket (libssl, static), for registry pulls. Verifies the
// peer against the system CA bundle plus extra_ca (a PEM file or a directory of *.crt,
// may be NULL) and checks the host name (or IP address). The socket is the caller's.
typedef struct rl_tls rl_tls;
// NULL on failure with the reason in err (the handshake error and the verify result);
// *untrusted is set when the server spoke TLS but its certificate failed verification.
rl_tls *rl_tls_connect(int fd, const char *host, const char *extra_ca, int verify,
                       int *untrusted, char *err, size_t errlen);
// Bytes read/written; 0 at a clean end of stream (read); -1 on error (err filled).
long rl_tls_read(rl_tls *t, void *buf, size_t n, char *err, size_t errlen);
long rl_tls_write(rl_tls *t, const void *buf, size_t n, char *err, size_t errlen);
void rl_tls_free(rl_tls *t);
