/* test-magnet.c: unit tests for magnet URI parsing and building (BEP 9). */
#include "testmain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "magnet.h"
#include "sha.h"

/* The info-hash of tests/data/metainfo-multi.torrent, as hex and as base32. */
#define HEX "8ec39a5d480b1c18970f842d998786cdce2d6681"
#define HEXUP "8EC39A5D480B1C18970F842D998786CDCE2D6681"
#define B32 "R3BZUXKIBMOBRFYPQQWZTB4GZXHC2ZUB"
#define B32LOW "r3bzuxkibmobrfypqqwztb4gzxhc2zub"

static const struct {
	const char *uri;
	const char *name;	/* NULL: no dn */
	size_t ntr;
	const char *tr0;	/* first tracker, if any */
	size_t npe;
	const char *pe0;
} good[] = {
	{ "magnet:?xt=urn:btih:" HEX, NULL, 0, NULL, 0, NULL },
	{ "magnet:?xt=urn:btih:" HEXUP, NULL, 0, NULL, 0, NULL },
	{ "magnet:?xt=urn:btih:" B32, NULL, 0, NULL, 0, NULL },
	{ "magnet:?xt=urn:btih:" B32LOW, NULL, 0, NULL, 0, NULL },
	{ "MAGNET:?xt=URN:BTIH:" HEX, NULL, 0, NULL, 0, NULL },
	{ "magnet:?xt=urn%3Abtih%3A" HEX, NULL, 0, NULL, 0, NULL },
	{ "magnet:?dn=a+b%20c&xt=urn:btih:" HEX, "a b c", 0, NULL, 0, NULL },
	{ "magnet:?xt=urn:btih:" HEX "&dn=%C3%A9t%C3%A9%2B1", "\xc3\xa9t\xc3\xa9+1",
	    0, NULL, 0, NULL },
	{ "magnet:?xt=urn:btih:" HEX "&dn=", "", 0, NULL, 0, NULL },
	{ "magnet:?xt=urn:btih:" HEX "&dn=first&dn=second", "first", 0, NULL, 0, NULL },
	{ "magnet:?xt=urn:btih:" HEX "&tr=http%3A%2F%2Ft.example%2Fann%3Fa%3D1%26b%3D2",
	    NULL, 1, "http://t.example/ann?a=1&b=2", 0, NULL },
	{ "magnet:?xt=urn:btih:" HEX "&tr=udp://a:1&tr=udp://b:2&tr=udp://a:1", NULL, 2,
	    "udp://a:1", 0, NULL },
	{ "magnet:?xt=urn:btih:" HEX "&tr.1=udp://a:1&tr.2=udp://b:2", NULL, 2,
	    "udp://a:1", 0, NULL },
	{ "magnet:?xt=urn:btih:" HEX "&tr=a+b", NULL, 1, "a+b", 0, NULL },
	{ "magnet:?xt=urn:btih:" HEX "&tr=", NULL, 0, NULL, 0, NULL },
	{ "magnet:?xt=urn:btih:" HEX "&x.pe=10.0.0.1:6881&x.pe=%5B%3A%3A1%5D:6881", NULL,
	    0, NULL, 2, "10.0.0.1:6881" },
	{ "magnet:?xt=urn:btmh:1220abcd&xt=urn:btih:" HEX, NULL, 0, NULL, 0, NULL },
	{ "magnet:?xt.1=urn:btih:" HEX "&xt.2=urn:btih:" B32, NULL, 0, NULL, 0, NULL },
	{ "magnet:?xt=urn:btih:" HEX "&xl=123&as=x&ws=y&kt=z&so=0-3", NULL, 0, NULL, 0,
	    NULL },
	{ "magnet:?&&xt=urn:btih:" HEX "&&novalue&", NULL, 0, NULL, 0, NULL },
	{ "magnet:?xt=urn:btih:" HEX "&trx=ignored&tr.x=ignored&tr.=ignored", NULL, 0,
	    NULL, 0, NULL },
	{ "magnet:?xt=urn:btih:" HEX "&unknown=%zz", NULL, 0, NULL, 0, NULL },
};

