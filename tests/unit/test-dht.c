/* test-dht.c: a whole DHT network in one process: bootstrap, lookups, announces, tokens, limits. */
#include "testmain.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "dht.h"
#include "krpc.h"
#include "netaddr.h"
#include "sha.h"

#define NET_MAX 64
#define QUEUE_MAX 65536

struct packet {
	int from;		/* node index, or -1 for the test itself */
	struct netaddr to;
	uint8_t data[KRPC_MAX_MSG];
	size_t len;
};

static struct dht *nodes[NET_MAX];
static struct netaddr addrs[NET_MAX];
static int nnodes;
static struct packet *queue;
static size_t qhead, qtail;
/* What the test itself (node index -1, at 127.1.0.1) received. */
static struct packet inbox[256];
static size_t ninbox;
static struct netaddr self_addr;
/* Peers each node's lookups found. */
static struct netaddr found[NET_MAX][16];
static size_t nfound[NET_MAX];

static void
net_send(void *ctx, const struct netaddr *to, const uint8_t *p, size_t len)
{
	struct packet *q;

	ck_assert(len <= KRPC_MAX_MSG);
	if (qtail - qhead >= QUEUE_MAX)
		return;
	q = &queue[qtail++ % QUEUE_MAX];
	q->from = (int)(intptr_t)ctx;
	q->to = *to;
	if (len > 0)
		memcpy(q->data, p, len);
	q->len = len;
}

static void
net_peer(void *ctx, const uint8_t ih[KRPC_ID_LEN], const struct netaddr *a)
{
	int i = (int)(intptr_t)ctx;

	(void)ih;
	if (nfound[i] < 16)
		found[i][nfound[i]++] = *a;
}

static void
mkaddr(struct netaddr *a, int a3, int a4)
{
	char s[64], err[64];

	snprintf(s, sizeof(s), "127.%d.%d.%d:6881", a3 / 256, a3 % 256, a4);
	ck_assert_int_eq(netaddr_parse(s, a, err, sizeof(err)), 0);
}

static int net_v6;	/* the network runs on IPv6 addresses (BEP 32); nothing is sent */

static void
mkaddr6(struct netaddr *a, int n)
{
	char s[64], err[64];

	snprintf(s, sizeof(s), "[fd00::%x]:6881", n);
	ck_assert_int_eq(netaddr_parse(s, a, err, sizeof(err)), 0);
}

static void
net_init(int n)
{
	struct dht_cb cb = { net_send, net_peer, NULL };
	uint8_t id[KRPC_ID_LEN];

	queue = calloc(QUEUE_MAX, sizeof(*queue));
	ck_assert_ptr_nonnull(queue);
	qhead = qtail = 0;
	ninbox = 0;
	memset(nfound, 0, sizeof(nfound));
	mkaddr(&self_addr, 256, 1);
	nnodes = n;
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(sha_random(id, sizeof(id)), 0);
		cb.ctx = (void *)(intptr_t)i;
		nodes[i] = dht_new(id, net_v6 ? DHT_IPV6 : DHT_IPV4, &cb);
		ck_assert_ptr_nonnull(nodes[i]);
		if (net_v6)
			mkaddr6(&addrs[i], i + 1);
		else
			mkaddr(&addrs[i], 0, i + 1);
	}
}

static void
net_free(void)
{
	for (int i = 0; i < nnodes; i++)
		dht_free(nodes[i]);
	free(queue);
	queue = NULL;
}

/* Delivers everything queued (and what that causes), then ticks each node once. */
static void
net_run(double now)
{
	for (int round = 0; round < 100000 && qhead != qtail; round++) {
		struct packet *q = &queue[qhead++ % QUEUE_MAX];
		const struct netaddr *from = q->from < 0 ? &self_addr : &addrs[q->from];

		if (netaddr_equal(&q->to, &self_addr)) {
			if (ninbox < 256)
				inbox[ninbox++] = *q;
			continue;
		}
		for (int i = 0; i < nnodes; i++)
			if (netaddr_equal(&q->to, &addrs[i]))
				dht_input(nodes[i], from, q->data, q->len, now);
	}
	for (int i = 0; i < nnodes; i++)
		dht_tick(nodes[i], now);
}

