/* fuzz-bencode.c: libFuzzer harness; every accepted document must re-encode to its input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
put_token(const struct be_doc *d, uint32_t i, struct buf *b)
{
	const struct be_tok *t = &d->tok[i];
	int rc = -1;

	switch (t->type) {
	case BE_INT:
		rc = be_put_int(b, t->ival);
		break;
	case BE_STR:
		rc = be_put_str(b, d->buf + t->str_off, t->str_len);
		break;
	case BE_LIST:
		rc = be_put_list(b);
		break;
	case BE_DICT:
		rc = be_put_dict(b);
		break;
	}
	if (rc == -1)
		abort();
}

/* Walks the tokens in order, closing containers as their `next` is reached. */
static void
reencode(const struct be_doc *d, struct buf *b)
{
	uint32_t ends[101];
	unsigned sp = 0;

	for (uint32_t i = 0; i < d->ntok; i++) {
		const struct be_tok *t = &d->tok[i];

		if (t->next <= i || t->next > d->ntok || t->off + t->len > d->len)
			abort();
		put_token(d, i, b);
		if (t->type == BE_LIST || t->type == BE_DICT) {
			if (sp == sizeof(ends) / sizeof(ends[0]))
				abort();
			ends[sp++] = t->next;
		}
		while (sp > 0 && ends[sp - 1] == i + 1) {
			if (be_put_end(b) == -1)
				abort();
			sp--;
		}
	}
	if (sp != 0)
		abort();
}

static void
check_lookups(const struct be_doc *d)
{
	static const char *const keys[] = { "", "a", "info", "announce", "zzzz" };

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		int64_t v = be_dict_get(d, 0, keys[k]);

		if (v >= 0 && (v >= d->ntok || !be_str_eq(d, (uint32_t)v - 1, keys[k])))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct be_limits small = { 3, 8 };
	struct be_doc d;
	struct buf b;
	char err[128];
	size_t used;

	if (be_decode(data, size, NULL, &d, err, sizeof(err)) == 0) {
		buf_init(&b, 0);
		reencode(&d, &b);
		if (b.len != size || memcmp(b.data, data, size) != 0)
			abort();
		check_lookups(&d);
		buf_free(&b);
		be_doc_free(&d);
	}
	if (be_decode_prefix(data, size, NULL, &d, &used, err, sizeof(err)) == 0) {
		if (used == 0 || used > size || d.tok[0].len != used)
			abort();
		be_doc_free(&d);
	}
	if (be_decode(data, size, &small, &d, err, sizeof(err)) == 0) {
		if (d.ntok > 8)
			abort();
		be_doc_free(&d);
	}
	return 0;
}
