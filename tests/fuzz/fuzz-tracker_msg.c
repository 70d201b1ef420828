/* fuzz-tracker_msg.c: libFuzzer harness for every tracker message parser; what parses must rebuild and parse the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "netaddr.h"
#include "tracker_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static struct tracker_msg_reply reply, reply2;
static struct tracker_msg_scrape scrape, scrape2;

static void
check_printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	CHECK(n < cap);
	for (size_t i = 0; i < n; i++)
		CHECK(s[i] >= 0x20 && s[i] < 0x7f);
}

static void
check_reply(const struct tracker_msg_reply *r)
{
	CHECK(r->npeers <= TRACKER_MSG_MAX_PEERS);
	CHECK(r->dropped == 0 || r->npeers == TRACKER_MSG_MAX_PEERS);
	CHECK(r->interval >= -1 && r->interval <= TRACKER_MSG_MAX_INTERVAL);
	CHECK(r->min_interval >= -1 && r->min_interval <= TRACKER_MSG_MAX_INTERVAL);
	CHECK(r->complete >= -1 && r->incomplete >= -1);
	check_printable(r->warning, sizeof(r->warning));
	check_printable(r->failure, sizeof(r->failure));
	for (size_t i = 0; i < r->npeers; i++) {
		int f = netaddr_family(&r->peers[i]);

		CHECK(f == AF_INET || f == AF_INET6);
	}
}

static size_t
count_family(const struct tracker_msg_reply *r, int family)
{
	size_t n = 0;

	for (size_t i = 0; i < r->npeers; i++)
		n += netaddr_family(&r->peers[i]) == family;
	return n;
}

/* Percent-decoding, and encode-decode giving the bytes back. */
static void
fuzz_pct(const uint8_t *data, size_t size)
{
	uint8_t out[512], again[512];
	size_t n, n2;
	struct buf b;

	if (tracker_msg_pct_decode((const char *)data, size, out, sizeof(out), &n) == -1)
		return;
	CHECK(n <= size && n <= sizeof(out));
	buf_init(&b, 0);
	CHECK(tracker_msg_pct_encode(&b, out, n) == 0);
	CHECK(tracker_msg_pct_decode((const char *)b.data, b.len, again, sizeof(again),
	    &n2) == 0);
	CHECK(n2 == n && memcmp(again, out, n) == 0);
	buf_free(&b);
}

static void
fuzz_http_announce(const uint8_t *data, size_t size)
{
	struct tracker_msg_announce a, back;
	char err[128], *q;
	struct buf b;

	if (tracker_msg_http_announce_parse((const char *)data, size, &a, err,
	    sizeof(err)) == -1)
		return;
	CHECK(a.event <= TRACKER_MSG_EVENT_STOPPED && a.numwant >= -1);
	buf_init(&b, 0);
	CHECK(tracker_msg_http_announce_url(&b, "http://t/announce?x=1", &a, err,
	    sizeof(err)) == 0);
	CHECK(buf_putc(&b, 0) == 0);
	q = strchr((char *)b.data, '?');
	CHECK(q != NULL);
	CHECK(tracker_msg_http_announce_parse(q, strlen(q), &back, err, sizeof(err)) == 0);
	CHECK(memcmp(a.info_hash, back.info_hash, 20) == 0);
	CHECK(memcmp(a.peer_id, back.peer_id, 20) == 0);
	CHECK(a.port == back.port && a.uploaded == back.uploaded &&
	    a.downloaded == back.downloaded && a.left == back.left &&
	    a.event == back.event && a.numwant == back.numwant && a.has_key == back.has_key &&
	    (!a.has_key || a.key == back.key));
	/* And the same over UDP. */
	buf_reset(&b);
	CHECK(tracker_msg_udp_announce_build(&b, 1, 2, &a) == 0);
	CHECK(b.len == TRACKER_MSG_UDP_ANNOUNCE_LEN);
	buf_free(&b);
}