START_TEST(test_good)
{
	struct magnet m;
	char err[128], hex[41];
	const char *u = good[_i].uri;

	ck_assert_msg(magnet_parse(u, strlen(u), &m, err, sizeof(err)) == 0, "%s: %s",
	    u, err);
	sha_hex(m.info_hash, 20, hex);
	ck_assert_str_eq(hex, HEX);
	if (good[_i].name)
		ck_assert_str_eq(m.name, good[_i].name);
	else
		ck_assert_ptr_null(m.name);
	ck_assert_uint_eq(m.tracker_count, good[_i].ntr);
	if (good[_i].tr0)
		ck_assert_str_eq(m.trackers[0], good[_i].tr0);
	ck_assert_uint_eq(m.peer_count, good[_i].npe);
	if (good[_i].pe0)
		ck_assert_str_eq(m.peers[0], good[_i].pe0);
	magnet_free(&m);
	magnet_free(&m);
}
END_TEST

#define S(x, why) { x, sizeof(x) - 1, why }

static const struct {
	const char *uri;
	size_t len;
	const char *why;
} bad[] = {
	S("", "magnet:?"),
	S("magnet:", "magnet:?"),
	S("magnet:?", "no xt"),
	S("http://example/?xt=urn:btih:" HEX, "magnet:?"),
	S("magnet:?dn=x&tr=udp://a:1", "no xt"),
	S("magnet:?xt=urn:btmh:1220" HEX, "no xt"),
	S("magnet:?xt=urn:btih:", "40 hex or 32"),
	S("magnet:?xt=urn:btih:8ec39a5d480b1c18970f842d998786cdce2d668", "40 hex or 32"),
	S("magnet:?xt=urn:btih:" HEX "1", "40 hex or 32"),
	S("magnet:?xt=urn:btih:8ec39a5d480b1c18970f842d998786cdce2d668g", "hex"),
	S("magnet:?xt=urn:btih:R3BZUXKIBMOBRFYPQQWZTB4GZXHC2ZU1", "base32"),
	S("magnet:?xt=urn:btih:R3BZUXKIBMOBRFYPQQWZTB4GZXHC2ZU8", "base32"),
	S("magnet:?xt=urn:btih:R3BZUXKIBMOBRFYPQQWZTB4GZXHC2ZU=", "base32"),
	S("magnet:?xt=urn:btih:R3BZUXKIBMOBRFYPQQWZTB4GZXHC2ZUBA", "40 hex or 32"),
	S("magnet:?xt=urn:btih:" HEX "&xt=urn:btih:0000000000000000000000000000000000000000",
	    "two different"),
	S("magnet:?xt=urn:btih:" HEX "&dn=%zz", "percent"),
	S("magnet:?xt=urn:btih:" HEX "&dn=%4", "percent"),
	S("magnet:?xt=urn:btih:" HEX "&dn=%", "percent"),
	S("magnet:?xt=urn:btih:" HEX "&tr=%G0", "percent"),
	S("magnet:?xt=urn:btih:" HEX "&dn=a%00b", "NUL"),
	S("magnet:?xt=urn:btih:" HEX "&dn=a\0b", "NUL"),
	S("magnet:?xt=urn:btih:%00" HEX, "NUL"),
	S("magnet:?xt=urn:btih:" HEX "%20", "40 hex or 32"),
};

START_TEST(test_bad)
{
	struct magnet m;
	char err[128] = "";

	ck_assert_msg(magnet_parse(bad[_i].uri, bad[_i].len, &m, err, sizeof(err)) == -1,
	    "#%d accepted", _i);
	ck_assert_msg(strstr(err, bad[_i].why) != NULL, "#%d: '%s' lacks '%s'", _i, err,
	    bad[_i].why);
	ck_assert_ptr_null(m.name);
	ck_assert_ptr_null(m.trackers);
	ck_assert_ptr_null(m.peers);
}
END_TEST

