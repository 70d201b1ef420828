/* test-bitfield.c: piece sets in BEP 3 wire order (common/bitfield.c). */
#include "testmain.h"
#include "bitfield.h"

#include <stdint.h>
#include <string.h>

/* Counts set bits the slow way, to check the maintained count. */
static uint32_t
slow_count(const struct bitfield *bf)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < bf->nbits; i++)
		n += (uint32_t)bitfield_get(bf, i);
	return n;
}

START_TEST(test_bytes)
{
	static const struct {
		uint32_t nbits;
		size_t bytes;
	} t[] = {
		{ 0, 0 }, { 1, 1 }, { 7, 1 }, { 8, 1 }, { 9, 2 }, { 16, 2 },
		{ 17, 3 }, { UINT32_MAX, 536870912 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_uint_eq(bitfield_bytes(t[i].nbits), t[i].bytes);
}
END_TEST

START_TEST(test_wire_order)
{
	struct bitfield bf;

	/* BEP 3: the high bit of the first byte is piece 0. */
	ck_assert_int_eq(bitfield_init(&bf, 10), 0);
	bitfield_set(&bf, 0);
	ck_assert_uint_eq(bf.bits[0], 0x80);
	bitfield_set(&bf, 7);
	ck_assert_uint_eq(bf.bits[0], 0x81);
	bitfield_set(&bf, 9);
	ck_assert_uint_eq(bf.bits[1], 0x40);
	ck_assert_uint_eq(bf.count, 3);
	bitfield_free(&bf);
}
END_TEST

START_TEST(test_set_clear_get)
{
	struct bitfield bf;

	ck_assert_int_eq(bitfield_init(&bf, 100), 0);
	ck_assert_uint_eq(bf.count, 0);
	for (uint32_t i = 0; i < 100; i += 3)
		bitfield_set(&bf, i);
	ck_assert_uint_eq(bf.count, 34);
	/* Setting twice does not count twice. */
	bitfield_set(&bf, 0);
	bitfield_set(&bf, 99);
	ck_assert_uint_eq(bf.count, 34);
	for (uint32_t i = 0; i < 100; i++)
		ck_assert_int_eq(bitfield_get(&bf, i), i % 3 == 0);
	bitfield_clear(&bf, 3);
	bitfield_clear(&bf, 3);
	bitfield_clear(&bf, 4);
	ck_assert_uint_eq(bf.count, 33);
	ck_assert_uint_eq(bf.count, slow_count(&bf));
	ck_assert(!bitfield_full(&bf));
	bitfield_free(&bf);
	ck_assert_ptr_null(bf.bits);
}
END_TEST

START_TEST(test_out_of_range)
{
	struct bitfield bf;

	ck_assert_int_eq(bitfield_init(&bf, 9), 0);
	/* Indexes past nbits are ignored, even inside the last byte. */
	bitfield_set(&bf, 9);
	bitfield_set(&bf, 15);
	bitfield_set(&bf, 16);
	bitfield_set(&bf, UINT32_MAX);
	ck_assert_uint_eq(bf.count, 0);
	ck_assert_uint_eq(bf.bits[1], 0);
	ck_assert_int_eq(bitfield_get(&bf, 9), 0);
	ck_assert_int_eq(bitfield_get(&bf, UINT32_MAX), 0);
	bitfield_set_all(&bf);
	bitfield_clear(&bf, 9);
	bitfield_clear(&bf, UINT32_MAX);
	ck_assert_uint_eq(bf.count, 9);
	bitfield_free(&bf);
}
END_TEST

START_TEST(test_set_all_spare_bits)
{
	static const struct {
		uint32_t nbits;
		uint8_t last;
	} t[] = {
		{ 1, 0x80 }, { 7, 0xfe }, { 8, 0xff }, { 9, 0x80 }, { 13, 0xf8 },
		{ 16, 0xff },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct bitfield bf;
		size_t n = bitfield_bytes(t[i].nbits);

		ck_assert_int_eq(bitfield_init(&bf, t[i].nbits), 0);
		bitfield_set_all(&bf);
		/* Spare bits stay clear, so the bytes go on the wire as is. */
		ck_assert_uint_eq(bf.bits[n - 1], t[i].last);
		ck_assert_uint_eq(bf.count, t[i].nbits);
		ck_assert(bitfield_full(&bf));
		bitfield_clear_all(&bf);
		ck_assert_uint_eq(bf.count, 0);
		ck_assert_uint_eq(bf.bits[n - 1], 0);
		bitfield_free(&bf);
	}
}
END_TEST

START_TEST(test_empty)
{
	struct bitfield bf;

	ck_assert_int_eq(bitfield_init(&bf, 0), 0);
	ck_assert_ptr_nonnull(bf.bits);
	/* A torrent with no pieces is trivially complete. */
	ck_assert(bitfield_full(&bf));
	bitfield_set_all(&bf);
	bitfield_clear_all(&bf);
	ck_assert_uint_eq(bf.count, 0);
	ck_assert_int_eq(bitfield_load(&bf, (const uint8_t *)"", 0), 0);
	ck_assert_int_eq(bitfield_load(&bf, (const uint8_t *)"\0", 1), -1);
	bitfield_free(&bf);
}
END_TEST

START_TEST(test_load)
{
	static const uint8_t wire[3] = { 0xa5, 0xff, 0xe0 };
	struct bitfield bf;

	ck_assert_int_eq(bitfield_init(&bf, 19), 0);
	ck_assert_int_eq(bitfield_load(&bf, wire, sizeof(wire)), 0);
	ck_assert_uint_eq(bf.count, 4 + 8 + 3);
	ck_assert_uint_eq(bf.count, slow_count(&bf));
	ck_assert_int_eq(bitfield_get(&bf, 0), 1);
	ck_assert_int_eq(bitfield_get(&bf, 1), 0);
	ck_assert_int_eq(bitfield_get(&bf, 18), 1);
	ck_assert_mem_eq(bf.bits, wire, sizeof(wire));
	bitfield_free(&bf);
}
END_TEST

/* Length and spare-bit checks of BEP 3: what a peer may send for nbits. */
static const struct {
	uint32_t nbits;
	size_t len;
	uint8_t last;
	int ok;
} loads[] = {
	{ 19, 3, 0xe0, 0 },	/* all 3 real bits of the last byte */
	{ 19, 3, 0xf0, -1 },	/* first spare bit */
	{ 19, 3, 0x01, -1 },	/* last spare bit */
	{ 19, 2, 0xff, -1 },	/* short */
	{ 19, 4, 0x00, -1 },	/* long */
	{ 8, 1, 0xff, 0 },	/* no spare bits at all */
	{ 8, 2, 0x00, -1 },
	{ 9, 2, 0x80, 0 },
	{ 9, 2, 0x40, -1 },
	{ 1, 1, 0x80, 0 },
	{ 1, 1, 0x7f, -1 },
	{ 1, 0, 0x00, -1 },
};

START_TEST(test_load_table)
{
	struct bitfield bf;
	uint8_t wire[8];
	size_t n = loads[_i].len;

	memset(wire, 0xff, sizeof(wire));
	if (n > 0)
		wire[n - 1] = loads[_i].last;
	ck_assert_int_eq(bitfield_init(&bf, loads[_i].nbits), 0);
	bitfield_set(&bf, 0);
	ck_assert_int_eq(bitfield_load(&bf, wire, n), loads[_i].ok);
	if (loads[_i].ok == -1) {
		/* A refused bitfield leaves the old one as it was. */
		ck_assert_uint_eq(bf.count, 1);
		ck_assert_int_eq(bitfield_get(&bf, 0), 1);
		ck_assert_uint_eq(slow_count(&bf), 1);
	} else {
		ck_assert_uint_eq(bf.count, slow_count(&bf));
	}
	bitfield_free(&bf);
}
END_TEST

START_TEST(test_load_replaces)
{
	static const uint8_t none[2] = { 0, 0 };
	struct bitfield bf;

	ck_assert_int_eq(bitfield_init(&bf, 12), 0);
	bitfield_set_all(&bf);
	ck_assert_int_eq(bitfield_load(&bf, none, sizeof(none)), 0);
	ck_assert_uint_eq(bf.count, 0);
	ck_assert_int_eq(bitfield_get(&bf, 5), 0);
	bitfield_free(&bf);
}
END_TEST

START_TEST(test_many)
{
	struct bitfield bf;
	uint32_t n = 100003;

	ck_assert_int_eq(bitfield_init(&bf, n), 0);
	for (uint32_t i = 0; i < n; i++)
		bitfield_set(&bf, i);
	ck_assert(bitfield_full(&bf));
	ck_assert_uint_eq(bf.bits[bitfield_bytes(n) - 1], 0xe0);
	for (uint32_t i = 0; i < n; i += 2)
		bitfield_clear(&bf, i);
	ck_assert_uint_eq(bf.count, n / 2);
	ck_assert_uint_eq(slow_count(&bf), n / 2);
	bitfield_free(&bf);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("bitfield");
	TCase *tc = tcase_create("bitfield");

	tcase_add_test(tc, test_bytes);
	tcase_add_test(tc, test_wire_order);
	tcase_add_test(tc, test_set_clear_get);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_set_all_spare_bits);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_load);
	tcase_add_loop_test(tc, test_load_table, 0, sizeof(loads) / sizeof(loads[0]));
	tcase_add_test(tc, test_load_replaces);
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);
	return s;
}