static void
net_bootstrap(double *now, double seconds)
{
	for (int i = 1; i < nnodes; i++)
		dht_ping(nodes[i], &addrs[0], *now);
	for (double end = *now + seconds; *now < end; *now += 0.5)
		net_run(*now);
}

/* The test speaks as a node of its own: sends one datagram to node i. */
static void
inject(int i, const struct buf *b)
{
	net_send((void *)(intptr_t)-1, &addrs[i], b->data, b->len);
}

START_TEST(test_bootstrap_fills_tables)
{
	double now = 1000;
	size_t good;

	net_init(40);
	net_bootstrap(&now, 30);
	for (int i = 0; i < nnodes; i++) {
		size_t n = dht_node_count(nodes[i], &good);

		ck_assert_msg(n >= 8, "node %d knows only %zu nodes", i, n);
		ck_assert_msg(good >= 8, "node %d: %zu good nodes", i, good);
	}
	net_free();
}
END_TEST

START_TEST(test_announce_then_find)
{
	double now = 1000;
	uint8_t ih[KRPC_ID_LEN];
	struct netaddr want;

	net_init(40);
	net_bootstrap(&now, 30);
	ck_assert_int_eq(sha_random(ih, sizeof(ih)), 0);
	/* Node 7 seeds on TCP port 7000 and announces it. */
	ck_assert_int_eq(dht_search(nodes[7], ih, 7000, 60, now), 1);
	ck_assert_int_eq(dht_search(nodes[7], ih, 7000, 60, now), 0);	/* still running */
	for (int i = 0; i < 10; i++, now += 0.5)
		net_run(now);
	/* Node 31, which never heard of node 7's torrent, finds it. */
	ck_assert_int_eq(dht_search(nodes[31], ih, 0, 60, now), 1);
	for (int i = 0; i < 10; i++, now += 0.5)
		net_run(now);
	want = addrs[7];
	netaddr_set_port(&want, 7000);
	ck_assert_uint_ge(nfound[31], 1);
	for (size_t i = 0; i < nfound[31]; i++)
		ck_assert(netaddr_equal(&found[31][i], &want));
	/* A lookup for a hash nobody announced finds nothing. */
	ih[0] ^= 0xff;
	nfound[12] = 0;
	ck_assert_int_eq(dht_search(nodes[12], ih, 0, 60, now), 1);
	for (int i = 0; i < 10; i++, now += 0.5)
		net_run(now);
	ck_assert_uint_eq(nfound[12], 0);
	net_free();
}
END_TEST

START_TEST(test_lookup_survives_dead_nodes)
{
	double now = 1000;
	uint8_t ih[KRPC_ID_LEN];
	struct netaddr gone;

	net_init(40);
	net_bootstrap(&now, 30);
	ck_assert_int_eq(sha_random(ih, sizeof(ih)), 0);
	ck_assert_int_eq(dht_search(nodes[3], ih, 6000, 60, now), 1);
	for (int i = 0; i < 10; i++, now += 0.5)
		net_run(now);
	/* A third of the network vanishes: their addresses go nowhere. */
	mkaddr(&gone, 255, 255);
	for (int i = 10; i < 23; i++)
		addrs[i] = gone;
	ck_assert_int_eq(dht_search(nodes[35], ih, 0, 60, now), 1);
	for (int i = 0; i < 80; i++, now += 0.5)
		net_run(now);
	ck_assert_uint_ge(nfound[35], 1);
	net_free();
}
END_TEST

static const struct krpc_msg *
last_reply(struct krpc_msg *m)
{
	char err[128];

	/* Skip node 0's pings to us: the answer is the last non-query. */
	for (size_t i = ninbox; i > 0; i--) {
		ck_assert_int_eq(krpc_parse(inbox[i - 1].data, inbox[i - 1].len, m, err,
		    sizeof(err)), 0);
		if (m->type != KRPC_QUERY)
			return m;
	}
	ck_abort_msg("no answer received");
	return m;
}

