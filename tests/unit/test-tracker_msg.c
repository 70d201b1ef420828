/* test-tracker_msg.c: unit tests for the tracker message codecs, HTTP and UDP (common/tracker_msg.c). */
#include "testmain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "netaddr.h"
#include "tracker_msg.h"

#define S(x) (const uint8_t *)(x), sizeof(x) - 1
#define IH "\x12\x34\x56\x78\x9a\xbc\xde\xf0\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb"
#define IH_ENC "%124Vx%9A%BC%DE%F0%00%11%223DUfw%88%99%AA%BB"
#define PID "-PD0100-abcdefghijkl"

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

static struct tracker_msg_reply *
new_reply(void)
{
	struct tracker_msg_reply *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	return r;
}

static void
add_peer(struct tracker_msg_reply *r, const char *s)
{
	char err[128];

	ck_assert_msg(netaddr_parse(s, &r->peers[r->npeers], err, sizeof(err)) == 0,
	    "%s: %s", s, err);
	r->npeers++;
}

static const char *
peer_str(const struct tracker_msg_reply *r, size_t i, char *out, size_t n)
{
	return netaddr_format(&r->peers[i], out, n);
}

static void
sample_announce(struct tracker_msg_announce *a)
{
	memset(a, 0, sizeof(*a));
	memcpy(a->info_hash, IH, 20);
	memcpy(a->peer_id, PID, 20);
	a->port = 6881;
	a->uploaded = 1;
	a->downloaded = 22;
	a->left = 333;
	a->numwant = -1;
	a->compact = 1;
}

/* Percent-encoding. */

START_TEST(test_pct_all_bytes)
{
	uint8_t all[256], back[256];
	struct buf b;
	size_t n;

	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	buf_init(&b, 0);
	ck_assert_int_eq(tracker_msg_pct_encode(&b, all, sizeof(all)), 0);
	/* Only unreserved characters and escapes come out. */
	for (size_t i = 0; i < b.len; i++)
		ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-._~%", b.data[i]) != NULL && b.data[i] != '\0');
	/* 66 unreserved bytes stay, 190 become 3 bytes each. */
	ck_assert_uint_eq(b.len, 66 + 190 * 3);
	ck_assert_int_eq(tracker_msg_pct_decode((char *)b.data, b.len, back, sizeof(back),
	    &n), 0);
	ck_assert_uint_eq(n, 256);
	ck_assert_mem_eq(back, all, 256);
	buf_free(&b);

	/* Each byte alone, and each as an escape in either case. */
	for (int i = 0; i < 256; i++) {
		uint8_t c = (uint8_t)i, out[4];
		char lower[4];

		buf_init(&b, 0);
		ck_assert_int_eq(tracker_msg_pct_encode(&b, &c, 1), 0);
		ck_assert_int_eq(tracker_msg_pct_decode((char *)b.data, b.len, out, 1, &n), 0);
		ck_assert_uint_eq(n, 1);
		ck_assert_uint_eq(out[0], c);
		buf_free(&b);
		snprintf(lower, sizeof(lower), "%%%02x", i);
		ck_assert_int_eq(tracker_msg_pct_decode(lower, 3, out, 1, &n), 0);
		ck_assert_uint_eq(out[0], c);
	}
}
END_TEST

