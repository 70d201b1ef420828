/* bencode.h: bounded bencode decoder (a flat token array) and encoder (BEP 3). */
#ifndef P2P_BENCODE_H
#define P2P_BENCODE_H

#include <stddef.h>
#include <stdint.h>

struct buf;

enum be_type { BE_INT = 1, BE_STR, BE_LIST, BE_DICT };

/*
 * One decoded value. A container's children follow it in the array; a dict's
 * children alternate key, value. `next` skips the whole subtree, so walking
 * siblings is `i = tok[i].next`.
 */
struct be_tok {
	enum be_type type;
	uint32_t next;		/* index of the token after this subtree */
	uint32_t count;		/* list: items; dict: pairs; else 0 */
	size_t off;		/* start of the encoding in the input */
	size_t len;		/* length of the whole encoding */
	size_t str_off;		/* BE_STR: payload offset in the input */
	size_t str_len;		/* BE_STR: payload length */
	int64_t ival;		/* BE_INT */
};

struct be_limits {
	unsigned max_depth;	/* containers nested deeper fail */
	size_t max_tokens;	/* values in the document */
};

/* libtorrent's defaults: depth 100, 2 million tokens. */
extern const struct be_limits be_default_limits;

struct be_doc {
	const uint8_t *buf;	/* the input; not owned, must outlive the doc */
	size_t len;
	struct be_tok *tok;
	uint32_t ntok;
};

/*
 * Decodes exactly one value that must span all of buf[0..len). Strict: refuses
 * leading zeros, "-0", integers that overflow int64, string lengths past the
 * end, dict keys that are not strings, unsorted or duplicate keys, nesting
 * past max_depth, more than max_tokens values, and trailing bytes.
 * Returns 0, or -1 with a message in err. Never reads outside buf.
 */
int be_decode(const uint8_t *buf, size_t len, const struct be_limits *lim,
    struct be_doc *doc, char *err, size_t errlen);
/* Like be_decode but the value may end before len; *used gets its length. */
int be_decode_prefix(const uint8_t *buf, size_t len, const struct be_limits *lim,
    struct be_doc *doc, size_t *used, char *err, size_t errlen);
void be_doc_free(struct be_doc *doc);

/* Index of the value for key in dict token d, or -1 (also if d is no dict). */
int64_t be_dict_get(const struct be_doc *doc, uint32_t d, const char *key);
/* The value for key if it has type t, else -1. */
int64_t be_dict_get_type(const struct be_doc *doc, uint32_t d, const char *key,
    enum be_type t);
/* Pointer to the payload of string token i (not NUL-terminated). */
const uint8_t *be_str(const struct be_doc *doc, uint32_t i, size_t *len);
/* 1 if string token i equals s. */
int be_str_eq(const struct be_doc *doc, uint32_t i, const char *s);

/* Encoder: each returns 0, or -1 when the buffer refuses to grow. */
int be_put_int(struct buf *b, int64_t v);
int be_put_str(struct buf *b, const void *p, size_t n);
int be_put_cstr(struct buf *b, const char *s);
int be_put_list(struct buf *b);		/* 'l' */
int be_put_dict(struct buf *b);		/* 'd'; caller writes keys in sorted order */
int be_put_end(struct buf *b);		/* 'e' */
/* Copies an already-encoded value verbatim (e.g. the raw info dict). */
int be_put_raw(struct buf *b, const void *p, size_t n);

#endif
