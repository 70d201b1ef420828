/* test-bencode.c: unit tests for the strict bencode decoder and the encoder. */
#include "testmain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "buf.h"

#define S(x) { x, sizeof(x) - 1 }

struct sample {
	const char *s;
	size_t len;
};

/* Canonical documents: each must decode and re-encode to the same bytes. */
static const struct sample good[] = {
	S("i0e"), S("i1e"), S("i-1e"), S("i42e"),
	S("i9223372036854775807e"), S("i-9223372036854775808e"),
	S("0:"), S("3:abc"), S("3:a\0b"), S("le"), S("de"),
	S("li1e3:abce"), S("lllleeee"), S("d1:ai1e1:bi2ee"),
	S("d1:a0:2:ab0:e"), S("d0:0:e"), S("d1:ali1ei2ee1:bd1:cleee"),
	S("d3:\x01\x02\x03i1e3:\xff\xff\xffi2ee"),
	S("l0:0:0:e"),
};

struct bad_sample {
	const char *s;
	size_t len;
	const char *why;	/* a word the error message must contain */
};

#define B(x, why) { x, sizeof(x) - 1, why }

static const struct bad_sample bad[] = {
	B("", "empty"),
	B("i", "truncated"),
	B("i12", "truncated"),
	B("ie", "without digits"),
	B("i-e", "without digits"),
	B("i01e", "leading zero"),
	B("i00e", "leading zero"),
	B("i-0e", "negative zero"),
	B("i-01e", "negative zero"),
	B("i9223372036854775808e", "overflow"),
	B("i-9223372036854775809e", "overflow"),
	B("i99999999999999999999999e", "overflow"),
	B("i1.5e", "expected 'e'"),
	B("i+1e", "without digits"),
	B("01:a", "leading zero"),
	B("00:", "leading zero"),
	B("5:abc", "past end"),
	B("1", "truncated"),
	B("3", "past end"),
	B("2:a", "past end"),
	B("99999999999999999999:", "past end"),
	B("18446744073709551616:x", "past end"),
	B("4294967296:x", "past end"),
	B("3x", "past end"),
	B("1x", "expected ':'"),
	B("-1:a", "unexpected byte"),
	B("l", "truncated"),
	B("li1e", "truncated"),
	B("lli1ee", "truncated"),
	B("d", "truncated"),
	B("d1:a", "truncated"),
	B("d1:ae", "without value"),
	B("di1ei2ee", "not a string"),
	B("dlei1ee", "not a string"),
	B("d1:bi1e1:ai2ee", "not sorted"),
	B("d2:abi1e1:ai1ee", "not sorted"),
	B("d1:ai1e1:ai2ee", "duplicate"),
	B("d0:i1e0:i2ee", "duplicate"),
	B("ld1:ai1e1:ai2eee", "duplicate"),
	B("e", "unexpected byte"),
	B("x", "unexpected byte"),
	B("i1ei2e", "trailing"),
	B("lee", "trailing"),
	B("le ", "trailing"),
	B("0:\n", "trailing"),
	B(" i1e", "unexpected byte"),
};

/* Writes the value at token i back out; returns the index after its subtree. */
static uint32_t
reencode(const struct be_doc *d, uint32_t i, struct buf *b)
{
	const struct be_tok *t = &d->tok[i];
	uint32_t j = i + 1;

	switch (t->type) {
	case BE_INT:
		ck_assert_int_eq(be_put_int(b, t->ival), 0);
		return i + 1;
	case BE_STR:
		ck_assert_int_eq(be_put_str(b, d->buf + t->str_off, t->str_len), 0);
		return i + 1;
	case BE_LIST:
	case BE_DICT:
		ck_assert_int_eq(t->type == BE_LIST ? be_put_list(b) : be_put_dict(b), 0);
		for (uint32_t k = 0; k < t->count * (t->type == BE_DICT ? 2 : 1); k++)
			j = reencode(d, j, b);
		ck_assert_uint_eq(j, t->next);
		ck_assert_int_eq(be_put_end(b), 0);
		return j;
	}
	ck_abort_msg("bad token type %d", t->type);
	return 0;
}

