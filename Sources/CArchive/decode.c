#include "carchive.h"
#include <openssl/evp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

struct rl_decoder {
    int codec;
    z_stream z;
    ZSTD_DStream *zs;
    int ended;   // a gzip member ended: reset before more input
    char err[128];
};

rl_decoder *rl_decoder_new(int codec) {
    rl_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->codec = codec;
    if (codec == RL_CODEC_GZIP) {
        // 15 + 32: a gzip or zlib header, detected.
        if (inflateInit2(&d->z, 15 + 32) != Z_OK) { free(d); return NULL; }
    } else {
        d->zs = ZSTD_createDStream();
        if (!d->zs) { free(d); return NULL; }
        ZSTD_initDStream(d->zs);
    }
    return d;
}

int rl_decoder_run(rl_decoder *d, const uint8_t *in, size_t in_len, size_t *in_used,
                   uint8_t *out, size_t out_cap, size_t *out_len) {
    if (d->codec == RL_CODEC_GZIP) {
        if (d->ended && in_len > 0) { inflateReset(&d->z); d->ended = 0; }
        d->z.next_in = (Bytef *)in;
        d->z.avail_in = (uInt)in_len;
        d->z.next_out = out;
        d->z.avail_out = (uInt)out_cap;
        int rc = inflate(&d->z, Z_NO_FLUSH);
        *in_used = in_len - d->z.avail_in;
        *out_len = out_cap - d->z.avail_out;
        if (rc == Z_STREAM_END) { d->ended = 1; return 1; }
        if (rc == Z_OK || rc == Z_BUF_ERROR) return 0;
        snprintf(d->err, sizeof d->err, "gzip: %s", d->z.msg ? d->z.msg : "corrupt data");
        return -1;
    }
    ZSTD_inBuffer i = { in, in_len, 0 };
    ZSTD_outBuffer o = { out, out_cap, 0 };
    size_t rc = ZSTD_decompressStream(d->zs, &o, &i);
    *in_used = i.pos;
    *out_len = o.pos;
    if (ZSTD_isError(rc)) {
        snprintf(d->err, sizeof d->err, "zstd: %s", ZSTD_getErrorName(rc));
        return -1;
    }
    return rc == 0 ? 1 : 0;
}

const char *rl_decoder_error(const rl_decoder *d) { return d->err[0] ? d->err : "corrupt data"; }

void rl_decoder_free(rl_decoder *d) {
    if (!d) return;
    if (d->codec == RL_CODEC_GZIP) inflateEnd(&d->z);
    else ZSTD_freeDStream(d->zs);
    free(d);
}

struct rl_sha256 { EVP_MD_CTX *ctx; };

rl_sha256 *rl_sha256_new(void) {
    rl_sha256 *h = malloc(sizeof *h);
    if (!h) return NULL;
    h->ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
    return h;
}

void rl_sha256_update(rl_sha256 *h, const void *p, size_t n) { EVP_DigestUpdate(h->ctx, p, n); }

void rl_sha256_final(rl_sha256 *h, uint8_t out[32]) {
    unsigned len = 32;
    EVP_DigestFinal_ex(h->ctx, out, &len);
    EVP_MD_CTX_free(h->ctx);
    free(h);
}
