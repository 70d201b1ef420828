/* wire.c: BitTorrent peer wire messages (BEP 3, 6, 10, 20): pure parse and build, no I/O. */
#include "wire.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bencode.h"
#include "buf.h"
#include "sha.h"
#include "log.h"

/* Every refusal names its reason; log_seterr formats it. */
#define wire_fail(err, errlen, ...) log_seterr(err, errlen, NULL, __VA_ARGS__)

#define PSTR "BitTorrent protocol"
#define PSTR_LEN 19
#define HEAD_LEN 48		/* pstrlen, pstr, reserved, info-hash */

/* Our peer id prefix (BEP 20 Azureus style); PD = p2pd, version 0.1.0. */
#define PEER_ID_PREFIX "-PD0100-"

/* BEP 6 says k = 10; a larger set defeats its purpose, so cap the work. */
#define FAST_SET_MAX 1024
/* The SHA-1 chain meets every residue long before this; it only bounds a loop. */
#define FAST_SET_MAX_ROUNDS 100000

/* BEP 10 "reqq": a peer claiming a deeper queue than this is just boasting. */
#define EXT_MAX_REQQ 100000

/*
 * Length of each known message including its id byte, as BEP 3, 6 and 10
 * define them. max 0 marks an id we do not know.
 */
struct msg_size {
	const char *name;
	uint32_t min;
	uint32_t max;
};

static const struct msg_size msg_sizes[] = {
	[WIRE_CHOKE] = { "choke", 1, 1 },
	[WIRE_UNCHOKE] = { "unchoke", 1, 1 },
	[WIRE_INTERESTED] = { "interested", 1, 1 },
	[WIRE_NOT_INTERESTED] = { "not_interested", 1, 1 },
	[WIRE_HAVE] = { "have", 5, 5 },
	[WIRE_BITFIELD] = { "bitfield", 1, UINT32_MAX },
	[WIRE_REQUEST] = { "request", 13, 13 },
	[WIRE_PIECE] = { "piece", 9, UINT32_MAX },
	[WIRE_CANCEL] = { "cancel", 13, 13 },
	[WIRE_PORT] = { "port", 3, 3 },
	[WIRE_SUGGEST] = { "suggest", 5, 5 },
	[WIRE_HAVE_ALL] = { "have_all", 1, 1 },
	[WIRE_HAVE_NONE] = { "have_none", 1, 1 },
	[WIRE_REJECT] = { "reject", 13, 13 },
	[WIRE_ALLOWED_FAST] = { "allowed_fast", 5, 5 },
	[WIRE_EXTENDED] = { "extended", 2, UINT32_MAX },
};

static const struct msg_size *
msg_size_of(uint8_t id)
{
	if (id >= sizeof(msg_sizes) / sizeof(msg_sizes[0]) || msg_sizes[id].max == 0)
		return NULL;
	return &msg_sizes[id];
}

/* Handshake (BEP 3): <19>"BitTorrent protocol"<reserved 8><info-hash 20><peer id 20>. */

/* Checks whatever part of the 20-byte protocol string is already there. */
static int
pstr_check(const uint8_t *p, size_t len)
{
	static const uint8_t want[1 + PSTR_LEN] = "\x13" PSTR;
	size_t n = len < sizeof(want) ? len : sizeof(want);

	return memcmp(p, want, n) == 0 ? 0 : -1;
}

int
wire_handshake_parse_head(const uint8_t *p, size_t len, uint8_t reserved[8],
    uint8_t info_hash[20])
{
	struct rd r;

	if (len == 0)
		return 0;
	if (pstr_check(p, len) == -1)
		return -1;
	if (len < HEAD_LEN)
		return 0;
	rd_init(&r, p, len);
	if (rd_skip(&r, 1 + PSTR_LEN) == -1 || rd_bytes(&r, reserved, 8) == -1 ||
	    rd_bytes(&r, info_hash, 20) == -1)
		return -1;
	return 1;
}