START_TEST(test_pct_decode_bad)
{
	static const char *const bad[] = { "%", "%4", "a%4", "%zz", "%G0", "%0g", "%%41" };
	uint8_t out[8];
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(tracker_msg_pct_decode(bad[i], strlen(bad[i]), out,
		    sizeof(out), &n) == -1, "%s", bad[i]);
	/* Overflow of the output. */
	ck_assert_int_eq(tracker_msg_pct_decode("abc", 3, out, 2, &n), -1);
	ck_assert_int_eq(tracker_msg_pct_decode("ab", 2, out, 2, &n), 0);
	/* '+' is a space (form encoding). */
	ck_assert_int_eq(tracker_msg_pct_decode("a+b%2B", 6, out, sizeof(out), &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(out, "a b+", 4);
}
END_TEST

/* HTTP announce URL. */

START_TEST(test_announce_url)
{
	struct tracker_msg_announce a;
	char err[128];
	struct buf b;

	sample_announce(&a);
	buf_init(&b, 0);
	ck_assert_int_eq(tracker_msg_http_announce_url(&b, "http://t.example:80/announce",
	    &a, err, sizeof(err)), 0);
	ck_assert_int_eq(buf_putc(&b, 0), 0);
	ck_assert_str_eq((char *)b.data, "http://t.example:80/announce?info_hash=" IH_ENC
	    "&peer_id=-PD0100-abcdefghijkl&port=6881&uploaded=1&downloaded=22&left=333"
	    "&compact=1");
	buf_reset(&b);

	a.event = TRACKER_MSG_EVENT_STARTED;
	a.numwant = 50;
	a.key = 0xdeadbeef;
	a.has_key = 1;
	a.uploaded = UINT64_MAX;
	ck_assert_int_eq(tracker_msg_http_announce_url(&b, "https://t/a?passkey=x%20y",
	    &a, err, sizeof(err)), 0);
	ck_assert_int_eq(buf_putc(&b, 0), 0);
	ck_assert_str_eq((char *)b.data, "https://t/a?passkey=x%20y&info_hash=" IH_ENC
	    "&peer_id=-PD0100-abcdefghijkl&port=6881&uploaded=18446744073709551615"
	    "&downloaded=22&left=333&compact=1&event=started&numwant=50&key=deadbeef");
	buf_reset(&b);

	/* A URL already ending in '?' or '&' gets no second separator. */
	a.event = TRACKER_MSG_EVENT_STOPPED;
	ck_assert_int_eq(tracker_msg_http_announce_url(&b, "http://t/a?", &a, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(buf_putc(&b, 0), 0);
	ck_assert(strncmp((char *)b.data, "http://t/a?info_hash=", 21) == 0);
	ck_assert_ptr_nonnull(strstr((char *)b.data, "&event=stopped"));
	buf_free(&b);
}
END_TEST

START_TEST(test_announce_url_bad)
{
	static const char *const bad[] = {
		"", "http://t/a#frag", "http://t/a b", "http://t/\x01", "http://t/\x7f",
		"http://t/\xc3\xa9",
	};
	struct tracker_msg_announce a;
	char err[128], *longurl;
	struct buf b;

	sample_announce(&a);
	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(tracker_msg_http_announce_url(&b, bad[i], &a, err,
		    sizeof(err)) == -1, "bad[%zu]", i);
		ck_assert(err[0] != '\0');
		ck_assert_uint_eq(b.len, 0);
	}
	longurl = malloc(TRACKER_MSG_MAX_URL + 2);
	ck_assert_ptr_nonnull(longurl);
	memset(longurl, 'a', TRACKER_MSG_MAX_URL + 1);
	longurl[TRACKER_MSG_MAX_URL + 1] = '\0';
	ck_assert_int_eq(tracker_msg_http_announce_url(&b, longurl, &a, err, sizeof(err)),
	    -1);
	free(longurl);
	a.event = (enum tracker_msg_event)4;
	ck_assert_int_eq(tracker_msg_http_announce_url(&b, "http://t/a", &a, err,
	    sizeof(err)), -1);
	buf_free(&b);
	/* A buffer that cannot hold it. */
	sample_announce(&a);
	buf_init(&b, 40);
	ck_assert_int_eq(tracker_msg_http_announce_url(&b, "http://t/announce", &a, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "fit"));
	buf_free(&b);
}
END_TEST

/* Builds the URL, then parses its query the way the built-in tracker would. */
static void
announce_roundtrip(const struct tracker_msg_announce *a, const char *url)
{
	struct tracker_msg_announce back;
	char err[128], *q;
	struct buf b;

	buf_init(&b, 0);
	ck_assert_int_eq(tracker_msg_http_announce_url(&b, url, a, err, sizeof(err)), 0);
	ck_assert_int_eq(buf_putc(&b, 0), 0);
	q = strchr((char *)b.data, '?');
	ck_assert_ptr_nonnull(q);
	ck_assert_msg(tracker_msg_http_announce_parse(q, strlen(q), &back, err,
	    sizeof(err)) == 0, "%s: %s", q, err);
	ck_assert_mem_eq(back.info_hash, a->info_hash, 20);
	ck_assert_mem_eq(back.peer_id, a->peer_id, 20);
	ck_assert_uint_eq(back.port, a->port);
	ck_assert(back.uploaded == a->uploaded && back.downloaded == a->downloaded &&
	    back.left == a->left);
	ck_assert_int_eq(back.event, a->event);
	ck_assert_int_eq(back.numwant, a->numwant < 0 ? -1 : a->numwant);
	ck_assert_int_eq(back.has_key, a->has_key);
	if (a->has_key)
		ck_assert_uint_eq(back.key, a->key);
	ck_assert_int_eq(back.compact, 1);
	buf_free(&b);
}

START_TEST(test_announce_roundtrip)
{
	struct tracker_msg_announce a;

	sample_announce(&a);
	for (int ev = 0; ev <= 3; ev++) {
		a.event = (enum tracker_msg_event)ev;
		announce_roundtrip(&a, "http://t/announce");
		announce_roundtrip(&a, "http://t/announce.php?passkey=abc&info=1");
	}
	a.numwant = 0;
	a.has_key = 1;
	a.key = 0;
	announce_roundtrip(&a, "http://t/announce");
	a.numwant = INT32_MAX;
	a.key = 0xffffffff;
	a.port = 65535;
	a.uploaded = a.downloaded = a.left = UINT64_MAX;
	announce_roundtrip(&a, "http://t/announce");
	/* Every byte value through info_hash and peer_id: 13 announces of 20 bytes. */
	for (int base = 0; base < 256; base += 20) {
		for (int i = 0; i < 20; i++) {
			a.info_hash[i] = (uint8_t)(base + i);
			a.peer_id[i] = (uint8_t)(255 - base - i);
		}
		announce_roundtrip(&a, "udp-lookalike://t:1/announce");
	}
}
END_TEST

static const struct {
	const char *q;
	uint16_t port;
	uint64_t left;
	int event;
	int32_t numwant;
	int compact;
	int has_key;
	uint32_t key;
} good_query[] = {
	{ "info_hash=" IH_ENC "&peer_id=" PID "&port=6881", 6881, 0, 0, -1, 1, 0, 0 },
	{ "?info_hash=" IH_ENC "&peer_id=" PID "&port=1&left=5&event=completed", 1, 5, 1,
	    -1, 1, 0, 0 },
	{ "peer_id=" PID "&port=0&info_hash=" IH_ENC "&event=started&compact=0", 0, 0, 2,
	    -1, 0, 0, 0 },
	{ "info_hash=" IH_ENC "&peer_id=" PID "&port=65535&event=stopped&numwant=0", 65535,
	    0, 3, 0, 1, 0, 0 },
	{ "info_hash=" IH_ENC "&peer_id=" PID "&port=1&event=empty&key=1a2B", 1, 0, 0, -1,
	    1, 1, 0x1a2b },
	{ "info_hash=" IH_ENC "&peer_id=" PID "&port=1&event=&key=", 1, 0, 0, -1, 1, 1, 0 },
	{ "info_hash=" IH_ENC "&peer_id=" PID "&port=1&event=paused", 1, 0, 0, -1, 1, 0, 0 },
	/* A key that is not hex is folded, still a key. */
	{ "info_hash=" IH_ENC "&peer_id=" PID "&port=1&key=z", 1, 0, 0, -1, 1, 1, 'z' },
	/* ip is ignored (BEP 7), unknown keys and empty parts too, ip may repeat. */
	{ "&&info_hash=" IH_ENC "&ip=1.2.3.4&ip=evil.example&peer_id=" PID
	    "&supportcrypto=1&no_peer_id=1&port=7&novalue&&", 7, 0, 0, -1, 1, 0, 0 },
	{ "info_hash=" IH_ENC "&peer_id=" PID "&port=1&left=18446744073709551615", 1,
	    UINT64_MAX, 0, -1, 1, 0, 0 },
	{ "info_hash=" IH_ENC "&peer_id=" PID "&port=00080&numwant=2147483647", 80, 0, 0,
	    INT32_MAX, 1, 0, 0 },
	/* '+' is a space in a form-encoded value. */
	{ "info_hash=" IH_ENC "&peer_id=-PD0100-abcdefghij+l&port=1", 1, 0, 0, -1, 1, 0, 0 },
};

START_TEST(test_announce_parse_good)
{
	struct tracker_msg_announce a;
	const char *q = good_query[_i].q;
	char err[128];
	uint8_t *c = exact_copy(q, strlen(q));

	ck_assert_msg(tracker_msg_http_announce_parse((char *)c, strlen(q), &a, err,
	    sizeof(err)) == 0, "good_query[%d]: %s", _i, err);
	free(c);
	ck_assert_mem_eq(a.info_hash, IH, 20);
	ck_assert_uint_eq(a.port, good_query[_i].port);
	ck_assert(a.left == good_query[_i].left);
	ck_assert_int_eq(a.event, good_query[_i].event);
	ck_assert_int_eq(a.numwant, good_query[_i].numwant);
	ck_assert_int_eq(a.compact, good_query[_i].compact);
	ck_assert_int_eq(a.has_key, good_query[_i].has_key);
	ck_assert_uint_eq(a.key, good_query[_i].key);
	if (_i == 11)
		ck_assert_mem_eq(a.peer_id, "-PD0100-abcdefghij l", 20);
	else
		ck_assert_mem_eq(a.peer_id, PID, 20);
}
END_TEST

#define GOODQ "info_hash=" IH_ENC "&peer_id=" PID "&port=6881"

static const struct {
	const char *q;
	const char *why;
} bad_query[] = {
	{ "", "no info_hash" },
	{ "peer_id=" PID "&port=1", "no info_hash" },
	{ "info_hash=" IH_ENC "&port=1", "no peer_id" },
	{ "info_hash=" IH_ENC "&peer_id=" PID, "no port" },
	{ GOODQ "&info_hash=" IH_ENC, "info_hash given twice" },
	{ "info_hash=" IH_ENC "&" GOODQ, "info_hash given twice" },
	{ GOODQ "&port=1", "port given twice" },
	{ GOODQ "&left=1&left=2", "left given twice" },
	{ "info_hash=%12%34&peer_id=" PID "&port=1", "bad info_hash" },
	{ "info_hash=" IH_ENC "00&peer_id=" PID "&port=1", "bad info_hash" },
	{ "info_hash=" IH_ENC "%0&peer_id=" PID "&port=1", "bad info_hash" },
	{ "info_hash=&peer_id=" PID "&port=1", "bad info_hash" },
	{ "info_hash=" IH_ENC "&peer_id=short&port=1", "bad peer_id" },
	{ "info_hash=" IH_ENC "&peer_id=" PID "&port=65536", "bad port" },
	{ "info_hash=" IH_ENC "&peer_id=" PID "&port=-1", "bad port" },
	{ "info_hash=" IH_ENC "&peer_id=" PID "&port=", "bad port" },
	{ "info_hash=" IH_ENC "&peer_id=" PID "&port=0x10", "bad port" },
	{ GOODQ "&left=-5", "bad left" },
	{ GOODQ "&left=18446744073709551616", "bad left" },
	{ GOODQ "&uploaded=1e9", "bad uploaded" },
	{ GOODQ "&downloaded=+1", "bad downloaded" },
	{ GOODQ "&event=start", "bad event" },
	{ GOODQ "&event=STARTED", "bad event" },
	{ GOODQ "&numwant=-1", "bad numwant" },
	{ GOODQ "&numwant=2147483648", "bad numwant" },
	{ GOODQ "&compact=2", "bad compact" },
	{ GOODQ "&compact=", "bad compact" },
	{ GOODQ "&key=%zz", "bad key" },
	/* A value longer than any we take. */
	{ GOODQ "&key=0123456789012345678901234567890123456789012345678901234567890123456789",
	    "bad key" },
};

START_TEST(test_announce_parse_bad)
{
	struct tracker_msg_announce a;
	const char *q = bad_query[_i].q;
	char err[128];
	uint8_t *c = exact_copy(q, strlen(q));

	err[0] = '\0';
	ck_assert_msg(tracker_msg_http_announce_parse((char *)c, strlen(q), &a, err,
	    sizeof(err)) == -1, "bad_query[%d] accepted", _i);
	ck_assert_msg(strstr(err, bad_query[_i].why) != NULL, "bad_query[%d]: '%s'", _i,
	    err);
	ck_assert_int_eq(tracker_msg_http_announce_parse((char *)c, strlen(q), &a, NULL, 0),
	    -1);
	free(c);
}
END_TEST

START_TEST(test_announce_parse_huge)
{
	struct tracker_msg_announce a;
	size_t n = TRACKER_MSG_MAX_QUERY + 1;
	char err[128], *q = malloc(n);

	ck_assert_ptr_nonnull(q);
	memset(q, '&', n);
	memcpy(q, GOODQ, strlen(GOODQ));
	ck_assert_int_eq(tracker_msg_http_announce_parse(q, n, &a, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "limit"));
	/* At the limit it parses: empty parts are not parameters. */
	ck_assert_int_eq(tracker_msg_http_announce_parse(q, n - 1, &a, err, sizeof(err)), 0);
	/* Too many parameters, even short ones. */
	memset(q, 0, n);
	for (int i = 0; i <= TRACKER_MSG_MAX_PARAMS; i++)
		strcat(q, "a&");
	ck_assert_int_eq(tracker_msg_http_announce_parse(q, strlen(q), &a, err, sizeof(err)),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "parameters"));
	memset(q, '&', n);
	memcpy(q, GOODQ, strlen(GOODQ));
	/* A NUL inside is just a byte of a value. */
	q[strlen(GOODQ) - 1] = '\0';
	ck_assert_int_eq(tracker_msg_http_announce_parse(q, n - 1, &a, err, sizeof(err)), -1);
	free(q);
}
END_TEST

/* HTTP announce responses. */

static const struct {
	const uint8_t *p;
	size_t len;
	size_t npeers;
	const char *peer0;
	const char *peerlast;
	int64_t interval, min_interval, complete, incomplete;
	size_t skipped;
	const char *warning;
} good_reply[] = {
	{ S("d8:intervali1800e5:peers0:e"), 0, NULL, NULL, 1800, -1, -1, -1, 0, "" },
	{ S("d8:intervali0ee"), 0, NULL, NULL, 0, -1, -1, -1, 0, "" },
	{ S("d8:completei5e10:incompletei7e8:intervali900e12:min intervali60e"
	    "5:peers12:\x01\x02\x03\x04\x1a\xe1\x0a\0\0\x01\0\x50" "e"), 2,
	    "1.2.3.4:6881", "10.0.0.1:80", 900, 60, 5, 7, 0, "" },
	/* BEP 7 example. */
	{ S("d8:intervali1800e5:peers6:iiiipp6:peers618:iiiiiiiiiiiiiiiippe"), 2,
	    "105.105.105.105:28784", "[6969:6969:6969:6969:6969:6969:6969:6969]:28784",
	    1800, -1, -1, -1, 0, "" },
	/* Only peers6. */
	{ S("d8:intervali1e6:peers618:\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\0\x01" "e"), 1,
	    "[::1]:1", "[::1]:1", 1, -1, -1, -1, 0, "" },
	/* BEP 3 dict peers; host names and bad ports are skipped. */
	{ S("d8:intervali30e5:peersld2:ip7:1.2.3.47:peer id20:" PID "4:porti6881eed2:ip"
	    "3:::14:porti1eed2:ip15:tracker.example4:porti1eed2:ip7:1.2.3.44:porti70000ee"
	    "d2:ip0:4:porti1eed2:ip9:1.2.3.4\0x4:porti1eeee"), 2, "1.2.3.4:6881", "[::1]:1",
	    30, -1, -1, -1, 4, "" },
	{ S("d8:intervali30e5:peerslee"), 0, NULL, NULL, 30, -1, -1, -1, 0, "" },
	/* Warnings are kept, sanitised. */
	{ S("d8:intervali30e5:peers0:15:warning message6:hi\x01\xffyoe"), 0, NULL, NULL, 30,
	    -1, -1, -1, 0, "hi??yo" },
	/* Huge intervals are clamped; unknown keys ignored. */
	{ S("d8:intervali9223372036854775807e12:min intervali99999999e5:peers0:"
	    "10:tracker id3:abc7:unknownli1eee"), 0, NULL, NULL, TRACKER_MSG_MAX_INTERVAL,
	    TRACKER_MSG_MAX_INTERVAL, -1, -1, 0, "" },
	{ S("d8:completei0e10:incompletei99999999999e8:intervali1ee"), 0, NULL, NULL, 1, -1,
	    0, INT32_MAX, 0, "" },
	/* A warning that is not a string is ignored. */
	{ S("d8:intervali1e15:warning messagei5ee"), 0, NULL, NULL, 1, -1, -1, -1, 0, "" },
};

START_TEST(test_reply_good)
{
	struct tracker_msg_reply *r = new_reply();
	char err[128], s[NETADDR_STRLEN];
	uint8_t *c = exact_copy(good_reply[_i].p, good_reply[_i].len);

	ck_assert_msg(tracker_msg_http_reply_parse(c, good_reply[_i].len, r, err,
	    sizeof(err)) == 0, "good_reply[%d]: %s", _i, err);
	free(c);
	ck_assert_int_eq(r->failed, 0);
	ck_assert_uint_eq(r->npeers, good_reply[_i].npeers);
	ck_assert_uint_eq(r->dropped, 0);
	ck_assert_uint_eq(r->skipped, good_reply[_i].skipped);
	if (r->npeers > 0) {
		ck_assert_str_eq(peer_str(r, 0, s, sizeof(s)), good_reply[_i].peer0);
		ck_assert_str_eq(peer_str(r, r->npeers - 1, s, sizeof(s)),
		    good_reply[_i].peerlast);
	}
	ck_assert_int_eq(r->interval, good_reply[_i].interval);
	ck_assert_int_eq(r->min_interval, good_reply[_i].min_interval);
	ck_assert_int_eq(r->complete, good_reply[_i].complete);
	ck_assert_int_eq(r->incomplete, good_reply[_i].incomplete);
	ck_assert_str_eq(r->warning, good_reply[_i].warning);
	free(r);
}
END_TEST

static const struct {
	const uint8_t *p;
	size_t len;
	const char *why;
} bad_reply[] = {
	{ S(""), "response" },
	{ S("i5e"), "not a dict" },
	{ S("le"), "not a dict" },
	{ S("5:hello"), "not a dict" },
	{ S("<html>502 Bad Gateway</html>"), "response" },
	{ S("d8:intervali1e5:peers0:ee"), "response" },		/* trailing bytes */
	{ S("d5:peers0:8:intervali1ee"), "response" },		/* unsorted keys */
	{ S("d8:intervali1e"), "response" },			/* truncated */
	{ S("d8:intervali1e5:peers99999999999:e"), "response" },	/* huge length */
	{ S("d8:intervali-1e5:peers0:e"), "interval\" is negative" },
	{ S("d8:intervali1e12:min intervali-60ee"), "negative" },
	{ S("d8:completei-1e8:intervali1ee"), "negative" },
	{ S("d10:incompletei-1e8:intervali1ee"), "negative" },
	{ S("d5:peers0:e"), "no interval" },
	{ S("de"), "no interval" },
	{ S("d8:interval4:1800e"), "not an integer" },
	{ S("d8:intervali1e5:peers5:abcdee"), "multiple of 6" },
	{ S("d8:intervali1e5:peers7:abcdefge"), "multiple of 6" },
	{ S("d8:intervali1e5:peers1:ae"), "multiple of 6" },
	{ S("d8:intervali1e6:peers617:aaaaaaaaaaaaaaaaae"), "multiple of 18" },
	{ S("d8:intervali1e6:peers66:aaaaaae"), "multiple of 18" },
	{ S("d8:intervali1e6:peers6lee"), "peers6 is not a string" },
	{ S("d8:intervali1e5:peersi5ee"), "neither" },
	{ S("d8:intervali1e5:peersdee"), "neither" },
	{ S("d8:intervali1e5:peersli1eee"), "not a dict" },
	{ S("d8:intervali1e5:peersld4:porti1eeee"), "lacks" },
	{ S("d8:intervali1e5:peersld2:ip7:1.2.3.4eee"), "lacks" },
	{ S("d8:intervali1e5:peersld2:ipi1e4:porti1eeee"), "lacks" },
	{ S("d8:intervali1e5:peersld2:ip7:1.2.3.44:port2:80eee"), "lacks" },
	{ S("d14:failure reason12:unregisterede"), "failure reason: unregistered" },
	{ S("d14:failure reason0:e"), "failure reason" },
	{ S("d14:failure reasoni1ee"), "not a string" },
	{ S("d14:failure reason3:a\nb8:intervali1ee"), "failure reason: a?b" },
};

START_TEST(test_reply_bad)
{
	struct tracker_msg_reply *r = new_reply();
	char err[128];
	uint8_t *c = exact_copy(bad_reply[_i].p, bad_reply[_i].len);

	err[0] = '\0';
	ck_assert_msg(tracker_msg_http_reply_parse(c, bad_reply[_i].len, r, err,
	    sizeof(err)) == -1, "bad_reply[%d] accepted", _i);
	ck_assert_msg(strstr(err, bad_reply[_i].why) != NULL, "bad_reply[%d]: '%s'", _i,
	    err);
	ck_assert_uint_eq(r->npeers, 0);
	ck_assert_int_eq(r->failed, strstr(err, "failure reason") != NULL);
	ck_assert_int_eq(tracker_msg_http_reply_parse(c, bad_reply[_i].len, r, NULL, 0), -1);
	free(c);
	free(r);
}
END_TEST

START_TEST(test_reply_failure)
{
	struct tracker_msg_reply *r = new_reply();
	char err[64], reason[600];
	struct buf b;

	buf_init(&b, 0);
	ck_assert_int_eq(tracker_msg_http_failure_build(&b, "torrent not registered"), 0);
	ck_assert_int_eq(tracker_msg_http_reply_parse(b.data, b.len, r, err, sizeof(err)), -1);
	ck_assert_int_eq(r->failed, 1);
	ck_assert_str_eq(r->failure, "torrent not registered");
	buf_reset(&b);
	/* A long reason is cut, on the way out and on the way in. */
	memset(reason, 'x', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	ck_assert_int_eq(tracker_msg_http_failure_build(&b, reason), 0);
	ck_assert_int_eq(tracker_msg_http_reply_parse(b.data, b.len, r, err, sizeof(err)), -1);
	ck_assert_uint_eq(strlen(r->failure), TRACKER_MSG_MAX_REASON - 1);
	buf_reset(&b);
	ck_assert_int_eq(buf_puts(&b, "d14:failure reason600:"), 0);
	for (int i = 0; i < 600; i++)
		ck_assert_int_eq(buf_putc(&b, (uint8_t)i), 0);
	ck_assert_int_eq(buf_putc(&b, 'e'), 0);
	ck_assert_int_eq(tracker_msg_http_reply_parse(b.data, b.len, r, err, sizeof(err)), -1);
	ck_assert_uint_eq(strlen(r->failure), TRACKER_MSG_MAX_REASON - 1);
	for (size_t i = 0; r->failure[i]; i++)
		ck_assert(r->failure[i] >= 0x20 && r->failure[i] < 0x7f);
	buf_free(&b);
	free(r);
}
END_TEST

/* 10^5 compact peers: 200 are kept, the rest counted; 10^6 is over the body limit. */
START_TEST(test_reply_many_peers)
{
	struct tracker_msg_reply *r = new_reply();
	size_t counts[] = { 100000, 1000000 };
	static uint8_t chunk[6000];
	char err[128];
	struct buf b;

	for (size_t i = 0; i < 1000; i++) {
		uint8_t e[6] = { 10, 0, (uint8_t)(i >> 8), (uint8_t)i, 0x1a, 0xe1 };

		memcpy(chunk + i * 6, e, 6);
	}

	for (size_t k = 0; k < 2; k++) {
		size_t n = counts[k];

		buf_init(&b, 0);
		ck_assert_int_eq(buf_printf(&b, "d8:intervali60e5:peers%zu:", n * 6), 0);
		/* 1000 peers at a time. */
		for (size_t i = 0; i < n; i += 1000)
			ck_assert_int_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
		ck_assert_int_eq(buf_putc(&b, 'e'), 0);
		if (k == 0) {
			ck_assert_int_eq(tracker_msg_http_reply_parse(b.data, b.len, r, err,
			    sizeof(err)), 0);
			ck_assert_uint_eq(r->npeers, TRACKER_MSG_MAX_PEERS);
			ck_assert_uint_eq(r->dropped, n - TRACKER_MSG_MAX_PEERS);
		} else {
			ck_assert_int_eq(tracker_msg_http_reply_parse(b.data, b.len, r, err,
			    sizeof(err)), -1);
			ck_assert_ptr_nonnull(strstr(err, "limit"));
		}
		buf_free(&b);
	}

	/* 10^4 dict peers plus peers6: dict peers fill the list, the rest are dropped. */
	buf_init(&b, 0);
	ck_assert_int_eq(buf_puts(&b, "d8:intervali60e5:peersl"), 0);
	for (int i = 0; i < 10000; i++)
		ck_assert_int_eq(buf_printf(&b, "d2:ip%d:10.0.%d.%d4:porti%dee",
		    (int)strlen("10.0.") + snprintf(NULL, 0, "%d.%d", i / 256, i % 256),
		    i / 256, i % 256, i + 1), 0);
	ck_assert_int_eq(buf_puts(&b, "e6:peers618:aaaaaaaaaaaaaaaaaae"), 0);
	ck_assert_msg(tracker_msg_http_reply_parse(b.data, b.len, r, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_uint_eq(r->npeers, TRACKER_MSG_MAX_PEERS);
	ck_assert_uint_eq(r->dropped, 10000 - TRACKER_MSG_MAX_PEERS + 1);
	ck_assert_uint_eq(netaddr_port(&r->peers[199]), 200);
	buf_free(&b);
	free(r);
}
END_TEST

START_TEST(test_reply_roundtrip)
{
	struct tracker_msg_reply *r = new_reply(), *back = new_reply();
	char err[128], s1[NETADDR_STRLEN], s2[NETADDR_STRLEN];
	struct buf b;

	r->interval = 1800;
	r->min_interval = 60;
	r->complete = 3;
	r->incomplete = 4;
	r->failure[0] = '\0';
	snprintf(r->warning, sizeof(r->warning), "be nice");
	add_peer(r, "1.2.3.4:6881");
	add_peer(r, "[2001:db8::1]:51413");
	add_peer(r, "10.0.0.1:1");
	add_peer(r, "[::ffff:1.2.3.4]:2");
	buf_init(&b, 0);
	ck_assert_int_eq(tracker_msg_http_reply_build(&b, r), 0);
	ck_assert_msg(tracker_msg_http_reply_parse(b.data, b.len, back, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_int_eq(back->interval, 1800);
	ck_assert_int_eq(back->min_interval, 60);
	ck_assert_int_eq(back->complete, 3);
	ck_assert_int_eq(back->incomplete, 4);
	ck_assert_str_eq(back->warning, "be nice");
	ck_assert_uint_eq(back->npeers, 4);
	/* IPv4 first ("peers"), then IPv6 ("peers6"), each in order. */
	ck_assert_str_eq(peer_str(back, 0, s1, sizeof(s1)), peer_str(r, 0, s2, sizeof(s2)));
	ck_assert_str_eq(peer_str(back, 1, s1, sizeof(s1)), peer_str(r, 2, s2, sizeof(s2)));
	ck_assert_str_eq(peer_str(back, 2, s1, sizeof(s1)), peer_str(r, 1, s2, sizeof(s2)));
	ck_assert_str_eq(peer_str(back, 3, s1, sizeof(s1)), peer_str(r, 3, s2, sizeof(s2)));
	buf_reset(&b);

	/* Minimal: no counts, no IPv6, no warning -> no such keys at all. */
	memset(r, 0, sizeof(*r));
	r->interval = 5;
	r->min_interval = r->complete = r->incomplete = -1;
	add_peer(r, "9.9.9.9:9");
	ck_assert_int_eq(tracker_msg_http_reply_build(&b, r), 0);
	ck_assert_uint_eq(b.len, strlen("d8:intervali5e5:peers6:xxxxxxe"));
	ck_assert_mem_eq(b.data, "d8:intervali5e5:peers6:\x09\x09\x09\x09\0\x09" "e", b.len);
	buf_reset(&b);
	r->npeers = TRACKER_MSG_MAX_PEERS + 1;
	ck_assert_int_eq(tracker_msg_http_reply_build(&b, r), -1);
	buf_free(&b);
	free(r);
	free(back);
}
END_TEST

/* HTTP scrape. */

static const struct {
	const char *url;
	const char *scrape;	/* NULL: cannot scrape */
} scrape_urls[] = {
	{ "http://t.example/announce", "http://t.example/scrape" },
	{ "http://t.example:6969/announce", "http://t.example:6969/scrape" },
	{ "http://t.example/x/announce", "http://t.example/x/scrape" },
	{ "http://t.example/announce.php", "http://t.example/scrape.php" },
	{ "http://t.example/announce?pk=1", "http://t.example/scrape?pk=1" },
	{ "http://t.example/announce?x=/announce", "http://t.example/scrape?x=/announce" },
	{ "https://t.example/user/announce/", NULL },
	{ "http://t.example/a", NULL },
	{ "http://t.example/x/announce/y", NULL },
	{ "http://t.example/Announce", NULL },
	{ "http://t.example/anno", NULL },
	{ "http://t.example", NULL },
	{ "http://t.example?announce", NULL },
	{ "t.example/announce", NULL },
	{ "http://t.example/announce#x", NULL },
	{ "", NULL },
};

START_TEST(test_scrape_url)
{
	char err[128];
	struct buf b;
	int rc;

	buf_init(&b, 0);
	rc = tracker_msg_http_scrape_url(&b, scrape_urls[_i].url, NULL, 0, err, sizeof(err));
	if (scrape_urls[_i].scrape == NULL) {
		ck_assert_msg(rc == -1, "%s accepted", scrape_urls[_i].url);
	} else {
		ck_assert_msg(rc == 0, "%s: %s", scrape_urls[_i].url, err);
		ck_assert_int_eq(buf_putc(&b, 0), 0);
		ck_assert_str_eq((char *)b.data, scrape_urls[_i].scrape);
	}
	buf_free(&b);
}
END_TEST

START_TEST(test_scrape_url_hashes)
{
	uint8_t hashes[TRACKER_MSG_MAX_SCRAPE + 1][20], back[TRACKER_MSG_MAX_SCRAPE][20];
	char err[128], *q;
	struct buf b;
	size_t n;

	for (int i = 0; i <= TRACKER_MSG_MAX_SCRAPE; i++)
		memset(hashes[i], i * 3, 20);
	buf_init(&b, 0);
	ck_assert_int_eq(tracker_msg_http_scrape_url(&b, "http://t/announce?pk=1",
	    (const uint8_t (*)[20])hashes, 2, err, sizeof(err)), 0);
	ck_assert_int_eq(buf_putc(&b, 0), 0);
	ck_assert_str_eq((char *)b.data, "http://t/scrape?pk=1&info_hash="
	    "%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00&info_hash="
	    "%03%03%03%03%03%03%03%03%03%03%03%03%03%03%03%03%03%03%03%03");
	buf_reset(&b);
	ck_assert_int_eq(tracker_msg_http_scrape_url(&b, "http://t/announce",
	    (const uint8_t (*)[20])hashes, TRACKER_MSG_MAX_SCRAPE, err, sizeof(err)), 0);
	ck_assert_int_eq(buf_putc(&b, 0), 0);
	q = strchr((char *)b.data, '?');
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(tracker_msg_http_scrape_query_parse(q, strlen(q), back, &n, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(n, TRACKER_MSG_MAX_SCRAPE);
	ck_assert_mem_eq(back, hashes, sizeof(back));
	buf_reset(&b);
	ck_assert_int_eq(tracker_msg_http_scrape_url(&b, "http://t/announce",
	    (const uint8_t (*)[20])hashes, TRACKER_MSG_MAX_SCRAPE + 1, err, sizeof(err)), -1);
	buf_free(&b);
}
END_TEST

START_TEST(test_scrape_query_parse)
{
	uint8_t h[TRACKER_MSG_MAX_SCRAPE][20];
	char err[128];
	struct buf b;
	size_t n;

	ck_assert_int_eq(tracker_msg_http_scrape_query_parse("", 0, h, &n, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(tracker_msg_http_scrape_query_parse("?x=1&info_hash=" IH_ENC,
	    strlen("?x=1&info_hash=" IH_ENC), h, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_mem_eq(h[0], IH, 20);
	ck_assert_int_eq(tracker_msg_http_scrape_query_parse("info_hash=abc", 13, h, &n, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(tracker_msg_http_scrape_query_parse("info_hash=%zz", 13, h, &n, err,
	    sizeof(err)), -1);
	/* 75 hashes: one too many. */
	buf_init(&b, 0);
	for (int i = 0; i <= TRACKER_MSG_MAX_SCRAPE; i++)
		ck_assert_int_eq(buf_puts(&b, "&info_hash=aaaaaaaaaaaaaaaaaaaa"), 0);
	ck_assert_int_eq(tracker_msg_http_scrape_query_parse((char *)b.data, b.len, h, &n,
	    err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "more than"));
	buf_free(&b);
}
END_TEST

static const struct {
	const uint8_t *p;
	size_t len;
	size_t n;
	uint32_t complete0, downloaded0, incomplete0;
} good_scrape[] = {
	/* BEP 48 example. */
	{ S("d5:filesd20:xxxxxxxxxxxxxxxxxxxxd8:completei11e10:downloadedi13772e10:incomplete"
	    "i19ee20:yyyyyyyyyyyyyyyyyyyyd8:completei21e10:downloadedi206e10:incompletei20eee"
	    "e"), 2, 11, 13772, 19 },
	{ S("d5:filesdee"), 0, 0, 0, 0 },
	{ S("d5:filesd20:xxxxxxxxxxxxxxxxxxxxdee5:flagsd20:min_request_intervali900eee"), 1, 0,
	    0, 0 },
	{ S("d5:filesd20:xxxxxxxxxxxxxxxxxxxxd8:completei99999999999e4:name1:aeee"), 1,
	    UINT32_MAX, 0, 0 },
};

START_TEST(test_scrape_good)
{
	struct tracker_msg_scrape s;
	char err[128];
	uint8_t *c = exact_copy(good_scrape[_i].p, good_scrape[_i].len);

	ck_assert_msg(tracker_msg_http_scrape_parse(c, good_scrape[_i].len, &s, err,
	    sizeof(err)) == 0, "good_scrape[%d]: %s", _i, err);
	free(c);
	ck_assert_uint_eq(s.n, good_scrape[_i].n);
	if (s.n > 0) {
		ck_assert_mem_eq(s.files[0].info_hash, "xxxxxxxxxxxxxxxxxxxx", 20);
		ck_assert_uint_eq(s.files[0].complete, good_scrape[_i].complete0);
		ck_assert_uint_eq(s.files[0].downloaded, good_scrape[_i].downloaded0);
		ck_assert_uint_eq(s.files[0].incomplete, good_scrape[_i].incomplete0);
	}
}
END_TEST

static const struct {
	const uint8_t *p;
	size_t len;
	const char *why;
} bad_scrape[] = {
	{ S("le"), "not a dict" },
	{ S("de"), "no files" },
	{ S("d5:fileslee"), "no files" },
	{ S("d5:files0:e"), "no files" },
	{ S("d5:filesd3:abcdeee"), "malformed" },
	{ S("d5:filesd20:xxxxxxxxxxxxxxxxxxxxi1eee"), "malformed" },
	{ S("d5:filesd20:xxxxxxxxxxxxxxxxxxxxd8:completei-1eeee"), "not a count" },
	{ S("d5:filesd20:xxxxxxxxxxxxxxxxxxxxd10:downloaded1:1eee"), "not a count" },
	{ S("d14:failure reason6:no wayt"), "response" },
	{ S("d14:failure reason6:no waye"), "failure reason: no way" },
};

START_TEST(test_scrape_bad)
{
	struct tracker_msg_scrape s;
	char err[128];
	uint8_t *c = exact_copy(bad_scrape[_i].p, bad_scrape[_i].len);

	err[0] = '\0';
	ck_assert_msg(tracker_msg_http_scrape_parse(c, bad_scrape[_i].len, &s, err,
	    sizeof(err)) == -1, "bad_scrape[%d] accepted", _i);
	free(c);
	ck_assert_msg(strstr(err, bad_scrape[_i].why) != NULL, "bad_scrape[%d]: '%s'", _i,
	    err);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_int_eq(s.failed, strstr(err, "failure reason") != NULL);
}
END_TEST

START_TEST(test_scrape_roundtrip)
{
	struct tracker_msg_scrape s, back;
	char err[128];
	struct buf b;

	memset(&s, 0, sizeof(s));
	/* Given unsorted: the builder sorts, as bencode needs. */
	for (int i = 0; i < TRACKER_MSG_MAX_SCRAPE; i++) {
		memset(s.files[i].info_hash, 200 - i, 20);
		s.files[i].complete = (uint32_t)i;
		s.files[i].downloaded = UINT32_MAX - (uint32_t)i;
		s.files[i].incomplete = (uint32_t)i * 7;
	}
	s.n = TRACKER_MSG_MAX_SCRAPE;
	buf_init(&b, 0);
	ck_assert_int_eq(tracker_msg_http_scrape_build(&b, &s), 0);
	ck_assert_msg(tracker_msg_http_scrape_parse(b.data, b.len, &back, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(back.n, s.n);
	for (size_t i = 0; i < s.n; i++) {
		const struct tracker_msg_scrape_entry *e = &s.files[s.n - 1 - i];

		ck_assert_mem_eq(back.files[i].info_hash, e->info_hash, 20);
		ck_assert_uint_eq(back.files[i].complete, e->complete);
		ck_assert_uint_eq(back.files[i].downloaded, e->downloaded);
		ck_assert_uint_eq(back.files[i].incomplete, e->incomplete);
	}
	buf_reset(&b);
	/* A repeated hash cannot be encoded. */
	memcpy(s.files[5].info_hash, s.files[40].info_hash, 20);
	ck_assert_int_eq(tracker_msg_http_scrape_build(&b, &s), -1);
	s.n = TRACKER_MSG_MAX_SCRAPE + 1;
	ck_assert_int_eq(tracker_msg_http_scrape_build(&b, &s), -1);
	buf_reset(&b);
	s.n = 0;
	ck_assert_int_eq(tracker_msg_http_scrape_build(&b, &s), 0);
	ck_assert_uint_eq(b.len, strlen("d5:filesdee"));
	ck_assert_mem_eq(b.data, "d5:filesdee", b.len);
	buf_free(&b);
}
END_TEST

/* A full scrape of 1000 torrents: the first 74 kept, the rest counted. */
START_TEST(test_scrape_many)
{
	struct tracker_msg_scrape s;
	char err[128];
	struct buf b;

	buf_init(&b, 0);
	ck_assert_int_eq(buf_puts(&b, "d5:filesd"), 0);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(buf_printf(&b, "20:%020dde", i), 0);
	ck_assert_int_eq(buf_puts(&b, "ee"), 0);
	ck_assert_msg(tracker_msg_http_scrape_parse(b.data, b.len, &s, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_uint_eq(s.n, TRACKER_MSG_MAX_SCRAPE);
	ck_assert_uint_eq(s.dropped, 1000 - TRACKER_MSG_MAX_SCRAPE);
	buf_free(&b);
}
END_TEST

/* UDP (BEP 15). */

START_TEST(test_udp_connect)
{
	struct tracker_msg_udp_hdr h;
	uint64_t conn;
	uint32_t tid, action;
	char err[128];
	struct buf b;

	buf_init(&b, 0);
	ck_assert_int_eq(tracker_msg_udp_connect_build(&b, 0x01020304), 0);
	ck_assert_uint_eq(b.len, 16);
	ck_assert_mem_eq(b.data, "\0\0\x04\x17\x27\x10\x19\x80\0\0\0\0\x01\x02\x03\x04", 16);
	ck_assert_int_eq(tracker_msg_udp_connect_parse(b.data, b.len, &tid, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(tid, 0x01020304);
	ck_assert_int_eq(tracker_msg_udp_hdr_parse(b.data, b.len, &h, err, sizeof(err)), 0);
	ck_assert(h.conn_id == TRACKER_MSG_UDP_PROTOCOL_ID);
	ck_assert_uint_eq(h.action, TRACKER_MSG_CONNECT);
	ck_assert_uint_eq(h.tid, 0x01020304);
	/* Truncated, wrong magic, wrong action. */
	ck_assert_int_eq(tracker_msg_udp_connect_parse(b.data, 15, &tid, err, sizeof(err)),
	    -1);
	ck_assert_int_eq(tracker_msg_udp_hdr_parse(b.data, 15, &h, err, sizeof(err)), -1);
	b.data[0] = 1;
	ck_assert_int_eq(tracker_msg_udp_connect_parse(b.data, b.len, &tid, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "protocol id"));
	b.data[0] = 0;
	b.data[11] = 1;
	ck_assert_int_eq(tracker_msg_udp_connect_parse(b.data, b.len, &tid, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "action"));
	buf_reset(&b);

	ck_assert_int_eq(tracker_msg_udp_connect_resp_build(&b, 7, 0x1122334455667788ULL), 0);
	ck_assert_uint_eq(b.len, 16);
	ck_assert_int_eq(tracker_msg_udp_resp_hdr_parse(b.data, b.len, &action, &tid, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(action, 0);
	ck_assert_uint_eq(tid, 7);
	ck_assert_int_eq(tracker_msg_udp_connect_resp_parse(b.data, b.len, 7, &conn, err,
	    sizeof(err)), 0);
	ck_assert(conn == 0x1122334455667788ULL);
	ck_assert_int_eq(tracker_msg_udp_connect_resp_parse(b.data, b.len, 8, &conn, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "transaction id"));
	ck_assert_int_eq(tracker_msg_udp_connect_resp_parse(b.data, 15, 7, &conn, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(tracker_msg_udp_resp_hdr_parse(b.data, 7, &action, &tid, err,
	    sizeof(err)), -1);
	b.data[3] = TRACKER_MSG_ANNOUNCE;
	ck_assert_int_eq(tracker_msg_udp_connect_resp_parse(b.data, b.len, 7, &conn, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "expected connect"));
	buf_free(&b);
}
END_TEST

START_TEST(test_udp_announce)
{
	struct tracker_msg_announce a, back;
	uint64_t conn;
	uint32_t tid;
	char err[128];
	struct buf b;
	uint8_t *c;

	sample_announce(&a);
	a.event = TRACKER_MSG_EVENT_STOPPED;
	a.has_key = 1;
	a.key = 0xcafebabe;
	buf_init(&b, 0);
	ck_assert_int_eq(tracker_msg_udp_announce_build(&b, 0xabcdef, 99, &a), 0);
	ck_assert_uint_eq(b.len, TRACKER_MSG_UDP_ANNOUNCE_LEN);
	/* The layout of BEP 15, field by field. */
	ck_assert_mem_eq(b.data, "\0\0\0\0\0\xab\xcd\xef\0\0\0\x01\0\0\0\x63", 16);
	ck_assert_mem_eq(b.data + 16, IH, 20);
	ck_assert_mem_eq(b.data + 36, PID, 20);
	ck_assert_mem_eq(b.data + 56, "\0\0\0\0\0\0\0\x16", 8);	/* downloaded */
	ck_assert_mem_eq(b.data + 64, "\0\0\0\0\0\0\x01\x4d", 8);	/* left */
	ck_assert_mem_eq(b.data + 72, "\0\0\0\0\0\0\0\x01", 8);	/* uploaded */
	ck_assert_mem_eq(b.data + 80, "\0\0\0\x03\0\0\0\0\xca\xfe\xba\xbe\xff\xff\xff\xff"
	    "\x1a\xe1", 18);
	c = exact_copy(b.data, b.len);
	ck_assert_int_eq(tracker_msg_udp_announce_parse(c, b.len, &conn, &tid, &back, err,
	    sizeof(err)), 0);
	ck_assert(conn == 0xabcdef);
	ck_assert_uint_eq(tid, 99);
	ck_assert_mem_eq(back.info_hash, IH, 20);
	ck_assert_mem_eq(back.peer_id, PID, 20);
	ck_assert(back.downloaded == 22 && back.left == 333 && back.uploaded == 1);
	ck_assert_int_eq(back.event, TRACKER_MSG_EVENT_STOPPED);
	ck_assert_uint_eq(back.key, 0xcafebabe);
	ck_assert_int_eq(back.numwant, -1);
	ck_assert_uint_eq(back.port, 6881);
	/* 97 bytes: truncated. */
	ck_assert_int_eq(tracker_msg_udp_announce_parse(c, b.len - 1, &conn, &tid, &back,
	    err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "97 bytes"));
	free(c);
	/* BEP 41 options after the 98 bytes are ignored. */
	ck_assert_int_eq(buf_append(&b, "\x02\x05/ann?", 7), 0);
	ck_assert_int_eq(tracker_msg_udp_announce_parse(b.data, b.len, &conn, &tid, &back,
	    err, sizeof(err)), 0);
	/* Other numwant values, event out of range, wrong action; a non-zero IP is ignored. */
	memcpy(b.data + 84, "\x01\x02\x03\x04", 4);
	memcpy(b.data + 92, "\xff\xff\xff\xfb", 4);
	ck_assert_int_eq(tracker_msg_udp_announce_parse(b.data, b.len, &conn, &tid, &back,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(back.numwant, -1);
	memcpy(b.data + 92, "\x00\x00\x00\x32", 4);
	ck_assert_int_eq(tracker_msg_udp_announce_parse(b.data, b.len, &conn, &tid, &back,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(back.numwant, 50);
	b.data[83] = 4;
	ck_assert_int_eq(tracker_msg_udp_announce_parse(b.data, b.len, &conn, &tid, &back,
	    err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "event"));
	b.data[83] = 0;
	b.data[11] = TRACKER_MSG_SCRAPE;
	ck_assert_int_eq(tracker_msg_udp_announce_parse(b.data, b.len, &conn, &tid, &back,
	    err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "action scrape"));
	buf_reset(&b);
	a.event = (enum tracker_msg_event)7;
	ck_assert_int_eq(tracker_msg_udp_announce_build(&b, 1, 1, &a), -1);
	buf_free(&b);
}
END_TEST

START_TEST(test_udp_announce_resp)
{
	struct tracker_msg_reply *r = new_reply(), *back = new_reply();
	char err[128], s[NETADDR_STRLEN];
	struct buf b;

	r->interval = 1800;
	r->complete = 10;
	r->incomplete = 20;
	add_peer(r, "1.2.3.4:6881");
	add_peer(r, "[2001:db8::1]:51413");
	add_peer(r, "5.6.7.8:1");
	buf_init(&b, 0);
	/* Over IPv4 only the IPv4 peers, 6 bytes each. */
	ck_assert_int_eq(tracker_msg_udp_announce_resp_build(&b, 42, r, 0), 0);
	ck_assert_uint_eq(b.len, 20 + 2 * 6);
	ck_assert_mem_eq(b.data, "\0\0\0\x01\0\0\0\x2a\0\0\x07\x08\0\0\0\x14\0\0\0\x0a", 20);
	ck_assert_int_eq(tracker_msg_udp_announce_resp_parse(b.data, b.len, 42, 0, back, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(back->interval, 1800);
	ck_assert_int_eq(back->complete, 10);
	ck_assert_int_eq(back->incomplete, 20);
	ck_assert_uint_eq(back->npeers, 2);
	ck_assert_str_eq(peer_str(back, 1, s, sizeof(s)), "5.6.7.8:1");
	/* The same bytes read as IPv6 entries: 12 is no multiple of 18. */
	ck_assert_int_eq(tracker_msg_udp_announce_resp_parse(b.data, b.len, 42, 1, back, err,
	    sizeof(err)), -1);
	ck_assert_uint_eq(back->npeers, 0);
	/* Wrong tid, wrong action, truncated header, a partial entry. */
	ck_assert_int_eq(tracker_msg_udp_announce_resp_parse(b.data, b.len, 43, 0, back, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(tracker_msg_udp_announce_resp_parse(b.data, 19, 42, 0, back, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(tracker_msg_udp_announce_resp_parse(b.data, 20, 42, 0, back, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(back->npeers, 0);
	ck_assert_int_eq(tracker_msg_udp_announce_resp_parse(b.data, 25, 42, 0, back, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "multiple of 6"));
	b.data[3] = TRACKER_MSG_ERROR;
	ck_assert_int_eq(tracker_msg_udp_announce_resp_parse(b.data, b.len, 42, 0, back, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "action error"));
	b.data[3] = TRACKER_MSG_ANNOUNCE;
	/* Negative interval, leechers or seeders. */
	for (int f = 8; f <= 16; f += 4) {
		uint8_t save = b.data[f];

		b.data[f] = 0x80;
		ck_assert_int_eq(tracker_msg_udp_announce_resp_parse(b.data, b.len, 42, 0, back,
		    err, sizeof(err)), -1);
		ck_assert_ptr_nonnull(strstr(err, "negative"));
		b.data[f] = save;
	}
	/* A large interval is clamped. */
	b.data[8] = 0x7f;
	ck_assert_int_eq(tracker_msg_udp_announce_resp_parse(b.data, b.len, 42, 0, back, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(back->interval, TRACKER_MSG_MAX_INTERVAL);
	buf_reset(&b);

	/* Over IPv6 only the IPv6 peers, 18 bytes each. */
	ck_assert_int_eq(tracker_msg_udp_announce_resp_build(&b, 42, r, 1), 0);
	ck_assert_uint_eq(b.len, 20 + 18);
	ck_assert_int_eq(tracker_msg_udp_announce_resp_parse(b.data, b.len, 42, 1, back, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(back->npeers, 1);
	ck_assert_str_eq(peer_str(back, 0, s, sizeof(s)), "[2001:db8::1]:51413");
	buf_reset(&b);

	/* 10000 peers in one (oversized) packet: 200 kept. */
	ck_assert_int_eq(buf_append(&b, "\0\0\0\x01\0\0\0\x2a\0\0\0\x01\0\0\0\0\0\0\0\0", 20), 0);
	for (int i = 0; i < 10000; i++)
		ck_assert_int_eq(buf_append(&b, "\x01\x01\x01\x01\0\x01", 6), 0);
	ck_assert_int_eq(tracker_msg_udp_announce_resp_parse(b.data, b.len, 42, 0, back, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(back->npeers, TRACKER_MSG_MAX_PEERS);
	ck_assert_uint_eq(back->dropped, 10000 - TRACKER_MSG_MAX_PEERS);
	buf_free(&b);
	free(r);
	free(back);
}
END_TEST

START_TEST(test_udp_scrape)
{
	uint8_t hashes[TRACKER_MSG_MAX_SCRAPE + 1][20], back[TRACKER_MSG_MAX_SCRAPE][20];
	struct tracker_msg_scrape s, sb;
	uint64_t conn;
	uint32_t tid;
	char err[128];
	struct buf b;
	size_t n;

	for (int i = 0; i <= TRACKER_MSG_MAX_SCRAPE; i++)
		memset(hashes[i], i, 20);
	buf_init(&b, 0);
	ck_assert_int_eq(tracker_msg_udp_scrape_build(&b, 5, 6,
	    (const uint8_t (*)[20])hashes, TRACKER_MSG_MAX_SCRAPE), 0);
	ck_assert_uint_eq(b.len, 16 + 20 * TRACKER_MSG_MAX_SCRAPE);
	ck_assert_int_eq(tracker_msg_udp_scrape_parse(b.data, b.len, &conn, &tid, back, &n,
	    err, sizeof(err)), 0);
	ck_assert(conn == 5 && tid == 6 && n == TRACKER_MSG_MAX_SCRAPE);
	ck_assert_mem_eq(back, hashes, sizeof(back));
	/* A partial hash, no hash at all, one too many. */
	ck_assert_int_eq(tracker_msg_udp_scrape_parse(b.data, b.len - 1, &conn, &tid, back,
	    &n, err, sizeof(err)), -1);
	ck_assert_int_eq(tracker_msg_udp_scrape_parse(b.data, 16, &conn, &tid, back, &n, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(buf_append(&b, hashes[0], 20), 0);
	ck_assert_int_eq(tracker_msg_udp_scrape_parse(b.data, b.len, &conn, &tid, back, &n,
	    err, sizeof(err)), -1);
	ck_assert_uint_eq(n, 0);
	buf_reset(&b);
	ck_assert_int_eq(tracker_msg_udp_scrape_build(&b, 5, 6,
	    (const uint8_t (*)[20])hashes, 0), -1);
	ck_assert_int_eq(tracker_msg_udp_scrape_build(&b, 5, 6,
	    (const uint8_t (*)[20])hashes, TRACKER_MSG_MAX_SCRAPE + 1), -1);

	memset(&s, 0, sizeof(s));
	s.n = 3;
	for (int i = 0; i < 3; i++) {
		s.files[i].complete = (uint32_t)i + 1;
		s.files[i].downloaded = 0xffffffffu - (uint32_t)i;
		s.files[i].incomplete = (uint32_t)i * 100;
	}
	buf_reset(&b);
	ck_assert_int_eq(tracker_msg_udp_scrape_resp_build(&b, 77, &s), 0);
	ck_assert_uint_eq(b.len, 8 + 36);
	ck_assert_mem_eq(b.data, "\0\0\0\x02\0\0\0\x4d\0\0\0\x01\xff\xff\xff\xff\0\0\0\0",
	    20);
	ck_assert_int_eq(tracker_msg_udp_scrape_resp_parse(b.data, b.len, 77, &sb, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(sb.n, 3);
	ck_assert_mem_eq(sb.files, s.files, sizeof(s.files[0]) * 3);
	ck_assert_int_eq(tracker_msg_udp_scrape_resp_parse(b.data, b.len - 1, 77, &sb, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(tracker_msg_udp_scrape_resp_parse(b.data, b.len, 78, &sb, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(tracker_msg_udp_scrape_resp_parse(b.data, 8, 77, &sb, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(sb.n, 0);
	ck_assert_int_eq(tracker_msg_udp_scrape_resp_parse(b.data, 7, 77, &sb, err,
	    sizeof(err)), -1);
	/* 75 entries: more than anyone asked for. */
	for (int i = 3; i <= TRACKER_MSG_MAX_SCRAPE; i++)
		ck_assert_int_eq(buf_append(&b, "\0\0\0\0\0\0\0\0\0\0\0\0", 12), 0);
	ck_assert_int_eq(tracker_msg_udp_scrape_resp_parse(b.data, b.len, 77, &sb, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(tracker_msg_udp_scrape_resp_parse(b.data, b.len - 12, 77, &sb, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(sb.n, TRACKER_MSG_MAX_SCRAPE);
	s.n = TRACKER_MSG_MAX_SCRAPE + 1;
	ck_assert_int_eq(tracker_msg_udp_scrape_resp_build(&b, 77, &s), -1);
	buf_free(&b);
}
END_TEST

START_TEST(test_udp_error)
{
	char err[128], msg[TRACKER_MSG_MAX_REASON], small[5], longmsg[1000];
	uint32_t action, tid;
	struct buf b;

	buf_init(&b, 0);
	ck_assert_int_eq(tracker_msg_udp_error_build(&b, 3, "bad connection id"), 0);
	ck_assert_uint_eq(b.len, 8 + 17);
	ck_assert_int_eq(tracker_msg_udp_resp_hdr_parse(b.data, b.len, &action, &tid, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(action, TRACKER_MSG_ERROR);
	ck_assert_int_eq(tracker_msg_udp_error_parse(b.data, b.len, 3, msg, sizeof(msg), err,
	    sizeof(err)), 0);
	ck_assert_str_eq(msg, "bad connection id");
	ck_assert_int_eq(tracker_msg_udp_error_parse(b.data, b.len, 3, small, sizeof(small),
	    err, sizeof(err)), 0);
	ck_assert_str_eq(small, "bad ");
	ck_assert_int_eq(tracker_msg_udp_error_parse(b.data, b.len, 4, msg, sizeof(msg), err,
	    sizeof(err)), -1);
	ck_assert_int_eq(tracker_msg_udp_error_parse(b.data, 7, 3, msg, sizeof(msg), err,
	    sizeof(err)), -1);
	/* Empty message. */
	ck_assert_int_eq(tracker_msg_udp_error_parse(b.data, 8, 3, msg, sizeof(msg), err,
	    sizeof(err)), 0);
	ck_assert_str_eq(msg, "");
	/* Not an error packet. */
	b.data[3] = TRACKER_MSG_ANNOUNCE;
	ck_assert_int_eq(tracker_msg_udp_error_parse(b.data, b.len, 3, msg, sizeof(msg), err,
	    sizeof(err)), -1);
	buf_reset(&b);
	/* Control bytes and high bytes are replaced; trailing NULs are dropped. */
	ck_assert_int_eq(buf_append(&b, S("\0\0\0\x03\0\0\0\x03" "a\x1b[2Jb\xc3\xa9\0c\0\0")),
	    0);
	ck_assert_int_eq(tracker_msg_udp_error_parse(b.data, b.len, 3, msg, sizeof(msg), err,
	    sizeof(err)), 0);
	ck_assert_str_eq(msg, "a?[2Jb???c");
	buf_reset(&b);
	/* A long message is cut both ways. */
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	ck_assert_int_eq(tracker_msg_udp_error_build(&b, 1, longmsg), 0);
	ck_assert_uint_eq(b.len, 8 + TRACKER_MSG_MAX_REASON - 1);
	ck_assert_int_eq(buf_append(&b, longmsg, 500), 0);
	ck_assert_int_eq(tracker_msg_udp_error_parse(b.data, b.len, 1, msg, sizeof(msg), err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(strlen(msg), TRACKER_MSG_MAX_REASON - 1);
	buf_free(&b);
}
END_TEST

/* BEP 12 tiers. */

static uint32_t
rnd_zero(void *ctx, uint32_t bound)
{
	(void)ctx;
	(void)bound;
	return 0;
}

/* A fixed sequence, out of range on purpose now and then: must be clamped. */
static uint32_t
rnd_seq(void *ctx, uint32_t bound)
{
	unsigned *k = ctx;

	(void)bound;
	return (uint32_t)((*k)++ * 7u);
}

START_TEST(test_tiers_order)
{
	const uint32_t tiers[] = { 1, 0, 1, 0, 2, 1 };
	uint32_t order[6];
	unsigned k = 0, seen[6] = { 0 };

	tracker_msg_tiers_order(tiers, 6, order, rnd_zero, NULL);
	/* Grouped by tier; always swapping with slot 0 rotates each tier. */
	ck_assert_uint_eq(tiers[order[0]], 0);
	ck_assert_uint_eq(tiers[order[1]], 0);
	ck_assert_uint_eq(tiers[order[2]], 1);
	ck_assert_uint_eq(tiers[order[3]], 1);
	ck_assert_uint_eq(tiers[order[4]], 1);
	ck_assert_uint_eq(order[5], 4);
	ck_assert_uint_eq(order[0], 3);
	ck_assert_uint_eq(order[1], 1);
	ck_assert_uint_eq(order[2], 2);
	ck_assert_uint_eq(order[3], 5);
	ck_assert_uint_eq(order[4], 0);
	tracker_msg_tiers_order(tiers, 6, order, rnd_seq, &k);
	for (size_t i = 0; i < 6; i++) {
		ck_assert_uint_lt(order[i], 6);
		seen[order[i]]++;
		if (i > 0)
			ck_assert_uint_le(tiers[order[i - 1]], tiers[order[i]]);
	}
	for (size_t i = 0; i < 6; i++)
		ck_assert_uint_eq(seen[i], 1);
	/* Nothing and one. */
	tracker_msg_tiers_order(tiers, 0, order, rnd_zero, NULL);
	tracker_msg_tiers_order(tiers, 1, order, rnd_seq, &k);
	ck_assert_uint_eq(order[0], 0);
}
END_TEST

START_TEST(test_tiers_promote_pick)
{
	const uint32_t tiers[] = { 0, 0, 0, 1, 1 };
	uint32_t order[] = { 0, 1, 2, 3, 4 };
	unsigned char usable[5] = { 1, 1, 1, 1, 1 };

	/* The third of tier 0 answers: it goes first in tier 0 only. */
	tracker_msg_tiers_promote(order, tiers, 5, 2);
	ck_assert_uint_eq(order[0], 2);
	ck_assert_uint_eq(order[1], 0);
	ck_assert_uint_eq(order[2], 1);
	ck_assert_uint_eq(order[3], 3);
	/* The last of tier 1 answers: it passes tier 1's first, not tier 0. */
	tracker_msg_tiers_promote(order, tiers, 5, 4);
	ck_assert_uint_eq(order[2], 1);
	ck_assert_uint_eq(order[3], 4);
	ck_assert_uint_eq(order[4], 3);
	/* Already first, or unknown: no change. */
	tracker_msg_tiers_promote(order, tiers, 5, 2);
	tracker_msg_tiers_promote(order, tiers, 5, 9);
	ck_assert_uint_eq(order[0], 2);
	ck_assert_uint_eq(order[4], 3);
	/* Tier 1 is used only when all of tier 0 failed. */
	ck_assert_uint_eq(tracker_msg_tiers_pick(order, usable, 5), 0);
	usable[2] = 0;
	ck_assert_uint_eq(tracker_msg_tiers_pick(order, usable, 5), 1);
	usable[0] = 0;
	ck_assert_uint_eq(tracker_msg_tiers_pick(order, usable, 5), 2);
	usable[1] = 0;
	ck_assert_uint_eq(tracker_msg_tiers_pick(order, usable, 5), 3);
	ck_assert_uint_eq(order[3], 4);
	usable[4] = usable[3] = 0;
	ck_assert_uint_eq(tracker_msg_tiers_pick(order, usable, 5), 5);
	ck_assert_uint_eq(tracker_msg_tiers_pick(order, usable, 0), 0);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("tracker_msg");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pct_all_bytes);
	tcase_add_test(tc, test_pct_decode_bad);
	tcase_add_test(tc, test_announce_url);
	tcase_add_test(tc, test_announce_url_bad);
	tcase_add_test(tc, test_announce_roundtrip);
	tcase_add_loop_test(tc, test_announce_parse_good, 0,
	    sizeof(good_query) / sizeof(good_query[0]));
	tcase_add_loop_test(tc, test_announce_parse_bad, 0,
	    sizeof(bad_query) / sizeof(bad_query[0]));
	tcase_add_test(tc, test_announce_parse_huge);
	tcase_add_loop_test(tc, test_reply_good, 0, sizeof(good_reply) / sizeof(good_reply[0]));
	tcase_add_loop_test(tc, test_reply_bad, 0, sizeof(bad_reply) / sizeof(bad_reply[0]));
	tcase_add_test(tc, test_reply_failure);
	tcase_add_test(tc, test_reply_many_peers);
	tcase_add_test(tc, test_reply_roundtrip);
	tcase_add_loop_test(tc, test_scrape_url, 0, sizeof(scrape_urls) / sizeof(scrape_urls[0]));
	tcase_add_test(tc, test_scrape_url_hashes);
	tcase_add_test(tc, test_scrape_query_parse);
	tcase_add_loop_test(tc, test_scrape_good, 0, sizeof(good_scrape) / sizeof(good_scrape[0]));
	tcase_add_loop_test(tc, test_scrape_bad, 0, sizeof(bad_scrape) / sizeof(bad_scrape[0]));
	tcase_add_test(tc, test_scrape_roundtrip);
	tcase_add_test(tc, test_scrape_many);
	tcase_add_test(tc, test_udp_connect);
	tcase_add_test(tc, test_udp_announce);
	tcase_add_test(tc, test_udp_announce_resp);
	tcase_add_test(tc, test_udp_scrape);
	tcase_add_test(tc, test_udp_error);
	tcase_add_test(tc, test_tiers_order);
	tcase_add_test(tc, test_tiers_promote_pick);
	suite_add_tcase(s, tc);
	return s;
}
