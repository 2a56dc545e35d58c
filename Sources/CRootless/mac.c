// What rootless reads back from disk and acts on (start entries, compiled seccomp
// programs) is authenticated with HMAC-SHA256 under a per-user key that no sandbox can
// see: it lives in the runtime directory, which every sandbox has masked. A file a
// sandbox wrote (or changed) fails the check and is treated as absent: "plan afresh",
// never "use it".
//
// SHA-256 is written out here (FIPS 180-4) rather than taken from libcrypto: the start-up
// constructor checks an entry before main, and OpenSSL 3's first digest loads its
// provider tables (hundreds of microseconds) on a path that takes about a millisecond.
#include "crootless.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

struct sha256 { uint32_t h[8]; uint64_t len; uint8_t buf[64]; size_t n; };

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void block(struct sha256 *s, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

// The same compression with the CPU's SHA extensions (Intel SHA-NI: about ten times the
// speed, ~4 us for an 8 KiB entry instead of ~40), used where CPUID says they exist. The
// message schedule and round order follow Intel's reference; FIPS vectors in the tests.
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
__attribute__((target("sha,sse4.1"))) static void block_ni(struct sha256 *s, const uint8_t *p) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&s->h[0]);
    __m128i st1 = _mm_loadu_si128((const __m128i *)&s->h[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);          // CDAB
    st1 = _mm_shuffle_epi32(st1, 0x1B);          // EFGH
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);  // ABEF
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);       // CDGH
    __m128i abef = st0, cdgh = st1, m[16];
    for (int j = 0; j < 4; j++) m[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * j)), mask);
    for (int j = 4; j < 16; j++)
        m[j] = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(m[j - 4], m[j - 3]), _mm_alignr_epi8(m[j - 1], m[j - 2], 4)), m[j - 1]);
    for (int j = 0; j < 16; j++) {
        __m128i w = _mm_add_epi32(m[j], _mm_loadu_si128((const __m128i *)&K[4 * j]));
        st1 = _mm_sha256rnds2_epu32(st1, st0, w);
        st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(w, 0x0E));
    }
    st0 = _mm_add_epi32(st0, abef);
    st1 = _mm_add_epi32(st1, cdgh);
    tmp = _mm_shuffle_epi32(st0, 0x1B);          // FEBA
    st1 = _mm_shuffle_epi32(st1, 0xB1);          // DCHG
    st0 = _mm_blend_epi16(tmp, st1, 0xF0);       // DCBA
    st1 = _mm_alignr_epi8(st1, tmp, 8);          // HGFE
    _mm_storeu_si128((__m128i *)&s->h[0], st0);
    _mm_storeu_si128((__m128i *)&s->h[4], st1);
}

static int have_ni(void) {
    static int known = -1;
    if (known < 0) {
        unsigned a, b, c, d;
        known = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)) && __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 19));
    }
    return known;
}
#define BLOCK(s, p) (have_ni() ? block_ni(s, p) : block(s, p))
#else
#define BLOCK(s, p) block(s, p)
#endif

static void sha_init(struct sha256 *s) {
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(s->h, iv, sizeof iv);
    s->len = 0;
    s->n = 0;
}

static void sha_update(struct sha256 *s, const void *data, size_t n) {
    const uint8_t *p = data;
    s->len += n;
    while (n > 0) {
        if (s->n == 0 && n >= 64) { BLOCK(s, p); p += 64; n -= 64; continue; }
        size_t k = 64 - s->n < n ? 64 - s->n : n;
        memcpy(s->buf + s->n, p, k);
        s->n += k; p += k; n -= k;
        if (s->n == 64) { BLOCK(s, s->buf); s->n = 0; }
    }
}

static void sha_final(struct sha256 *s, uint8_t out[32]) {
    uint64_t bits = s->len * 8;
    uint8_t pad = 0x80, zero = 0;
    sha_update(s, &pad, 1);
    while (s->n != 56) sha_update(s, &zero, 1);
    uint8_t l[8];
    for (int i = 0; i < 8; i++) l[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_update(s, l, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24); out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8); out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void rl_sha256(const void *data, size_t n, uint8_t out[32]) {
    struct sha256 s;
    sha_init(&s);
    sha_update(&s, data, n);
    sha_final(&s, out);
}

void rl_hmac_sha256(const uint8_t *key, size_t klen, const void *data, size_t n, uint8_t out[32]) {
    uint8_t k[64], pad[64], inner[32];
    memset(k, 0, sizeof k);
    if (klen > 64) rl_sha256(key, klen, k); else memcpy(k, key, klen);
    struct sha256 s;
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
    sha_init(&s); sha_update(&s, pad, 64); sha_update(&s, data, n); sha_final(&s, inner);
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
    sha_init(&s); sha_update(&s, pad, 64); sha_update(&s, inner, 32); sha_final(&s, out);
}

// The key: 32 random bytes in <runtime dir>/key, ours, 0600, made once (the first maker
// wins: link() never replaces a key another run made meanwhile). Read once per process.
static uint8_t the_key[32];
static int have_key;

static int read_key(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return -errno;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == getuid() && (st.st_mode & 077) == 0
             && st.st_size == 32 && read(fd, the_key, 32) == 32;
    close(fd);
    return ok ? 0 : -EPERM;
}

int rl_user_key(uint8_t out[32]) {
    if (!have_key) {
        char dir[4096], path[4200], tmp[4200];
        if (rl_runtime_dir(dir, sizeof dir, NULL) < 0) return -ENOENT;
        snprintf(path, sizeof path, "%s/key", dir);
        int rc = read_key(path);
        if (rc == -ENOENT) {
            snprintf(tmp, sizeof tmp, "%s/.key.%d", dir, getpid());
            uint8_t k[32];
            if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) return -EIO;
            int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd < 0) return -errno;
            int w = write(fd, k, sizeof k) == (ssize_t)sizeof k;
            close(fd);
            if (w) (void)!link(tmp, path);
            unlink(tmp);
            rc = read_key(path);
        }
        if (rc < 0) return rc;
        have_key = 1;
    }
    memcpy(out, the_key, 32);
    return 0;
}

int rl_mac(const void *data, size_t n, uint8_t out[32]) {
    uint8_t k[32];
    int rc = rl_user_key(k);
    if (rc < 0) return rc;
    rl_hmac_sha256(k, sizeof k, data, n, out);
    return 0;
}

int rl_mac_check(const void *data, size_t n, const uint8_t mac[32]) {
    uint8_t want[32];
    if (rl_mac(data, n, want) < 0) return 0;
    uint8_t d = 0;
    for (int i = 0; i < 32; i++) d |= (uint8_t)(want[i] ^ mac[i]);
    return d == 0;
}