int
wire_handshake_parse(const uint8_t *p, size_t len, struct wire_handshake *out)
{
	struct rd r;
	int rc;

	rc = wire_handshake_parse_head(p, len, out->reserved, out->info_hash);
	if (rc != 1)
		return rc;
	if (len < WIRE_HANDSHAKE_LEN)
		return 0;
	rd_init(&r, p, len);
	if (rd_skip(&r, HEAD_LEN) == -1 || rd_bytes(&r, out->peer_id, 20) == -1)
		return -1;
	return 1;
}

void
wire_handshake_build(uint8_t out[WIRE_HANDSHAKE_LEN], const uint8_t info_hash[20],
    const uint8_t peer_id[20], int fast, int extended, int dht)
{
	uint8_t *reserved = out + 1 + PSTR_LEN;

	out[0] = PSTR_LEN;
	memcpy(out + 1, PSTR, PSTR_LEN);
	memset(reserved, 0, 8);
	if (dht)
		reserved[7] |= 0x01;	/* BEP 5 */
	if (fast)
		reserved[7] |= 0x04;	/* BEP 6 */
	if (extended)
		reserved[5] |= 0x10;	/* BEP 10 */
	memcpy(out + HEAD_LEN - 20, info_hash, 20);
	memcpy(out + HEAD_LEN, peer_id, 20);
}

/* Messages (BEP 3): <length 4><id 1><payload>; length 0 is a keep-alive. */

/* The rest of the body is the message's data (bitfield bits, block, payload). */
static int
msg_rest(struct rd *r, struct wire_msg *m)
{
	m->data_len = rd_left(r);
	return rd_span(r, &m->data, m->data_len);
}

/* Fills m from a complete body (id and payload) whose size passed the table. */
static int
msg_decode(const uint8_t *body, uint32_t n, struct wire_msg *m, char *err,
    size_t errlen)
{
	struct rd r;
	uint8_t id;
	const char *name;

	rd_init(&r, body, n);
	if (rd_u8(&r, &id) == -1)
		return wire_fail(err, errlen, "wire: empty message");
	m->id = id;
	switch (id) {
	case WIRE_HAVE:
	case WIRE_SUGGEST:
	case WIRE_ALLOWED_FAST:
		return rd_be32(&r, &m->index);
	case WIRE_REQUEST:
	case WIRE_CANCEL:
	case WIRE_REJECT:
		if (rd_be32(&r, &m->index) == -1 || rd_be32(&r, &m->begin) == -1 ||
		    rd_be32(&r, &m->length) == -1)
			return -1;
		/* BEP 3: asking for nothing, or more than any client sends, is abuse. */
		if (m->length == 0 || m->length > WIRE_MAX_REQUEST) {
			name = msg_size_of(id)->name;
			return wire_fail(err, errlen, "wire: %s for %u bytes", name,
			    (unsigned)m->length);
		}
		return 0;
	case WIRE_PIECE:
		if (rd_be32(&r, &m->index) == -1 || rd_be32(&r, &m->begin) == -1)
			return -1;
		m->length = (uint32_t)rd_left(&r);
		return msg_rest(&r, m);
	case WIRE_PORT:
		return rd_be16(&r, &m->port);
	case WIRE_EXTENDED:
		if (rd_u8(&r, &m->ext_id) == -1)
			return -1;
		return msg_rest(&r, m);
	case WIRE_BITFIELD:
		return msg_rest(&r, m);
	default:
		if (msg_size_of(id) != NULL)
			return 0;	/* the one-byte messages */
		/* BEP 3: ids we don't know are ignored, not fatal. */
		m->id = WIRE_UNKNOWN;
		m->raw_id = id;
		return msg_rest(&r, m);
	}
}