static void
fuzz_http_reply(const uint8_t *data, size_t size)
{
	char err[128];
	struct buf b;
	int rc;

	rc = tracker_msg_http_reply_parse(data, size, &reply, err, sizeof(err));
	check_reply(&reply);
	if (rc == -1) {
		CHECK(reply.npeers == 0);
		return;
	}
	CHECK(!reply.failed && reply.interval >= 0);
	buf_init(&b, 0);
	CHECK(tracker_msg_http_reply_build(&b, &reply) == 0);
	CHECK(tracker_msg_http_reply_parse(b.data, b.len, &reply2, err, sizeof(err)) == 0);
	CHECK(reply2.npeers == reply.npeers && reply2.dropped == 0 &&
	    reply2.interval == reply.interval && reply2.min_interval == reply.min_interval &&
	    reply2.complete == reply.complete && reply2.incomplete == reply.incomplete &&
	    strcmp(reply2.warning, reply.warning) == 0);
	CHECK(count_family(&reply2, AF_INET) == count_family(&reply, AF_INET));
	/* UDP carries one family: the rebuilt response has exactly those peers. */
	for (int v6 = 0; v6 <= 1; v6++) {
		buf_reset(&b);
		CHECK(tracker_msg_udp_announce_resp_build(&b, 9, &reply, v6) == 0);
		CHECK(tracker_msg_udp_announce_resp_parse(b.data, b.len, 9, v6, &reply2, err,
		    sizeof(err)) == 0);
		CHECK(reply2.npeers == count_family(&reply, v6 ? AF_INET6 : AF_INET));
		CHECK(reply2.interval == reply.interval);
	}
	buf_free(&b);
}

static void
fuzz_http_scrape(const uint8_t *data, size_t size)
{
	char err[128];
	struct buf b;

	if (tracker_msg_http_scrape_parse(data, size, &scrape, err, sizeof(err)) == -1) {
		CHECK(scrape.n == 0);
		check_printable(scrape.failure, sizeof(scrape.failure));
		return;
	}
	CHECK(scrape.n <= TRACKER_MSG_MAX_SCRAPE);
	CHECK(scrape.dropped == 0 || scrape.n == TRACKER_MSG_MAX_SCRAPE);
	buf_init(&b, 0);
	/* A bencoded dict has sorted, unique keys: the builder must take them. */
	CHECK(tracker_msg_http_scrape_build(&b, &scrape) == 0);
	CHECK(tracker_msg_http_scrape_parse(b.data, b.len, &scrape2, err, sizeof(err)) == 0);
	CHECK(scrape2.n == scrape.n &&
	    memcmp(scrape2.files, scrape.files, scrape.n * sizeof(scrape.files[0])) == 0);
	buf_free(&b);
}

/* The input as a URL (up to the first NUL). */
static void
fuzz_urls(const uint8_t *data, size_t size)
{
	uint8_t hashes[2][20] = { { 0 }, { 1 } };
	uint8_t back[TRACKER_MSG_MAX_SCRAPE][20];
	struct tracker_msg_announce a;
	char err[128], *url;
	struct buf b;
	size_t n;

	url = malloc(size + 1);
	CHECK(url != NULL);
	memcpy(url, data, size);
	url[size] = '\0';
	memset(&a, 0, sizeof(a));
	buf_init(&b, 0);
	if (tracker_msg_http_announce_url(&b, url, &a, err, sizeof(err)) == 0)
		CHECK(b.len > strlen(url));
	buf_reset(&b);
	if (tracker_msg_http_scrape_url(&b, url, (const uint8_t (*)[20])hashes, 2, err,
	    sizeof(err)) == 0) {
		CHECK(buf_putc(&b, 0) == 0);
		CHECK(strstr((char *)b.data, "scrape") != NULL);
	}
	buf_free(&b);
	if (tracker_msg_http_scrape_query_parse(url, size, back, &n, err, sizeof(err)) == 0)
		CHECK(n <= TRACKER_MSG_MAX_SCRAPE);
	free(url);
}