START_TEST(test_good)
{
	const struct sample *g = &good[_i];
	struct be_doc d;
	struct buf b;
	char err[128];

	ck_assert_msg(be_decode((const uint8_t *)g->s, g->len, &be_default_limits, &d,
	    err, sizeof(err)) == 0, "%s: %s", g->s, err);
	ck_assert_uint_eq(d.tok[0].off, 0);
	ck_assert_uint_eq(d.tok[0].len, g->len);
	ck_assert_uint_eq(d.tok[0].next, d.ntok);
	buf_init(&b, 0);
	ck_assert_uint_eq(reencode(&d, 0, &b), d.ntok);
	ck_assert_uint_eq(b.len, g->len);
	ck_assert_mem_eq(b.data, g->s, g->len);
	buf_free(&b);
	be_doc_free(&d);
}
END_TEST

START_TEST(test_bad)
{
	const struct bad_sample *x = &bad[_i];
	struct be_doc d;
	char err[128] = "";

	ck_assert_msg(be_decode((const uint8_t *)x->s, x->len, NULL, &d, err,
	    sizeof(err)) == -1, "accepted bad input #%d", _i);
	ck_assert_msg(strstr(err, x->why) != NULL, "#%d: '%s' lacks '%s'",
	    _i, err, x->why);
	ck_assert_ptr_null(d.tok);
	ck_assert_uint_eq(d.ntok, 0);
	be_doc_free(&d);
}
END_TEST

/* Every proper prefix of a good document is a truncation and must fail. */
START_TEST(test_truncated)
{
	const struct sample *g = &good[_i];
	char err[128];

	for (size_t n = 0; n < g->len; n++) {
		uint8_t *p = malloc(n ? n : 1);
		struct be_doc d;

		memcpy(p, g->s, n);
		ck_assert_msg(be_decode(p, n, NULL, &d, err, sizeof(err)) == -1,
		    "prefix %zu of %s accepted", n, g->s);
		free(p);
	}
}
END_TEST

