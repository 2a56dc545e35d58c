// Authenticating what is read back from disk (mac.c).
#ifndef RL_MAC_H
#define RL_MAC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- mac.c: authenticating what is read back from disk ---------------------------------------
void rl_sha256(const void *data, size_t n, uint8_t out[32]);
void rl_hmac_sha256(const uint8_t *key, size_t klen, const void *data, size_t n, uint8_t out[32]);
// The per-user key (<runtime dir>/key, made once, masked in every sandbox). 0 or -errno.
int rl_user_key(uint8_t out[32]);
// HMAC-SHA256 of data under the user's key. 0 or -errno (no runtime dir: nothing is trusted).
int rl_mac(const void *data, size_t n, uint8_t out[32]);
// 1 when mac is data's under the user's key (constant time), else 0.
int rl_mac_check(const void *data, size_t n, const uint8_t mac[32]);

#ifdef __cplusplus
}
#endif
#endif