static void
fuzz_udp(const uint8_t *data, size_t size)
{
	uint8_t hashes[TRACKER_MSG_MAX_SCRAPE][20];
	struct tracker_msg_announce a, back;
	struct tracker_msg_udp_hdr h;
	uint32_t action, tid = 0, rtid = 0, t2;
	uint64_t conn, c2;
	char err[128], msg[TRACKER_MSG_MAX_REASON];
	struct buf b;
	size_t n;

	/* Use the packet's own transaction ids, so the parsers get past that check. */
	if (tracker_msg_udp_hdr_parse(data, size, &h, err, sizeof(err)) == 0)
		tid = h.tid;
	if (tracker_msg_udp_resp_hdr_parse(data, size, &action, &rtid, err, sizeof(err)) == 0)
		CHECK(size >= TRACKER_MSG_UDP_RESP_HDR_LEN);
	buf_init(&b, 0);

	if (tracker_msg_udp_connect_parse(data, size, &t2, err, sizeof(err)) == 0) {
		CHECK(tracker_msg_udp_connect_build(&b, t2) == 0);
		CHECK(memcmp(b.data, data, TRACKER_MSG_UDP_CONNECT_LEN) == 0);
		buf_reset(&b);
	}
	if (tracker_msg_udp_connect_resp_parse(data, size, rtid, &conn, err,
	    sizeof(err)) == 0) {
		CHECK(tracker_msg_udp_connect_resp_build(&b, rtid, conn) == 0);
		CHECK(memcmp(b.data, data, TRACKER_MSG_UDP_CONNECT_LEN) == 0);
		buf_reset(&b);
	}
	if (tracker_msg_udp_announce_parse(data, size, &conn, &t2, &a, err,
	    sizeof(err)) == 0) {
		CHECK(t2 == tid && a.event <= TRACKER_MSG_EVENT_STOPPED && a.numwant >= -1);
		CHECK(tracker_msg_udp_announce_build(&b, conn, t2, &a) == 0);
		CHECK(b.len == TRACKER_MSG_UDP_ANNOUNCE_LEN);
		/* Equal but for the ignored IP and a negative num_want made -1. */
		CHECK(memcmp(b.data, data, 84) == 0 && memcmp(b.data + 88, data + 88, 4) == 0 &&
		    memcmp(b.data + 96, data + 96, 2) == 0);
		CHECK(tracker_msg_udp_announce_parse(b.data, b.len, &c2, &t2, &back, err,
		    sizeof(err)) == 0);
		CHECK(c2 == conn && back.numwant == a.numwant && back.key == a.key);
		buf_reset(&b);
	}
	for (int v6 = 0; v6 <= 1; v6++) {
		if (tracker_msg_udp_announce_resp_parse(data, size, rtid, v6, &reply, err,
		    sizeof(err)) == -1) {
			CHECK(reply.npeers == 0);
			continue;
		}
		check_reply(&reply);
		CHECK(reply.min_interval == -1 && reply.interval >= 0);
		if (reply.dropped == 0 && reply.interval < TRACKER_MSG_MAX_INTERVAL) {
			CHECK(tracker_msg_udp_announce_resp_build(&b, rtid, &reply, v6) == 0);
			CHECK(b.len == size && memcmp(b.data, data, size) == 0);
			buf_reset(&b);
		}
	}
	if (tracker_msg_udp_scrape_parse(data, size, &conn, &t2, hashes, &n, err,
	    sizeof(err)) == 0) {
		CHECK(n >= 1 && n <= TRACKER_MSG_MAX_SCRAPE);
		CHECK(tracker_msg_udp_scrape_build(&b, conn, t2, (const uint8_t (*)[20])hashes,
		    n) == 0);
		CHECK(b.len == size && memcmp(b.data, data, size) == 0);
		buf_reset(&b);
	}
	if (tracker_msg_udp_scrape_resp_parse(data, size, rtid, &scrape, err,
	    sizeof(err)) == 0) {
		CHECK(scrape.n <= TRACKER_MSG_MAX_SCRAPE);
		CHECK(tracker_msg_udp_scrape_resp_build(&b, rtid, &scrape) == 0);
		CHECK(b.len == size && memcmp(b.data, data, size) == 0);
		buf_reset(&b);
	}
	if (tracker_msg_udp_error_parse(data, size, rtid, msg, sizeof(msg), err,
	    sizeof(err)) == 0) {
		check_printable(msg, sizeof(msg));
		CHECK(tracker_msg_udp_error_build(&b, rtid, msg) == 0);
		CHECK(tracker_msg_udp_error_parse(b.data, b.len, rtid, msg, sizeof(msg), err,
		    sizeof(err)) == 0);
	}
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	/* An exact-size copy, so a read past the end is caught by ASan. */
	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	fuzz_pct(copy, size);
	fuzz_http_announce(copy, size);
	fuzz_http_reply(copy, size);
	fuzz_http_scrape(copy, size);
	fuzz_urls(copy, size);
	fuzz_udp(copy, size);
	free(copy);
	return 0;
}