/* Input past MAGNET_MAX_LEN is refused however valid it looks. */
START_TEST(test_too_long)
{
	struct magnet m;
	struct buf b;
	char err[128];

	buf_init(&b, 0);
	buf_puts(&b, "magnet:?xt=urn:btih:" HEX "&dn=");
	while (b.len < MAGNET_MAX_LEN)
		buf_putc(&b, 'a');
	ck_assert_int_eq(magnet_parse((char *)b.data, b.len, &m, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(m.name), MAGNET_MAX_LEN - 64);
	magnet_free(&m);
	buf_putc(&b, 'a');
	ck_assert_int_eq(magnet_parse((char *)b.data, b.len, &m, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "longer"));
	buf_free(&b);
}
END_TEST

/* Only len bytes are read: the rest of the string is not part of the URI. */
START_TEST(test_len_bounds)
{
	static const char s[] = "magnet:?xt=urn:btih:" HEX "&dn=abcdef";
	struct magnet m;

	ck_assert_int_eq(magnet_parse(s, sizeof(s) - 1 - 3, &m, NULL, 0), 0);
	ck_assert_str_eq(m.name, "abc");
	magnet_free(&m);
	ck_assert_int_eq(magnet_parse(s, 40, &m, NULL, 0), -1);
}
END_TEST

START_TEST(test_caps)
{
	struct magnet m;
	struct buf b;
	char err[128];

	buf_init(&b, 0);
	buf_puts(&b, "magnet:?xt=urn:btih:" HEX);
	for (int i = 0; i < MAGNET_MAX_TRACKERS + 10; i++)
		buf_printf(&b, "&tr=udp://t%d:1&x.pe=10.0.0.%d:1", i, i);
	ck_assert_int_eq(magnet_parse((char *)b.data, b.len, &m, err, sizeof(err)), 0);
	ck_assert_uint_eq(m.tracker_count, MAGNET_MAX_TRACKERS);
	ck_assert_uint_eq(m.peer_count, MAGNET_MAX_PEERS);
	ck_assert_str_eq(m.trackers[MAGNET_MAX_TRACKERS - 1], "udp://t63:1");
	magnet_free(&m);
	buf_free(&b);
}
END_TEST

START_TEST(test_build)
{
	static const char *const tr[] = { "udp://t.example:80/announce", "http://x/a?b=c d" };
	uint8_t ih[20];
	char *s;

	ck_assert_int_eq(sha_unhex(HEX, 40, ih, 20), 0);
	s = magnet_build(ih, NULL, NULL, 0);
	ck_assert_str_eq(s, "magnet:?xt=urn:btih:" HEX);
	free(s);
	s = magnet_build(ih, "a b+c/\xc3\xa9~", tr, 2);
	ck_assert_str_eq(s, "magnet:?xt=urn:btih:" HEX "&dn=a%20b%2Bc%2F%C3%A9~"
	    "&tr=udp%3A%2F%2Ft.example%3A80%2Fannounce&tr=http%3A%2F%2Fx%2Fa%3Fb%3Dc%20d");
	free(s);
}
END_TEST

/* parse(build(x)) == x for awkward names and trackers. */
START_TEST(test_roundtrip)
{
	static const char *const names[] = { "plain", "with space", "a+b&c=d%e#f?g",
	    "\xe6\x97\xa5\xe6\x9c\xac", "", "\x01\x7f\xff" };
	static const char *const tr[] = { "udp://a:1/announce?x=1&y=%20",
	    "http://[::1]:6969/announce", "wss://t/+" };
	struct magnet m;
	uint8_t ih[20];
	char err[128];

	for (int k = 0; k < 20; k++)
		ih[k] = (uint8_t)(k * 37 + 11);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *s = magnet_build(ih, names[i], tr, 3);

		ck_assert_msg(magnet_parse(s, strlen(s), &m, err, sizeof(err)) == 0, "%s", err);
		ck_assert_mem_eq(m.info_hash, ih, 20);
		ck_assert_str_eq(m.name, names[i]);
		ck_assert_uint_eq(m.tracker_count, 3);
		for (size_t t = 0; t < 3; t++)
			ck_assert_str_eq(m.trackers[t], tr[t]);
		magnet_free(&m);
		free(s);
	}
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("magnet");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_too_long);
	tcase_add_test(tc, test_len_bounds);
	tcase_add_test(tc, test_caps);
	tcase_add_test(tc, test_build);
	tcase_add_test(tc, test_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}
