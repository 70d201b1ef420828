/* buf.h: the one growable byte buffer and the one bounds-checked reader. */
#ifndef P2P_BUF_H
#define P2P_BUF_H

#include <stddef.h>
#include <stdint.h>

/* A byte buffer that refuses to grow past max (0: no limit but SIZE_MAX/2). */
struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Each returns 0, or -1 when the buffer would pass its max or memory ran out. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_putc(struct buf *b, uint8_t c);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_put_be16(struct buf *b, uint16_t v);
int buf_put_be32(struct buf *b, uint32_t v);
int buf_put_be64(struct buf *b, uint64_t v);
/* Drop the first n bytes (n is clamped to len). */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Base64 (RFC 4648, padded) of n bytes. */
int buf_put_base64(struct buf *b, const void *p, size_t n);
/* Decodes strict padded base64; -1 on any other character or bad length. */
int buf_put_unbase64(struct buf *b, const char *s, size_t n);
/* Hand the bytes over to the caller (NUL-terminated); the buffer is left empty. */
char *buf_steal(struct buf *b, size_t *len);

/* A reader over bytes it does not own; every get fails with -1 on a short read. */
struct rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

void rd_init(struct rd *r, const void *p, size_t len);
size_t rd_left(const struct rd *r);
int rd_u8(struct rd *r, uint8_t *v);
int rd_be16(struct rd *r, uint16_t *v);
int rd_be32(struct rd *r, uint32_t *v);
int rd_be64(struct rd *r, uint64_t *v);
int rd_bytes(struct rd *r, void *out, size_t n);
/* Points *p into the input instead of copying. */
int rd_span(struct rd *r, const uint8_t **p, size_t n);
int rd_skip(struct rd *r, size_t n);

#endif
