/* test-krpc.c: unit tests for the DHT KRPC codec (common/krpc.c). */
#include "testmain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "krpc.h"
#include "netaddr.h"

#define M(x) (const uint8_t *)(x), sizeof(x) - 1
#define S(x) (x), sizeof(x) - 1

static const uint8_t ID_A[] = "abcdefghij0123456789";
static const uint8_t ID_M[] = "mnopqrstuvwxyz123456";
static const uint8_t ID_0[] = "0123456789abcdefghij";

static void
parse_ok(const uint8_t *p, size_t len, struct krpc_msg *m)
{
	char err[256];

	if (krpc_parse(p, len, m, err, sizeof(err)) != 0)
		ck_abort_msg("refused: %s", err);
}

static void
parse_bad(const uint8_t *p, size_t len)
{
	struct krpc_msg *m = malloc(sizeof(*m));
	char err[256];

	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(krpc_parse(p, len, m, err, sizeof(err)), -1);
	ck_assert_msg(err[0] != '\0', "no reason given");
	free(m);
}

static void
addr(struct netaddr *a, const char *s)
{
	char err[128];

	ck_assert_msg(netaddr_parse(s, a, err, sizeof(err)) == 0, "%s", err);
}

static void
node(struct krpc_node *n, uint8_t idbyte, const char *s)
{
	memset(n, 0, sizeof(*n));
	memset(n->id, idbyte, KRPC_ID_LEN);
	addr(&n->addr, s);
}

static void
check_addr(const struct netaddr *a, const char *want)
{
	char s[NETADDR_STRLEN];

	ck_assert_str_eq(netaddr_format(a, s, sizeof(s)), want);
}

static void
check_built(const struct buf *b, const char *want, size_t wlen)
{
	ck_assert_uint_eq(b->len, wlen);
	ck_assert_msg(memcmp(b->data, want, wlen) == 0, "built %.*s", (int)b->len,
	    (const char *)b->data);
}

/* BEP 5's example packets, verbatim. */

