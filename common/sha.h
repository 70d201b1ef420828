/* sha.h: SHA-1 and SHA-256 through OpenSSL's EVP interface; the only user of OpenSSL. */
#ifndef P2P_SHA_H
#define P2P_SHA_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_LEN 20
#define SHA256_LEN 32

struct sha1_ctx;

void sha1(const void *p, size_t n, uint8_t out[SHA1_LEN]);
void sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);

/* Streaming SHA-1 for data that arrives in parts; NULL if out of memory. */
struct sha1_ctx *sha1_new(void);
void sha1_update(struct sha1_ctx *c, const void *p, size_t n);
/* Writes the digest and resets the context for the next message. */
void sha1_final(struct sha1_ctx *c, uint8_t out[SHA1_LEN]);
void sha1_free(struct sha1_ctx *c);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void sha_hex(const uint8_t *p, size_t n, char *out);
/* Value of one hex digit, either case; -1 if c is none. */
int sha_hexdigit(char c);
/* Parses exactly 2n hex digits; 0 or -1. */
int sha_unhex(const char *s, size_t slen, uint8_t *out, size_t n);
/* Fills p with n bytes from the OS random source; 0 or -1. */
int sha_random(void *p, size_t n);

#endif
