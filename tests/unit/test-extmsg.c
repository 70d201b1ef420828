/* test-extmsg.c: unit tests for the ut_metadata and ut_pex payload codec (common/extmsg.c). */
#include "testmain.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "extmsg.h"
#include "netaddr.h"

#define M(x) (const uint8_t *)(x), sizeof(x) - 1
#define PIECE EXTMSG_METADATA_PIECE

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

/* Parses a copy; data is re-pointed into p so callers can compare. */
static int
md_parse(const uint8_t *p, size_t len, int64_t size, struct extmsg_metadata *m,
    char *err, size_t errlen)
{
	uint8_t *c = exact_copy(p, len);
	int rc;

	err[0] = '\0';
	rc = extmsg_metadata_parse(c, len, size, m, err, errlen);
	if (rc == 0 && m->data_len > 0) {
		ck_assert(m->data >= c && m->data + m->data_len <= c + len);
		m->data = p + (m->data - c);
	}
	free(c);
	return rc;
}

/* A data payload: dict text followed by n bytes of fill. */
static uint8_t *
data_msg(const char *dict, size_t n, uint8_t fill, size_t *len)
{
	size_t dl = strlen(dict);
	uint8_t *p = malloc(dl + n + 1);

	ck_assert_ptr_nonnull(p);
	memcpy(p, dict, dl);
	memset(p + dl, fill, n);
	*len = dl + n;
	return p;
}

START_TEST(test_pieces)
{
	ck_assert_uint_eq(extmsg_metadata_pieces(0), 0);
	ck_assert_uint_eq(extmsg_metadata_pieces(-1), 0);
	ck_assert_uint_eq(extmsg_metadata_pieces(1), 1);
	ck_assert_uint_eq(extmsg_metadata_pieces(PIECE), 1);
	ck_assert_uint_eq(extmsg_metadata_pieces(PIECE + 1), 2);
	ck_assert_uint_eq(extmsg_metadata_pieces(31235), 2);
	ck_assert_uint_eq(extmsg_metadata_pieces(EXTMSG_MAX_METADATA), 2048);
	ck_assert_uint_eq(extmsg_metadata_pieces((int64_t)EXTMSG_MAX_METADATA + 1), 0);
	ck_assert_uint_eq(extmsg_metadata_piece_len(31235, 0), PIECE);
	ck_assert_uint_eq(extmsg_metadata_piece_len(31235, 1), 31235 - PIECE);
	ck_assert_uint_eq(extmsg_metadata_piece_len(31235, 2), 0);
	ck_assert_uint_eq(extmsg_metadata_piece_len(2 * PIECE, 1), PIECE);
	ck_assert_uint_eq(extmsg_metadata_piece_len(0, 0), 0);
}
END_TEST

