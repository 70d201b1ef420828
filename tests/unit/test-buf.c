/* test-buf.c: the growable buffer and the bounds-checked reader (common/buf.c). */
#include "testmain.h"
#include "buf.h"

#include <stdint.h>
#include <string.h>

START_TEST(test_append_and_steal)
{
	struct buf b;
	char *s;
	size_t n;

	buf_init(&b, 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
	ck_assert_int_eq(buf_putc(&b, 'd'), 0);
	ck_assert_int_eq(buf_puts(&b, "ef"), 0);
	ck_assert_int_eq(buf_printf(&b, "%d-%s", 42, "x"), 0);
	ck_assert_int_eq(buf_append(&b, NULL, 0), 0);
	ck_assert_uint_eq(b.len, 10);
	ck_assert_mem_eq(b.data, "abcdef42-x", 10);
	s = buf_steal(&b, &n);
	ck_assert_uint_eq(n, 10);
	ck_assert_str_eq(s, "abcdef42-x");
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	free(s);
	/* Still usable after a steal. */
	ck_assert_int_eq(buf_puts(&b, "again"), 0);
	ck_assert_uint_eq(b.len, 5);
	buf_free(&b);
}
END_TEST

START_TEST(test_steal_empty)
{
	struct buf b;
	char *s;
	size_t n = 99;

	buf_init(&b, 0);
	s = buf_steal(&b, &n);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "");
	ck_assert_uint_eq(n, 0);
	free(s);
	s = buf_steal(&b, NULL);
	ck_assert_ptr_nonnull(s);
	free(s);
	buf_free(&b);
}
END_TEST

START_TEST(test_big_endian)
{
	static const uint8_t want[] = { 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef,
	    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xff };
	struct buf b;

	buf_init(&b, 0);
	ck_assert_int_eq(buf_put_be16(&b, 0x1234), 0);
	ck_assert_int_eq(buf_put_be32(&b, 0xdeadbeef), 0);
	ck_assert_int_eq(buf_put_be64(&b, 0x0102030405060708ULL), 0);
	ck_assert_int_eq(buf_putc(&b, 0xff), 0);
	ck_assert_uint_eq(b.len, sizeof(want));
	ck_assert_mem_eq(b.data, want, sizeof(want));
	buf_free(&b);
}
END_TEST

START_TEST(test_max)
{
	struct buf b;

	buf_init(&b, 8);
	ck_assert_int_eq(buf_append(&b, "12345678", 8), 0);
	/* Full: every kind of write is refused and nothing changes. */
	ck_assert_int_eq(buf_putc(&b, 'x'), -1);
	ck_assert_int_eq(buf_puts(&b, "x"), -1);
	ck_assert_int_eq(buf_printf(&b, "%s", "x"), -1);
	ck_assert_int_eq(buf_put_be16(&b, 1), -1);
	ck_assert_int_eq(buf_put_be32(&b, 1), -1);
	ck_assert_int_eq(buf_put_be64(&b, 1), -1);
	ck_assert_int_eq(buf_reserve(&b, 1), -1);
	ck_assert_int_eq(buf_reserve(&b, 0), 0);
	ck_assert_uint_eq(b.len, 8);
	ck_assert_mem_eq(b.data, "12345678", 8);
	/* Consuming makes room again. */
	buf_consume(&b, 3);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_mem_eq(b.data, "45678", 5);
	ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
	ck_assert_int_eq(buf_append(&b, "d", 1), -1);
	ck_assert_mem_eq(b.data, "45678abc", 8);
	buf_free(&b);
}
END_TEST

START_TEST(test_max_partial_write_refused)
{
	struct buf b;

	/* A write that does not fit whole is not done in part. */
	buf_init(&b, 6);
	ck_assert_int_eq(buf_append(&b, "abcd", 4), 0);
	ck_assert_int_eq(buf_put_be32(&b, 0x01020304), -1);
	ck_assert_int_eq(buf_printf(&b, "%s", "xyz"), -1);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_int_eq(buf_printf(&b, "%s", "xy"), 0);
	ck_assert_mem_eq(b.data, "abcdxy", 6);
	buf_free(&b);

	/* be64 is two be32 writes inside: room for the first only. */
	buf_init(&b, 10);
	ck_assert_int_eq(buf_append(&b, "abcd", 4), 0);
	ck_assert_int_eq(buf_put_be64(&b, 0x0102030405060708ULL), -1);
	ck_assert_uint_eq(b.len, 4);
	buf_free(&b);
}
END_TEST