START_TEST(test_tokens)
{
	static const char doc[] = "d1:ali1ei2ee1:bi3e1:c3:xyze";
	struct be_doc d;
	const uint8_t *p;
	size_t n;

	ck_assert_int_eq(be_decode((const uint8_t *)doc, sizeof(doc) - 1, NULL, &d,
	    NULL, 0), 0);
	ck_assert_uint_eq(d.ntok, 9);
	ck_assert_int_eq(d.tok[0].type, BE_DICT);
	ck_assert_uint_eq(d.tok[0].count, 3);
	ck_assert_int_eq(d.tok[2].type, BE_LIST);
	ck_assert_uint_eq(d.tok[2].count, 2);
	ck_assert_uint_eq(d.tok[2].next, 5);
	ck_assert_uint_eq(d.tok[2].off, 4);
	ck_assert_uint_eq(d.tok[2].len, 8);
	ck_assert_int_eq(d.tok[4].ival, 2);
	ck_assert_int_eq(be_dict_get(&d, 0, "a"), 2);
	ck_assert_int_eq(be_dict_get(&d, 0, "b"), 6);
	ck_assert_int_eq(be_dict_get(&d, 0, "c"), 8);
	ck_assert_int_eq(be_dict_get(&d, 0, "d"), -1);
	ck_assert_int_eq(be_dict_get(&d, 0, ""), -1);
	ck_assert_int_eq(be_dict_get(&d, 2, "a"), -1);
	ck_assert_int_eq(be_dict_get(&d, 99, "a"), -1);
	ck_assert_int_eq(be_dict_get_type(&d, 0, "b", BE_INT), 6);
	ck_assert_int_eq(be_dict_get_type(&d, 0, "b", BE_STR), -1);
	ck_assert_int_eq(be_dict_get_type(&d, 0, "a", BE_LIST), 2);
	p = be_str(&d, 8, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_mem_eq(p, "xyz", 3);
	ck_assert_ptr_null(be_str(&d, 6, &n));
	ck_assert_int_eq(be_str_eq(&d, 8, "xyz"), 1);
	ck_assert_int_eq(be_str_eq(&d, 8, "xy"), 0);
	ck_assert_int_eq(be_str_eq(&d, 6, "3"), 0);
	be_doc_free(&d);
	be_doc_free(&d);
}
END_TEST

static uint8_t *
nested(size_t depth, int closed, size_t *len)
{
	uint8_t *p = malloc(2 * depth);

	memset(p, 'l', depth);
	memset(p + depth, 'e', depth);
	*len = closed ? 2 * depth : depth;
	return p;
}

START_TEST(test_depth_limit)
{
	struct be_doc d;
	char err[128];
	size_t len;
	uint8_t *p;

	p = nested(100, 1, &len);
	ck_assert_int_eq(be_decode(p, len, NULL, &d, err, sizeof(err)), 0);
	ck_assert_uint_eq(d.ntok, 100);
	be_doc_free(&d);
	free(p);
	p = nested(101, 1, &len);
	ck_assert_int_eq(be_decode(p, len, NULL, &d, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "nested deeper than 100"));
	free(p);
}
END_TEST

/* 100000 levels: refused by the limit, and decoded when allowed, without recursion. */
START_TEST(test_depth_100000)
{
	struct be_limits deep = { 200000, 2000000 };
	struct be_doc d;
	char err[128];
	size_t len;
	uint8_t *p = nested(100000, 1, &len);

	ck_assert_int_eq(be_decode(p, len, NULL, &d, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "nested"));
	ck_assert_int_eq(be_decode(p, len, &deep, &d, err, sizeof(err)), 0);
	ck_assert_uint_eq(d.ntok, 100000);
	ck_assert_uint_eq(d.tok[99999].next, 100000);
	be_doc_free(&d);
	ck_assert_int_eq(be_decode(p, 100000, &deep, &d, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "truncated"));
	free(p);
}
END_TEST

START_TEST(test_token_limit)
{
	struct be_limits few = { 100, 3 };
	struct be_doc d;
	char err[128];

	ck_assert_int_eq(be_decode((const uint8_t *)"li1ei2ee", 8, &few, &d, err,
	    sizeof(err)), 0);
	be_doc_free(&d);
	ck_assert_int_eq(be_decode((const uint8_t *)"li1ei2ei3ee", 11, &few, &d, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "more than 3 values"));
}
END_TEST

START_TEST(test_prefix)
{
	struct be_doc d;
	size_t used = 0;

	ck_assert_int_eq(be_decode_prefix((const uint8_t *)"i1ei2e", 6, NULL, &d,
	    &used, NULL, 0), 0);
	ck_assert_uint_eq(used, 3);
	ck_assert_int_eq(d.tok[0].ival, 1);
	be_doc_free(&d);
	ck_assert_int_eq(be_decode_prefix((const uint8_t *)"d1:ai1eeXYZ", 11, NULL, &d,
	    &used, NULL, 0), 0);
	ck_assert_uint_eq(used, 8);
	be_doc_free(&d);
	ck_assert_int_eq(be_decode_prefix((const uint8_t *)"d1:ai1e", 7, NULL, &d,
	    &used, NULL, 0), -1);
}
END_TEST

/* A small error buffer is truncated, never overrun. */
START_TEST(test_err_small)
{
	struct be_doc d;
	char err[8];

	memset(err, 'X', sizeof(err));
	ck_assert_int_eq(be_decode((const uint8_t *)"i01e", 4, NULL, &d, err, 5), -1);
	ck_assert_uint_eq(strlen(err), 4);
	ck_assert_int_eq(err[5], 'X');
}
END_TEST

START_TEST(test_encode)
{
	static const uint8_t bin[] = { 0, 1, 'e', ':', 0xff };
	struct be_doc d;
	struct buf b;
	size_t n;

	buf_init(&b, 0);
	ck_assert_int_eq(be_put_dict(&b), 0);
	ck_assert_int_eq(be_put_cstr(&b, "bin"), 0);
	ck_assert_int_eq(be_put_str(&b, bin, sizeof(bin)), 0);
	ck_assert_int_eq(be_put_cstr(&b, "list"), 0);
	ck_assert_int_eq(be_put_list(&b), 0);
	ck_assert_int_eq(be_put_int(&b, INT64_MIN), 0);
	ck_assert_int_eq(be_put_int(&b, INT64_MAX), 0);
	ck_assert_int_eq(be_put_int(&b, 0), 0);
	ck_assert_int_eq(be_put_str(&b, "", 0), 0);
	ck_assert_int_eq(be_put_end(&b), 0);
	ck_assert_int_eq(be_put_cstr(&b, "raw"), 0);
	ck_assert_int_eq(be_put_raw(&b, "de", 2), 0);
	ck_assert_int_eq(be_put_end(&b), 0);
	ck_assert_int_eq(be_decode(b.data, b.len, NULL, &d, NULL, 0), 0);
	ck_assert_ptr_nonnull(be_str(&d, (uint32_t)be_dict_get(&d, 0, "bin"), &n));
	ck_assert_uint_eq(n, sizeof(bin));
	ck_assert_mem_eq(be_str(&d, (uint32_t)be_dict_get(&d, 0, "bin"), &n), bin, n);
	ck_assert_int_eq(d.tok[be_dict_get(&d, 0, "list") + 1].ival, INT64_MIN);
	ck_assert_int_eq(d.tok[be_dict_get(&d, 0, "list") + 2].ival, INT64_MAX);
	ck_assert_int_eq(be_dict_get_type(&d, 0, "raw", BE_DICT), 10);
	be_doc_free(&d);
	buf_free(&b);
}
END_TEST

START_TEST(test_encode_limit)
{
	struct buf b;

	buf_init(&b, 4);
	ck_assert_int_eq(be_put_cstr(&b, "ab"), 0);
	ck_assert_int_eq(be_put_int(&b, 1), -1);
	buf_free(&b);
}
END_TEST

/* A tiny deterministic generator of canonical documents, for round-trips. */
static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void
gen(struct buf *b, uint32_t *seed, int depth)
{
	uint32_t r = lcg(seed) % (depth > 4 ? 2 : 4), n;
	char key[16];

	if (r == 0) {
		ck_assert_int_eq(be_put_int(b, (int64_t)lcg(seed) - (1 << 23)), 0);
		return;
	}
	if (r == 1) {
		uint8_t s[8];

		n = lcg(seed) % sizeof(s);
		for (uint32_t i = 0; i < n; i++)
			s[i] = (uint8_t)lcg(seed);
		ck_assert_int_eq(be_put_str(b, s, n), 0);
		return;
	}
	n = lcg(seed) % 5;
	ck_assert_int_eq(r == 2 ? be_put_list(b) : be_put_dict(b), 0);
	for (uint32_t i = 0; i < n; i++) {
		if (r == 3) {
			/* Zero-padded keys sort the way they are numbered. */
			snprintf(key, sizeof(key), "k%03u", (unsigned)i);
			ck_assert_int_eq(be_put_cstr(b, key), 0);
		}
		gen(b, seed, depth + 1);
	}
	ck_assert_int_eq(be_put_end(b), 0);
}

START_TEST(test_roundtrip_generated)
{
	uint32_t seed = 7;

	for (int k = 0; k < 500; k++) {
		struct be_doc d;
		struct buf b, c;
		char err[128];

		buf_init(&b, 0);
		buf_init(&c, 0);
		gen(&b, &seed, 0);
		ck_assert_msg(be_decode(b.data, b.len, NULL, &d, err, sizeof(err)) == 0,
		    "doc %d: %s", k, err);
		reencode(&d, 0, &c);
		ck_assert_uint_eq(c.len, b.len);
		ck_assert_mem_eq(c.data, b.data, b.len);
		be_doc_free(&d);
		buf_free(&b);
		buf_free(&c);
	}
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("bencode");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_loop_test(tc, test_truncated, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_test(tc, test_tokens);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_depth_100000);
	tcase_add_test(tc, test_token_limit);
	tcase_add_test(tc, test_prefix);
	tcase_add_test(tc, test_err_small);
	tcase_add_test(tc, test_encode);
	tcase_add_test(tc, test_encode_limit);
	tcase_add_test(tc, test_roundtrip_generated);
	suite_add_tcase(s, tc);
	return s;
}
