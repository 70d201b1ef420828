/* sha.c: thin OpenSSL EVP wrappers, so nothing else includes OpenSSL. */
#include "sha.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>

struct sha1_ctx {
	EVP_MD_CTX *md;
};

void
sha1(const void *p, size_t n, uint8_t out[SHA1_LEN])
{
	unsigned int len = SHA1_LEN;
	EVP_Digest(p, n, out, &len, EVP_sha1(), NULL);
}

void
sha256(const void *p, size_t n, uint8_t out[SHA256_LEN])
{
	unsigned int len = SHA256_LEN;
	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

struct sha1_ctx *
sha1_new(void)
{
	struct sha1_ctx *c = malloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	if ((c->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(c->md, EVP_sha1(), NULL) != 1) {
		EVP_MD_CTX_free(c->md);
		free(c);
		return NULL;
	}
	return c;
}

void
sha1_update(struct sha1_ctx *c, const void *p, size_t n)
{
	EVP_DigestUpdate(c->md, p, n);
}

void
sha1_final(struct sha1_ctx *c, uint8_t out[SHA1_LEN])
{
	unsigned int len = SHA1_LEN;

	EVP_DigestFinal_ex(c->md, out, &len);
	EVP_DigestInit_ex(c->md, EVP_sha1(), NULL);
}

void
sha1_free(struct sha1_ctx *c)
{
	if (c == NULL)
		return;
	EVP_MD_CTX_free(c->md);
	free(c);
}

void
sha_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int
sha_hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
sha_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (slen != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = sha_hexdigit(s[2 * i]), lo = sha_hexdigit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
sha_random(void *p, size_t n)
{
	return RAND_bytes(p, (int)n) == 1 ? 0 : -1;
}