START_TEST(test_token_required)
{
	double now = 1000;
	static struct krpc_msg m;
	uint8_t id[KRPC_ID_LEN] = { 1 }, ih[KRPC_ID_LEN] = { 2 };
	struct krpc_head h = { (const uint8_t *)"aa", 2, NULL, 0, NULL };
	struct buf b;

	net_init(1);
	buf_init(&b, KRPC_MAX_MSG);
	/* A made-up token is refused with 203 and stores nothing. */
	ck_assert_int_eq(krpc_put_announce_peer(&b, &h, id, ih, 5555, 0,
	    (const uint8_t *)"12345678", 8), 0);
	inject(0, &b);
	net_run(now);
	last_reply(&m);
	ck_assert_int_eq(m.type, KRPC_ERROR);
	ck_assert_int_eq(m.code, KRPC_ERR_PROTOCOL);
	/* The token from get_peers works, and the peer is then served. */
	buf_reset(&b);
	ck_assert_int_eq(krpc_put_get_peers(&b, &h, id, ih, 0), 0);
	inject(0, &b);
	net_run(now);
	last_reply(&m);
	ck_assert_int_eq(m.type, KRPC_RESPONSE);
	ck_assert(m.has & KRPC_HAS_TOKEN);
	ck_assert_uint_eq(m.nvalues, 0);
	buf_reset(&b);
	ck_assert_int_eq(krpc_put_announce_peer(&b, &h, id, ih, 5555, 0, m.token, m.token_len), 0);
	inject(0, &b);
	net_run(now + 1);
	last_reply(&m);
	ck_assert_int_eq(m.type, KRPC_RESPONSE);
	buf_reset(&b);
	ck_assert_int_eq(krpc_put_get_peers(&b, &h, id, ih, 0), 0);
	inject(0, &b);
	net_run(now + 2);
	last_reply(&m);
	ck_assert_uint_eq(m.nvalues, 1);
	ck_assert_uint_eq(netaddr_port(&m.values[0]), 5555);
	ck_assert(netaddr_same_ip(&m.values[0], &self_addr));
	buf_free(&b);
	net_free();
}
END_TEST

/* Answers (not node 0's own queries to us) in the inbox. */
static size_t
answers(void)
{
	static struct krpc_msg m;
	size_t n = 0;

	for (size_t i = 0; i < ninbox; i++)
		if (krpc_parse(inbox[i].data, inbox[i].len, &m, NULL, 0) == 0 && m.type != KRPC_QUERY)
			n++;
	return n;
}

START_TEST(test_rate_limited)
{
	double now = 1000;
	uint8_t id[KRPC_ID_LEN] = { 1 };
	struct krpc_head h = { (const uint8_t *)"aa", 2, NULL, 0, NULL };
	struct buf b;

	net_init(1);
	buf_init(&b, KRPC_MAX_MSG);
	ck_assert_int_eq(krpc_put_ping(&b, &h, id), 0);
	for (int i = 0; i < 200; i++)
		inject(0, &b);
	net_run(now);
	/* The burst allowance, then nothing until time passes; not 200 answers. */
	ck_assert_uint_eq(answers(), 10);
	ninbox = 0;
	for (int i = 0; i < 200; i++)
		inject(0, &b);
	net_run(now + 1);
	ck_assert_uint_eq(answers(), 5);
	buf_free(&b);
	net_free();
}
END_TEST

START_TEST(test_no_amplification)
{
	double now = 1000;
	static struct krpc_msg m;
	uint8_t id[KRPC_ID_LEN] = { 1 }, ih[KRPC_ID_LEN] = { 2 };
	struct krpc_head h = { (const uint8_t *)"aa", 2, NULL, 0, NULL };
	uint8_t token[KRPC_MAX_TOKEN];
	size_t token_len;
	struct buf b;

	net_init(1);
	buf_init(&b, KRPC_MAX_MSG);
	ck_assert_int_eq(krpc_put_get_peers(&b, &h, id, ih, 0), 0);
	inject(0, &b);
	net_run(now);
	last_reply(&m);
	ck_assert_uint_eq(m.token_len, 8);
	memcpy(token, m.token, m.token_len);
	token_len = m.token_len;
	/* 60 peers (one IP, many ports), announced slowly enough to pass the rate limit. */
	for (int i = 0; i < 60; i++) {
		buf_reset(&b);
		ck_assert_int_eq(krpc_put_announce_peer(&b, &h, id, ih, (uint16_t)(2000 + i), 0,
		    token, token_len), 0);
		inject(0, &b);
		now += 0.25;
		net_run(now);
	}
	/* We never answered node 0's ping, so we are unverified: a short answer only. */
	buf_reset(&b);
	ck_assert_int_eq(krpc_put_get_peers(&b, &h, id, ih, 0), 0);
	ninbox = 0;
	inject(0, &b);
	net_run(now + 1);
	last_reply(&m);
	ck_assert_int_eq(m.type, KRPC_RESPONSE);
	for (size_t i = 0; i < ninbox; i++)
		ck_assert_uint_le(inbox[i].len, 4 * b.len);
	ck_assert_uint_ge(m.nvalues, 10);
	ck_assert_uint_lt(m.nvalues, 50);
	buf_free(&b);
	net_free();
}
END_TEST

