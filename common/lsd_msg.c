/* lsd_msg.c: Local Service Discovery announces (BEP 14): pure parse and build, no I/O, no allocation. */
#include "lsd_msg.h"

#include <string.h>

#include "buf.h"
#include "log.h"
#include "sha.h"

#define lsd_fail(err, errlen, ...) log_seterr(err, errlen, "lsd", __VA_ARGS__)

#define REQUEST "BT-SEARCH * HTTP/1.1\r\n"
/* "Infohash: " + 40 hex digits + CRLF. */
#define HASH_LINE_LEN (10 + 40 + 2)
/* BEP 14 ends the announce with two CRLFs after the last header. */
#define TRAILER "\r\n\r\n"

/* A value we put on the wire or accept as a token: printable, no spaces. */
static int
is_token(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= max || s[n] <= 0x20 || s[n] >= 0x7f)
			return 0;
	return n > 0;
}

/* Bytes of everything but the Infohash lines; the port always counts as 5 digits. */
static size_t
fixed_len(const char *host, const char *cookie)
{
	size_t n = strlen(REQUEST) + strlen("Port: 65535\r\n") + strlen(TRAILER);

	if (host)
		n += strlen("Host: \r\n") + strlen(host);
	if (cookie)
		n += strlen("cookie: \r\n") + strlen(cookie);
	return n;
}

size_t
lsd_msg_max_hashes(const char *host, const char *cookie)
{
	size_t fixed, n;

	if ((host && !is_token(host, LSD_MSG_MAX_HOST)) ||
	    (cookie && !is_token(cookie, LSD_MSG_MAX_COOKIE)))
		return 0;
	fixed = fixed_len(host, cookie);
	if (fixed >= LSD_MSG_MAX_LEN)
		return 0;
	n = (LSD_MSG_MAX_LEN - fixed) / HASH_LINE_LEN;
	return n < LSD_MSG_MAX_HASHES ? n : LSD_MSG_MAX_HASHES;
}

int
lsd_msg_build(struct buf *b, const char *host, uint16_t port,
    const uint8_t (*hashes)[20], size_t n, const char *cookie)
{
	size_t start = b->len;
	char hex[41];
	int rc = 0;

	if (host == NULL || port == 0 || hashes == NULL || n == 0 ||
	    n > lsd_msg_max_hashes(host, cookie))
		return -1;
	rc |= buf_puts(b, REQUEST);
	rc |= buf_printf(b, "Host: %s\r\nPort: %u\r\n", host, (unsigned)port);
	for (size_t i = 0; i < n; i++) {
		sha_hex(hashes[i], 20, hex);
		rc |= buf_printf(b, "Infohash: %s\r\n", hex);
	}
	if (cookie)
		rc |= buf_printf(b, "cookie: %s\r\n", cookie);
	rc |= buf_puts(b, TRAILER);
	if (rc != 0) {
		/* Leave the buffer as it was: half an announce is no use to anyone. */
		b->len = start;
		return -1;
	}
	return 0;
}

/* One line of the datagram: [p, p + len) without its LF or CRLF. */
struct line {
	const char *p;
	size_t len;
};

/*
 * The next line from *pos; 1 if there is one, 0 at the end of the input
 * without a line end (an unterminated last line), -1 on a CR that does not
 * end a line.
 */
static int
next_line(const char *s, size_t len, size_t *pos, struct line *l)
{
	size_t i = *pos;

	for (; i < len; i++) {
		if (s[i] == '\n') {
			l->p = s + *pos;
			l->len = i - *pos;
			if (l->len > 0 && l->p[l->len - 1] == '\r')
				l->len--;
			*pos = i + 1;
			return 1;
		}
		if (s[i] == '\r' && (i + 1 >= len || s[i + 1] != '\n'))
			return -1;
	}
	return 0;
}

static int
ieq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

static int
is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* "BT-SEARCH * HTTP/1.x", with any run of spaces between the parts. */
static int
request_line_ok(const struct line *l)
{
	const char *p = l->p, *e = l->p + l->len;
	const char *want[] = { "BT-SEARCH", "*" };

	for (size_t w = 0; w < 2; w++) {
		size_t n = strlen(want[w]);
		/* The method is case-sensitive in HTTP. */
		if ((size_t)(e - p) < n || memcmp(p, want[w], n) != 0)
			return 0;
		p += n;
		if (p == e || !is_ws(*p))
			return 0;
		while (p < e && is_ws(*p))
			p++;
	}
	while (e > p && is_ws(e[-1]))
		e--;
	return e - p == 8 && (memcmp(p, "HTTP/1.1", 8) == 0 || memcmp(p, "HTTP/1.0", 8) == 0);
}

static int
parse_port(const char *v, size_t n, uint16_t *port)
{
	unsigned long x = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (unsigned long)(v[i] - '0');
	}
	if (x == 0 || x > 65535)
		return -1;
	*port = (uint16_t)x;
	return 0;
}