/* A known id must come with its own length (BEP 3, 6, 10 fix each one). */
static int
msg_size_check(uint8_t id, uint32_t n, char *err, size_t errlen)
{
	const struct msg_size *s = msg_size_of(id);

	if (s == NULL || (n >= s->min && n <= s->max))
		return 0;
	if (s->min == s->max)
		return wire_fail(err, errlen, "wire: %s of length %u, must be %u",
		    s->name, (unsigned)n, (unsigned)s->min);
	return wire_fail(err, errlen, "wire: %s of length %u, must be at least %u",
	    s->name, (unsigned)n, (unsigned)s->min);
}

ssize_t
wire_msg_parse(const uint8_t *p, size_t len, size_t max, struct wire_msg *m,
    size_t *need, char *err, size_t errlen)
{
	const uint8_t *body;
	struct rd r;
	size_t dummy;
	uint32_t n;

	if (need == NULL)
		need = &dummy;
	*need = 4;
	memset(m, 0, sizeof(*m));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	rd_init(&r, p, len);
	if (rd_be32(&r, &n) == -1)
		return 0;
	/* bgpd-style: refuse an oversized prefix before buffering any of the body. */
	if (n > max || (uint64_t)n + 4 > (uint64_t)SSIZE_MAX)
		return wire_fail(err, errlen, "wire: length %u over limit %zu",
		    (unsigned)n, max);
	if (n == 0) {
		m->id = WIRE_KEEPALIVE;
		return 4;
	}
	*need = (size_t)n + 4;
	/* Peek at the id: a wrong size is known before the body is. */
	if (rd_span(&r, &body, 1) == 0 &&
	    msg_size_check(body[0], n, err, errlen) == -1) {
		*need = 4;
		return -1;
	}
	rd_init(&r, p, len);
	if (rd_skip(&r, 4) == -1 || rd_span(&r, &body, n) == -1)
		return 0;
	if (msg_decode(body, n, m, err, errlen) == -1) {
		/* The size table rules out a short read; keep err honest anyway. */
		if (err != NULL && errlen > 0 && err[0] == '\0')
			wire_fail(err, errlen, "wire: message %u too short", body[0]);
		*need = 4;
		return -1;
	}
	return (ssize_t)n + 4;
}

/* Builders: each message is composed whole, so a refused append leaves b untouched. */

int
wire_put_keepalive(struct buf *b)
{
	return buf_put_be32(b, 0);
}

/* Writes the length prefix and id into hdr; returns the header size (5). */
static size_t
msg_header(uint8_t *hdr, uint32_t n, uint8_t id)
{
	hdr[0] = (uint8_t)(n >> 24);
	hdr[1] = (uint8_t)(n >> 16);
	hdr[2] = (uint8_t)(n >> 8);
	hdr[3] = (uint8_t)n;
	hdr[4] = id;
	return 5;
}

static size_t
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return 4;
}

int
wire_put_simple(struct buf *b, enum wire_id id)
{
	uint8_t msg[5];

	if (id < 0 || msg_size_of((uint8_t)id) == NULL || msg_sizes[id].max != 1)
		return -1;
	return buf_append(b, msg, msg_header(msg, 1, (uint8_t)id));
}

int
wire_put_index(struct buf *b, enum wire_id id, uint32_t index)
{
	uint8_t msg[9];
	size_t n;

	if (id != WIRE_HAVE && id != WIRE_SUGGEST && id != WIRE_ALLOWED_FAST)
		return -1;
	n = msg_header(msg, 5, (uint8_t)id);
	n += put32(msg + n, index);
	return buf_append(b, msg, n);
}

int
wire_put_block(struct buf *b, enum wire_id id, uint32_t index, uint32_t begin,
    uint32_t length)
{
	uint8_t msg[17];
	size_t n;

	if (id != WIRE_REQUEST && id != WIRE_CANCEL && id != WIRE_REJECT)
		return -1;
	/* Never send what wire_msg_parse would refuse from a peer. */
	if (length == 0 || length > WIRE_MAX_REQUEST)
		return -1;
	n = msg_header(msg, 13, (uint8_t)id);
	n += put32(msg + n, index);
	n += put32(msg + n, begin);
	n += put32(msg + n, length);
	return buf_append(b, msg, n);
}

