/* buf.c: growable byte buffer with a ceiling, and a bounds-checked reader. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max ? max : SIZE_MAX / 2;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, ncap;
	uint8_t *p;

	if (extra > b->max || b->len > b->max - extra)
		return -1;
	need = b->len + extra + 1;	/* room for a NUL for buf_steal */
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if ((p = realloc(b->data, ncap)) == NULL)
		return -1;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n) == -1)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
buf_putc(struct buf *b, uint8_t c)
{
	return buf_append(b, &c, 1);
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_put_be16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	return buf_append(b, x, sizeof(x));
}

int
buf_put_be32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };
	return buf_append(b, x, sizeof(x));
}

int
buf_put_be64(struct buf *b, uint64_t v)
{
	if (buf_reserve(b, 8) == -1 || buf_put_be32(b, (uint32_t)(v >> 32)) == -1)
		return -1;
	return buf_put_be32(b, (uint32_t)v);
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
}

char *
buf_steal(struct buf *b, size_t *len)
{
	char *s;

	if (buf_reserve(b, 0) == -1)
		return NULL;
	b->data[b->len] = '\0';
	s = (char *)b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

void
rd_init(struct rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
}

size_t
rd_left(const struct rd *r)
{
	return r->len - r->pos;
}

int
rd_span(struct rd *r, const uint8_t **p, size_t n)
{
	if (n > rd_left(r))
		return -1;
	*p = r->p + r->pos;
	r->pos += n;
	return 0;
}

int
rd_bytes(struct rd *r, void *out, size_t n)
{
	const uint8_t *p;

	if (rd_span(r, &p, n) == -1)
		return -1;
	if (n)
		memcpy(out, p, n);
	return 0;
}

int
rd_skip(struct rd *r, size_t n)
{
	const uint8_t *p;
	return rd_span(r, &p, n);
}

int
rd_u8(struct rd *r, uint8_t *v)
{
	return rd_bytes(r, v, 1);
}

int
rd_be16(struct rd *r, uint16_t *v)
{
	const uint8_t *p;

	if (rd_span(r, &p, 2) == -1)
		return -1;
	*v = (uint16_t)((p[0] << 8) | p[1]);
	return 0;
}

int
rd_be32(struct rd *r, uint32_t *v)
{
	const uint8_t *p;

	if (rd_span(r, &p, 4) == -1)
		return -1;
	*v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
	return 0;
}

int
rd_be64(struct rd *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (rd_left(r) < 8)
		return -1;
	rd_be32(r, &hi);
	rd_be32(r, &lo);
	*v = ((uint64_t)hi << 32) | lo;
	return 0;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
buf_put_base64(struct buf *b, const void *src, size_t n)
{
	const uint8_t *p = src;

	if (buf_reserve(b, (n + 2) / 3 * 4) == -1)
		return -1;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = n - i;
		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		b->data[b->len++] = (uint8_t)b64chars[(v >> 18) & 63];
		b->data[b->len++] = (uint8_t)b64chars[(v >> 12) & 63];
		b->data[b->len++] = left > 1 ? (uint8_t)b64chars[(v >> 6) & 63] : '=';
		b->data[b->len++] = left > 2 ? (uint8_t)b64chars[v & 63] : '=';
	}
	return 0;
}

static int
b64val(char c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;
	return p ? (int)(p - b64chars) : -1;
}

int
buf_put_unbase64(struct buf *b, const char *s, size_t n)
{
	if (n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		uint8_t out[3];
		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			/* Data after padding is malformed. */
			if (pad || (v[k] = b64val(s[i + k])) < 0)
				return -1;
		}
		out[0] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		out[1] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		out[2] = (uint8_t)(v[2] << 6 | v[3]);
		if (buf_append(b, out, (size_t)(3 - pad)) == -1)
			return -1;
	}
	return 0;
}
