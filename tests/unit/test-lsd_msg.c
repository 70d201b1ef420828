/* test-lsd_msg.c: unit tests for the BEP 14 announce codec (common/lsd_msg.c). */
#include "testmain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lsd_msg.h"

#define HEX1 "0123456789abcdef0123456789abcdef01234567"
#define HEX2 "FEDCBA9876543210FEDCBA9876543210FEDCBA98"
#define IH1 "\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67"
#define IH2 "\xfe\xdc\xba\x98\x76\x54\x32\x10\xfe\xdc\xba\x98\x76\x54\x32\x10\xfe\xdc\xba\x98"

/* A heap copy of exactly len bytes, so ASan catches any read past the end. */
static uint8_t *
exact_copy(const void *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(c);
	if (len)
		memcpy(c, p, len);
	return c;
}

static int
parse_str(const char *s, size_t len, struct lsd_msg *m, char *err, size_t errlen)
{
	uint8_t *c = exact_copy(s, len);
	int rc = lsd_msg_parse(c, len, m, err, errlen);

	free(c);
	return rc;
}

/* Announces that must parse: what real clients send, and the leniency we promise. */
static const struct good {
	const char *what;
	const char *text;
	uint16_t port;
	size_t n;
	const char *cookie;	/* NULL: none */
	const char *host;
} good[] = {
	{ "BEP 14 as written (libtorrent)",
	  "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n"
	  "Infohash: " HEX1 "\r\ncookie: 1a2b3c4d\r\n\r\n\r\n",
	  6881, 1, "1a2b3c4d", "239.192.152.143:6771" },
	{ "Transmission: no cookie, one blank line",
	  "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 51413\r\n"
	  "Infohash: " HEX2 "\r\n\r\n",
	  51413, 1, NULL, "239.192.152.143:6771" },
	{ "IPv6 host, two hashes",
	  "BT-SEARCH * HTTP/1.1\r\nHost: [ff15::efc0:988f]:6771\r\nPort: 1\r\n"
	  "Infohash: " HEX1 "\r\nInfohash: " HEX2 "\r\n\r\n\r\n",
	  1, 2, NULL, "[ff15::efc0:988f]:6771" },
	{ "LF only, odd case, no Host",
	  "BT-SEARCH * HTTP/1.1\nPORT: 65535\ninfohash: " HEX1 "\nCOOKIE: x\n\n",
	  65535, 1, "x", "" },
	{ "HTTP/1.0, spaces and tabs around values, unknown headers",
	  "BT-SEARCH  *  HTTP/1.0 \r\nPort:\t 6881 \r\nX-Client: some thing\r\n"
	  "InfoHash:   " HEX1 "\t\r\nUser-Agent: foo/1.0\r\n\r\n",
	  6881, 1, NULL, "" },
	{ "a repeated hash counts once",
	  "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: " HEX1 "\r\n"
	  "Infohash: " HEX1 "\r\nInfohash: " HEX2 "\r\n\r\n",
	  6881, 2, NULL, "" },
	{ "bytes after the blank lines are ignored",
	  "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: " HEX1 "\r\n\r\nsome body\r\n",
	  6881, 1, NULL, "" },
	{ "leading zeros in the port",
	  "BT-SEARCH * HTTP/1.1\r\nPort: 00080\r\nInfohash: " HEX1 "\r\n\r\n",
	  80, 1, NULL, "" },
	{ "empty value of an unknown header",
	  "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nX-Empty:\r\nInfohash: " HEX1 "\r\n\r\n",
	  6881, 1, NULL, "" },
};

START_TEST(test_parse_good)
{
	const struct good *g = &good[_i];
	struct lsd_msg m;
	char err[128] = "";

	ck_assert_msg(parse_str(g->text, strlen(g->text), &m, err, sizeof(err)) == 0,
	    "%s: %s", g->what, err);
	ck_assert_uint_eq(m.port, g->port);
	ck_assert_uint_eq(m.n, g->n);
	ck_assert_mem_eq(m.hashes[0], strstr(g->text, HEX1) ? IH1 : IH2, 20);
	if (g->n == 2)
		ck_assert_mem_eq(m.hashes[1], IH2, 20);
	ck_assert_int_eq(m.has_cookie, g->cookie != NULL);
	if (g->cookie)
		ck_assert_str_eq(m.cookie, g->cookie);
	ck_assert_str_eq(m.host, g->host);
}
END_TEST