/* Header, then payload; reserving the whole first keeps the append all-or-nothing. */
static int
put_with_payload(struct buf *b, const uint8_t *hdr, size_t hlen, const void *payload,
    size_t plen)
{
	if (plen > WIRE_MAX_MSG || buf_reserve(b, hlen + plen) == -1)
		return -1;
	if (buf_append(b, hdr, hlen) == -1 || buf_append(b, payload, plen) == -1)
		return -1;
	return 0;
}

int
wire_put_bitfield(struct buf *b, const uint8_t *bits, size_t nbytes)
{
	uint8_t hdr[5];

	if (nbytes > WIRE_MAX_MSG - 1)
		return -1;
	msg_header(hdr, (uint32_t)nbytes + 1, WIRE_BITFIELD);
	return put_with_payload(b, hdr, sizeof(hdr), bits, nbytes);
}

int
wire_put_piece_header(struct buf *b, uint32_t index, uint32_t begin, uint32_t len)
{
	uint8_t msg[13];
	size_t n;

	if (len > WIRE_MAX_MSG - 9)
		return -1;
	n = msg_header(msg, len + 9, WIRE_PIECE);
	n += put32(msg + n, index);
	n += put32(msg + n, begin);
	return buf_append(b, msg, n);
}

int
wire_put_port(struct buf *b, uint16_t port)
{
	uint8_t msg[7];
	size_t n;

	n = msg_header(msg, 3, WIRE_PORT);
	msg[n++] = (uint8_t)(port >> 8);
	msg[n++] = (uint8_t)port;
	return buf_append(b, msg, n);
}

int
wire_put_extended(struct buf *b, uint8_t ext_id, const void *payload, size_t n)
{
	uint8_t hdr[6];

	if (n > WIRE_MAX_MSG - 2)
		return -1;
	msg_header(hdr, (uint32_t)n + 2, WIRE_EXTENDED);
	hdr[5] = ext_id;
	return put_with_payload(b, hdr, sizeof(hdr), payload, n);
}

/* BEP 10 extension handshake. */

/* An id in "m"; BEP 10 ids are one byte, anything else means "not supported". */
static uint8_t
ext_id_get(const struct be_doc *doc, uint32_t mdict, const char *name)
{
	int64_t i = be_dict_get_type(doc, mdict, name, BE_INT);

	if (i < 0 || doc->tok[i].ival < 0 || doc->tok[i].ival > 255)
		return 0;
	return (uint8_t)doc->tok[i].ival;
}

/* -1 if absent or not an integer. */
static int
ext_int_get(const struct be_doc *doc, const char *key, int64_t *v)
{
	int64_t i = be_dict_get_type(doc, 0, key, BE_INT);

	if (i < 0)
		return -1;
	*v = doc->tok[i].ival;
	return 0;
}

/*
 * "v" is UTF-8 (BEP 10) but ends up in logs and RPC output: keep printable
 * ASCII, turn each other character (a UTF-8 sequence counts as one) into '?'.
 */
static void
client_sanitise(const uint8_t *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f)
			out[o++] = (char)s[i];
		else if (s[i] < 0x80 || s[i] >= 0xc0)
			out[o++] = '?';
		/* else a UTF-8 continuation byte: its lead byte already wrote '?' */
	}
	out[o] = '\0';
}