START_TEST(test_forged_and_malformed)
{
	double now = 1000;
	static struct krpc_msg m;
	uint8_t id[KRPC_ID_LEN] = { 9 };
	struct krpc_head h = { (const uint8_t *)"\0\0\0\0", 4, NULL, 0, NULL };
	struct buf b;
	size_t before, good;
	static const char *junk[] = {
		"", "d", "de", "i1e", "d1:t2:aa1:y1:qe", "d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe",
		"d1:rd2:id20:xxxxxxxxxxxxxxxxxxxxe1:t4:\0\0\0\0" "1:y1:re",
	};

	net_init(2);
	buf_init(&b, KRPC_MAX_MSG);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		buf_reset(&b);
		buf_append(&b, junk[i], i == 6 ? 46 : strlen(junk[i]));
		inject(0, &b);
	}
	net_run(now);
	/* Only the query with a bad id got an answer: an error, as BEP 5 wants. */
	for (size_t i = 0; i < ninbox; i++) {
		ck_assert_int_eq(krpc_parse(inbox[i].data, inbox[i].len, &m, NULL, 0), 0);
		ck_assert_int_eq(m.type, KRPC_ERROR);
	}
	ck_assert_uint_ge(ninbox, 1);
	/* A reply that answers a query node 0 sent to someone else is not believed. */
	dht_ping(nodes[0], &addrs[1], now);
	qhead = qtail;		/* the real ping is lost */
	before = dht_node_count(nodes[0], &good);
	buf_reset(&b);
	ck_assert_int_eq(krpc_put_reply_id(&b, &h, id), 0);
	inject(0, &b);
	net_run(now);
	ck_assert_uint_eq(dht_node_count(nodes[0], &good), before);
	buf_free(&b);
	net_free();
}
END_TEST

START_TEST(test_ipv6_network)
{
	double now = 1000;
	uint8_t ih[KRPC_ID_LEN];
	struct netaddr want;

	net_v6 = 1;
	net_init(30);
	net_bootstrap(&now, 30);
	for (int i = 0; i < nnodes; i++)
		ck_assert_uint_ge(dht_node_count(nodes[i], NULL), 8);
	ck_assert_int_eq(sha_random(ih, sizeof(ih)), 0);
	ck_assert_int_eq(dht_search(nodes[4], ih, 6006, 60, now), 1);
	for (int i = 0; i < 10; i++, now += 0.5)
		net_run(now);
	ck_assert_int_eq(dht_search(nodes[22], ih, 0, 60, now), 1);
	for (int i = 0; i < 10; i++, now += 0.5)
		net_run(now);
	want = addrs[4];
	netaddr_set_port(&want, 6006);
	ck_assert_uint_ge(nfound[22], 1);
	ck_assert(netaddr_equal(&found[22][0], &want));
	net_free();
	net_v6 = 0;
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("dht");
	TCase *tc = tcase_create("network");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bootstrap_fills_tables);
	tcase_add_test(tc, test_announce_then_find);
	tcase_add_test(tc, test_lookup_survives_dead_nodes);
	tcase_add_test(tc, test_token_required);
	tcase_add_test(tc, test_rate_limited);
	tcase_add_test(tc, test_no_amplification);
	tcase_add_test(tc, test_forged_and_malformed);
	tcase_add_test(tc, test_ipv6_network);
	suite_add_tcase(s, tc);
	return s;
}