START_TEST(test_bep5_ping)
{
	static const char q[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
	static const char r[] = "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
	struct krpc_head h = { .tid = (const uint8_t *)"aa", .tid_len = 2 };
	struct krpc_msg m;
	struct buf b;

	parse_ok(M(q), &m);
	ck_assert_int_eq(m.type, KRPC_QUERY);
	ck_assert_int_eq(m.method, KRPC_PING);
	ck_assert_str_eq(m.method_name, "ping");
	ck_assert_uint_eq(m.tid_len, 2);
	ck_assert_mem_eq(m.tid, "aa", 2);
	ck_assert_mem_eq(m.id, ID_A, 20);
	ck_assert_uint_eq(m.has, KRPC_HAS_ID);
	ck_assert_uint_eq(m.version_len, 0);

	parse_ok(M(r), &m);
	ck_assert_int_eq(m.type, KRPC_RESPONSE);
	ck_assert_int_eq(m.method, KRPC_METHOD_NONE);
	ck_assert_mem_eq(m.id, ID_M, 20);
	ck_assert_uint_eq(m.has, KRPC_HAS_ID);

	/* The builders write the very same bytes. */
	buf_init(&b, 0);
	ck_assert_int_eq(krpc_put_ping(&b, &h, ID_A), 0);
	check_built(&b, S(q));
	buf_reset(&b);
	ck_assert_int_eq(krpc_put_reply_id(&b, &h, ID_M), 0);
	check_built(&b, S(r));
	buf_free(&b);
}
END_TEST

START_TEST(test_bep5_find_node)
{
	static const char q[] = "d1:ad2:id20:abcdefghij01234567896:target20:"
	    "mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe";
	/* BEP 5's reply shows "def456..." as a stand-in: 9 bytes are no node. */
	static const char r_example[] = "d1:rd2:id20:0123456789abcdefghij5:nodes9:"
	    "def456...e1:t2:aa1:y1:re";
	/* The same with one real node: id "def456789012345678AB", 1.2.3.4:6881. */
	static const char r[] = "d1:rd2:id20:0123456789abcdefghij5:nodes26:"
	    "def456789012345678AB\x01\x02\x03\x04\x1a\xe1" "e1:t2:aa1:y1:re";
	struct krpc_head h = { .tid = (const uint8_t *)"aa", .tid_len = 2 };
	struct krpc_closest c = { 0 };
	struct krpc_msg m;
	struct buf b;

	parse_ok(M(q), &m);
	ck_assert_int_eq(m.method, KRPC_FIND_NODE);
	ck_assert_mem_eq(m.id, ID_A, 20);
	ck_assert_mem_eq(m.target, ID_M, 20);
	ck_assert_uint_eq(m.want, 0);

	parse_bad(M(r_example));
	parse_ok(M(r), &m);
	ck_assert_int_eq(m.type, KRPC_RESPONSE);
	ck_assert_mem_eq(m.id, ID_0, 20);
	ck_assert_uint_eq(m.has, KRPC_HAS_ID | KRPC_HAS_NODES);
	ck_assert_uint_eq(m.nnodes, 1);
	ck_assert_mem_eq(m.nodes[0].id, "def456789012345678AB", 20);
	check_addr(&m.nodes[0].addr, "1.2.3.4:6881");

	buf_init(&b, 0);
	ck_assert_int_eq(krpc_put_find_node(&b, &h, ID_A, ID_M, 0), 0);
	check_built(&b, S(q));
	buf_reset(&b);
	c.v4 = m.nodes;
	c.n4 = 1;
	ck_assert_int_eq(krpc_put_reply_find_node(&b, &h, ID_0, &c), 0);
	check_built(&b, S(r));
	buf_free(&b);
}
END_TEST

START_TEST(test_bep5_get_peers)
{
	static const char q[] = "d1:ad2:id20:abcdefghij01234567899:info_hash20:"
	    "mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe";
	static const char r_values[] = "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth"
	    "6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re";
	static const char r_nodes_example[] = "d1:rd2:id20:abcdefghij01234567895:nodes9:"
	    "def456...5:token8:aoeusnthe1:t2:aa1:y1:re";
	static const char r_nodes[] = "d1:rd2:id20:abcdefghij01234567895:nodes26:"
	    "def456789012345678AB\x0a\0\0\x01\x1a\xe1" "5:token8:aoeusnthe1:t2:aa1:y1:re";
	struct krpc_head h = { .tid = (const uint8_t *)"aa", .tid_len = 2 };
	struct krpc_closest c = { 0 };
	struct krpc_msg m, m2;
	struct buf b;

	parse_ok(M(q), &m);
	ck_assert_int_eq(m.method, KRPC_GET_PEERS);
	ck_assert_mem_eq(m.info_hash, ID_M, 20);

	parse_ok(M(r_values), &m);
	ck_assert_uint_eq(m.has, KRPC_HAS_ID | KRPC_HAS_TOKEN | KRPC_HAS_VALUES);
	ck_assert_uint_eq(m.token_len, 8);
	ck_assert_mem_eq(m.token, "aoeusnth", 8);
	ck_assert_uint_eq(m.nvalues, 2);
	/* "axje.u": 97.120.106.101, port 0x2e75. */
	check_addr(&m.values[0], "97.120.106.101:11893");
	check_addr(&m.values[1], "105.100.104.116:28269");

	parse_bad(M(r_nodes_example));
	parse_ok(M(r_nodes), &m2);
	ck_assert_uint_eq(m2.has, KRPC_HAS_ID | KRPC_HAS_TOKEN | KRPC_HAS_NODES);
	check_addr(&m2.nodes[0].addr, "10.0.0.1:6881");

	buf_init(&b, 0);
	ck_assert_int_eq(krpc_put_get_peers(&b, &h, ID_A, ID_M, 0), 0);
	check_built(&b, S(q));
	buf_reset(&b);
	ck_assert_int_eq(krpc_put_reply_get_peers(&b, &h, ID_A, m.token, m.token_len,
	    m.values, m.nvalues, NULL), 0);
	check_built(&b, S(r_values));
	buf_reset(&b);
	c.v4 = m2.nodes;
	c.n4 = 1;
	ck_assert_int_eq(krpc_put_reply_get_peers(&b, &h, ID_A, m.token, m.token_len,
	    NULL, 0, &c), 0);
	check_built(&b, S(r_nodes));
	buf_free(&b);
}
END_TEST

START_TEST(test_bep5_announce_peer)
{
	static const char q[] = "d1:ad2:id20:abcdefghij012345678912:implied_porti1e"
	    "9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe"
	    "1:q13:announce_peer1:t2:aa1:y1:qe";
	static const char r[] = "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
	struct krpc_head h = { .tid = (const uint8_t *)"aa", .tid_len = 2 };
	struct krpc_msg m;
	struct buf b;

	parse_ok(M(q), &m);
	ck_assert_int_eq(m.method, KRPC_ANNOUNCE_PEER);
	ck_assert_str_eq(m.method_name, "announce_peer");
	ck_assert_mem_eq(m.id, ID_A, 20);
	ck_assert_mem_eq(m.info_hash, ID_M, 20);
	ck_assert_int_eq(m.implied_port, 1);
	ck_assert_uint_eq(m.port, 6881);
	ck_assert_uint_eq(m.token_len, 8);
	ck_assert_mem_eq(m.token, "aoeusnth", 8);
	ck_assert_uint_eq(m.has, KRPC_HAS_ID | KRPC_HAS_TOKEN);

	parse_ok(M(r), &m);
	ck_assert_int_eq(m.type, KRPC_RESPONSE);

	buf_init(&b, 0);
	ck_assert_int_eq(krpc_put_announce_peer(&b, &h, ID_A, ID_M, 6881, 1,
	    (const uint8_t *)"aoeusnth", 8), 0);
	check_built(&b, S(q));
	buf_free(&b);
}
END_TEST

START_TEST(test_bep5_error)
{
	/* BEP 5 spells it "Ocurred". */
	static const char e[] = "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
	struct krpc_head h = { .tid = (const uint8_t *)"aa", .tid_len = 2 };
	struct krpc_msg m;
	struct buf b;

	parse_ok(M(e), &m);
	ck_assert_int_eq(m.type, KRPC_ERROR);
	ck_assert_int_eq(m.code, KRPC_ERR_GENERIC);
	ck_assert_str_eq(m.message, "A Generic Error Ocurred");

	buf_init(&b, 0);
	ck_assert_int_eq(krpc_put_error(&b, &h, 201, "A Generic Error Ocurred"), 0);
	check_built(&b, S(e));
	buf_free(&b);
}
END_TEST

/* Round trips: every builder, parsed back, and rebuilt identically by krpc_build. */

static void
roundtrip(const struct buf *b, struct krpc_msg *m)
{
	struct buf again;

	parse_ok(b->data, b->len, m);
	buf_init(&again, 0);
	ck_assert_int_eq(krpc_build(&again, m), 0);
	ck_assert_uint_eq(again.len, b->len);
	ck_assert_mem_eq(again.data, b->data, b->len);
	buf_free(&again);
}

START_TEST(test_roundtrip_queries)
{
	static const uint8_t ver[4] = { 'P', 'D', 0, 1 };
	uint8_t tid[KRPC_MAX_TID], id[20], target[20], token[KRPC_MAX_TOKEN];
	struct krpc_head h = { tid, sizeof(tid), ver, sizeof(ver), NULL };
	struct krpc_msg *m = malloc(sizeof(*m));
	struct buf b;

	ck_assert_ptr_nonnull(m);
	for (size_t i = 0; i < sizeof(tid); i++)
		tid[i] = (uint8_t)(0xf0 + i);
	memset(id, 0, sizeof(id));
	memset(target, 0xff, sizeof(target));
	memset(token, 0, sizeof(token));
	buf_init(&b, 0);

	ck_assert_int_eq(krpc_put_ping(&b, &h, id), 0);
	roundtrip(&b, m);
	ck_assert_int_eq(m->method, KRPC_PING);
	ck_assert_uint_eq(m->tid_len, KRPC_MAX_TID);
	ck_assert_mem_eq(m->tid, tid, KRPC_MAX_TID);
	ck_assert_uint_eq(m->version_len, 4);
	ck_assert_mem_eq(m->version, ver, 4);

	for (unsigned want = 0; want < 4; want++) {
		buf_reset(&b);
		ck_assert_int_eq(krpc_put_find_node(&b, &h, id, target, want), 0);
		roundtrip(&b, m);
		ck_assert_int_eq(m->method, KRPC_FIND_NODE);
		ck_assert_uint_eq(m->want, want);
		ck_assert_mem_eq(m->target, target, 20);
		buf_reset(&b);
		ck_assert_int_eq(krpc_put_get_peers(&b, &h, id, target, want), 0);
		roundtrip(&b, m);
		ck_assert_int_eq(m->method, KRPC_GET_PEERS);
		ck_assert_uint_eq(m->want, want);
	}

	buf_reset(&b);
	ck_assert_int_eq(krpc_put_announce_peer(&b, &h, id, target, 65535, 0, token,
	    KRPC_MAX_TOKEN), 0);
	roundtrip(&b, m);
	ck_assert_int_eq(m->implied_port, 0);
	ck_assert_uint_eq(m->port, 65535);
	ck_assert_uint_eq(m->token_len, KRPC_MAX_TOKEN);
	/* implied_port lets the port be 0. */
	buf_reset(&b);
	ck_assert_int_eq(krpc_put_announce_peer(&b, &h, id, target, 0, 7, token, 1), 0);
	roundtrip(&b, m);
	ck_assert_int_eq(m->implied_port, 1);
	ck_assert_uint_eq(m->port, 0);
	ck_assert_uint_eq(m->token_len, 1);

	buf_free(&b);
	free(m);
}
END_TEST

START_TEST(test_roundtrip_replies)
{
	struct krpc_node n4[KRPC_MAX_NODES], n6[KRPC_MAX_NODES];
	struct netaddr values[KRPC_MAX_VALUES], me;
	struct krpc_head h = { (const uint8_t *)"x", 1, (const uint8_t *)"LT\x01\x02", 4, NULL };
	struct krpc_closest c = { n4, KRPC_MAX_NODES, n6, KRPC_MAX_NODES };
	struct krpc_msg *m = malloc(sizeof(*m));
	uint8_t id[20];
	char s[64];
	struct buf b;

	ck_assert_ptr_nonnull(m);
	memset(id, 0x5a, sizeof(id));
	for (int i = 0; i < KRPC_MAX_NODES; i++) {
		snprintf(s, sizeof(s), "10.0.%d.1:%d", i, 1000 + i);
		node(&n4[i], (uint8_t)i, s);
		snprintf(s, sizeof(s), "[2001:db8::%x]:%d", i + 1, 2000 + i);
		node(&n6[i], (uint8_t)(0x80 + i), s);
	}
	/* A hybrid list: BEP 32 says parse it, even if we should not send one. */
	for (int i = 0; i < KRPC_MAX_VALUES; i++) {
		if (i % 2)
			snprintf(s, sizeof(s), "192.168.%d.%d:%d", i / 256, i % 256, 1 + i);
		else
			snprintf(s, sizeof(s), "[fe80::%x]:%d", i, 1 + i);
		addr(&values[i], s);
	}
	addr(&me, "203.0.113.9:51413");
	h.ip = &me;
	buf_init(&b, 0);

	ck_assert_int_eq(krpc_put_reply_id(&b, &h, id), 0);
	roundtrip(&b, m);
	ck_assert_uint_eq(m->has, KRPC_HAS_ID | KRPC_HAS_IP);
	check_addr(&m->ip, "203.0.113.9:51413");

	buf_reset(&b);
	ck_assert_int_eq(krpc_put_reply_find_node(&b, &h, id, &c), 0);
	roundtrip(&b, m);
	ck_assert_uint_eq(m->nnodes, KRPC_MAX_NODES);
	ck_assert_uint_eq(m->nnodes6, KRPC_MAX_NODES);
	for (int i = 0; i < KRPC_MAX_NODES; i++) {
		ck_assert_mem_eq(m->nodes[i].id, n4[i].id, 20);
		ck_assert(netaddr_equal(&m->nodes[i].addr, &n4[i].addr));
		ck_assert_mem_eq(m->nodes6[i].id, n6[i].id, 20);
		ck_assert(netaddr_equal(&m->nodes6[i].addr, &n6[i].addr));
	}
	/* An empty "nodes6" is still a "nodes6". */
	buf_reset(&b);
	c.n6 = 0;
	ck_assert_int_eq(krpc_put_reply_find_node(&b, &h, id, &c), 0);
	roundtrip(&b, m);
	ck_assert_uint_eq(m->has, KRPC_HAS_ID | KRPC_HAS_IP | KRPC_HAS_NODES |
	    KRPC_HAS_NODES6);
	ck_assert_uint_eq(m->nnodes6, 0);

	buf_reset(&b);
	h.ip = NULL;
	ck_assert_int_eq(krpc_put_reply_get_peers(&b, &h, id, (const uint8_t *)"tok", 3,
	    values, KRPC_MAX_VALUES, &c), 0);
	ck_assert_uint_le(b.len, KRPC_MAX_MSG);
	roundtrip(&b, m);
	ck_assert_uint_eq(m->nvalues, KRPC_MAX_VALUES);
	for (int i = 0; i < KRPC_MAX_VALUES; i++)
		ck_assert(netaddr_equal(&m->values[i], &values[i]));
	ck_assert_uint_eq(m->token_len, 3);

	for (int code = KRPC_ERR_GENERIC; code <= KRPC_ERR_METHOD; code++) {
		buf_reset(&b);
		ck_assert_int_eq(krpc_put_error(&b, &h, code, "Method Unknown"), 0);
		roundtrip(&b, m);
		ck_assert_int_eq(m->type, KRPC_ERROR);
		ck_assert_int_eq(m->code, code);
		ck_assert_str_eq(m->message, "Method Unknown");
	}
	buf_reset(&b);
	ck_assert_int_eq(krpc_put_error(&b, &h, 0, ""), 0);
	roundtrip(&b, m);
	buf_free(&b);
	free(m);
}
END_TEST

/* The largest message we can build still passes the receive limit. */
START_TEST(test_largest_fits)
{
	static struct krpc_msg m;
	struct buf b;

	memset(&m, 0, sizeof(m));
	m.type = KRPC_RESPONSE;
	m.tid_len = KRPC_MAX_TID;
	m.version_len = KRPC_MAX_VERSION;
	m.has = KRPC_HAS_ID | KRPC_HAS_NODES | KRPC_HAS_NODES6 | KRPC_HAS_VALUES |
	    KRPC_HAS_TOKEN | KRPC_HAS_IP;
	addr(&m.ip, "[::1]:1");
	m.token_len = KRPC_MAX_TOKEN;
	m.nnodes = m.nnodes6 = KRPC_MAX_NODES;
	m.nvalues = KRPC_MAX_VALUES;
	for (int i = 0; i < KRPC_MAX_NODES; i++) {
		node(&m.nodes[i], 1, "1.1.1.1:1");
		node(&m.nodes6[i], 2, "[::2]:2");
	}
	for (int i = 0; i < KRPC_MAX_VALUES; i++)
		addr(&m.values[i], "[::3]:3");
	buf_init(&b, 0);
	ck_assert_int_eq(krpc_build(&b, &m), 0);
	ck_assert_uint_le(b.len, KRPC_MAX_MSG);
	roundtrip(&b, &m);
	buf_free(&b);
}
END_TEST

/* Hostile and malformed messages: each refused with a reason. */

struct bad {
	const char *why;
	const uint8_t *p;
	size_t len;
};

#define PING_A "d1:ad2:id20:abcdefghij0123456789e"
#define RID "d1:rd2:id20:mnopqrstuvwxyz123456"

static const struct bad bad[] = {
	{ "empty", M("") },
	{ "not bencode", M("hello") },
	{ "a list", M("l1:t2:aae") },
	{ "an integer", M("i42e") },
	{ "top-level string", M("4:spam") },
	{ "trailing bytes", M(PING_A "1:q4:ping1:t2:aa1:y1:qeX") },
	{ "unsorted keys", M("d1:q4:ping1:ad2:id20:abcdefghij0123456789e1:t2:aa1:y1:qe") },
	{ "no t", M(PING_A "1:q4:ping1:y1:qe") },
	{ "empty t", M(PING_A "1:q4:ping1:t0:1:y1:qe") },
	{ "huge t", M(PING_A "1:q4:ping1:t17:abcdefghijklmnopq1:y1:qe") },
	{ "t integer", M(PING_A "1:q4:ping1:ti1e1:y1:qe") },
	{ "no y", M(PING_A "1:q4:ping1:t2:aae") },
	{ "y unknown", M(PING_A "1:q4:ping1:t2:aa1:y1:xe") },
	{ "y long", M(PING_A "1:q4:ping1:t2:aa1:y2:qqe") },
	{ "y list", M(PING_A "1:q4:ping1:t2:aa1:yl1:qee") },
	{ "v integer", M(PING_A "1:q4:ping1:t2:aa1:vi1e1:y1:qe") },
	{ "v huge", M(PING_A "1:q4:ping1:t2:aa1:v17:abcdefghijklmnopq1:y1:qe") },
	{ "ip 4 bytes", M("d2:ip4:\x01\x02\x03\x04" "1:rd2:id20:mnopqrstuvwxyz123456e"
	    "1:t2:aa1:y1:re") },
	{ "ip 7 bytes", M("d2:ip7:\x01\x02\x03\x04\x05\x06\x07" "1:rd2:id20:"
	    "mnopqrstuvwxyz123456e1:t2:aa1:y1:re") },
	{ "ip dict", M("d2:ipde" "1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re") },
	{ "no q", M(PING_A "1:t2:aa1:y1:qe") },
	{ "q integer", M(PING_A "1:qi1e1:t2:aa1:y1:qe") },
	{ "q empty", M(PING_A "1:q0:1:t2:aa1:y1:qe") },
	{ "q huge", M(PING_A "1:q33:pingpingpingpingpingpingpingpingp1:t2:aa1:y1:qe") },
	{ "a string", M("d1:a2:xx1:q4:ping1:t2:aa1:y1:qe") },
	{ "no a (dict)", M("d1:q4:ping1:t2:aa1:y1:qe") },
	{ "a list", M("d1:al2:ide1:q4:ping1:t2:aa1:y1:qe") },
	{ "missing id", M("d1:ade1:q4:ping1:t2:aa1:y1:qe") },
	{ "id 19 bytes", M("d1:ad2:id19:abcdefghij012345678e1:q4:ping1:t2:aa1:y1:qe") },
	{ "id 21 bytes", M("d1:ad2:id21:abcdefghij0123456789Xe1:q4:ping1:t2:aa1:y1:qe") },
	{ "id integer", M("d1:ad2:idi1ee1:q4:ping1:t2:aa1:y1:qe") },
	{ "find_node no target", M(PING_A "1:q9:find_node1:t2:aa1:y1:qe") },
	{ "find_node short target", M("d1:ad2:id20:abcdefghij01234567896:target3:abce"
	    "1:q9:find_node1:t2:aa1:y1:qe") },
	{ "want string", M("d1:ad2:id20:abcdefghij01234567896:target20:"
	    "mnopqrstuvwxyz1234564:want2:n4e1:q9:find_node1:t2:aa1:y1:qe") },
	{ "want of ints", M("d1:ad2:id20:abcdefghij01234567896:target20:"
	    "mnopqrstuvwxyz1234564:wantli4eee1:q9:find_node1:t2:aa1:y1:qe") },
	{ "want too long", M("d1:ad2:id20:abcdefghij01234567896:target20:"
	    "mnopqrstuvwxyz1234564:wantl2:n42:n42:n42:n42:n42:n42:n42:n42:n4ee"
	    "1:q9:find_node1:t2:aa1:y1:qe") },
	{ "get_peers no info_hash", M(PING_A "1:q9:get_peers1:t2:aa1:y1:qe") },
	{ "announce no token", M("d1:ad2:id20:abcdefghij01234567899:info_hash20:"
	    "mnopqrstuvwxyz1234564:porti6881ee1:q13:announce_peer1:t2:aa1:y1:qe") },
	{ "announce empty token", M("d1:ad2:id20:abcdefghij01234567899:info_hash20:"
	    "mnopqrstuvwxyz1234564:porti6881e5:token0:e1:q13:announce_peer1:t2:aa1:y1:qe") },
	{ "announce no port", M("d1:ad2:id20:abcdefghij01234567899:info_hash20:"
	    "mnopqrstuvwxyz1234565:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe") },
	{ "announce port 0", M("d1:ad2:id20:abcdefghij01234567899:info_hash20:"
	    "mnopqrstuvwxyz1234564:porti0e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe") },
	{ "announce port 65536", M("d1:ad2:id20:abcdefghij01234567899:info_hash20:"
	    "mnopqrstuvwxyz1234564:porti65536e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe") },
	{ "announce port -1", M("d1:ad2:id20:abcdefghij01234567899:info_hash20:"
	    "mnopqrstuvwxyz1234564:porti-1e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe") },
	{ "announce port string", M("d1:ad2:id20:abcdefghij01234567899:info_hash20:"
	    "mnopqrstuvwxyz1234564:port4:68815:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe") },
	{ "implied_port string", M("d1:ad2:id20:abcdefghij012345678912:implied_port1:1"
	    "9:info_hash20:mnopqrstuvwxyz1234564:porti1e5:token1:xe"
	    "1:q13:announce_peer1:t2:aa1:y1:qe") },
	{ "announce token 65 bytes", M("d1:ad2:id20:abcdefghij01234567899:info_hash20:"
	    "mnopqrstuvwxyz1234564:porti1e5:token65:"
	    "0123456789012345678901234567890123456789012345678901234567890123X"
	    "e1:q13:announce_peer1:t2:aa1:y1:qe") },
	{ "no r", M("d1:t2:aa1:y1:re") },
	{ "r list", M("d1:rle1:t2:aa1:y1:re") },
	{ "r without id", M("d1:rd5:token1:xe1:t2:aa1:y1:re") },
	{ "25-byte node", M(RID "5:nodes25:0123456789012345678901234e1:t2:aa1:y1:re") },
	{ "27-byte node", M(RID "5:nodes27:012345678901234567890123456e1:t2:aa1:y1:re") },
	{ "38-byte nodes (v4)", M(RID "5:nodes38:01234567890123456789012345678901234567e"
	    "1:t2:aa1:y1:re") },
	{ "26-byte nodes6", M(RID "6:nodes626:01234567890123456789012345e1:t2:aa1:y1:re") },
	{ "nodes list", M(RID "5:nodesle" "e1:t2:aa1:y1:re") },
	{ "values string", M(RID "6:values6:abcdefe1:t2:aa1:y1:re") },
	{ "value 5 bytes", M(RID "6:valuesl5:abcdee" "e1:t2:aa1:y1:re") },
	{ "value 7 bytes", M(RID "6:valuesl6:abcdef7:abcdefge" "e1:t2:aa1:y1:re") },
	{ "value 0 bytes", M(RID "6:valuesl0:e" "e1:t2:aa1:y1:re") },
	{ "value integer", M(RID "6:valuesli6ee" "e1:t2:aa1:y1:re") },
	{ "value list", M(RID "6:valuesll6:abcdefee" "e1:t2:aa1:y1:re") },
	{ "reply token empty", M(RID "5:token0:e1:t2:aa1:y1:re") },
	{ "reply token integer", M(RID "5:tokeni1ee1:t2:aa1:y1:re") },
	{ "no e", M("d1:t2:aa1:y1:ee") },
	{ "e dict", M("d1:ede1:t2:aa1:y1:ee") },
	{ "e empty", M("d1:ele1:t2:aa1:y1:ee") },
	{ "e code only", M("d1:eli201ee1:t2:aa1:y1:ee") },
	{ "e code string", M("d1:el3:2014:oopse1:t2:aa1:y1:ee") },
	{ "e message integer", M("d1:eli201ei1ee1:t2:aa1:y1:ee") },
	{ "e code negative", M("d1:eli-1e4:oopse1:t2:aa1:y1:ee") },
	{ "e code huge", M("d1:eli4294967296e4:oopse1:t2:aa1:y1:ee") },
	{ "e swapped", M("d1:el4:oopsi201ee1:t2:aa1:y1:ee") },
	{ "truncated", M("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q") },
	{ "string past end", M("d1:t2000:aae") },
};

START_TEST(test_bad)
{
	const struct bad *b = &bad[_i];
	struct krpc_msg *m = malloc(sizeof(*m));
	char err[256];

	ck_assert_ptr_nonnull(m);
	ck_assert_msg(krpc_parse(b->p, b->len, m, err, sizeof(err)) == -1, "%s accepted",
	    b->why);
	ck_assert_msg(err[0] != '\0', "%s: no reason", b->why);
	/* No error buffer at all must be fine too. */
	ck_assert_int_eq(krpc_parse(b->p, b->len, m, NULL, 0), -1);
	free(m);
}
END_TEST

/* Every proper prefix of a good message is refused. */
START_TEST(test_truncated)
{
	static const char *const good[] = {
		("d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:"
		    "mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe"
		    "1:q13:announce_peer1:t2:aa1:y1:qe"),
		("d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth"
		    "6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re"),
		"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
	};
	struct krpc_msg m;

	for (size_t g = 0; g < sizeof(good) / sizeof(good[0]); g++) {
		size_t len = strlen(good[g]);

		parse_ok((const uint8_t *)good[g], len, &m);
		for (size_t n = 0; n < len; n++)
			parse_bad((const uint8_t *)good[g], n);
	}
}
END_TEST

/* A refused query still tells the node whom to answer with 203. */
START_TEST(test_bad_query_keeps_tid)
{
	static const char q[] = "d1:ade1:q4:ping1:t2:zz1:y1:qe";
	struct krpc_msg m;
	char err[256];

	ck_assert_int_eq(krpc_parse(M(q), &m, err, sizeof(err)), -1);
	ck_assert_int_eq(m.type, KRPC_QUERY);
	ck_assert_int_eq(m.method, KRPC_PING);
	ck_assert_uint_eq(m.tid_len, 2);
	ck_assert_mem_eq(m.tid, "zz", 2);
	ck_assert_ptr_nonnull(strstr(err, "id"));
}
END_TEST

static void
append_values(struct buf *b, size_t n)
{
	ck_assert_int_eq(buf_puts(b, RID "6:valuesl"), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(buf_puts(b, "6:abcdef"), 0);
	ck_assert_int_eq(buf_puts(b, "ee1:t2:aa1:y1:re"), 0);
}

START_TEST(test_many_values)
{
	struct krpc_msg m;
	char err[256];
	struct buf b;

	buf_init(&b, 0);
	/* 10^5 values: refused for size before any decoding. */
	append_values(&b, 100000);
	ck_assert_int_eq(krpc_parse(b.data, b.len, &m, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "limit"));
	/* Within the size limit, the count limit holds. */
	buf_reset(&b);
	append_values(&b, KRPC_MAX_VALUES + 1);
	ck_assert_int_eq(krpc_parse(b.data, b.len, &m, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "values"));
	buf_reset(&b);
	append_values(&b, KRPC_MAX_VALUES);
	parse_ok(b.data, b.len, &m);
	ck_assert_uint_eq(m.nvalues, KRPC_MAX_VALUES);
	buf_free(&b);
}
END_TEST

START_TEST(test_many_nodes)
{
	struct krpc_msg m;
	struct buf b;

	for (size_t n = KRPC_MAX_NODES; n <= KRPC_MAX_NODES + 1; n++) {
		buf_init(&b, 0);
		ck_assert_int_eq(buf_printf(&b, RID "5:nodes%zu:", n * KRPC_NODE4_LEN), 0);
		for (size_t i = 0; i < n * KRPC_NODE4_LEN; i++)
			ck_assert_int_eq(buf_putc(&b, 'n'), 0);
		ck_assert_int_eq(buf_puts(&b, "e1:t2:aa1:y1:re"), 0);
		if (n == KRPC_MAX_NODES) {
			parse_ok(b.data, b.len, &m);
			ck_assert_uint_eq(m.nnodes, n);
		} else
			parse_bad(b.data, b.len);
		buf_free(&b);
	}
}
END_TEST

START_TEST(test_deep_nesting)
{
	struct buf b;

	/* 100 nested lists under an unknown key of an otherwise good ping. */
	buf_init(&b, 0);
	/* "x" sorts between "t" and "y": only the depth is wrong. */
	ck_assert_int_eq(buf_puts(&b, PING_A "1:q4:ping1:t2:aa1:x"), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(buf_putc(&b, 'l'), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(buf_putc(&b, 'e'), 0);
	ck_assert_int_eq(buf_puts(&b, "1:y1:qe"), 0);
	parse_bad(b.data, b.len);
	/* And plain 100-deep dicts and lists, unterminated and terminated. */
	buf_reset(&b);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(buf_puts(&b, "d1:t"), 0);
	parse_bad(b.data, b.len);
	buf_reset(&b);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(buf_putc(&b, 'l'), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(buf_putc(&b, 'e'), 0);
	parse_bad(b.data, b.len);
	buf_free(&b);
}
END_TEST

/* Unknown keys are ignored, unknown methods reported, not refused (BEP 5 practice). */
START_TEST(test_lenient)
{
	static const char extra[] = "d1:ad2:id20:abcdefghij01234567894:seedi1e"
	    "6:target20:mnopqrstuvwxyz1234564:wantl2:n62:n52:n4ee1:q9:find_node"
	    "2:roi1e1:t4:\0\1\2\3" "1:v4:UT\xab\xcd" "1:y1:q1:zli1eee";
	static const char unknown[] = "d1:ad2:id20:abcdefghij01234567896:target20:"
	    "mnopqrstuvwxyz123456e1:q17:sample_infohashes1:t2:aa1:y1:qe";
	static const char unknown_noa[] = "d1:q3:put1:t2:aa1:y1:qe";
	static const char unknown_bin[] = "d1:q4:\x01\xff\n\x7f" "1:t2:aa1:y1:qe";
	static const char unknown_cont[] = "d1:q4:\x94\x96\x91\x98" "1:t2:aa1:y1:qe";
	static const char err_extra[] = "d1:eli202e5:\xc3\xa9t\x01\n4:morei1ee1:t1:a1:y1:ee";
	static const char reply_extra[] = "d2:ip6:\x7f\0\0\x01\x1a\xe1" "1:rd2:id20:"
	    "mnopqrstuvwxyz1234561:pi1e7:samples0:e1:t2:aa1:y1:re";
	struct krpc_msg m;

	parse_ok(M(extra), &m);
	ck_assert_int_eq(m.method, KRPC_FIND_NODE);
	ck_assert_uint_eq(m.want, KRPC_WANT_N4 | KRPC_WANT_N6);
	ck_assert_uint_eq(m.tid_len, 4);
	ck_assert_mem_eq(m.tid, "\0\1\2\3", 4);
	ck_assert_uint_eq(m.version_len, 4);
	ck_assert_mem_eq(m.version, "UT\xab\xcd", 4);

	parse_ok(M(unknown), &m);
	ck_assert_int_eq(m.type, KRPC_QUERY);
	ck_assert_int_eq(m.method, KRPC_METHOD_UNKNOWN);
	ck_assert_str_eq(m.method_name, "sample_infohashes");
	ck_assert_uint_eq(m.has, KRPC_HAS_ID);
	ck_assert_mem_eq(m.id, ID_A, 20);

	parse_ok(M(unknown_noa), &m);
	ck_assert_int_eq(m.method, KRPC_METHOD_UNKNOWN);
	ck_assert_uint_eq(m.has, 0);
	ck_assert_str_eq(krpc_method_name(m.method), "unknown");

	parse_ok(M(unknown_bin), &m);
	ck_assert_str_eq(m.method_name, "????");
	/* Stray UTF-8 continuation bytes still leave a name to log (found by fuzzing). */
	parse_ok(M(unknown_cont), &m);
	ck_assert_str_eq(m.method_name, "?");

	parse_ok(M(err_extra), &m);
	ck_assert_int_eq(m.code, KRPC_ERR_SERVER);
	ck_assert_str_eq(m.message, "?t??");

	parse_ok(M(reply_extra), &m);
	ck_assert_uint_eq(m.has, KRPC_HAS_ID | KRPC_HAS_IP);
	check_addr(&m.ip, "127.0.0.1:6881");
}
END_TEST

/* Builders refuse what the parser would, and leave the buffer as it was. */
START_TEST(test_builder_refusals)
{
	uint8_t id[20] = { 0 }, tok[KRPC_MAX_TOKEN + 1] = { 0 }, longv[KRPC_MAX_VERSION + 1];
	struct krpc_head h = { (const uint8_t *)"ab", 2, NULL, 0, NULL };
	struct krpc_head bad_h;
	struct krpc_node n4, n6, many[KRPC_MAX_NODES + 1];
	struct netaddr v[KRPC_MAX_VALUES + 1], unspec;
	struct krpc_closest c = { 0 };
	char longmsg[KRPC_MAX_ERRMSG + 2];
	struct krpc_msg *m = calloc(1, sizeof(*m));
	struct buf b;

	ck_assert_ptr_nonnull(m);
	memset(longv, 'v', sizeof(longv));
	memset(&unspec, 0, sizeof(unspec));
	node(&n4, 1, "1.2.3.4:5");
	node(&n6, 2, "[::1]:5");
	for (int i = 0; i <= KRPC_MAX_NODES; i++)
		many[i] = n4;
	for (int i = 0; i <= KRPC_MAX_VALUES; i++)
		addr(&v[i], "1.2.3.4:5");
	buf_init(&b, 0);
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);

	bad_h = h;
	bad_h.tid_len = 0;
	ck_assert_int_eq(krpc_put_ping(&b, &bad_h, id), -1);
	bad_h.tid_len = KRPC_MAX_TID + 1;
	bad_h.tid = longv;
	ck_assert_int_eq(krpc_put_ping(&b, &bad_h, id), -1);
	bad_h = h;
	bad_h.tid = NULL;
	ck_assert_int_eq(krpc_put_ping(&b, &bad_h, id), -1);
	bad_h = h;
	bad_h.version = longv;
	bad_h.version_len = sizeof(longv);
	ck_assert_int_eq(krpc_put_ping(&b, &bad_h, id), -1);
	bad_h = h;
	bad_h.ip = &unspec;
	ck_assert_int_eq(krpc_put_reply_id(&b, &bad_h, id), -1);

	ck_assert_int_eq(krpc_put_announce_peer(&b, &h, id, id, 0, 0, tok, 1), -1);
	ck_assert_int_eq(krpc_put_announce_peer(&b, &h, id, id, 1, 0, tok, 0), -1);
	ck_assert_int_eq(krpc_put_announce_peer(&b, &h, id, id, 1, 0, NULL, 0), -1);
	ck_assert_int_eq(krpc_put_announce_peer(&b, &h, id, id, 1, 0, tok, sizeof(tok)), -1);
	ck_assert_int_eq(krpc_put_ping(&b, &h, NULL), -1);
	ck_assert_int_eq(krpc_put_find_node(&b, &h, id, NULL, 0), -1);
	ck_assert_int_eq(krpc_put_get_peers(&b, &h, id, NULL, 0), -1);
	ck_assert_int_eq(krpc_put_reply_id(&b, &h, NULL), -1);

	/* Nodes of the wrong family, too many nodes or values, no nodes at all. */
	ck_assert_int_eq(krpc_put_reply_find_node(&b, &h, id, &c), -1);
	ck_assert_int_eq(krpc_put_reply_find_node(&b, &h, id, NULL), -1);
	c.v4 = &n6;
	c.n4 = 1;
	ck_assert_int_eq(krpc_put_reply_find_node(&b, &h, id, &c), -1);
	c.v4 = NULL;
	c.v6 = &n4;
	c.n6 = 1;
	ck_assert_int_eq(krpc_put_reply_find_node(&b, &h, id, &c), -1);
	c.v6 = NULL;
	c.v4 = many;
	c.n4 = KRPC_MAX_NODES + 1;
	ck_assert_int_eq(krpc_put_reply_find_node(&b, &h, id, &c), -1);
	ck_assert_int_eq(krpc_put_reply_get_peers(&b, &h, id, tok, 1, v,
	    KRPC_MAX_VALUES + 1, NULL), -1);
	ck_assert_int_eq(krpc_put_reply_get_peers(&b, &h, id, tok, 1, NULL, 0, NULL), -1);
	ck_assert_int_eq(krpc_put_reply_get_peers(&b, &h, id, NULL, 0, v, 1, NULL), -1);
	v[0] = unspec;
	ck_assert_int_eq(krpc_put_reply_get_peers(&b, &h, id, tok, 1, v, 1, NULL), -1);

	/* Error messages: printable and bounded; codes non-negative. */
	ck_assert_int_eq(krpc_put_error(&b, &h, 201, "bad\n"), -1);
	ck_assert_int_eq(krpc_put_error(&b, &h, 201, "caf\xc3\xa9"), -1);
	ck_assert_int_eq(krpc_put_error(&b, &h, 201, NULL), -1);
	ck_assert_int_eq(krpc_put_error(&b, &h, -1, "x"), -1);
	memset(longmsg, 'x', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	ck_assert_int_eq(krpc_put_error(&b, &h, 201, longmsg), -1);
	longmsg[KRPC_MAX_ERRMSG] = '\0';
	ck_assert_int_eq(krpc_put_error(&b, &h, 201, longmsg), 0);
	b.len = 4;

	/* krpc_build: no type, unknown method, unterminated message. */
	m->tid_len = 1;
	ck_assert_int_eq(krpc_build(&b, m), -1);
	m->type = KRPC_QUERY;
	m->method = KRPC_METHOD_UNKNOWN;
	ck_assert_int_eq(krpc_build(&b, m), -1);
	m->method = KRPC_METHOD_NONE;
	ck_assert_int_eq(krpc_build(&b, m), -1);
	/* An announce_peer whose token flag is off has no token to send. */
	m->type = KRPC_QUERY;
	m->method = KRPC_ANNOUNCE_PEER;
	m->port = 1;
	m->token_len = 4;
	ck_assert_int_eq(krpc_build(&b, m), -1);
	m->type = KRPC_ERROR;
	memset(m->message, 'x', sizeof(m->message));
	ck_assert_int_eq(krpc_build(&b, m), -1);

	ck_assert_uint_eq(b.len, 4);
	ck_assert_mem_eq(b.data, "keep", 4);
	buf_free(&b);

	/* A buffer at its limit refuses the message whole. */
	buf_init(&b, 20);
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);
	ck_assert_int_eq(krpc_put_ping(&b, &h, id), -1);
	ck_assert_uint_eq(b.len, 4);
	buf_free(&b);
	free(m);
}
END_TEST

START_TEST(test_node_codec)
{
	static const uint8_t c4[] = "ABCDEFGHIJKLMNOPQRST\xc0\xa8\x01\x02\x1a\xe1";
	static const uint8_t c6[] = "ABCDEFGHIJKLMNOPQRST\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
	    "\xff\xff";
	struct krpc_node n;
	uint8_t out[KRPC_NODE6_LEN];

	ck_assert_int_eq(krpc_node_decode(&n, c4, KRPC_NODE4_LEN), 0);
	ck_assert_mem_eq(n.id, "ABCDEFGHIJKLMNOPQRST", 20);
	check_addr(&n.addr, "192.168.1.2:6881");
	ck_assert_int_eq(krpc_node_encode(&n, out, sizeof(out)), KRPC_NODE4_LEN);
	ck_assert_mem_eq(out, c4, KRPC_NODE4_LEN);
	ck_assert_int_eq(krpc_node_encode(&n, out, KRPC_NODE4_LEN - 1), -1);

	ck_assert_int_eq(krpc_node_decode(&n, c6, KRPC_NODE6_LEN), 0);
	check_addr(&n.addr, "[2001:db8::1]:65535");
	ck_assert_int_eq(krpc_node_encode(&n, out, sizeof(out)), KRPC_NODE6_LEN);
	ck_assert_mem_eq(out, c6, KRPC_NODE6_LEN);
	ck_assert_int_eq(krpc_node_encode(&n, out, KRPC_NODE4_LEN), -1);
	ck_assert_int_eq(krpc_node_encode(&n, out, 3), -1);

	for (size_t len = 0; len <= KRPC_NODE6_LEN + 1; len++)
		if (len != KRPC_NODE4_LEN && len != KRPC_NODE6_LEN)
			ck_assert_int_eq(krpc_node_decode(&n, c6, len), -1);
}
END_TEST

START_TEST(test_id_distance)
{
	uint8_t t[20] = { 0 }, a[20] = { 0 }, b[20] = { 0 };

	ck_assert_int_eq(krpc_id_closer(t, a, b), 0);
	ck_assert_int_eq(krpc_id_prefix_len(a, b), 160);
	b[19] = 1;
	ck_assert_int_lt(krpc_id_closer(t, a, b), 0);
	ck_assert_int_gt(krpc_id_closer(t, b, a), 0);
	ck_assert_int_eq(krpc_id_prefix_len(a, b), 159);
	/* XOR, not numeric distance: from 0x80.., 0xff.. is closer than 0x00... */
	t[0] = 0x80;
	a[0] = 0xff;
	b[0] = 0x00;
	b[19] = 0;
	ck_assert_int_lt(krpc_id_closer(t, a, b), 0);
	ck_assert_int_eq(krpc_id_prefix_len(a, b), 0);
	ck_assert_int_eq(krpc_id_prefix_len(t, a), 1);
	/* The first differing byte decides, however far behind the rest. */
	memset(a, 0, 20);
	memset(b, 0xff, 20);
	b[0] = 0;
	a[1] = 0x01;
	b[1] = 0x00;
	memset(t, 0, 20);
	ck_assert_int_gt(krpc_id_closer(t, a, b), 0);
	ck_assert_int_eq(krpc_id_prefix_len(a, b), 15);
	t[1] = 0x01;
	ck_assert_int_lt(krpc_id_closer(t, a, b), 0);
	ck_assert_int_eq(krpc_id_prefix_len(t, a), 160);
}
END_TEST

START_TEST(test_method_names)
{
	ck_assert_str_eq(krpc_method_name(KRPC_PING), "ping");
	ck_assert_str_eq(krpc_method_name(KRPC_FIND_NODE), "find_node");
	ck_assert_str_eq(krpc_method_name(KRPC_GET_PEERS), "get_peers");
	ck_assert_str_eq(krpc_method_name(KRPC_ANNOUNCE_PEER), "announce_peer");
	ck_assert_str_eq(krpc_method_name(KRPC_METHOD_NONE), "unknown");
	ck_assert_str_eq(krpc_method_name((enum krpc_method)99), "unknown");
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("krpc");
	TCase *tc = tcase_create("krpc");

	tcase_add_test(tc, test_bep5_ping);
	tcase_add_test(tc, test_bep5_find_node);
	tcase_add_test(tc, test_bep5_get_peers);
	tcase_add_test(tc, test_bep5_announce_peer);
	tcase_add_test(tc, test_bep5_error);
	tcase_add_test(tc, test_roundtrip_queries);
	tcase_add_test(tc, test_roundtrip_replies);
	tcase_add_test(tc, test_largest_fits);
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_bad_query_keeps_tid);
	tcase_add_test(tc, test_many_values);
	tcase_add_test(tc, test_many_nodes);
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_lenient);
	tcase_add_test(tc, test_builder_refusals);
	tcase_add_test(tc, test_node_codec);
	tcase_add_test(tc, test_id_distance);
	tcase_add_test(tc, test_method_names);
	suite_add_tcase(s, tc);
	return s;
}
