/* magnet.c: magnet URI parsing and building (BEP 9): btih as hex or base32, dn, tr, x.pe. */
#include "magnet.h"
#include "buf.h"
#include "sha.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every refusal names its reason; log_seterr formats it. */
#define mg_fail(err, errlen, ...) log_seterr(err, errlen, "magnet", __VA_ARGS__)

/* RFC 4648 base32, either case; 32 characters are exactly 160 bits. */
static int
base32_decode(const char *s, uint8_t out[20])
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < 32; i++) {
		char c = s[i];
		int v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a';
		else if (c >= '2' && c <= '7')
			v = c - '2' + 26;
		else
			return -1;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return 0;
}

/* Decodes %XX escapes (and '+' when plus is set); refuses bad escapes and NUL. */
static char *
pct_decode(const char *v, size_t n, int plus, char *err, size_t errlen)
{
	char *s = malloc(n + 1);
	size_t o = 0;

	if (s == NULL) {
		mg_fail(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (v[i] != '%') {
			s[o++] = plus && v[i] == '+' ? ' ' : v[i];
			continue;
		}
		if (n - i < 3 || (hi = sha_hexdigit(v[i + 1])) < 0 ||
		    (lo = sha_hexdigit(v[i + 2])) < 0) {
			free(s);
			mg_fail(err, errlen, "bad percent escape");
			return NULL;
		}
		if ((s[o++] = (char)(hi << 4 | lo)) == '\0') {
			free(s);
			mg_fail(err, errlen, "NUL byte in a value");
			return NULL;
		}
		i += 2;
	}
	s[o] = '\0';
	return s;
}

/* key matches name, or name followed by ".<digits>" (tr.1, xt.2). */
static int
key_is(const char *k, size_t klen, const char *name, int numbered)
{
	size_t n = strlen(name);

	if (klen < n || memcmp(k, name, n) != 0)
		return 0;
	if (klen == n)
		return 1;
	if (!numbered || k[n] != '.' || klen == n + 1)
		return 0;
	for (size_t i = n + 1; i < klen; i++)
		if (k[i] < '0' || k[i] > '9')
			return 0;
	return 1;
}

/* Takes s; a full list or a repeated entry just drops it. */
static int
push(char ***v, size_t *n, size_t max, char *s)
{
	char **nv;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0)
			goto drop;
	if (*n >= max || s[0] == '\0')
		goto drop;
	if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL) {
		free(s);
		return -1;
	}
	*v = nv;
	nv[(*n)++] = s;
	return 0;
drop:
	free(s);
	return 0;
}

/* BEP 9: other exact topics (btmh, ed2k...) may sit beside btih and are skipped. */
static int
parse_xt(const char *v, struct magnet *m, int *have, char *err, size_t errlen)
{
	const char *h;
	uint8_t ih[20];
	size_t n;

	if (strncasecmp(v, "urn:btih:", 9) != 0)
		return 0;
	h = v + 9;
	n = strlen(h);
	if (n == 40) {
		if (sha_unhex(h, n, ih, sizeof(ih)) == -1)
			return mg_fail(err, errlen, "btih is not 40 hex digits");
	} else if (n == 32) {
		if (base32_decode(h, ih) == -1)
			return mg_fail(err, errlen, "btih is not 32 base32 characters");
	} else
		return mg_fail(err, errlen, "btih must be 40 hex or 32 base32 characters");
	if (*have && memcmp(ih, m->info_hash, sizeof(ih)) != 0)
		return mg_fail(err, errlen, "two different btih values");
	memcpy(m->info_hash, ih, sizeof(ih));
	*have = 1;
	return 0;
}

static int
parse_param(const char *p, size_t n, struct magnet *m, int *have, char *err, size_t errlen)
{
	const char *eq = memchr(p, '=', n);
	size_t klen;
	char *v;
	int rc = 0;

	if (eq == NULL)
		return 0;
	klen = (size_t)(eq - p);
	if (!key_is(p, klen, "xt", 1) && !key_is(p, klen, "dn", 0) &&
	    !key_is(p, klen, "tr", 1) && !key_is(p, klen, "x.pe", 0))
		return 0;
	if ((v = pct_decode(eq + 1, n - klen - 1, key_is(p, klen, "dn", 0),
	    err, errlen)) == NULL)
		return -1;
	if (key_is(p, klen, "xt", 1)) {
		rc = parse_xt(v, m, have, err, errlen);
		free(v);
	} else if (key_is(p, klen, "dn", 0)) {
		if (m->name == NULL)
			m->name = v;
		else
			free(v);
	} else if (key_is(p, klen, "tr", 1)) {
		if (push(&m->trackers, &m->tracker_count, MAGNET_MAX_TRACKERS, v) == -1)
			rc = mg_fail(err, errlen, "out of memory");
	} else if (push(&m->peers, &m->peer_count, MAGNET_MAX_PEERS, v) == -1)
		rc = mg_fail(err, errlen, "out of memory");
	return rc;
}

static int
parse_query(const char *s, size_t len, struct magnet *m, char *err, size_t errlen)
{
	size_t i = 0;
	int have = 0;

	while (i < len) {
		const char *amp = memchr(s + i, '&', len - i);
		size_t n = amp ? (size_t)(amp - (s + i)) : len - i;

		if (parse_param(s + i, n, m, &have, err, errlen) == -1)
			return -1;
		i += n + 1;
	}
	if (!have)
		return mg_fail(err, errlen, "no xt=urn:btih parameter");
	return 0;
}

int
magnet_parse(const char *s, size_t len, struct magnet *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len > MAGNET_MAX_LEN)
		return mg_fail(err, errlen, "longer than %d bytes", MAGNET_MAX_LEN);
	if (memchr(s, '\0', len) != NULL)
		return mg_fail(err, errlen, "NUL byte in URI");
	if (len < 8 || strncasecmp(s, "magnet:?", 8) != 0)
		return mg_fail(err, errlen, "does not start with magnet:?");
	if (parse_query(s + 8, len - 8, out, err, errlen) == -1) {
		magnet_free(out);
		return -1;
	}
	return 0;
}

void
magnet_free(struct magnet *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->tracker_count; i++)
		free(m->trackers[i]);
	for (size_t i = 0; i < m->peer_count; i++)
		free(m->peers[i]);
	free(m->trackers);
	free(m->peers);
	free(m->name);
	memset(m, 0, sizeof(*m));
}

/* RFC 3986 unreserved characters pass; every other byte is escaped. */
static int
put_encoded(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		int rc;

		if (plain)
			rc = buf_putc(b, c);
		else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			rc = buf_append(b, e, sizeof(e));
		}
		if (rc == -1)
			return -1;
	}
	return 0;
}

char *
magnet_build(const uint8_t info_hash[20], const char *name,
    const char *const *trackers, size_t tracker_count)
{
	char hex[41];
	struct buf b;

	buf_init(&b, 0);
	sha_hex(info_hash, 20, hex);
	if (buf_printf(&b, "magnet:?xt=urn:btih:%s", hex) == -1)
		goto fail;
	if (name && (buf_puts(&b, "&dn=") == -1 || put_encoded(&b, name) == -1))
		goto fail;
	for (size_t i = 0; i < tracker_count; i++)
		if (buf_puts(&b, "&tr=") == -1 || put_encoded(&b, trackers[i]) == -1)
			goto fail;
	return buf_steal(&b, NULL);
fail:
	buf_free(&b);
	return NULL;
}