static void
ext_fill(const struct be_doc *doc, int64_t mi, struct wire_ext_handshake *out)
{
	const uint8_t *s;
	int64_t i, v;
	size_t n;

	if (mi >= 0) {
		out->ut_metadata = ext_id_get(doc, (uint32_t)mi, "ut_metadata");
		out->ut_pex = ext_id_get(doc, (uint32_t)mi, "ut_pex");
		out->p2p_search = ext_id_get(doc, (uint32_t)mi, "p2p_search");
	}
	if ((i = be_dict_get_type(doc, 0, "v", BE_STR)) >= 0) {
		s = be_str(doc, (uint32_t)i, &n);
		client_sanitise(s, n, out->client, sizeof(out->client));
	}
	if (ext_int_get(doc, "reqq", &v) == 0 && v > 0)
		out->reqq = v > EXT_MAX_REQQ ? EXT_MAX_REQQ : (uint32_t)v;
	if (ext_int_get(doc, "p", &v) == 0 && v >= 1 && v <= 65535)
		out->port = (uint16_t)v;
	if (ext_int_get(doc, "metadata_size", &v) == 0 && v >= 0)
		out->metadata_size = v;
	if ((i = be_dict_get_type(doc, 0, "yourip", BE_STR)) >= 0) {
		s = be_str(doc, (uint32_t)i, &n);
		if (n == 4 || n == 16) {
			memcpy(out->yourip, s, n);
			out->yourip_len = (uint8_t)n;
		}
	}
}

int
wire_ext_handshake_parse(const uint8_t *p, size_t len, struct wire_ext_handshake *out,
    char *err, size_t errlen)
{
	struct be_doc doc;
	int64_t mi;

	memset(out, 0, sizeof(*out));
	out->metadata_size = -1;
	if (be_decode(p, len, &be_default_limits, &doc, err, errlen) == -1)
		return -1;
	if (doc.tok[0].type != BE_DICT) {
		be_doc_free(&doc);
		return wire_fail(err, errlen, "ext handshake: not a dictionary");
	}
	/* BEP 10: "m" maps extension names to ids; any other shape is nonsense. */
	mi = be_dict_get(&doc, 0, "m");
	if (mi >= 0 && doc.tok[mi].type != BE_DICT) {
		be_doc_free(&doc);
		return wire_fail(err, errlen, "ext handshake: \"m\" is not a dictionary");
	}
	ext_fill(&doc, mi, out);
	be_doc_free(&doc);
	return 0;
}

static int
put_key_int(struct buf *b, const char *key, int64_t v)
{
	if (be_put_cstr(b, key) == -1 || be_put_int(b, v) == -1)
		return -1;
	return 0;
}

/* The "m" dict; bencode wants keys in byte order, so they are listed sorted. */
static int
put_ext_m(struct buf *b, const struct wire_ext_handshake *h)
{
	if (be_put_cstr(b, "m") == -1 || be_put_dict(b) == -1)
		return -1;
	if (h->p2p_search && put_key_int(b, "p2p_search", h->p2p_search) == -1)
		return -1;
	if (h->ut_metadata && put_key_int(b, "ut_metadata", h->ut_metadata) == -1)
		return -1;
	if (h->ut_pex && put_key_int(b, "ut_pex", h->ut_pex) == -1)
		return -1;
	return be_put_end(b);
}

/* Top-level keys in byte order: m, metadata_size, p, reqq, v, yourip. */
static int
put_ext_dict(struct buf *b, const struct wire_ext_handshake *h)
{
	size_t vlen = strnlen(h->client, sizeof(h->client));

	if (be_put_dict(b) == -1 || put_ext_m(b, h) == -1)
		return -1;
	if (h->metadata_size >= 0 &&
	    put_key_int(b, "metadata_size", h->metadata_size) == -1)
		return -1;
	if (h->port != 0 && put_key_int(b, "p", h->port) == -1)
		return -1;
	if (h->reqq != 0 && put_key_int(b, "reqq", h->reqq) == -1)
		return -1;
	if (vlen > 0 && (be_put_cstr(b, "v") == -1 ||
	    be_put_str(b, h->client, vlen) == -1))
		return -1;
	if ((h->yourip_len == 4 || h->yourip_len == 16) &&
	    (be_put_cstr(b, "yourip") == -1 ||
	    be_put_str(b, h->yourip, h->yourip_len) == -1))
		return -1;
	return be_put_end(b);
}