/* Copies a token value of at most max bytes into out (max + 1 bytes); -1 if it is not one. */
static int
copy_token(const char *v, size_t n, char *out, size_t max)
{
	if (n == 0 || n > max)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (v[i] <= 0x20 || v[i] >= 0x7f)
			return -1;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

static int
add_hash(struct lsd_msg *out, const char *v, size_t n, char *err, size_t errlen)
{
	uint8_t ih[20];

	if (n != 40 || sha_unhex(v, n, ih, sizeof(ih)) == -1)
		return lsd_fail(err, errlen, "Infohash is not 40 hex digits");
	for (size_t i = 0; i < out->n; i++)
		if (memcmp(out->hashes[i], ih, 20) == 0)
			return 0;
	if (out->n == LSD_MSG_MAX_HASHES)
		return lsd_fail(err, errlen, "more than %d infohashes", LSD_MSG_MAX_HASHES);
	memcpy(out->hashes[out->n++], ih, 20);
	return 0;
}

static int
header(struct lsd_msg *out, const struct line *l, int *have_port, int *have_host,
    char *err, size_t errlen)
{
	const char *colon = memchr(l->p, ':', l->len);
	const char *v, *e = l->p + l->len;
	size_t nlen, vlen;

	/* A leading space would be an obsolete folded line: nobody sends one here. */
	if (colon == NULL || colon == l->p || is_ws(l->p[0]))
		return lsd_fail(err, errlen, "malformed header line");
	nlen = (size_t)(colon - l->p);
	v = colon + 1;
	while (v < e && is_ws(*v))
		v++;
	while (e > v && is_ws(e[-1]))
		e--;
	vlen = (size_t)(e - v);
	if (ieq(l->p, nlen, "Port")) {
		if (*have_port)
			return lsd_fail(err, errlen, "more than one Port header");
		if (parse_port(v, vlen, &out->port) == -1)
			return lsd_fail(err, errlen, "Port is not a number in 1..65535");
		*have_port = 1;
	} else if (ieq(l->p, nlen, "Infohash")) {
		return add_hash(out, v, vlen, err, errlen);
	} else if (ieq(l->p, nlen, "cookie")) {
		if (out->has_cookie)
			return lsd_fail(err, errlen, "more than one cookie header");
		if (copy_token(v, vlen, out->cookie, LSD_MSG_MAX_COOKIE) == -1)
			return lsd_fail(err, errlen, "cookie is empty, too long or has spaces");
		out->has_cookie = 1;
	} else if (ieq(l->p, nlen, "Host")) {
		if (*have_host)
			return lsd_fail(err, errlen, "more than one Host header");
		if (copy_token(v, vlen, out->host, LSD_MSG_MAX_HOST) == -1)
			return lsd_fail(err, errlen, "Host is empty, too long or has spaces");
		*have_host = 1;
	}
	/* Other headers are ignored, as HTTP asks (BEP 14: forwards-compatibility). */
	return 0;
}

int
lsd_msg_parse(const uint8_t *p, size_t len, struct lsd_msg *out, char *err,
    size_t errlen)
{
	const char *s = (const char *)p;
	struct line l;
	size_t pos = 0;
	int have_port = 0, have_host = 0, r;

	memset(out, 0, sizeof(*out));
	if (len > LSD_MSG_MAX_LEN)
		return lsd_fail(err, errlen, "announce of %zu bytes is over the %d-byte limit",
		    len, LSD_MSG_MAX_LEN);
	if (len == 0)
		return lsd_fail(err, errlen, "empty datagram");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if ((c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c >= 0x7f)
			return lsd_fail(err, errlen, "byte 0x%02x at offset %zu is not printable",
			    c, i);
	}
	if ((r = next_line(s, len, &pos, &l)) == -1)
		return lsd_fail(err, errlen, "CR without LF");
	if (r == 0 || !request_line_ok(&l))
		return lsd_fail(err, errlen, "not a BT-SEARCH * HTTP/1.1 request");
	for (;;) {
		if ((r = next_line(s, len, &pos, &l)) == -1) {
			r = lsd_fail(err, errlen, "CR without LF");
			break;
		}
		if (r == 0) {
			r = lsd_fail(err, errlen, "headers do not end with a blank line");
			break;
		}
		if (l.len == 0) {
			/* The end of the headers; BEP 14's second blank line and anything past it are ignored. */
			if (!have_port)
				r = lsd_fail(err, errlen, "no Port header");
			else if (out->n == 0)
				r = lsd_fail(err, errlen, "no Infohash header");
			else
				return 0;
			break;
		}
		if ((r = header(out, &l, &have_port, &have_host, err, errlen)) == -1)
			break;
	}
	/* A refused announce leaves nothing behind that a caller might use by mistake. */
	memset(out, 0, sizeof(*out));
	return -1;
}