/* BEP 9's own examples. */
START_TEST(test_bep9_examples)
{
	struct extmsg_metadata m;
	char err[128];
	uint8_t *p;
	size_t len;

	ck_assert_int_eq(md_parse(M("d8:msg_typei0e5:piecei0ee"), 31235, &m, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(m.msg_type, EXTMSG_MD_REQUEST);
	ck_assert_uint_eq(m.piece, 0);
	ck_assert_int_eq(m.total_size, -1);
	ck_assert_uint_eq(m.data_len, 0);

	/* BEP 9 labels this a reject but writes msg_type 1; the real reject is 2. */
	ck_assert_int_eq(md_parse(M("d8:msg_typei2e5:piecei0ee"), 31235, &m, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(m.msg_type, EXTMSG_MD_REJECT);

	/* The data example with total_size 34256: piece 0 is a full 16 KiB. */
	p = data_msg("d8:msg_typei1e5:piecei0e10:total_sizei34256ee", PIECE, 'x', &len);
	ck_assert_int_eq(md_parse(p, len, 34256, &m, err, sizeof(err)), 0);
	ck_assert_int_eq(m.msg_type, EXTMSG_MD_DATA);
	ck_assert_int_eq(m.total_size, 34256);
	ck_assert_uint_eq(m.data_len, PIECE);
	ck_assert_ptr_eq(m.data, p + len - PIECE);
	free(p);
	/* Its last piece: 34256 - 2 * 16384 = 1488 bytes. */
	p = data_msg("d8:msg_typei1e5:piecei2e10:total_sizei34256ee", 1488, 'y', &len);
	ck_assert_int_eq(md_parse(p, len, 34256, &m, err, sizeof(err)), 0);
	ck_assert_uint_eq(m.piece, 2);
	ck_assert_uint_eq(m.data_len, 1488);
	free(p);
	/* With no size from the handshake, total_size stands in. */
	p = data_msg("d8:msg_typei1e5:piecei2e10:total_sizei34256ee", 1488, 'y', &len);
	ck_assert_int_eq(md_parse(p, len, EXTMSG_SIZE_UNKNOWN, &m, err, sizeof(err)), 0);
	ck_assert_int_eq(m.total_size, 34256);
	free(p);
}
END_TEST

START_TEST(test_md_unknown_type)
{
	struct extmsg_metadata m;
	char err[128];

	/* BEP 9: an unrecognised msg_type MUST be ignored, not fatal. */
	ck_assert_int_eq(md_parse(M("d8:msg_typei3e5:piecei0ee"), 100, &m, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(m.msg_type, EXTMSG_MD_UNKNOWN);
	ck_assert_int_eq(m.raw_type, 3);
	ck_assert_int_eq(md_parse(M("d8:msg_typei77e3:zzzi1ee...."), 100, &m, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(m.msg_type, EXTMSG_MD_UNKNOWN);
	ck_assert_int_eq(m.raw_type, 77);
	/* Unknown keys in a known message are fine too. */
	ck_assert_int_eq(md_parse(M("d3:fooi1e8:msg_typei0e5:piecei1e3:zzz0:e"),
	    PIECE + 1, &m, err, sizeof(err)), 0);
	ck_assert_int_eq(m.msg_type, EXTMSG_MD_REQUEST);
	ck_assert_uint_eq(m.piece, 1);
}
END_TEST

struct bad_md {
	const uint8_t *p;
	size_t len;
	int64_t size;		/* the caller's metadata_size */
	const char *why;
};

static const struct bad_md bad_md[] = {
	{ M(""), 100, "empty" },
	{ M("d8:msg_typei0e5:piecei0e"), 100, "truncated" },
	{ M("d8:msg_typei0e5:piecei0"), 100, "truncated" },
	{ M("d8:msg_type"), 100, "truncated" },
	{ M("d"), 100, "truncated" },
	{ M("d8:msg_typei0e5:piece"), 100, "truncated" },
	{ M("le"), 100, "not a dictionary" },
	{ M("i0e"), 100, "not a dictionary" },
	{ M("de"), 100, "msg_type missing" },
	{ M("d8:msg_type1:0e"), 100, "not an integer" },
	{ M("d8:msg_typei0ee"), 100, "piece missing" },
	{ M("d8:msg_typei0e5:piece1:0e"), 100, "not an integer" },
	{ M("d8:msg_typei-1e5:piecei0ee"), 100, "negative msg_type" },
	{ M("d8:msg_typei0e5:piecei-1ee"), 100, "negative piece" },
	{ M("d8:msg_typei2e5:piecei-9223372036854775808ee"), 100, "negative piece" },
	{ M("d8:msg_typei0e5:piecei1ee"), 100, "piece 1 of 1" },
	{ M("d8:msg_typei2e5:piecei2ee"), PIECE + 1, "piece 2 of 2" },
	{ M("d8:msg_typei0e5:piecei4294967296ee"), 100, "piece" },
	{ M("d8:msg_typei0e5:piecei2048ee"), EXTMSG_SIZE_UNKNOWN, "piece 2048 of 2048" },
	{ M("d8:msg_typei0e5:piecei0eexyz"), 100, "3 bytes after a request" },
	{ M("d8:msg_typei2e5:piecei0ee\0"), 100, "1 bytes after a reject" },
	{ M("d5:piecei0e8:msg_typei0ee"), 100, "bencode" },	/* unsorted keys */
	{ M("d8:msg_typei0e8:msg_typei0e5:piecei0ee"), 100, "bencode" },
	{ M("d8:msg_typei01e5:piecei0ee"), 100, "leading zero" },
	/* data: total_size missing, wrong, negative, oversize; piece sizes */
	{ M("d8:msg_typei1e5:piecei0eexxxx"), 4, "total_size missing" },
	{ M("d8:msg_typei1e5:piecei0e10:total_size1:4exxxx"), 4, "not an integer" },
	{ M("d8:msg_typei1e5:piecei0e10:total_sizei5eexxxx"), 4, "total_size 5 but" },
	{ M("d8:msg_typei1e5:piecei0e10:total_sizei3eexxxx"), 4, "total_size 3 but" },
	{ M("d8:msg_typei1e5:piecei0e10:total_sizei-4eexxxx"), 4, "out of range" },
	{ M("d8:msg_typei1e5:piecei0e10:total_sizei0ee"), EXTMSG_SIZE_UNKNOWN,
	    "out of range" },
	{ M("d8:msg_typei1e5:piecei0e10:total_sizei33554433eexxxx"),
	    EXTMSG_SIZE_UNKNOWN, "out of range" },
	{ M("d8:msg_typei1e5:piecei0e10:total_sizei9223372036854775807eexxxx"),
	    EXTMSG_SIZE_UNKNOWN, "out of range" },
	{ M("d8:msg_typei1e5:piecei0e10:total_sizei4eexxx"), 4, "has 3 bytes, must be 4" },
	{ M("d8:msg_typei1e5:piecei0e10:total_sizei4eexxxxx"), 4, "has 5 bytes" },
	{ M("d8:msg_typei1e5:piecei0e10:total_sizei4ee"), 4, "has 0 bytes" },
	{ M("d8:msg_typei1e5:piecei1e10:total_sizei4eex"), 4, "piece 1 of 1" },
	{ M("d8:msg_typei1e5:piecei0e10:total_sizei16385eex"), 16385,
	    "has 1 bytes, must be 16384" },
	/* The caller's own size must be sane. */
	{ M("d8:msg_typei0e5:piecei0ee"), 0, "metadata_size 0" },
	{ M("d8:msg_typei0e5:piecei0ee"), -5, "metadata_size -5" },
	{ M("d8:msg_typei0e5:piecei0ee"), (int64_t)EXTMSG_MAX_METADATA + 1,
	    "metadata_size 33554433" },
	/* Deep nesting in an unknown key: refused by the decoder's limit. */
	{ M("d3:aaalllllllleeeeeeee8:msg_typei0e5:piecei0ee"), 100, "bencode" },
};

START_TEST(test_md_bad)
{
	const struct bad_md *b = &bad_md[_i];
	struct extmsg_metadata m;
	char err[160];

	ck_assert_msg(md_parse(b->p, b->len, b->size, &m, err, sizeof(err)) == -1,
	    "bad_md[%d] accepted", _i);
	ck_assert_msg(strstr(err, b->why) != NULL, "bad_md[%d]: err '%s' lacks '%s'",
	    _i, err, b->why);
	ck_assert_int_eq(m.msg_type, EXTMSG_MD_UNKNOWN);
	ck_assert_ptr_null(m.data);
	/* NULL err is allowed. */
	ck_assert_int_eq(extmsg_metadata_parse(b->p, b->len, b->size, &m, NULL, 0), -1);
}
END_TEST

START_TEST(test_md_truncated_prefixes)
{
	struct extmsg_metadata m;
	struct buf b;
	char err[128];
	uint8_t piece[1000];

	/* Every proper prefix of a request or data message is refused, none over-read. */
	memset(piece, 0xab, sizeof(piece));
	buf_init(&b, 0);
	ck_assert_int_eq(extmsg_metadata_put_data(&b, 0, sizeof(piece), piece,
	    sizeof(piece)), 0);
	for (size_t n = 0; n < b.len; n++)
		ck_assert_msg(md_parse(b.data, n, sizeof(piece), &m, err,
		    sizeof(err)) == -1, "prefix %zu accepted", n);
	ck_assert_int_eq(md_parse(b.data, b.len, sizeof(piece), &m, err, sizeof(err)), 0);
	buf_reset(&b);
	ck_assert_int_eq(extmsg_metadata_put_request(&b, 7), 0);
	for (size_t n = 0; n < b.len; n++)
		ck_assert_int_eq(md_parse(b.data, n, 8 * PIECE, &m, err, sizeof(err)), -1);
	buf_free(&b);
}
END_TEST

START_TEST(test_md_roundtrip)
{
	struct extmsg_metadata m;
	const int64_t size = 3 * PIECE + 123;
	uint8_t *meta = malloc((size_t)size);
	char err[128];
	struct buf b;

	ck_assert_ptr_nonnull(meta);
	for (int64_t i = 0; i < size; i++)
		meta[i] = (uint8_t)(i * 7);
	buf_init(&b, 0);

	ck_assert_int_eq(extmsg_metadata_put_request(&b, 3), 0);
	ck_assert_int_eq(b.len, strlen("d8:msg_typei0e5:piecei3ee"));
	ck_assert_int_eq(memcmp(b.data, "d8:msg_typei0e5:piecei3ee", b.len), 0);
	ck_assert_int_eq(md_parse(b.data, b.len, size, &m, err, sizeof(err)), 0);
	ck_assert_int_eq(m.msg_type, EXTMSG_MD_REQUEST);
	ck_assert_uint_eq(m.piece, 3);
	buf_reset(&b);

	ck_assert_int_eq(extmsg_metadata_put_reject(&b, 2), 0);
	ck_assert_int_eq(memcmp(b.data, "d8:msg_typei2e5:piecei2ee", b.len), 0);
	ck_assert_int_eq(md_parse(b.data, b.len, size, &m, err, sizeof(err)), 0);
	ck_assert_int_eq(m.msg_type, EXTMSG_MD_REJECT);
	ck_assert_uint_eq(m.piece, 2);
	buf_reset(&b);

	for (uint32_t i = 0; i < 4; i++) {
		size_t n = extmsg_metadata_piece_len(size, i);
		const uint8_t *src = meta + (size_t)i * PIECE;

		ck_assert_int_eq(extmsg_metadata_put_data(&b, i, size, src, n), 0);
		ck_assert_int_eq(md_parse(b.data, b.len, size, &m, err, sizeof(err)), 0);
		ck_assert_int_eq(m.msg_type, EXTMSG_MD_DATA);
		ck_assert_uint_eq(m.piece, i);
		ck_assert_int_eq(m.total_size, size);
		ck_assert_uint_eq(m.data_len, n);
		ck_assert_int_eq(memcmp(m.data, src, n), 0);
		buf_reset(&b);
	}
	buf_free(&b);
	free(meta);
}
END_TEST

START_TEST(test_md_builder_refusals)
{
	uint8_t piece[PIECE + 1];
	struct buf b;

	memset(piece, 0, sizeof(piece));
	buf_init(&b, 0);
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);
	ck_assert_int_eq(extmsg_metadata_put_data(&b, 0, 100, piece, 99), -1);
	ck_assert_int_eq(extmsg_metadata_put_data(&b, 0, 100, piece, 101), -1);
	ck_assert_int_eq(extmsg_metadata_put_data(&b, 1, 100, piece, 100), -1);
	ck_assert_int_eq(extmsg_metadata_put_data(&b, 0, 0, piece, 0), -1);
	ck_assert_int_eq(extmsg_metadata_put_data(&b, 0, -1, piece, 0), -1);
	ck_assert_int_eq(extmsg_metadata_put_data(&b, 0, 2 * PIECE, piece, PIECE + 1), -1);
	ck_assert_int_eq(extmsg_metadata_put_data(&b, 0,
	    (int64_t)EXTMSG_MAX_METADATA + 1, piece, PIECE), -1);
	ck_assert_int_eq(extmsg_metadata_put_data(&b, 0, 100, NULL, 100), -1);
	ck_assert_int_eq(extmsg_metadata_put_request(&b, EXTMSG_MAX_METADATA_PIECES), -1);
	ck_assert_int_eq(extmsg_metadata_put_reject(&b, UINT32_MAX), -1);
	ck_assert_uint_eq(b.len, 4);
	buf_free(&b);

	/* A buffer limit mid-way leaves nothing half-written. */
	buf_init(&b, 64);
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);
	ck_assert_int_eq(extmsg_metadata_put_data(&b, 0, 100, piece, 100), -1);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_int_eq(memcmp(b.data, "keep", 4), 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_asm_out_of_order)
{
	const size_t size = 4 * PIECE + 10;
	uint8_t *meta = malloc(size), *out = malloc(size);
	struct extmsg_asm a;
	static const uint32_t order[] = { 3, 0, 4, 2, 1 };
	char err[128];

	ck_assert_ptr_nonnull(meta);
	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < size; i++)
		meta[i] = (uint8_t)(i ^ (i >> 8));
	ck_assert_int_eq(extmsg_asm_init(&a, out, size, err, sizeof(err)), 0);
	ck_assert_uint_eq(a.npieces, 5);
	ck_assert_int_eq(extmsg_asm_complete(&a), 0);
	ck_assert_int_eq(extmsg_asm_next_missing(&a, 0), 0);
	for (size_t k = 0; k < 5; k++) {
		uint32_t i = order[k];
		size_t n = extmsg_metadata_piece_len((int64_t)size, i);
		int rc = extmsg_asm_add(&a, i, meta + (size_t)i * PIECE, n, err,
		    sizeof(err));

		ck_assert_int_eq(rc, k == 4 ? 1 : 0);
		ck_assert_int_eq(extmsg_asm_has(&a, i), 1);
		if (k == 1)
			ck_assert_int_eq(extmsg_asm_next_missing(&a, 0), 1);
		if (k == 2) {
			/* 3, 0, 4 are in: from 4 it wraps to 1. */
			ck_assert_int_eq(extmsg_asm_next_missing(&a, 4), 1);
			ck_assert_int_eq(extmsg_asm_next_missing(&a, 2), 2);
		}
	}
	ck_assert_int_eq(extmsg_asm_complete(&a), 1);
	ck_assert_int_eq(extmsg_asm_next_missing(&a, 0), -1);
	ck_assert_int_eq(memcmp(out, meta, size), 0);

	/* A hash mismatch starts over. */
	extmsg_asm_reset(&a);
	ck_assert_int_eq(extmsg_asm_complete(&a), 0);
	ck_assert_int_eq(extmsg_asm_has(&a, 3), 0);
	ck_assert_int_eq(extmsg_asm_next_missing(&a, 3), 3);
	free(meta);
	free(out);
}
END_TEST

START_TEST(test_asm_refusals)
{
	uint8_t out[PIECE + 5], piece[PIECE];
	struct extmsg_asm a;
	char err[128];

	memset(piece, 1, sizeof(piece));
	ck_assert_int_eq(extmsg_asm_init(&a, out, 0, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	ck_assert_int_eq(extmsg_asm_init(&a, out, (size_t)EXTMSG_MAX_METADATA + 1, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(extmsg_asm_init(&a, NULL, 10, err, sizeof(err)), -1);
	/* A failed init leaves an assembler that refuses everything. */
	ck_assert_int_eq(extmsg_asm_add(&a, 0, piece, 10, err, sizeof(err)), -1);
	ck_assert_int_eq(extmsg_asm_complete(&a), 0);

	ck_assert_int_eq(extmsg_asm_init(&a, out, sizeof(out), err, sizeof(err)), 0);
	ck_assert_uint_eq(a.npieces, 2);
	ck_assert_int_eq(extmsg_asm_add(&a, 2, piece, 5, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "piece 2 of 2"));
	ck_assert_int_eq(extmsg_asm_add(&a, UINT32_MAX, piece, 5, err, sizeof(err)), -1);
	ck_assert_int_eq(extmsg_asm_add(&a, 1, piece, 6, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "must be 5"));
	ck_assert_int_eq(extmsg_asm_add(&a, 0, piece, PIECE - 1, err, sizeof(err)), -1);
	ck_assert_int_eq(extmsg_asm_add(&a, 1, piece, 5, err, sizeof(err)), 0);
	ck_assert_int_eq(extmsg_asm_add(&a, 1, piece, 5, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "already received"));
	ck_assert_uint_eq(a.nhave, 1);
	ck_assert_int_eq(extmsg_asm_add(&a, 0, piece, PIECE, err, sizeof(err)), 1);
	ck_assert_int_eq(extmsg_asm_add(&a, 0, piece, PIECE, err, sizeof(err)), -1);
	ck_assert_int_eq(extmsg_asm_complete(&a), 1);
}
END_TEST

START_TEST(test_asm_max)
{
	/* The largest metadata: 2048 pieces, every bit of the bitfield used. */
	const size_t size = EXTMSG_MAX_METADATA;
	uint8_t *out = malloc(size), *piece = calloc(1, PIECE);
	struct extmsg_asm a;
	char err[128];

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(piece);
	ck_assert_int_eq(extmsg_asm_init(&a, out, size, err, sizeof(err)), 0);
	ck_assert_uint_eq(a.npieces, EXTMSG_MAX_METADATA_PIECES);
	for (uint32_t i = a.npieces; i-- > 0;)
		ck_assert_int_eq(extmsg_asm_add(&a, i, piece, PIECE, err, sizeof(err)),
		    i == 0 ? 1 : 0);
	ck_assert_int_eq(extmsg_asm_complete(&a), 1);
	free(out);
	free(piece);
}
END_TEST

/* ut_pex */

static int
pex_parse(const uint8_t *p, size_t len, struct extmsg_pex *x, char *err, size_t errlen)
{
	/* The result points into the input, so the caller keeps it alive. */
	err[0] = '\0';
	return extmsg_pex_parse(p, len, x, err, errlen);
}

START_TEST(test_pex_parse)
{
	static const uint8_t msg[] =
	    "d5:added12:\x01\x02\x03\x04\x1a\xe1\x05\x06\x07\x08\x00\x50"
	    "7:added.f2:\x02\x11"
	    "6:added618:\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01\x1a\xe2"
	    "7:dropped6:\x09\x09\x09\x09\x00\x01"
	    "e";
	struct extmsg_pex x;
	struct netaddr a;
	char err[128], s[NETADDR_STRLEN];
	uint8_t fl;

	ck_assert_int_eq(pex_parse(msg, sizeof(msg) - 1, &x, err, sizeof(err)), 0);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_ADDED].count, 2);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_ADDED6].count, 1);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_DROPPED].count, 1);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_DROPPED6].count, 0);
	ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_ADDED, 0, &a, &fl), 0);
	ck_assert_str_eq(netaddr_format(&a, s, sizeof(s)), "1.2.3.4:6881");
	ck_assert_uint_eq(fl, EXTMSG_PEX_F_SEED);
	ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_ADDED, 1, &a, &fl), 0);
	ck_assert_str_eq(netaddr_format(&a, s, sizeof(s)), "5.6.7.8:80");
	ck_assert_uint_eq(fl, EXTMSG_PEX_F_ENCRYPT | EXTMSG_PEX_F_REACHABLE);
	ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_ADDED, 2, &a, &fl), -1);
	/* No added6.f: flags read as 0. */
	fl = 0xff;
	ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_ADDED6, 0, &a, &fl), 0);
	ck_assert_str_eq(netaddr_format(&a, s, sizeof(s)), "[2001:db8::1]:6882");
	ck_assert_uint_eq(fl, 0);
	ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_DROPPED, 0, &a, NULL), 0);
	ck_assert_str_eq(netaddr_format(&a, s, sizeof(s)), "9.9.9.9:1");
	ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_DROPPED6, 0, &a, NULL), -1);
	ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_NKINDS, 0, &a, NULL), -1);

	/* An empty dict, and unknown keys, are not errors. */
	ck_assert_int_eq(pex_parse(M("de"), &x, err, sizeof(err)), 0);
	for (int k = 0; k < EXTMSG_PEX_NKINDS; k++)
		ck_assert_uint_eq(x.list[k].count, 0);
	ck_assert_int_eq(pex_parse(M("d5:added0:1:xi1ee"), &x, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_pex_flags_mismatch)
{
	struct extmsg_pex x;
	char err[128];

	/* BEP 11: one flag byte per added peer; two for one peer are ignored. */
	ck_assert_int_eq(pex_parse(M("d5:added6:\1\2\3\4\0\1" "7:added.f2:\1\2e"), &x, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_ADDED].count, 1);
	ck_assert_ptr_null(x.list[EXTMSG_PEX_ADDED].flags);
	ck_assert_int_eq(pex_parse(M("d5:added6:\1\2\3\4\0\1" "7:added.f0:e"), &x, err,
	    sizeof(err)), 0);
	ck_assert_ptr_null(x.list[EXTMSG_PEX_ADDED].flags);
	ck_assert_int_eq(pex_parse(M("d5:added6:\1\2\3\4\0\1" "7:added.fi3ee"), &x, err,
	    sizeof(err)), 0);
	ck_assert_ptr_null(x.list[EXTMSG_PEX_ADDED].flags);
	/* Flags with no peers. */
	ck_assert_int_eq(pex_parse(M("d7:added.f3:abce"), &x, err, sizeof(err)), 0);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_ADDED].count, 0);
	ck_assert_ptr_null(x.list[EXTMSG_PEX_ADDED].flags);
	ck_assert_int_eq(pex_parse(M("d5:added6:\1\2\3\4\0\1" "7:added.f1:\x04" "e"), &x,
	    err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(x.list[EXTMSG_PEX_ADDED].flags);
}
END_TEST

struct bad_pex {
	const uint8_t *p;
	size_t len;
	const char *why;
};

static const struct bad_pex bad_pex[] = {
	{ M(""), "empty" },
	{ M("d5:added6:\1\2\3\4\0\1"), "truncated" },
	{ M("d5:added6:\1\2\3"), "past end" },
	{ M("le"), "not a dictionary" },
	{ M("0:"), "not a dictionary" },
	{ M("d5:added5:\1\2\3\4\0e"), "\"added\" of 5 bytes, not a multiple of 6" },
	{ M("d5:added7:\1\2\3\4\0\1\2e"), "not a multiple of 6" },
	{ M("d6:added66:\1\2\3\4\0\1e"), "\"added6\" of 6 bytes, not a multiple of 18" },
	{ M("d7:dropped1:\0e"), "\"dropped\" of 1 bytes" },
	{ M("d8:dropped66:\1\2\3\4\0\1e"), "\"dropped6\" of 6 bytes" },
	{ M("d5:addedi6ee"), "\"added\" is not a string" },
	{ M("d7:droppedlee"), "\"dropped\" is not a string" },
	{ M("d7:dropped0:5:added0:e"), "bencode" },	/* unsorted */
	{ M("d5:added0:e "), "bencode" },		/* trailing byte */
};

START_TEST(test_pex_bad)
{
	const struct bad_pex *b = &bad_pex[_i];
	uint8_t *c = exact_copy(b->p, b->len);
	struct extmsg_pex x;
	char err[128];

	ck_assert_msg(pex_parse(c, b->len, &x, err, sizeof(err)) == -1,
	    "bad_pex[%d] accepted", _i);
	ck_assert_msg(strstr(err, b->why) != NULL, "bad_pex[%d]: err '%s' lacks '%s'",
	    _i, err, b->why);
	for (int k = 0; k < EXTMSG_PEX_NKINDS; k++)
		ck_assert_uint_eq(x.list[k].count, 0);
	ck_assert_int_eq(extmsg_pex_parse(c, b->len, &x, NULL, 0), -1);
	free(c);
}
END_TEST

START_TEST(test_pex_flood)
{
	/*
	 * 10^5 peers added and dropped: 1.3 MB, which the wire layer's 1 MiB cap
	 * would refuse first, but the codec must not depend on that. The first
	 * 200 of each list are kept.
	 */
	const size_t npeers = 100000;
	struct buf b;
	struct extmsg_pex x;
	struct netaddr a;
	char err[128], s[NETADDR_STRLEN];
	uint8_t fl;
	uint8_t *addrs = malloc(npeers * 6), *flags = malloc(npeers);
	int rc = 0;

	/* Filled first and appended whole: a Check assert per byte would take seconds. */
	ck_assert_ptr_nonnull(addrs);
	ck_assert_ptr_nonnull(flags);
	for (size_t i = 0; i < npeers; i++) {
		uint8_t *e = addrs + i * 6;

		e[0] = 10;
		e[1] = (uint8_t)(i >> 16);
		e[2] = (uint8_t)(i >> 8);
		e[3] = (uint8_t)i;
		e[4] = 0x1a;
		e[5] = 0xe1;
		flags[i] = (uint8_t)(i & 0x1f);
	}
	buf_init(&b, 0);
	rc |= buf_printf(&b, "d5:added%zu:", npeers * 6);
	rc |= buf_append(&b, addrs, npeers * 6);
	rc |= buf_printf(&b, "7:added.f%zu:", npeers);
	rc |= buf_append(&b, flags, npeers);
	/* dropped: the same addresses again (a flood need not make sense). */
	rc |= buf_printf(&b, "7:dropped%zu:", npeers * 6);
	rc |= buf_append(&b, addrs, npeers * 6);
	rc |= buf_puts(&b, "e");
	ck_assert_int_eq(rc, 0);
	free(addrs);
	free(flags);

	ck_assert_int_eq(pex_parse(b.data, b.len, &x, err, sizeof(err)), 0);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_ADDED].total, npeers);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_ADDED].count, EXTMSG_PEX_MAX);
	ck_assert_ptr_nonnull(x.list[EXTMSG_PEX_ADDED].flags);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_DROPPED].total, npeers);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_DROPPED].count, EXTMSG_PEX_MAX);
	ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_ADDED, EXTMSG_PEX_MAX - 1, &a,
	    &fl), 0);
	ck_assert_str_eq(netaddr_format(&a, s, sizeof(s)), "10.0.0.199:6881");
	ck_assert_uint_eq(fl, 199 & 0x1f);
	ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_ADDED, EXTMSG_PEX_MAX, &a, &fl), -1);
	buf_free(&b);
}
END_TEST