START_TEST(test_reserve_overflow)
{
	struct buf b;

	buf_init(&b, 0);
	ck_assert_int_eq(buf_append(&b, "a", 1), 0);
	/* len + extra would wrap around: refused, not a tiny allocation. */
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX), -1);
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX / 2), -1);
	ck_assert_uint_eq(b.len, 1);
	buf_free(&b);
}
END_TEST

START_TEST(test_growth)
{
	struct buf b;
	uint8_t block[1000];

	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (uint8_t)i;
	buf_init(&b, 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(buf_append(&b, block, sizeof(block)), 0);
	ck_assert_uint_eq(b.len, 100000);
	ck_assert_uint_ge(b.cap, b.len);
	for (int i = 0; i < 100; i++)
		ck_assert_mem_eq(b.data + i * 1000, block, sizeof(block));
	buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_consume_reset)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "hello world");
	buf_consume(&b, 0);
	ck_assert_uint_eq(b.len, 11);
	buf_consume(&b, 6);
	ck_assert_mem_eq(b.data, "world", 5);
	buf_consume(&b, 1000);
	ck_assert_uint_eq(b.len, 0);
	buf_puts(&b, "x");
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
	/* Freeing twice is harmless. */
	buf_free(&b);
}
END_TEST

START_TEST(test_printf_long)
{
	struct buf b;
	char big[5000];

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 0);
	ck_assert_int_eq(buf_printf(&b, "<%s>", big), 0);
	ck_assert_uint_eq(b.len, sizeof(big) + 1);
	ck_assert_int_eq(b.data[0], '<');
	ck_assert_int_eq(b.data[b.len - 1], '>');
	buf_free(&b);
}
END_TEST

START_TEST(test_reader)
{
	static const uint8_t in[] = { 0xab, 0x12, 0x34, 0xde, 0xad, 0xbe,
	    0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 'h', 'i',
	    'x', 'y' };
	struct rd r;
	uint8_t u8, two[2];
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *span;

	rd_init(&r, in, sizeof(in));
	ck_assert_uint_eq(rd_left(&r), sizeof(in));
	ck_assert_int_eq(rd_u8(&r, &u8), 0);
	ck_assert_uint_eq(u8, 0xab);
	ck_assert_int_eq(rd_be16(&r, &u16), 0);
	ck_assert_uint_eq(u16, 0x1234);
	ck_assert_int_eq(rd_be32(&r, &u32), 0);
	ck_assert_uint_eq(u32, 0xdeadbeef);
	ck_assert_int_eq(rd_be64(&r, &u64), 0);
	ck_assert(u64 == 0x0102030405060708ULL);
	ck_assert_int_eq(rd_bytes(&r, two, 2), 0);
	ck_assert_mem_eq(two, "hi", 2);
	ck_assert_int_eq(rd_span(&r, &span, 2), 0);
	ck_assert_ptr_eq(span, in + 17);
	ck_assert_uint_eq(rd_left(&r), 0);
	ck_assert_int_eq(rd_span(&r, &span, 0), 0);
	ck_assert_int_eq(rd_bytes(&r, two, 0), 0);
	ck_assert_int_eq(rd_skip(&r, 0), 0);
}
END_TEST

