/* bencode.c: strict, non-recursive bencode decoder into a token array, and encoder (BEP 3). */
#include "bencode.h"
#include "buf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct be_limits be_default_limits = { 100, 2000000 };

#define NO_KEY UINT32_MAX

/* One open container; the stack of these replaces recursion. */
struct be_frame {
	uint32_t tok;
	uint32_t nchild;	/* values so far; a dict counts keys and values */
	uint32_t lastkey;	/* token of the dict's previous key, or NO_KEY */
};

struct be_parser {
	const uint8_t *p;
	size_t len;
	size_t pos;
	struct be_tok *tok;
	uint32_t ntok;
	uint32_t cap;
	uint32_t nalloc;	/* tokens allocated so far, grown up to cap */
	int cap_by_len;		/* cap is len/2+1: every value takes two bytes */
	struct be_frame *stack;
	unsigned depth;
	unsigned maxdepth;
	unsigned stackcap;
	char *err;
	size_t errlen;
};

static int be_fail(struct be_parser *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
be_fail(struct be_parser *ps, const char *fmt, ...)
{
	char msg[128];
	va_list ap;

	if (ps->err == NULL || ps->errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "bencode: offset %zu: %s", ps->pos, msg);
	return -1;
}

static int
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* Reads the digits and sign of "i...e" into t->ival, refusing anything non-canonical. */
static int
parse_int(struct be_parser *ps, struct be_tok *t)
{
	uint64_t mag = 0, limit = INT64_MAX;
	size_t start;
	int neg = 0;

	ps->pos++;
	if (ps->pos < ps->len && ps->p[ps->pos] == '-') {
		neg = 1;
		limit = (uint64_t)INT64_MAX + 1;
		ps->pos++;
	}
	start = ps->pos;
	for (; ps->pos < ps->len && is_digit(ps->p[ps->pos]); ps->pos++) {
		unsigned d = ps->p[ps->pos] - '0';

		if (mag > (limit - d) / 10)
			return be_fail(ps, "integer overflows int64");
		mag = mag * 10 + d;
	}
	if (ps->pos >= ps->len)
		return be_fail(ps, "truncated integer");
	if (ps->pos == start)
		return be_fail(ps, "integer without digits");
	if (ps->p[start] == '0' && neg)
		return be_fail(ps, "negative zero");
	if (ps->p[start] == '0' && ps->pos - start > 1)
		return be_fail(ps, "integer with leading zero");
	if (ps->p[ps->pos] != 'e')
		return be_fail(ps, "expected 'e' after integer");
	ps->pos++;
	if (neg)
		t->ival = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	else
		t->ival = (int64_t)mag;
	return 0;
}

/* Reads "<len>:<bytes>"; the length is checked against what is left before any use. */
static int
parse_str(struct be_parser *ps, struct be_tok *t)
{
	size_t n = 0, start = ps->pos;

	for (; ps->pos < ps->len && is_digit(ps->p[ps->pos]); ps->pos++) {
		/* Past len/10 the length cannot fit; this also keeps n from wrapping. */
		if (n > ps->len / 10)
			return be_fail(ps, "string length past end of input");
		n = n * 10 + (size_t)(ps->p[ps->pos] - '0');
		if (n > ps->len)
			return be_fail(ps, "string length past end of input");
	}
	if (ps->pos >= ps->len)
		return be_fail(ps, "truncated string length");
	if (ps->p[start] == '0' && ps->pos - start > 1)
		return be_fail(ps, "string length with leading zero");
	if (ps->p[ps->pos] != ':')
		return be_fail(ps, "expected ':' after string length");
	ps->pos++;
	if (n > ps->len - ps->pos)
		return be_fail(ps, "string length past end of input");
	t->type = BE_STR;
	t->str_off = ps->pos;
	t->str_len = n;
	ps->pos += n;
	return 0;
}

/* Keys compare as raw bytes; a proper prefix sorts first (BEP 3). */
static int
key_cmp(const struct be_parser *ps, uint32_t a, uint32_t b)
{
	const struct be_tok *ta = &ps->tok[a], *tb = &ps->tok[b];
	size_t n = ta->str_len < tb->str_len ? ta->str_len : tb->str_len;
	int c = n ? memcmp(ps->p + ta->str_off, ps->p + tb->str_off, n) : 0;

	if (c != 0)
		return c;
	if (ta->str_len == tb->str_len)
		return 0;
	return ta->str_len < tb->str_len ? -1 : 1;
}

static int
check_key(struct be_parser *ps, struct be_frame *f, uint32_t idx)
{
	if (f->lastkey != NO_KEY) {
		int c = key_cmp(ps, f->lastkey, idx);

		if (c == 0)
			return be_fail(ps, "duplicate dict key");
		if (c > 0)
			return be_fail(ps, "dict keys not sorted");
	}
	f->lastkey = idx;
	return 0;
}

static int
open_container(struct be_parser *ps, struct be_tok *t, uint32_t idx, enum be_type type)
{
	struct be_frame *f;

	if (ps->depth >= ps->maxdepth)
		return be_fail(ps, "nested deeper than %u", ps->maxdepth);
	/* The stack holds len/2+1 frames; more open containers cannot all close. */
	if (ps->depth >= ps->stackcap)
		return be_fail(ps, "truncated container");
	t->type = type;
	f = &ps->stack[ps->depth++];
	f->tok = idx;
	f->nchild = 0;
	f->lastkey = NO_KEY;
	ps->pos++;
	return 0;
}

static int
close_container(struct be_parser *ps)
{
	struct be_frame *f = &ps->stack[ps->depth - 1];
	struct be_tok *t = &ps->tok[f->tok];

	if (t->type == BE_DICT && f->nchild % 2 != 0)
		return be_fail(ps, "dict key without value");
	ps->pos++;
	t->count = t->type == BE_DICT ? f->nchild / 2 : f->nchild;
	t->len = ps->pos - t->off;
	t->next = ps->ntok;
	ps->depth--;
	return 0;
}

/* Tokens grow with the document, so a large limit costs nothing until used. */
static int
grow_tokens(struct be_parser *ps)
{
	uint32_t n = ps->nalloc > ps->cap / 2 ? ps->cap : ps->nalloc * 2;
	struct be_tok *t;

	if (n < 64)
		n = ps->cap < 64 ? ps->cap : 64;
	if ((t = realloc(ps->tok, (size_t)n * sizeof(*t))) == NULL)
		return be_fail(ps, "out of memory");
	ps->tok = t;
	ps->nalloc = n;
	return 0;
}

/* Starts one value at pos: a scalar is read whole, a container is pushed. */
static int
parse_value(struct be_parser *ps)
{
	struct be_frame *f = ps->depth ? &ps->stack[ps->depth - 1] : NULL;
	uint8_t c = ps->p[ps->pos];
	int iskey = f && ps->tok[f->tok].type == BE_DICT && f->nchild % 2 == 0;
	struct be_tok *t;
	uint32_t idx;
	int rc;

	if (iskey && !is_digit(c))
		return be_fail(ps, "dict key is not a string");
	if (ps->ntok >= ps->cap && ps->cap_by_len)
		return be_fail(ps, "truncated: more values than the input can hold");
	if (ps->ntok >= ps->cap)
		return be_fail(ps, "more than %" PRIu32 " values", ps->cap);
	if (ps->ntok >= ps->nalloc && grow_tokens(ps) == -1)
		return -1;
	idx = ps->ntok++;
	t = &ps->tok[idx];
	memset(t, 0, sizeof(*t));
	t->off = ps->pos;
	if (f)
		f->nchild++;
	if (c == 'l' || c == 'd')
		return open_container(ps, t, idx, c == 'l' ? BE_LIST : BE_DICT);
	if (c == 'i') {
		t->type = BE_INT;
		rc = parse_int(ps, t);
	} else if (is_digit(c))
		rc = parse_str(ps, t);
	else
		return be_fail(ps, "unexpected byte 0x%02x", c);
	if (rc == -1)
		return -1;
	t->len = ps->pos - t->off;
	t->next = ps->ntok;
	return iskey ? check_key(ps, f, idx) : 0;
}

static int
be_run(struct be_parser *ps)
{
	for (;;) {
		int rc;

		if (ps->pos >= ps->len)
			return be_fail(ps, "truncated input");
		if (ps->depth > 0 && ps->p[ps->pos] == 'e')
			rc = close_container(ps);
		else
			rc = parse_value(ps);
		if (rc == -1)
			return -1;
		if (ps->depth == 0)
			return 0;
	}
}

int
be_decode_prefix(const uint8_t *buf, size_t len, const struct be_limits *lim,
    struct be_doc *doc, size_t *used, char *err, size_t errlen)
{
	struct be_parser ps;
	size_t cap;

	memset(doc, 0, sizeof(*doc));
	memset(&ps, 0, sizeof(ps));
	if (lim == NULL)
		lim = &be_default_limits;
	ps.p = buf;
	ps.len = len;
	ps.err = err;
	ps.errlen = errlen;
	ps.maxdepth = lim->max_depth;
	if (len == 0)
		return be_fail(&ps, "empty input");
	/* The smallest value ("0:", "le") takes two bytes. */
	cap = len / 2 + 1;
	ps.cap_by_len = 1;
	if (cap > lim->max_tokens) {
		cap = lim->max_tokens;
		ps.cap_by_len = 0;
	}
	if (cap > UINT32_MAX - 1) {
		cap = UINT32_MAX - 1;
		ps.cap_by_len = 0;
	}
	ps.cap = (uint32_t)cap;
	ps.stackcap = cap < lim->max_depth ? (unsigned)cap : lim->max_depth;
	if ((ps.stack = calloc(ps.stackcap ? ps.stackcap : 1, sizeof(*ps.stack))) == NULL)
		return be_fail(&ps, "out of memory");
	if (be_run(&ps) == -1) {
		free(ps.stack);
		free(ps.tok);
		return -1;
	}
	free(ps.stack);
	doc->buf = buf;
	doc->len = len;
	doc->tok = ps.tok;
	doc->ntok = ps.ntok;
	if (used)
		*used = ps.pos;
	return 0;
}

int
be_decode(const uint8_t *buf, size_t len, const struct be_limits *lim,
    struct be_doc *doc, char *err, size_t errlen)
{
	size_t used;

	if (be_decode_prefix(buf, len, lim, doc, &used, err, errlen) == -1)
		return -1;
	if (used != len) {
		if (err && errlen)
			snprintf(err, errlen, "bencode: offset %zu: %zu trailing bytes",
			    used, len - used);
		be_doc_free(doc);
		return -1;
	}
	return 0;
}

void
be_doc_free(struct be_doc *doc)
{
	if (doc == NULL)
		return;
	free(doc->tok);
	memset(doc, 0, sizeof(*doc));
}

static int
str_is(const struct be_doc *doc, uint32_t i, const char *s, size_t n)
{
	const struct be_tok *t = &doc->tok[i];

	return t->type == BE_STR && t->str_len == n &&
	    (n == 0 || memcmp(doc->buf + t->str_off, s, n) == 0);
}

int64_t
be_dict_get(const struct be_doc *doc, uint32_t d, const char *key)
{
	size_t klen = strlen(key);
	uint32_t i;

	if (d >= doc->ntok || doc->tok[d].type != BE_DICT)
		return -1;
	i = d + 1;
	for (uint32_t k = 0; k < doc->tok[d].count; k++) {
		if (str_is(doc, i, key, klen))
			return i + 1;
		i = doc->tok[i + 1].next;
	}
	return -1;
}

int64_t
be_dict_get_type(const struct be_doc *doc, uint32_t d, const char *key,
    enum be_type t)
{
	int64_t i = be_dict_get(doc, d, key);

	if (i < 0 || doc->tok[i].type != t)
		return -1;
	return i;
}

const uint8_t *
be_str(const struct be_doc *doc, uint32_t i, size_t *len)
{
	if (i >= doc->ntok || doc->tok[i].type != BE_STR) {
		*len = 0;
		return NULL;
	}
	*len = doc->tok[i].str_len;
	return doc->buf + doc->tok[i].str_off;
}

int
be_str_eq(const struct be_doc *doc, uint32_t i, const char *s)
{
	if (i >= doc->ntok)
		return 0;
	return str_is(doc, i, s, strlen(s));
}

int
be_put_int(struct buf *b, int64_t v)
{
	return buf_printf(b, "i%" PRId64 "e", v);
}

int
be_put_str(struct buf *b, const void *p, size_t n)
{
	if (buf_printf(b, "%zu:", n) == -1)
		return -1;
	return buf_append(b, p, n);
}

int
be_put_cstr(struct buf *b, const char *s)
{
	return be_put_str(b, s, strlen(s));
}

int
be_put_list(struct buf *b)
{
	return buf_putc(b, 'l');
}

int
be_put_dict(struct buf *b)
{
	return buf_putc(b, 'd');
}

int
be_put_end(struct buf *b)
{
	return buf_putc(b, 'e');
}

int
be_put_raw(struct buf *b, const void *p, size_t n)
{
	return buf_append(b, p, n);
}
