/* test-wire.c: unit tests for the peer wire parsers and builders (common/wire.c). */
#include "testmain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "wire.h"

#define M(x) (const uint8_t *)(x), sizeof(x) - 1

/* A complete, valid message and what the parser must make of it. */
struct good_msg {
	const uint8_t *p;
	size_t len;
	int id;
	uint32_t index, begin, length;
	uint16_t port;
	uint8_t ext_id;
	size_t data_len;
	uint8_t raw_id;
};

static const struct good_msg good[] = {
	{ M("\0\0\0\0"), WIRE_KEEPALIVE, 0, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\1\0"), WIRE_CHOKE, 0, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\1\1"), WIRE_UNCHOKE, 0, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\1\2"), WIRE_INTERESTED, 0, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\1\3"), WIRE_NOT_INTERESTED, 0, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\5\4\0\0\1\2"), WIRE_HAVE, 258, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\5\4\xff\xff\xff\xff"), WIRE_HAVE, 0xffffffff, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\1\5"), WIRE_BITFIELD, 0, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\3\5\xff\x80"), WIRE_BITFIELD, 0, 0, 0, 0, 0, 2, 0 },
	{ M("\0\0\0\x0d\6\0\0\0\7\0\0\x40\0\0\0\x40\0"), WIRE_REQUEST, 7, 16384, 16384,
	    0, 0, 0, 0 },
	{ M("\0\0\0\x0d\6\0\0\0\0\0\0\0\0\0\2\0\0"), WIRE_REQUEST, 0, 0, WIRE_MAX_REQUEST,
	    0, 0, 0, 0 },
	{ M("\0\0\0\x0d\6\0\0\0\0\0\0\0\0\0\0\0\1"), WIRE_REQUEST, 0, 0, 1, 0, 0, 0, 0 },
	{ M("\0\0\0\x09\7\0\0\0\3\0\0\0\x10"), WIRE_PIECE, 3, 16, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\x0c\7\0\0\0\3\0\0\0\x10" "abc"), WIRE_PIECE, 3, 16, 3, 0, 0, 3, 0 },
	{ M("\0\0\0\x0d\x08\0\0\0\1\0\0\0\2\0\0\0\3"), WIRE_CANCEL, 1, 2, 3, 0, 0, 0, 0 },
	{ M("\0\0\0\3\x09\x1a\xe1"), WIRE_PORT, 0, 0, 0, 6881, 0, 0, 0 },
	{ M("\0\0\0\5\x0d\0\0\0\x2a"), WIRE_SUGGEST, 42, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\1\x0e"), WIRE_HAVE_ALL, 0, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\1\x0f"), WIRE_HAVE_NONE, 0, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\x0d\x10\0\0\0\1\0\0\0\2\0\0\0\3"), WIRE_REJECT, 1, 2, 3, 0, 0, 0, 0 },
	{ M("\0\0\0\5\x11\0\0\0\x09"), WIRE_ALLOWED_FAST, 9, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\2\x14\0"), WIRE_EXTENDED, 0, 0, 0, 0, 0, 0, 0 },
	{ M("\0\0\0\x05\x14\3d1e"), WIRE_EXTENDED, 0, 0, 0, 0, 3, 3, 0 },
	/* Ids we don't know (BEP 3: ignore them), of any size up to the limit. */
	{ M("\0\0\0\1\x0a"), WIRE_UNKNOWN, 0, 0, 0, 0, 0, 0, 10 },
	{ M("\0\0\0\4\xc8xyz"), WIRE_UNKNOWN, 0, 0, 0, 0, 0, 3, 200 },
	{ M("\0\0\0\1\xff"), WIRE_UNKNOWN, 0, 0, 0, 0, 0, 0, 255 },
	{ M("\0\0\0\2\x15\0"), WIRE_UNKNOWN, 0, 0, 0, 0, 0, 1, 21 },
};

struct bad_msg {
	const uint8_t *p;
	size_t len;
	const char *why;	/* a word the error must contain */
};

static const struct bad_msg bad[] = {
	{ M("\0\0\0\2\0\0"), "choke" },
	{ M("\0\0\0\2\1\0"), "unchoke" },
	{ M("\0\0\0\2\2\0"), "interested" },
	{ M("\0\0\0\2\3\0"), "not_interested" },
	{ M("\0\0\0\4\4\0\0\0"), "have" },
	{ M("\0\0\0\6\4\0\0\0\0\0"), "have" },
	{ M("\0\0\0\1\4"), "have" },
	{ M("\0\0\0\x0c\6\0\0\0\0\0\0\0\0\0\0\0"), "request" },
	{ M("\0\0\0\x0e\6\0\0\0\0\0\0\0\0\0\0\0\1\0"), "request" },
	{ M("\0\0\0\x0d\6\0\0\0\0\0\0\0\0\0\0\0\0"), "0 bytes" },
	{ M("\0\0\0\x0d\6\0\0\0\0\0\0\0\0\0\2\0\1"), "request for" },
	{ M("\0\0\0\x0d\6\0\0\0\0\0\0\0\0\xff\xff\xff\xff"), "request for" },
	{ M("\0\0\0\x0d\x08\0\0\0\0\0\0\0\0\0\0\0\0"), "cancel" },
	{ M("\0\0\0\x0d\x08\0\0\0\0\0\0\0\0\0\2\0\1"), "cancel" },
	{ M("\0\0\0\x0d\x10\0\0\0\0\0\0\0\0\0\0\0\0"), "reject" },
	{ M("\0\0\0\x0d\x10\0\0\0\0\0\0\0\0\1\0\0\0"), "reject" },
	{ M("\0\0\0\x0c\x08\0\0\0\0\0\0\0\0\0\0\0"), "cancel" },
	{ M("\0\0\0\x0c\x10\0\0\0\0\0\0\0\0\0\0\0"), "reject" },
	{ M("\0\0\0\x08\7\0\0\0\0\0\0\0"), "piece" },
	{ M("\0\0\0\1\7"), "piece" },
	{ M("\0\0\0\2\x09\0"), "port" },
	{ M("\0\0\0\4\x09\0\0\0"), "port" },
	{ M("\0\0\0\4\x0d\0\0\0"), "suggest" },
	{ M("\0\0\0\6\x0d\0\0\0\0\0"), "suggest" },
	{ M("\0\0\0\2\x0e\0"), "have_all" },
	{ M("\0\0\0\2\x0f\0"), "have_none" },
	{ M("\0\0\0\4\x11\0\0\0"), "allowed_fast" },
	{ M("\0\0\0\6\x11\0\0\0\0\0"), "allowed_fast" },
	{ M("\0\0\0\1\x14"), "extended" },
	/* Over the limit, refused on the prefix alone. */
	{ M("\xff\xff\xff\xff"), "limit" },
	{ M("\0\x10\0\1"), "limit" },
	{ M("\x80\0\0\0\0"), "limit" },
};

/* A heap copy of exactly len bytes, so ASan catches any read past the end. */
static uint8_t *
exact_copy(const uint8_t *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(c);
	if (len)
		memcpy(c, p, len);
	return c;
}

static ssize_t
parse(const uint8_t *p, size_t len, struct wire_msg *m, size_t *need, char *err,
    size_t errlen)
{
	uint8_t *c = exact_copy(p, len);
	ssize_t rc;

	err[0] = '\0';
	rc = wire_msg_parse(c, len, WIRE_MAX_MSG, m, need, err, errlen);
	/* Data points into the input; check it while the copy is alive. */
	if (rc > 0 && m->data_len > 0) {
		ck_assert(m->data >= c && m->data + m->data_len <= c + len);
		m->data = p + (m->data - c);
	}
	free(c);
	return rc;
}

START_TEST(test_good)
{
	const struct good_msg *g = &good[_i];
	struct wire_msg m;
	char err[128];
	size_t need;
	ssize_t rc;

	rc = parse(g->p, g->len, &m, &need, err, sizeof(err));
	ck_assert_msg(rc == (ssize_t)g->len, "good[%d]: rc %zd err %s", _i, rc, err);
	ck_assert_int_eq(m.id, g->id);
	ck_assert_uint_eq(m.index, g->index);
	ck_assert_uint_eq(m.begin, g->begin);
	ck_assert_uint_eq(m.length, g->length);
	ck_assert_uint_eq(m.port, g->port);
	ck_assert_uint_eq(m.ext_id, g->ext_id);
	ck_assert_uint_eq(m.data_len, g->data_len);
	ck_assert_uint_eq(m.raw_id, g->raw_id);
	/* Trailing bytes of the next message are not this one's business. */
	{
		uint8_t more[64];

		ck_assert_uint_le(g->len + 5, sizeof(more));
		memcpy(more, g->p, g->len);
		memcpy(more + g->len, "\0\0\0\1\2", 5);
		rc = parse(more, g->len + 5, &m, &need, err, sizeof(err));
		ck_assert_int_eq(rc, (ssize_t)g->len);
		ck_assert_int_eq(m.id, g->id);
	}
}
END_TEST

START_TEST(test_good_prefixes)
{
	const struct good_msg *g = &good[_i];
	struct wire_msg m;
	char err[128];
	size_t need;

	/* Every proper prefix is "not yet", never an error or an over-read. */
	for (size_t n = 0; n < g->len; n++) {
		ssize_t rc = parse(g->p, n, &m, &need, err, sizeof(err));

		ck_assert_msg(rc == 0, "good[%d] prefix %zu: rc %zd err %s", _i, n,
		    rc, err);
		ck_assert_uint_eq(need, n < 4 ? 4 : g->len);
	}
}
END_TEST

START_TEST(test_bad)
{
	const struct bad_msg *b = &bad[_i];
	struct wire_msg m;
	char err[128];
	size_t need;
	ssize_t rc;

	rc = parse(b->p, b->len, &m, &need, err, sizeof(err));
	ck_assert_msg(rc == -1, "bad[%d]: rc %zd", _i, rc);
	ck_assert_msg(strstr(err, b->why) != NULL, "bad[%d]: err '%s' lacks '%s'", _i,
	    err, b->why);
	/* NULL err and need are allowed. */
	ck_assert_int_eq(wire_msg_parse(b->p, b->len, WIRE_MAX_MSG, &m, NULL, NULL, 0), -1);
}
END_TEST

START_TEST(test_huge_prefix)
{
	struct wire_msg m;
	char err[128];
	size_t need;

	/* 4 GiB - 1 announced: refused on the first four bytes, no body awaited. */
	ck_assert_int_eq(parse(M("\xff\xff\xff\xff"), &m, &need, err, sizeof(err)), -1);
	ck_assert_int_eq(parse(M("\xff\xff\xff"), &m, &need, err, sizeof(err)), 0);
	/* Exactly max is fine (and waited for); one more is not. */
	ck_assert_int_eq(wire_msg_parse(M("\0\0\1\0\5"), 256, &m, &need, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(need, 260);
	ck_assert_int_eq(wire_msg_parse(M("\0\0\1\1"), 256, &m, &need, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(wire_msg_parse(M("\0\0\0\1\0"), 0, &m, &need, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(wire_msg_parse(M("\0\0\0\0"), 0, &m, &need, err,
	    sizeof(err)), 4);
	ck_assert_int_eq(m.id, WIRE_KEEPALIVE);
}
END_TEST

START_TEST(test_early_size_check)
{
	struct wire_msg m;
	char err[128];
	size_t need;

	/* A "have" announcing 100 bytes is wrong as soon as its id is in. */
	ck_assert_int_eq(parse(M("\0\0\0\x64\4"), &m, &need, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "have"));
	/* A bitfield of 100 bytes is fine and waited for. */
	ck_assert_int_eq(parse(M("\0\0\0\x64\5\xff"), &m, &need, err, sizeof(err)), 0);
	ck_assert_uint_eq(need, 104);
	/* An unknown id of 1000 bytes too. */
	ck_assert_int_eq(parse(M("\0\0\x03\xe8\x63"), &m, &need, err, sizeof(err)), 0);
	ck_assert_uint_eq(need, 1004);
}
END_TEST

START_TEST(test_stream)
{
	struct buf b;
	struct wire_msg m;
	static const int want[] = { WIRE_KEEPALIVE, WIRE_HAVE_NONE, WIRE_INTERESTED,
	    WIRE_BITFIELD, WIRE_REQUEST, WIRE_PIECE, WIRE_EXTENDED, WIRE_PORT };
	size_t off = 0, i = 0;
	ssize_t rc;
	char err[128];

	buf_init(&b, 0);
	ck_assert_int_eq(wire_put_keepalive(&b), 0);
	ck_assert_int_eq(wire_put_simple(&b, WIRE_HAVE_NONE), 0);
	ck_assert_int_eq(wire_put_simple(&b, WIRE_INTERESTED), 0);
	ck_assert_int_eq(wire_put_bitfield(&b, (const uint8_t *)"\xf0", 1), 0);
	ck_assert_int_eq(wire_put_block(&b, WIRE_REQUEST, 1, 0, WIRE_BLOCK), 0);
	ck_assert_int_eq(wire_put_piece_header(&b, 1, 0, 4), 0);
	ck_assert_int_eq(buf_append(&b, "data", 4), 0);
	ck_assert_int_eq(wire_put_extended(&b, 1, "d1:ai1ee", 8), 0);
	ck_assert_int_eq(wire_put_port(&b, 6881), 0);
	while ((rc = wire_msg_parse(b.data + off, b.len - off, WIRE_MAX_MSG, &m, NULL,
	    err, sizeof(err))) > 0) {
		ck_assert_uint_lt(i, sizeof(want) / sizeof(want[0]));
		ck_assert_int_eq(m.id, want[i]);
		off += (size_t)rc;
		i++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(off, b.len);
	ck_assert_uint_eq(i, sizeof(want) / sizeof(want[0]));
	buf_free(&b);
}
END_TEST

/* Parses exactly the one message in b and returns it. */
static struct wire_msg
reparse(const struct buf *b)
{
	struct wire_msg m;
	char err[128];

	ck_assert_int_eq(wire_msg_parse(b->data, b->len, WIRE_MAX_MSG, &m, NULL, err,
	    sizeof(err)), (ssize_t)b->len);
	return m;
}

START_TEST(test_roundtrip)
{
	static const enum wire_id simple[] = { WIRE_CHOKE, WIRE_UNCHOKE,
	    WIRE_INTERESTED, WIRE_NOT_INTERESTED, WIRE_HAVE_ALL, WIRE_HAVE_NONE };
	static const enum wire_id idx[] = { WIRE_HAVE, WIRE_SUGGEST, WIRE_ALLOWED_FAST };
	static const enum wire_id blk[] = { WIRE_REQUEST, WIRE_CANCEL, WIRE_REJECT };
	uint8_t bits[300];
	struct wire_msg m;
	struct buf b;

	buf_init(&b, 0);
	ck_assert_int_eq(wire_put_keepalive(&b), 0);
	ck_assert_int_eq(reparse(&b).id, WIRE_KEEPALIVE);
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		buf_reset(&b);
		ck_assert_int_eq(wire_put_simple(&b, simple[i]), 0);
		ck_assert_int_eq(reparse(&b).id, simple[i]);
	}
	for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
		buf_reset(&b);
		ck_assert_int_eq(wire_put_index(&b, idx[i], 0xdeadbeef), 0);
		m = reparse(&b);
		ck_assert_int_eq(m.id, idx[i]);
		ck_assert_uint_eq(m.index, 0xdeadbeef);
	}
	for (size_t i = 0; i < sizeof(blk) / sizeof(blk[0]); i++) {
		buf_reset(&b);
		ck_assert_int_eq(wire_put_block(&b, blk[i], 77, 32768, WIRE_BLOCK), 0);
		m = reparse(&b);
		ck_assert_int_eq(m.id, blk[i]);
		ck_assert_uint_eq(m.index, 77);
		ck_assert_uint_eq(m.begin, 32768);
		ck_assert_uint_eq(m.length, WIRE_BLOCK);
	}
	for (size_t i = 0; i < sizeof(bits); i++)
		bits[i] = (uint8_t)(i * 7);
	buf_reset(&b);
	ck_assert_int_eq(wire_put_bitfield(&b, bits, sizeof(bits)), 0);
	m = reparse(&b);
	ck_assert_int_eq(m.id, WIRE_BITFIELD);
	ck_assert_uint_eq(m.data_len, sizeof(bits));
	ck_assert_mem_eq(m.data, bits, sizeof(bits));
	buf_reset(&b);
	ck_assert_int_eq(wire_put_piece_header(&b, 5, 16384, sizeof(bits)), 0);
	ck_assert_uint_eq(b.len, 13);
	ck_assert_int_eq(buf_append(&b, bits, sizeof(bits)), 0);
	m = reparse(&b);
	ck_assert_int_eq(m.id, WIRE_PIECE);
	ck_assert_uint_eq(m.index, 5);
	ck_assert_uint_eq(m.begin, 16384);
	ck_assert_uint_eq(m.length, sizeof(bits));
	ck_assert_mem_eq(m.data, bits, sizeof(bits));
	buf_reset(&b);
	ck_assert_int_eq(wire_put_port(&b, 51413), 0);
	m = reparse(&b);
	ck_assert_int_eq(m.id, WIRE_PORT);
	ck_assert_uint_eq(m.port, 51413);
	buf_reset(&b);
	ck_assert_int_eq(wire_put_extended(&b, 3, "d1:xi1ee", 8), 0);
	m = reparse(&b);
	ck_assert_int_eq(m.id, WIRE_EXTENDED);
	ck_assert_uint_eq(m.ext_id, 3);
	ck_assert_uint_eq(m.data_len, 8);
	ck_assert_mem_eq(m.data, "d1:xi1ee", 8);
	buf_reset(&b);
	ck_assert_int_eq(wire_put_extended(&b, 0, NULL, 0), 0);
	m = reparse(&b);
	ck_assert_int_eq(m.id, WIRE_EXTENDED);
	ck_assert_uint_eq(m.data_len, 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_builder_refusals)
{
	struct buf b;

	buf_init(&b, 0);
	/* Wrong id for the builder. */
	ck_assert_int_eq(wire_put_simple(&b, WIRE_HAVE), -1);
	ck_assert_int_eq(wire_put_simple(&b, WIRE_KEEPALIVE), -1);
	ck_assert_int_eq(wire_put_simple(&b, WIRE_UNKNOWN), -1);
	ck_assert_int_eq(wire_put_simple(&b, WIRE_BITFIELD), -1);
	ck_assert_int_eq(wire_put_index(&b, WIRE_REQUEST, 1), -1);
	ck_assert_int_eq(wire_put_block(&b, WIRE_HAVE, 1, 2, 3), -1);
	/* What a peer would refuse from us. */
	ck_assert_int_eq(wire_put_block(&b, WIRE_REQUEST, 1, 2, 0), -1);
	ck_assert_int_eq(wire_put_block(&b, WIRE_REQUEST, 1, 2, WIRE_MAX_REQUEST + 1), -1);
	ck_assert_int_eq(wire_put_piece_header(&b, 0, 0, WIRE_MAX_MSG), -1);
	ck_assert_int_eq(wire_put_bitfield(&b, NULL, WIRE_MAX_MSG), -1);
	ck_assert_int_eq(wire_put_extended(&b, 1, NULL, WIRE_MAX_MSG), -1);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
	/* A full buffer is left as it was: no half messages. */
	buf_init(&b, 10);
	ck_assert_int_eq(wire_put_simple(&b, WIRE_CHOKE), 0);
	ck_assert_int_eq(wire_put_index(&b, WIRE_HAVE, 1), -1);
	ck_assert_int_eq(wire_put_bitfield(&b, (const uint8_t *)"abcdefgh", 8), -1);
	ck_assert_int_eq(wire_put_extended(&b, 1, "abcdefgh", 8), -1);
	ck_assert_int_eq(wire_put_block(&b, WIRE_REQUEST, 1, 2, 3), -1);
	ck_assert_uint_eq(b.len, 5);
	buf_free(&b);
}
END_TEST

static const uint8_t hs_hash[20] = "0123456789abcdefghij";
static const uint8_t hs_peer[20] = "-PD0100-ABCDEFGHIJKL";

START_TEST(test_handshake)
{
	uint8_t hs[WIRE_HANDSHAKE_LEN], res[8], ih[20];
	struct wire_handshake h;
	uint8_t *c;

	wire_handshake_build(hs, hs_hash, hs_peer, 1, 1, 1);
	ck_assert_mem_eq(hs, "\x13" "BitTorrent protocol", 20);
	c = exact_copy(hs, sizeof(hs));
	ck_assert_int_eq(wire_handshake_parse(c, sizeof(hs), &h), 1);
	ck_assert_mem_eq(h.info_hash, hs_hash, 20);
	ck_assert_mem_eq(h.peer_id, hs_peer, 20);
	ck_assert(WIRE_RESERVED_FAST(h.reserved));
	ck_assert(WIRE_RESERVED_EXT(h.reserved));
	ck_assert(WIRE_RESERVED_DHT(h.reserved));
	ck_assert_mem_eq(h.reserved, "\0\0\0\0\0\x10\0\x05", 8);
	free(c);
	for (size_t n = 0; n < sizeof(hs); n++) {
		c = exact_copy(hs, n);
		ck_assert_int_eq(wire_handshake_parse(c, n, &h), 0);
		ck_assert_int_eq(wire_handshake_parse_head(c, n, res, ih), n < 48 ? 0 : 1);
		free(c);
	}
	/* BEP 3 lets a listener wait for the info-hash before it answers. */
	c = exact_copy(hs, 48);
	ck_assert_int_eq(wire_handshake_parse_head(c, 48, res, ih), 1);
	ck_assert_mem_eq(ih, hs_hash, 20);
	ck_assert_mem_eq(res, "\0\0\0\0\0\x10\0\x05", 8);
	free(c);
	wire_handshake_build(hs, hs_hash, hs_peer, 0, 0, 0);
	ck_assert_int_eq(wire_handshake_parse(hs, sizeof(hs), &h), 1);
	ck_assert(!WIRE_RESERVED_FAST(h.reserved));
	ck_assert(!WIRE_RESERVED_EXT(h.reserved));
	ck_assert(!WIRE_RESERVED_DHT(h.reserved));
	wire_handshake_build(hs, hs_hash, hs_peer, 1, 0, 0);
	ck_assert_int_eq(wire_handshake_parse(hs, sizeof(hs), &h), 1);
	ck_assert(WIRE_RESERVED_FAST(h.reserved) && !WIRE_RESERVED_DHT(h.reserved));
}
END_TEST

START_TEST(test_handshake_bad)
{
	uint8_t hs[WIRE_HANDSHAKE_LEN + 4], res[8], ih[20];
	struct wire_handshake h;

	wire_handshake_build(hs, hs_hash, hs_peer, 0, 0, 0);
	/* Bad from the first byte on: no need to wait for the rest. */
	ck_assert_int_eq(wire_handshake_parse((const uint8_t *)"\x12", 1, &h), -1);
	ck_assert_int_eq(wire_handshake_parse((const uint8_t *)"GET / HTTP/1.1", 14, &h),
	    -1);
	ck_assert_int_eq(wire_handshake_parse_head((const uint8_t *)"\x13" "BitTorrent_",
	    12, res, ih), -1);
	hs[19] = 'L';	/* "protocoL" */
	ck_assert_int_eq(wire_handshake_parse(hs, 68, &h), -1);
	ck_assert_int_eq(wire_handshake_parse(hs, 20, &h), -1);
	ck_assert_int_eq(wire_handshake_parse(hs, 19, &h), 0);
	ck_assert_int_eq(wire_handshake_parse_head(hs, 48, res, ih), -1);
	hs[19] = 'l';
	hs[0] = 20;
	ck_assert_int_eq(wire_handshake_parse(hs, 68, &h), -1);
	/* Trailing bytes (the first message) are fine. */
	hs[0] = 19;
	memcpy(hs + 68, "\0\0\0\0", 4);
	ck_assert_int_eq(wire_handshake_parse(hs, sizeof(hs), &h), 1);
}
END_TEST

#define EX(s) (const uint8_t *)(s), sizeof(s) - 1

START_TEST(test_ext_parse)
{
	static const char doc[] = "d1:md10:p2p_searchi9e7:unknowni77e"
	    "11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei31337e1:pi6881e4:reqqi500e"
	    "1:v13:\xc2\xb5Torrent 1.2" "6:yourip4:\x0a\0\0\x01" "e";
	struct wire_ext_handshake h;
	char err[128];

	ck_assert_int_eq(wire_ext_handshake_parse(EX(doc), &h, err, sizeof(err)), 0);
	ck_assert_uint_eq(h.ut_metadata, 3);
	ck_assert_uint_eq(h.ut_pex, 1);
	ck_assert_uint_eq(h.p2p_search, 9);
	ck_assert_int_eq(h.metadata_size, 31337);
	ck_assert_uint_eq(h.port, 6881);
	ck_assert_uint_eq(h.reqq, 500);
	/* BEP 10's example client: the UTF-8 mu is one '?'. */
	ck_assert_str_eq(h.client, "?Torrent 1.2");
	ck_assert_uint_eq(h.yourip_len, 4);
	ck_assert_mem_eq(h.yourip, "\x0a\0\0\x01", 4);

	/* All items are optional (BEP 10). */
	ck_assert_int_eq(wire_ext_handshake_parse(EX("de"), &h, err, sizeof(err)), 0);
	ck_assert_uint_eq(h.ut_metadata, 0);
	ck_assert_int_eq(h.metadata_size, -1);
	ck_assert_str_eq(h.client, "");
	ck_assert_uint_eq(h.yourip_len, 0);
	/* Disabling an extension: id 0. */
	ck_assert_int_eq(wire_ext_handshake_parse(EX("d1:md11:ut_metadatai0eee"), &h,
	    err, sizeof(err)), 0);
	ck_assert_uint_eq(h.ut_metadata, 0);
	/* An IPv6 yourip. */
	ck_assert_int_eq(wire_ext_handshake_parse(EX("d6:yourip16:"
	    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01" "e"), &h, err, sizeof(err)), 0);
	ck_assert_uint_eq(h.yourip_len, 16);
	ck_assert_mem_eq(h.yourip, "\x20\x01\x0d\xb8", 4);
}
END_TEST

/* Values out of range are dropped, not fatal: BEP 10 says ignore what you don't understand. */
START_TEST(test_ext_hostile_values)
{
	struct wire_ext_handshake h;
	char err[128];
	char big[400];

	ck_assert_int_eq(wire_ext_handshake_parse(EX("d1:md11:ut_metadatai256e"
	    "6:ut_pexi-1ee13:metadata_sizei-5e1:pi65536e4:reqqi-3e"
	    "1:vi5e6:yourip5:abcdee"), &h, err, sizeof(err)), 0);
	ck_assert_uint_eq(h.ut_metadata, 0);
	ck_assert_uint_eq(h.ut_pex, 0);
	ck_assert_int_eq(h.metadata_size, -1);
	ck_assert_uint_eq(h.port, 0);
	ck_assert_uint_eq(h.reqq, 0);
	ck_assert_str_eq(h.client, "");
	ck_assert_uint_eq(h.yourip_len, 0);
	ck_assert_int_eq(wire_ext_handshake_parse(EX("d1:md10:p2p_searchi"
	    "9223372036854775807e11:ut_metadatai255e6:ut_pexli1eee1:pi0e"
	    "4:reqqi9223372036854775807ee"), &h, err, sizeof(err)), 0);
	ck_assert_uint_eq(h.p2p_search, 0);
	ck_assert_uint_eq(h.ut_metadata, 255);
	ck_assert_uint_eq(h.ut_pex, 0);
	ck_assert_uint_eq(h.port, 0);
	ck_assert_uint_eq(h.reqq, 100000);
	/* Control bytes, DEL, NUL, invalid UTF-8: all printable afterwards. */
	ck_assert_int_eq(wire_ext_handshake_parse(EX("d1:v12:a\x1b[31mb\0c\x7f\xff\x80" "e"),
	    &h, err, sizeof(err)), 0);
	ck_assert_str_eq(h.client, "a?[31mb?c??");
	/* A long "v" is cut to fit. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "d1:v300:", 8);
	big[8 + 300] = 'e';
	ck_assert_int_eq(wire_ext_handshake_parse((const uint8_t *)big, 8 + 300 + 1, &h,
	    err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(h.client), sizeof(h.client) - 1);
	for (size_t i = 0; h.client[i]; i++)
		ck_assert(h.client[i] == 'x');
}
END_TEST

struct bad_ext {
	const uint8_t *p;
	size_t len;
	const char *why;
};

static const struct bad_ext bad_ext[] = {
	{ EX(""), "empty" },
	{ EX("le"), "not a dictionary" },
	{ EX("i1e"), "not a dictionary" },
	{ EX("4:spam"), "not a dictionary" },
	{ EX("d1:mi1ee"), "\"m\"" },
	{ EX("d1:mlee"), "\"m\"" },
	{ EX("d1:m3:abce"), "\"m\"" },
	{ EX("d1:md11:ut_metadatai1e"), "truncated" },
	{ EX("d1:pi1e1:mdee"), "sorted" },
	{ EX("d1:mdeede"), "trailing" },
	{ EX("\xff"), "" },
};

START_TEST(test_ext_bad)
{
	struct wire_ext_handshake h;
	char err[128] = "";

	ck_assert_int_eq(wire_ext_handshake_parse(bad_ext[_i].p, bad_ext[_i].len, &h,
	    err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, bad_ext[_i].why) != NULL, "bad_ext[%d]: '%s'", _i, err);
	ck_assert_int_eq(wire_ext_handshake_parse(bad_ext[_i].p, bad_ext[_i].len, &h,
	    NULL, 0), -1);
}
END_TEST

START_TEST(test_ext_nesting)
{
	struct wire_ext_handshake h;
	char err[128];
	struct buf b;

	/* Deep nesting in an ignored key is still refused by the decoder's limit. */
	buf_init(&b, 0);
	ck_assert_int_eq(buf_puts(&b, "d1:x"), 0);
	for (int i = 0; i < 5000; i++)
		ck_assert_int_eq(buf_putc(&b, 'l'), 0);
	for (int i = 0; i < 5000; i++)
		ck_assert_int_eq(buf_putc(&b, 'e'), 0);
	ck_assert_int_eq(buf_putc(&b, 'e'), 0);
	ck_assert_int_eq(wire_ext_handshake_parse(b.data, b.len, &h, err, sizeof(err)),
	    -1);
	buf_free(&b);
	/* Moderate nesting in an unknown key is just ignored. */
	ck_assert_int_eq(wire_ext_handshake_parse(EX("d1:md1:ad1:yd1:zleee"
	    "11:ut_metadatai2ee1:zllllleeeeee"), &h, err, sizeof(err)), 0);
	ck_assert_uint_eq(h.ut_metadata, 2);
}
END_TEST

START_TEST(test_ext_build)
{
	static const char want[] = "d1:md10:p2p_searchi7e11:ut_metadatai2e6:ut_pexi1ee"
	    "13:metadata_sizei1234e1:pi6881e4:reqqi250e1:v10:p2pd 0.1.0"
	    "6:yourip4:\x7f\0\0\x01" "e";
	struct wire_ext_handshake h, back;
	char err[128];
	struct buf b;

	memset(&h, 0, sizeof(h));
	h.ut_metadata = 2;
	h.ut_pex = 1;
	h.p2p_search = 7;
	h.metadata_size = 1234;
	h.port = 6881;
	h.reqq = 250;
	snprintf(h.client, sizeof(h.client), "p2pd 0.1.0");
	memcpy(h.yourip, "\x7f\0\0\x01", 4);
	h.yourip_len = 4;
	buf_init(&b, 0);
	ck_assert_int_eq(wire_ext_handshake_build(&b, &h), 0);
	ck_assert_uint_eq(b.len, sizeof(want) - 1);
	ck_assert_mem_eq(b.data, want, sizeof(want) - 1);
	ck_assert_int_eq(wire_ext_handshake_parse(b.data, b.len, &back, err,
	    sizeof(err)), 0);
	ck_assert_mem_eq(&back, &h, sizeof(h));

	/* Nothing set: just an empty "m". */
	memset(&h, 0, sizeof(h));
	h.metadata_size = -1;
	buf_reset(&b);
	ck_assert_int_eq(wire_ext_handshake_build(&b, &h), 0);
	ck_assert_uint_eq(b.len, 7);
	ck_assert_mem_eq(b.data, "d1:mdee", 7);
	ck_assert_int_eq(wire_ext_handshake_parse(b.data, b.len, &back, err,
	    sizeof(err)), 0);
	ck_assert_mem_eq(&back, &h, sizeof(h));

	/* metadata_size 0 is a real value (an empty info dict can't be, but say so). */
	h.metadata_size = 0;
	h.ut_pex = 3;
	buf_reset(&b);
	ck_assert_int_eq(wire_ext_handshake_build(&b, &h), 0);
	ck_assert_uint_eq(b.len, 37);
	ck_assert_mem_eq(b.data, "d1:md6:ut_pexi3ee13:metadata_sizei0ee", 37);
	buf_free(&b);

	/* Too small a buffer: refused whole, what was there stays. */
	buf_init(&b, 20);
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);
	h.metadata_size = 1234;
	snprintf(h.client, sizeof(h.client), "a client string");
	ck_assert_int_eq(wire_ext_handshake_build(&b, &h), -1);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_mem_eq(b.data, "keep", 4);
	buf_free(&b);
}
END_TEST

START_TEST(test_ext_build_ipv6)
{
	struct wire_ext_handshake h, back;
	char err[128];
	struct buf b;

	memset(&h, 0, sizeof(h));
	h.metadata_size = -1;
	h.ut_metadata = 1;
	for (int i = 0; i < 16; i++)
		h.yourip[i] = (uint8_t)(0xf0 + i);
	h.yourip_len = 16;
	/* A client string filling the whole field, no NUL: still bounded. */
	memset(h.client, 'v', sizeof(h.client));
	buf_init(&b, 0);
	ck_assert_int_eq(wire_ext_handshake_build(&b, &h), 0);
	ck_assert_int_eq(wire_ext_handshake_parse(b.data, b.len, &back, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(back.yourip_len, 16);
	ck_assert_mem_eq(back.yourip, h.yourip, 16);
	ck_assert_uint_eq(back.ut_metadata, 1);
	ck_assert_uint_eq(strlen(back.client), sizeof(back.client) - 1);
	buf_free(&b);
}
END_TEST

START_TEST(test_allowed_fast_bep6)
{
	static const uint8_t ip[4] = { 80, 4, 4, 200 };
	static const uint8_t other[4] = { 80, 4, 4, 1 };
	static const uint32_t want7[] = { 1059, 431, 808, 1217, 287, 376, 1188 };
	static const uint32_t want9[] = { 1059, 431, 808, 1217, 287, 376, 1188, 353, 508 };
	uint8_t ih[20];
	uint32_t out[16];

	/* The BEP's own test vectors. */
	memset(ih, 0xaa, sizeof(ih));
	ck_assert_uint_eq(wire_allowed_fast_set(ip, ih, 1313, 7, out), 7);
	ck_assert_mem_eq(out, want7, sizeof(want7));
	ck_assert_uint_eq(wire_allowed_fast_set(ip, ih, 1313, 9, out), 9);
	ck_assert_mem_eq(out, want9, sizeof(want9));
	/* Step (1): the whole /24 shares a set. */
	ck_assert_uint_eq(wire_allowed_fast_set(other, ih, 1313, 9, out), 9);
	ck_assert_mem_eq(out, want9, sizeof(want9));
}
END_TEST

START_TEST(test_allowed_fast_edges)
{
	static const uint8_t ip[4] = { 10, 1, 2, 3 };
	uint8_t ih[20];
	uint32_t out[64];
	int seen[8];
	size_t n;

	memset(ih, 0x11, sizeof(ih));
	ck_assert_uint_eq(wire_allowed_fast_set(ip, ih, 0, 10, NULL), 0);
	ck_assert_uint_eq(wire_allowed_fast_set(ip, ih, 100, 0, NULL), 0);
	ck_assert_uint_eq(wire_allowed_fast_set(ip, ih, 1, 10, out), 1);
	ck_assert_uint_eq(out[0], 0);
	/* Fewer pieces than k: every piece, each once. */
	n = wire_allowed_fast_set(ip, ih, 8, 10, out);
	ck_assert_uint_eq(n, 8);
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_lt(out[i], 8);
		ck_assert_int_eq(seen[out[i]]++, 0);
	}
	/* k+1 extends k (BEP 6). */
	{
		uint32_t a[10], b[11];

		ck_assert_uint_eq(wire_allowed_fast_set(ip, ih, 50000, 10, a), 10);
		ck_assert_uint_eq(wire_allowed_fast_set(ip, ih, 50000, 11, b), 11);
		ck_assert_mem_eq(a, b, sizeof(a));
	}
}
END_TEST

struct name_case {
	const char *id;		/* 20 bytes */
	const char *want;
};

static const struct name_case names[] = {
	{ "-LT2080-abcdefghijkl", "libtorrent 2.0.8" },
	{ "-LT1214-abcdefghijkl", "libtorrent 1.2.1.4" },
	{ "-lt0D80-abcdefghijkl", "libTorrent 0.13.8" },
	{ "-TR4050-abcdefghijkl", "Transmission 4.0.5" },
	{ "-qB4620-abcdefghijkl", "qBittorrent 4.6.2" },
	{ "-DE13F0-abcdefghijkl", "Deluge 1.3.15" },
	{ "-UT3550-abcdefghijkl", "uTorrent 3.5.5" },
	{ "-PD0100-abcdefghijkl", "p2pd 0.1.0" },
	{ "-AZ2060-abcdefghijkl", "Azureus 2.0.6" },
	{ "-XX1234-abcdefghijkl", "XX 1.2.3.4" },
	{ "-zz0000-abcdefghijkl", "zz 0.0.0" },
	{ "A2-1-36-0-abcdefghij", "aria2 1.36.0" },
	{ "M4-4-6--abcdefghijkl", "Mainline 4.4.6" },
	{ "M4-20-8-abcdefghijkl", "Mainline 4.20.8" },
	{ "M7-10-100-abcdefghij", "Mainline 7.10.100" },
	{ "Q1-10-0-abcdefghijkl", "Queen Bee 1.10.0" },
	{ "S58B-----abcdefghijk", "Shadow 5.8.11" },
	{ "T03I-----abcdefghijk", "BitTornado 0.3.18" },
	{ "A310-----abcdefghijk", "ABC 3.1.0" },
	/* Not quite any style. */
	{ "-LT20\x01" "0-abcdefghijkl", "unknown" },
	{ "-\x01X2080-abcdefghijkl", "unknown" },
	{ "-\xffX2080-abcdefghijkl", "unknown" },
	{ "-LT2080xabcdefghijkl", "unknown" },
	{ "--X2080-abcdefghijkl", "unknown" },
	{ "M4-4-6x-abcdefghijkl", "unknown" },
	{ "M1234-5-6-abcdefghij", "unknown" },
	{ "M4-4-", "unknown" },		/* rest is NUL */
	{ "S58B----xabcdefghijk", "unknown" },
	{ "S5-8B----abcdefghijk", "unknown" },
	{ "S-----------abcdefgh", "unknown" },
	{ "Z58B-----abcdefghijk", "unknown" },
	{ "exbc\x01\x02" "abcdefghijklmn", "unknown" },
	{ "", "unknown" },
	{ "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
	    "unknown" },
};

START_TEST(test_client_name)
{
	uint8_t id[20];
	char out[64];

	memset(id, 0, sizeof(id));
	memcpy(id, names[_i].id, strnlen(names[_i].id, 20));
	wire_client_name(id, out, sizeof(out));
	ck_assert_msg(strcmp(out, names[_i].want) == 0, "names[%d]: '%s' want '%s'", _i,
	    out, names[_i].want);
	for (size_t i = 0; out[i]; i++)
		ck_assert(out[i] >= 0x20 && out[i] < 0x7f);
}
END_TEST

START_TEST(test_client_name_small)
{
	const uint8_t *id = (const uint8_t *)"-LT2080-abcdefghijkl";
	char out[8];

	memset(out, 'z', sizeof(out));
	wire_client_name(id, out, 0);
	ck_assert_int_eq(out[0], 'z');
	wire_client_name(id, out, 1);
	ck_assert_str_eq(out, "");
	wire_client_name(id, out, sizeof(out));
	ck_assert_str_eq(out, "libtorr");
}
END_TEST

static int
isalnum_ascii(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z');
}

START_TEST(test_make_peer_id)
{
	uint8_t rnd[12], id[20];
	char name[64];

	for (int seed = 0; seed < 256; seed++) {
		for (int i = 0; i < 12; i++)
			rnd[i] = (uint8_t)(seed * 13 + i * 97);
		wire_make_peer_id(id, rnd);
		ck_assert_mem_eq(id, "-PD0100-", 8);
		for (int i = 8; i < 20; i++)
			ck_assert(isalnum_ascii(id[i]));
		wire_client_name(id, name, sizeof(name));
		ck_assert_str_eq(name, "p2pd 0.1.0");
	}
	/* Different randomness, different ids. */
	memset(rnd, 0, sizeof(rnd));
	wire_make_peer_id(id, rnd);
	ck_assert_mem_eq(id + 8, "000000000000", 12);
	rnd[11] = 61;
	wire_make_peer_id(id, rnd);
	ck_assert_int_eq(id[19], 'z');
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("wire");

	tcase_add_loop_test(tc, test_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_good_prefixes, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_huge_prefix);
	tcase_add_test(tc, test_early_size_check);
	tcase_add_test(tc, test_stream);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_builder_refusals);
	tcase_add_test(tc, test_handshake);
	tcase_add_test(tc, test_handshake_bad);
	tcase_add_test(tc, test_ext_parse);
	tcase_add_test(tc, test_ext_hostile_values);
	tcase_add_loop_test(tc, test_ext_bad, 0, sizeof(bad_ext) / sizeof(bad_ext[0]));
	tcase_add_test(tc, test_ext_nesting);
	tcase_add_test(tc, test_ext_build);
	tcase_add_test(tc, test_ext_build_ipv6);
	tcase_add_test(tc, test_allowed_fast_bep6);
	tcase_add_test(tc, test_allowed_fast_edges);
	tcase_add_loop_test(tc, test_client_name, 0, sizeof(names) / sizeof(names[0]));
	tcase_add_test(tc, test_client_name_small);
	tcase_add_test(tc, test_make_peer_id);
	suite_add_tcase(s, tc);
	return s;
}