int
wire_ext_handshake_build(struct buf *b, const struct wire_ext_handshake *h)
{
	size_t start = b->len;

	if (put_ext_dict(b, h) == -1) {
		b->len = start;		/* no half-written dict */
		return -1;
	}
	return 0;
}

/* BEP 6 allowed-fast set. */

static int
index_seen(const uint32_t *set, size_t n, uint32_t index)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == index)
			return 1;
	return 0;
}

size_t
wire_allowed_fast_set(const uint8_t ipv4[4], const uint8_t info_hash[20],
    uint32_t npieces, uint32_t k, uint32_t *out)
{
	uint8_t x[4 + 20];
	uint8_t h[SHA1_LEN];
	size_t xlen = sizeof(x), want, have = 0;
	struct rd r;
	uint32_t y;

	want = k < npieces ? k : npieces;
	if (want > FAST_SET_MAX)
		want = FAST_SET_MAX;
	/* (1) only the /24 counts, so one host with many addresses gets one set. */
	memcpy(x, ipv4, 3);
	x[3] = 0;
	memcpy(x + 4, info_hash, 20);	/* (2) */
	for (int round = 0; have < want && round < FAST_SET_MAX_ROUNDS; round++) {
		sha1(x, xlen, h);	/* (3) x = SHA1(x) */
		memcpy(x, h, sizeof(h));
		xlen = sizeof(h);
		rd_init(&r, h, sizeof(h));
		/* (4)-(9): five big-endian words, each a candidate index. */
		while (have < want && rd_be32(&r, &y) == 0) {
			if (!index_seen(out, have, y % npieces))
				out[have++] = y % npieces;
		}
	}
	return have;
}

/* BEP 20 peer ids. */

struct client_code {
	const char *code;
	const char *name;
};

/* Azureus-style two-letter codes (BEP 20); PD is ours here, not Pando. */
static const struct client_code az_clients[] = {
	{ "AZ", "Azureus" },
	{ "BC", "BitComet" },
	{ "BT", "BitTorrent" },
	{ "DE", "Deluge" },
	{ "KT", "KTorrent" },
	{ "LT", "libtorrent" },		/* rasterbar */
	{ "lt", "libTorrent" },		/* rakshasa, rtorrent */
	{ "MO", "MonoTorrent" },
	{ "PD", "p2pd" },
	{ "qB", "qBittorrent" },
	{ "TR", "Transmission" },
	{ "UT", "uTorrent" },		/* µTorrent, kept ASCII */
	{ "UW", "uTorrent Web" },
	{ "WW", "WebTorrent" },
};

/* Single-letter Shadow-style and Mainline-style codes (BEP 20). */
static const struct client_code shadow_clients[] = {
	{ "A", "ABC" },
	{ "M", "Mainline" },
	{ "O", "Osprey Permaseed" },
	{ "Q", "BTQueue" },
	{ "R", "Tribler" },
	{ "S", "Shadow" },
	{ "T", "BitTornado" },
	{ "U", "UPnP NAT Bit Torrent" },
};

static const char *
client_lookup(const struct client_code *t, size_t n, const uint8_t *code, size_t clen)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(t[i].code) == clen && memcmp(t[i].code, code, clen) == 0)
			return t[i].name;
	return NULL;
}

/* A version character: digits, then letters from 10 on (libtorrent: 'A' is 10). */
static int
version_digit(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 36;
	return -1;
}

/* "-XX1234-": two code characters, four version characters. */
static int
client_azureus(const uint8_t *id, char *out, size_t n)
{
	const char *name;
	char code[3];
	int v[4];

	if (id[0] != '-' || id[7] != '-')
		return -1;
	for (int i = 0; i < 2; i++)
		if (id[1 + i] <= 0x20 || id[1 + i] >= 0x7f || id[1 + i] == '-')
			return -1;
	for (int i = 0; i < 4; i++)
		if ((v[i] = version_digit(id[3 + i])) == -1)
			return -1;
	code[0] = (char)id[1];
	code[1] = (char)id[2];
	code[2] = '\0';
	name = client_lookup(az_clients, sizeof(az_clients) / sizeof(az_clients[0]),
	    id + 1, 2);
	if (name == NULL)
		name = code;
	/* A fourth component of zero is the usual padding ("-LT2080-" is 2.0.8). */
	if (v[3] == 0)
		snprintf(out, n, "%s %d.%d.%d", name, v[0], v[1], v[2]);
	else
		snprintf(out, n, "%s %d.%d.%d.%d", name, v[0], v[1], v[2], v[3]);
	return 0;
}