static void
mkaddr(struct netaddr *a, const char *s)
{
	char err[128];

	ck_assert_msg(netaddr_parse(s, a, err, sizeof(err)) == 0, "%s: %s", s, err);
}

START_TEST(test_pex_roundtrip)
{
	static const char *const v[] = { "1.2.3.4:6881", "[2001:db8::7]:51413",
	    "192.168.0.1:1", "[::1]:65535", "255.255.255.255:65535" };
	static const char *const d[] = { "[fe80::1]:80", "10.0.0.1:443" };
	struct extmsg_pex_peer added[5];
	struct netaddr dropped[2], a;
	struct extmsg_pex x;
	struct buf b;
	char err[128], s[NETADDR_STRLEN];
	uint8_t fl;

	for (int i = 0; i < 5; i++) {
		mkaddr(&added[i].addr, v[i]);
		added[i].flags = (uint8_t)(1u << i);
	}
	for (int i = 0; i < 2; i++)
		mkaddr(&dropped[i], d[i]);
	buf_init(&b, 0);
	ck_assert_int_eq(extmsg_pex_build(&b, added, 5, dropped, 2), 0);
	ck_assert_int_eq(pex_parse(b.data, b.len, &x, err, sizeof(err)), 0);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_ADDED].count, 3);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_ADDED6].count, 2);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_DROPPED].count, 1);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_DROPPED6].count, 1);
	/* Each family keeps the caller's order, with its own flags. */
	{
		static const int v4[] = { 0, 2, 4 }, v6[] = { 1, 3 };

		for (int i = 0; i < 3; i++) {
			ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_ADDED, (size_t)i, &a,
			    &fl), 0);
			ck_assert_str_eq(netaddr_format(&a, s, sizeof(s)), v[v4[i]]);
			ck_assert_uint_eq(fl, 1u << v4[i]);
		}
		for (int i = 0; i < 2; i++) {
			ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_ADDED6, (size_t)i,
			    &a, &fl), 0);
			ck_assert_str_eq(netaddr_format(&a, s, sizeof(s)), v[v6[i]]);
			ck_assert_uint_eq(fl, 1u << v6[i]);
		}
	}
	ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_DROPPED, 0, &a, NULL), 0);
	ck_assert_str_eq(netaddr_format(&a, s, sizeof(s)), d[1]);
	ck_assert_int_eq(extmsg_pex_get(&x, EXTMSG_PEX_DROPPED6, 0, &a, NULL), 0);
	ck_assert_str_eq(netaddr_format(&a, s, sizeof(s)), d[0]);

	/* Nothing to say is still a valid message (BEP 11: at least one list). */
	buf_reset(&b);
	ck_assert_int_eq(extmsg_pex_build(&b, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(b.len, strlen("d5:added0:7:added.f0:6:added60:8:added6.f0:"
	    "7:dropped0:8:dropped60:e"));
	ck_assert_int_eq(memcmp(b.data, "d5:added0:7:added.f0:6:added60:8:added6.f0:"
	    "7:dropped0:8:dropped60:e", b.len), 0);
	ck_assert_int_eq(pex_parse(b.data, b.len, &x, err, sizeof(err)), 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_pex_build_refusals)
{
	struct extmsg_pex_peer *many = calloc(EXTMSG_PEX_MAX + 1, sizeof(*many));
	struct netaddr drop[1];
	struct extmsg_pex x;
	struct buf b;
	char err[128];

	ck_assert_ptr_nonnull(many);
	for (int i = 0; i <= EXTMSG_PEX_MAX; i++) {
		char s[32];

		snprintf(s, sizeof(s), "10.1.%d.%d:6881", i / 256, i % 256);
		mkaddr(&many[i].addr, s);
	}
	buf_init(&b, 0);
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);
	/* 201 IPv4 peers: one list too long. */
	ck_assert_int_eq(extmsg_pex_build(&b, many, EXTMSG_PEX_MAX + 1, NULL, 0), -1);
	ck_assert_uint_eq(b.len, 4);
	/* Exactly 200 is fine and parses back whole. */
	ck_assert_int_eq(extmsg_pex_build(&b, many, EXTMSG_PEX_MAX, NULL, 0), 0);
	ck_assert_int_eq(pex_parse(b.data + 4, b.len - 4, &x, err, sizeof(err)), 0);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_ADDED].count, EXTMSG_PEX_MAX);
	ck_assert_uint_eq(x.list[EXTMSG_PEX_ADDED].total, EXTMSG_PEX_MAX);
	b.len = 4;
	/* An address of no family. */
	memset(drop, 0, sizeof(drop));
	ck_assert_int_eq(extmsg_pex_build(&b, NULL, 0, drop, 1), -1);
	ck_assert_int_eq(extmsg_pex_build(&b, NULL, 1, NULL, 0), -1);
	ck_assert_int_eq(extmsg_pex_build(&b, NULL, 0, NULL, 1), -1);
	ck_assert_uint_eq(b.len, 4);
	buf_free(&b);
	/* A buffer limit mid-way leaves nothing half-written. */
	buf_init(&b, 100);
	ck_assert_int_eq(buf_puts(&b, "keep"), 0);
	ck_assert_int_eq(extmsg_pex_build(&b, many, 50, NULL, 0), -1);
	ck_assert_uint_eq(b.len, 4);
	buf_free(&b);
	free(many);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("extmsg");
	TCase *tc = tcase_create("extmsg");

	tcase_add_test(tc, test_pieces);
	tcase_add_test(tc, test_bep9_examples);
	tcase_add_test(tc, test_md_unknown_type);
	tcase_add_loop_test(tc, test_md_bad, 0, sizeof(bad_md) / sizeof(bad_md[0]));
	tcase_add_test(tc, test_md_truncated_prefixes);
	tcase_add_test(tc, test_md_roundtrip);
	tcase_add_test(tc, test_md_builder_refusals);
	tcase_add_test(tc, test_asm_out_of_order);
	tcase_add_test(tc, test_asm_refusals);
	tcase_add_test(tc, test_asm_max);
	tcase_add_test(tc, test_pex_parse);
	tcase_add_test(tc, test_pex_flags_mismatch);
	tcase_add_loop_test(tc, test_pex_bad, 0, sizeof(bad_pex) / sizeof(bad_pex[0]));
	tcase_add_test(tc, test_pex_flood);
	tcase_add_test(tc, test_pex_roundtrip);
	tcase_add_test(tc, test_pex_build_refusals);
	suite_add_tcase(s, tc);
	return s;
}