/* Every getter on every too-short input: -1 and the position unmoved. */
START_TEST(test_reader_short)
{
	static const uint8_t in[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct rd r;
	uint8_t u8, out[8];
	uint16_t u16;
	uint32_t u32;
	uint64_t u64 = 0x1111;
	const uint8_t *span = NULL;

	rd_init(&r, in, 0);
	ck_assert_int_eq(rd_u8(&r, &u8), -1);
	ck_assert_int_eq(rd_be16(&r, &u16), -1);

	rd_init(&r, in, 1);
	ck_assert_int_eq(rd_be16(&r, &u16), -1);
	ck_assert_uint_eq(rd_left(&r), 1);

	rd_init(&r, in, 3);
	ck_assert_int_eq(rd_be32(&r, &u32), -1);
	ck_assert_uint_eq(rd_left(&r), 3);

	/* be64 must not take the first half and then fail. */
	rd_init(&r, in, 7);
	ck_assert_int_eq(rd_be64(&r, &u64), -1);
	ck_assert_uint_eq(rd_left(&r), 7);
	ck_assert(u64 == 0x1111);

	rd_init(&r, in, 5);
	ck_assert_int_eq(rd_bytes(&r, out, 6), -1);
	ck_assert_int_eq(rd_span(&r, &span, 6), -1);
	ck_assert_ptr_null(span);
	ck_assert_int_eq(rd_skip(&r, 6), -1);
	ck_assert_uint_eq(rd_left(&r), 5);
	ck_assert_int_eq(rd_skip(&r, 4), 0);
	ck_assert_int_eq(rd_be16(&r, &u16), -1);
	ck_assert_int_eq(rd_u8(&r, &u8), 0);
	ck_assert_uint_eq(u8, 5);
	ck_assert_int_eq(rd_u8(&r, &u8), -1);
	/* Huge lengths must not wrap the position. */
	ck_assert_int_eq(rd_skip(&r, SIZE_MAX), -1);
	rd_init(&r, in, 8);
	ck_assert_int_eq(rd_skip(&r, 1), 0);
	ck_assert_int_eq(rd_skip(&r, SIZE_MAX), -1);
	ck_assert_int_eq(rd_span(&r, &span, SIZE_MAX - 1), -1);
	ck_assert_uint_eq(rd_left(&r), 7);
}
END_TEST

/* RFC 4648 section 10 test vectors. */
static const struct {
	const char *plain;
	const char *b64;
} b64_vectors[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

START_TEST(test_base64_vectors)
{
	const char *plain = b64_vectors[_i].plain, *b64 = b64_vectors[_i].b64;
	struct buf b;

	buf_init(&b, 0);
	ck_assert_int_eq(buf_put_base64(&b, plain, strlen(plain)), 0);
	ck_assert_uint_eq(b.len, strlen(b64));
	if (b.len > 0)
		ck_assert_mem_eq(b.data, b64, b.len);
	buf_reset(&b);
	ck_assert_int_eq(buf_put_unbase64(&b, b64, strlen(b64)), 0);
	ck_assert_uint_eq(b.len, strlen(plain));
	if (b.len > 0)
		ck_assert_mem_eq(b.data, plain, b.len);
	buf_free(&b);
}
END_TEST

START_TEST(test_base64_bad)
{
	static const char *const bad[] = { "Z", "Zg", "Zg=", "Zm9vY", "Z===",
	    "====", "=Zg=", "Zg=a", "Zg==Zg==", "Zm9v!A==", "Zm9v\nYmFy",
	    "Zm 9v", "Zm9v-_==" };
	struct buf b;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_init(&b, 0);
		ck_assert_msg(buf_put_unbase64(&b, bad[i], strlen(bad[i])) ==
		    -1, "accepted '%s'", bad[i]);
		buf_free(&b);
	}
}
END_TEST

START_TEST(test_base64_binary_and_limit)
{
	uint8_t all[256];
	struct buf enc, dec;

	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	buf_init(&enc, 0);
	buf_init(&dec, 0);
	ck_assert_int_eq(buf_put_base64(&enc, all, sizeof(all)), 0);
	ck_assert_uint_eq(enc.len, (sizeof(all) + 2) / 3 * 4);
	ck_assert_int_eq(buf_put_unbase64(&dec, (const char *)enc.data,
	    enc.len), 0);
	ck_assert_uint_eq(dec.len, sizeof(all));
	ck_assert_mem_eq(dec.data, all, sizeof(all));
	buf_free(&enc);
	buf_free(&dec);

	/* The encoding of 3 bytes is 4: it does not fit in 3. */
	buf_init(&enc, 3);
	ck_assert_int_eq(buf_put_base64(&enc, "abc", 3), -1);
	ck_assert_uint_eq(enc.len, 0);
	buf_free(&enc);
	buf_init(&dec, 2);
	ck_assert_int_eq(buf_put_unbase64(&dec, "Zm9v", 4), -1);
	buf_free(&dec);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("buf");

	tcase_add_test(tc, test_append_and_steal);
	tcase_add_test(tc, test_steal_empty);
	tcase_add_test(tc, test_big_endian);
	tcase_add_test(tc, test_max);
	tcase_add_test(tc, test_max_partial_write_refused);
	tcase_add_test(tc, test_reserve_overflow);
	tcase_add_test(tc, test_growth);
	tcase_add_test(tc, test_consume_reset);
	tcase_add_test(tc, test_printf_long);
	tcase_add_test(tc, test_reader);
	tcase_add_test(tc, test_reader_short);
	tcase_add_loop_test(tc, test_base64_vectors, 0,
	    sizeof(b64_vectors) / sizeof(b64_vectors[0]));
	tcase_add_test(tc, test_base64_bad);
	tcase_add_test(tc, test_base64_binary_and_limit);
	suite_add_tcase(s, tc);
	return s;
}