/* Announces that must be refused, and a word the reason must contain. */
static const struct bad {
	const char *text;
	const char *why;
} bad[] = {
	{ "", "empty" },
	{ "M-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: " HEX1 "\r\n\r\n", "BT-SEARCH" },
	{ "bt-search * HTTP/1.1\r\nPort: 6881\r\nInfohash: " HEX1 "\r\n\r\n", "BT-SEARCH" },
	{ "BT-SEARCH / HTTP/1.1\r\nPort: 6881\r\nInfohash: " HEX1 "\r\n\r\n", "BT-SEARCH" },
	{ "BT-SEARCH * HTTP/2.0\r\nPort: 6881\r\nInfohash: " HEX1 "\r\n\r\n", "BT-SEARCH" },
	{ "BT-SEARCH *\r\nPort: 6881\r\nInfohash: " HEX1 "\r\n\r\n", "BT-SEARCH" },
	{ "BT-SEARCH*HTTP/1.1\r\nPort: 6881\r\nInfohash: " HEX1 "\r\n\r\n", "BT-SEARCH" },
	{ "BT-SEARCH * HTTP/1.1", "BT-SEARCH" },
	{ "BT-SEARCH * HTTP/1.1\r\n", "blank line" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: " HEX1 "\r\n", "blank line" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: " HEX1, "blank line" },
	{ "BT-SEARCH * HTTP/1.1\r\nInfohash: " HEX1 "\r\n\r\n", "no Port" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\n\r\n", "no Infohash" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 0\r\nInfohash: " HEX1 "\r\n\r\n", "Port" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 65536\r\nInfohash: " HEX1 "\r\n\r\n", "Port" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 100000\r\nInfohash: " HEX1 "\r\n\r\n", "Port" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: -1\r\nInfohash: " HEX1 "\r\n\r\n", "Port" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 68 81\r\nInfohash: " HEX1 "\r\n\r\n", "Port" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort:\r\nInfohash: " HEX1 "\r\n\r\n", "Port" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 0x10\r\nInfohash: " HEX1 "\r\n\r\n", "Port" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nPort: 2\r\nInfohash: " HEX1 "\r\n\r\n",
	  "more than one Port" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: " HEX1 "0\r\n\r\n", "40 hex" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: 0123\r\n\r\n", "40 hex" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: "
	  "0123456789abcdef0123456789abcdef0123456g\r\n\r\n", "40 hex" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash:\r\n\r\n", "40 hex" },
	/* 32 base32 digits are a magnet's form, not BEP 14's. */
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: "
	  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n\r\n", "40 hex" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash " HEX1 "\r\n\r\n", "malformed" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\n: x\r\nInfohash: " HEX1 "\r\n\r\n",
	  "malformed" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\n folded: x\r\nInfohash: " HEX1 "\r\n\r\n",
	  "malformed" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\rInfohash: " HEX1 "\r\n\r\n", "CR" },
	{ "BT-SEARCH * HTTP/1.1\rPort: 6881\r\nInfohash: " HEX1 "\r\n\r\n", "CR" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: " HEX1 "\r\n\r\r", "CR" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nX: \x01\r\nInfohash: " HEX1 "\r\n\r\n",
	  "printable" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nX: \xc3\xa9\r\nInfohash: " HEX1 "\r\n\r\n",
	  "printable" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nX: \x7f\r\nInfohash: " HEX1 "\r\n\r\n",
	  "printable" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: " HEX1 "\r\n\r\nbody\x80", "printable" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\ncookie: a\r\ncookie: b\r\nInfohash: " HEX1
	  "\r\n\r\n", "more than one cookie" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\ncookie:\r\nInfohash: " HEX1 "\r\n\r\n",
	  "cookie" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\ncookie: a b\r\nInfohash: " HEX1 "\r\n\r\n",
	  "cookie" },
	{ "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\ncookie: "
	  "0123456789012345678901234567890123456789012345678901234567890123456789"
	  "\r\nInfohash: " HEX1 "\r\n\r\n", "cookie" },
	{ "BT-SEARCH * HTTP/1.1\r\nHost: a\r\nHost: b\r\nPort: 6881\r\nInfohash: " HEX1
	  "\r\n\r\n", "more than one Host" },
	{ "BT-SEARCH * HTTP/1.1\r\nHost: a b\r\nPort: 6881\r\nInfohash: " HEX1 "\r\n\r\n",
	  "Host" },
};

START_TEST(test_parse_bad)
{
	const struct bad *b = &bad[_i];
	struct lsd_msg m;
	char err[128] = "";

	memset(&m, 0xa5, sizeof(m));
	ck_assert_msg(parse_str(b->text, strlen(b->text), &m, err, sizeof(err)) == -1,
	    "bad[%d] parsed: %s", _i, b->text);
	ck_assert_msg(strstr(err, b->why) != NULL, "bad[%d]: reason '%s' lacks '%s'", _i,
	    err, b->why);
	/* Nothing usable is left behind. */
	ck_assert_uint_eq(m.n, 0);
	ck_assert_uint_eq(m.port, 0);
}
END_TEST

/* Appends "Infohash: <hex of i>\r\n" for i in [from, to). */
static void
put_hashes(struct buf *b, int from, int to)
{
	for (int i = from; i < to; i++)
		ck_assert_int_eq(buf_printf(b, "Infohash: %040x\r\n", i), 0);
}

START_TEST(test_parse_limits)
{
	struct lsd_msg m;
	char err[128];
	struct buf b;

	/* Exactly LSD_MSG_MAX_HASHES distinct hashes parse; one more is refused. */
	buf_init(&b, 0);
	ck_assert_int_eq(buf_puts(&b, "BT-SEARCH * HTTP/1.1\nPort:1\n"), 0);
	put_hashes(&b, 1, LSD_MSG_MAX_HASHES + 1);
	ck_assert_int_eq(buf_puts(&b, "\n"), 0);
	ck_assert_msg(b.len <= LSD_MSG_MAX_LEN, "%zu", b.len);
	ck_assert_msg(parse_str((char *)b.data, b.len, &m, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(m.n, LSD_MSG_MAX_HASHES);
	ck_assert_uint_eq(m.hashes[LSD_MSG_MAX_HASHES - 1][19], LSD_MSG_MAX_HASHES);

	buf_reset(&b);
	ck_assert_int_eq(buf_puts(&b, "BT-SEARCH * HTTP/1.1\nPort:1\n"), 0);
	put_hashes(&b, 1, LSD_MSG_MAX_HASHES + 2);
	ck_assert_int_eq(buf_puts(&b, "\n"), 0);
	ck_assert_msg(b.len <= LSD_MSG_MAX_LEN, "%zu", b.len);
	ck_assert_int_eq(parse_str((char *)b.data, b.len, &m, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "more than"));
	ck_assert_uint_eq(m.n, 0);

	/* Size: one byte over the limit is refused before anything is looked at. */
	buf_reset(&b);
	ck_assert_int_eq(buf_puts(&b, "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\n"
	    "Infohash: " HEX1 "\r\nX-Pad: "), 0);
	while (b.len < LSD_MSG_MAX_LEN - 4)
		ck_assert_int_eq(buf_putc(&b, 'x'), 0);
	ck_assert_int_eq(buf_puts(&b, "\r\n\r\n"), 0);
	ck_assert_uint_eq(b.len, LSD_MSG_MAX_LEN);
	ck_assert_msg(parse_str((char *)b.data, b.len, &m, err, sizeof(err)) == 0, "%s", err);
	b.len -= 4;
	ck_assert_int_eq(buf_puts(&b, "y\r\n\r\n"), 0);
	ck_assert_int_eq(parse_str((char *)b.data, b.len, &m, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "limit"));

	/* A NUL inside is not printable, even where a C string would stop. */
	{
		static const char nul[] = "BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: "
		    HEX1 "\r\n\0\r\n";
		ck_assert_int_eq(parse_str(nul, sizeof(nul) - 1, &m, err, sizeof(err)), -1);
		ck_assert_ptr_nonnull(strstr(err, "printable"));
	}
	buf_free(&b);
}
END_TEST

/* Every prefix of a good announce is refused (none ends in a blank line), none read past. */
START_TEST(test_parse_truncated)
{
	const char *s = good[0].text;
	size_t full = strlen(s), end = full - 4;	/* before the final "\r\n\r\n" */
	struct lsd_msg m;
	char err[128];

	for (size_t n = 0; n < end + 2; n++)
		ck_assert_msg(parse_str(s, n, &m, err, sizeof(err)) == -1, "prefix %zu parsed", n);
	ck_assert_int_eq(parse_str(s, end + 2, &m, err, sizeof(err)), 0);
	ck_assert_int_eq(parse_str(s, full, &m, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_build_roundtrip)
{
	uint8_t hashes[LSD_MSG_MAX_HASHES][20];
	const char *hosts[] = { LSD_MSG_HOST4, LSD_MSG_HOST6 };
	const char *cookies[] = { NULL, "0123456789abcdef" };
	struct lsd_msg m;
	char err[128];
	struct buf b;

	for (size_t i = 0; i < LSD_MSG_MAX_HASHES; i++)
		for (size_t j = 0; j < 20; j++)
			hashes[i][j] = (uint8_t)(i * 20 + j);
	buf_init(&b, 0);
	for (size_t h = 0; h < 2; h++) {
		for (size_t c = 0; c < 2; c++) {
			size_t max = lsd_msg_max_hashes(hosts[h], cookies[c]);

			ck_assert_uint_ge(max, 20);
			for (size_t n = 1; n <= max; n++) {
				buf_reset(&b);
				ck_assert_int_eq(lsd_msg_build(&b, hosts[h], 65535,
				    (const uint8_t (*)[20])hashes, n, cookies[c]), 0);
				ck_assert_uint_le(b.len, LSD_MSG_MAX_LEN);
				ck_assert_msg(lsd_msg_parse(b.data, b.len, &m, err,
				    sizeof(err)) == 0, "%s", err);
				ck_assert_uint_eq(m.port, 65535);
				ck_assert_uint_eq(m.n, n);
				ck_assert_mem_eq(m.hashes, hashes, n * 20);
				ck_assert_str_eq(m.host, hosts[h]);
				ck_assert_int_eq(m.has_cookie, cookies[c] != NULL);
				if (cookies[c])
					ck_assert_str_eq(m.cookie, cookies[c]);
			}
			/* One more than fits is refused and leaves the buffer alone. */
			buf_reset(&b);
			ck_assert_int_eq(lsd_msg_build(&b, hosts[h], 1,
			    (const uint8_t (*)[20])hashes, max + 1, cookies[c]), -1);
			ck_assert_uint_eq(b.len, 0);
		}
	}
	buf_free(&b);
}
END_TEST

START_TEST(test_build_exact_bytes)
{
	struct buf b;

	buf_init(&b, 0);
	ck_assert_int_eq(lsd_msg_build(&b, LSD_MSG_HOST4, 6881,
	    (const uint8_t (*)[20])IH2, 1, "c00c1e"), 0);
	ck_assert_int_eq(buf_putc(&b, 0), 0);
	ck_assert_str_eq((char *)b.data, "BT-SEARCH * HTTP/1.1\r\n"
	    "Host: 239.192.152.143:6771\r\nPort: 6881\r\n"
	    "Infohash: fedcba9876543210fedcba9876543210fedcba98\r\n"
	    "cookie: c00c1e\r\n\r\n\r\n");
	buf_free(&b);
}
END_TEST

START_TEST(test_build_bad)
{
	char longtok[LSD_MSG_MAX_HOST + 2];
	struct buf b;

	memset(longtok, 'h', sizeof(longtok) - 1);
	longtok[sizeof(longtok) - 1] = '\0';
	buf_init(&b, 0);
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);
	ck_assert_int_eq(lsd_msg_build(&b, NULL, 1, (const uint8_t (*)[20])IH1, 1, NULL), -1);
	ck_assert_int_eq(lsd_msg_build(&b, "h", 0, (const uint8_t (*)[20])IH1, 1, NULL), -1);
	ck_assert_int_eq(lsd_msg_build(&b, "h", 1, NULL, 1, NULL), -1);
	ck_assert_int_eq(lsd_msg_build(&b, "h", 1, (const uint8_t (*)[20])IH1, 0, NULL), -1);
	ck_assert_int_eq(lsd_msg_build(&b, "h h", 1, (const uint8_t (*)[20])IH1, 1, NULL), -1);
	ck_assert_int_eq(lsd_msg_build(&b, "", 1, (const uint8_t (*)[20])IH1, 1, NULL), -1);
	ck_assert_int_eq(lsd_msg_build(&b, "h\r\nX: y", 1, (const uint8_t (*)[20])IH1, 1,
	    NULL), -1);
	ck_assert_int_eq(lsd_msg_build(&b, "h", 1, (const uint8_t (*)[20])IH1, 1, "a\nb"), -1);
	ck_assert_int_eq(lsd_msg_build(&b, longtok, 1, (const uint8_t (*)[20])IH1, 1, NULL),
	    -1);
	ck_assert_uint_eq(lsd_msg_max_hashes(longtok, NULL), 0);
	longtok[LSD_MSG_MAX_COOKIE + 1] = '\0';
	ck_assert_int_eq(lsd_msg_build(&b, "h", 1, (const uint8_t (*)[20])IH1, 1, longtok),
	    -1);
	ck_assert_uint_eq(b.len, 4);
	buf_free(&b);
	/* A buffer that cannot hold it is left as it was. */
	buf_init(&b, 60);
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);
	ck_assert_int_eq(lsd_msg_build(&b, LSD_MSG_HOST4, 6881, (const uint8_t (*)[20])IH1,
	    1, NULL), -1);
	ck_assert_uint_eq(b.len, 4);
	buf_free(&b);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("lsd_msg");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_parse_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_parse_limits);
	tcase_add_test(tc, test_parse_truncated);
	tcase_add_test(tc, test_build_roundtrip);
	tcase_add_test(tc, test_build_exact_bytes);
	tcase_add_test(tc, test_build_bad);
	suite_add_tcase(s, tc);
	return s;
}