/* Reads 1 to 3 decimal digits and the '-' after them, as Mainline writes "4-20-8-". */
static int
dash_number(const uint8_t *id, size_t len, size_t *pos, int *v)
{
	size_t i = *pos;
	int digits = 0;

	*v = 0;
	while (i < len && id[i] >= '0' && id[i] <= '9' && digits < 3) {
		*v = *v * 10 + (id[i] - '0');
		i++;
		digits++;
	}
	if (digits == 0 || i >= len || id[i] != '-')
		return -1;
	*pos = i + 1;
	return 0;
}

/* "M4-20-8-" (Mainline, Queen Bee) and aria2's "A2-1-36-0-": three dashed numbers. */
static int
client_mainline(const uint8_t *id, char *out, size_t n)
{
	const char *name;
	size_t pos;
	int v[3];

	if (memcmp(id, "A2-", 3) == 0) {
		name = "aria2";
		pos = 3;
	} else if (id[0] == 'M' || id[0] == 'Q') {
		name = id[0] == 'M' ? "Mainline" : "Queen Bee";
		pos = 1;
	} else
		return -1;
	/* Only the first 12 bytes may hold the version; the rest is random. */
	for (int i = 0; i < 3; i++)
		if (dash_number(id, 12, &pos, &v[i]) == -1)
			return -1;
	snprintf(out, n, "%s %d.%d.%d", name, v[0], v[1], v[2]);
	return 0;
}

/* Shadow's alphabet: 0-9, A-Z, a-z, then '.' for 62; '-' pads (BEP 20). */
static int
shadow_digit(uint8_t c)
{
	if (c == '.')
		return 62;
	return version_digit(c);
}

/* "S58B-----": a letter, up to five version characters padded with '-', then "---". */
static int
client_shadow(const uint8_t *id, char *out, size_t n)
{
	const char *name;
	char ver[5 * 3 + 1];
	size_t vlen = 0;
	int d, i;

	name = client_lookup(shadow_clients,
	    sizeof(shadow_clients) / sizeof(shadow_clients[0]), id, 1);
	if (name == NULL || memcmp(id + 6, "---", 3) != 0)
		return -1;
	for (i = 1; i < 6 && id[i] != '-'; i++) {
		if ((d = shadow_digit(id[i])) == -1)
			return -1;
		vlen += (size_t)snprintf(ver + vlen, sizeof(ver) - vlen, "%s%d",
		    i > 1 ? "." : "", d);
	}
	if (i == 1)
		return -1;
	for (; i < 6; i++)
		if (id[i] != '-')
			return -1;
	snprintf(out, n, "%s %s", name, ver);
	return 0;
}

void
wire_client_name(const uint8_t peer_id[20], char *out, size_t n)
{
	if (n == 0)
		return;
	if (client_azureus(peer_id, out, n) == 0 ||
	    client_mainline(peer_id, out, n) == 0 ||
	    client_shadow(peer_id, out, n) == 0)
		return;
	snprintf(out, n, "unknown");
}

void
wire_make_peer_id(uint8_t out[20], const uint8_t random12[12])
{
	static const char alnum[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

	memcpy(out, PEER_ID_PREFIX, 8);
	/* BEP 20 leaves the rest random; printable keeps it readable in logs. */
	for (int i = 0; i < 12; i++)
		out[8 + i] = (uint8_t)alnum[random12[i] % (sizeof(alnum) - 1)];
}
