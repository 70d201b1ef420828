/* extmsg.c: ut_metadata (BEP 9) and ut_pex (BEP 11) payloads: pure parse and build, no I/O. */
#include "extmsg.h"

#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>

#include "bencode.h"
#include "buf.h"
#include "log.h"

#define ext_fail(err, errlen, ...) log_seterr(err, errlen, NULL, __VA_ARGS__)

/*
 * Both payloads are flat dicts of a handful of keys. Unknown keys are allowed
 * (BEP 10 extensions grow), but a few hundred values or deep nesting is no
 * extension anyone sends, and the limit bounds the decoder's work.
 */
static const struct be_limits ext_limits = { 4, 256 };

/* ut_metadata (BEP 9). */

uint32_t
extmsg_metadata_pieces(int64_t size)
{
	if (size <= 0 || size > (int64_t)EXTMSG_MAX_METADATA)
		return 0;
	return (uint32_t)((size + EXTMSG_METADATA_PIECE - 1) / EXTMSG_METADATA_PIECE);
}

size_t
extmsg_metadata_piece_len(int64_t size, uint32_t piece)
{
	uint32_t n = extmsg_metadata_pieces(size);

	if (piece >= n)
		return 0;
	if (piece + 1 < n)
		return EXTMSG_METADATA_PIECE;
	/* BEP 9: the last piece is whatever remains, 1 to 16 KiB. */
	return (size_t)(size - (int64_t)piece * EXTMSG_METADATA_PIECE);
}

/* An integer key: 0 and *v, 1 if absent, -1 if present but not an integer. */
static int
md_int(const struct be_doc *doc, const char *key, int64_t *v)
{
	int64_t i = be_dict_get(doc, 0, key);

	if (i < 0)
		return 1;
	if (doc->tok[i].type != BE_INT)
		return -1;
	*v = doc->tok[i].ival;
	return 0;
}

/* msg_type and piece, which every known message carries (BEP 9). */
static int
md_header(const struct be_doc *doc, struct extmsg_metadata *out, int64_t *piece,
    char *err, size_t errlen)
{
	int64_t t;
	int rc;

	if (doc->tok[0].type != BE_DICT)
		return ext_fail(err, errlen, "ut_metadata: not a dictionary");
	if ((rc = md_int(doc, "msg_type", &t)) != 0)
		return ext_fail(err, errlen, "ut_metadata: msg_type %s",
		    rc == 1 ? "missing" : "is not an integer");
	if (t < 0)
		return ext_fail(err, errlen, "ut_metadata: negative msg_type %" PRId64, t);
	out->raw_type = t;
	out->msg_type = t <= EXTMSG_MD_REJECT ? (int)t : EXTMSG_MD_UNKNOWN;
	if (out->msg_type == EXTMSG_MD_UNKNOWN)
		return 0;	/* BEP 9: ignore it, so nothing else is required */
	if ((rc = md_int(doc, "piece", piece)) != 0)
		return ext_fail(err, errlen, "ut_metadata: piece %s",
		    rc == 1 ? "missing" : "is not an integer");
	if (*piece < 0)
		return ext_fail(err, errlen, "ut_metadata: negative piece %" PRId64, *piece);
	return 0;
}

/* total_size of a data message against what the caller expects; *size gets the one to use. */
static int
md_total_size(const struct be_doc *doc, int64_t expect, int64_t *size, char *err,
    size_t errlen)
{
	int64_t ts;
	int rc;

	if ((rc = md_int(doc, "total_size", &ts)) != 0)
		return ext_fail(err, errlen, "ut_metadata: total_size %s",
		    rc == 1 ? "missing" : "is not an integer");
	if (ts <= 0 || ts > (int64_t)EXTMSG_MAX_METADATA)
		return ext_fail(err, errlen,
		    "ut_metadata: total_size %" PRId64 " out of range 1..%u", ts,
		    EXTMSG_MAX_METADATA);
	/* BEP 9: total_size means what the handshake's metadata_size meant. */
	if (expect != EXTMSG_SIZE_UNKNOWN && ts != expect)
		return ext_fail(err, errlen,
		    "ut_metadata: total_size %" PRId64 " but metadata_size %" PRId64,
		    ts, expect);
	*size = ts;
	return 0;
}

/* The checks after the dict decoded; size is the caller's metadata_size. */
static int
md_check(const struct be_doc *doc, const uint8_t *p, size_t len, size_t used,
    int64_t size, struct extmsg_metadata *out, char *err, size_t errlen)
{
	int64_t piece = 0;
	uint32_t npieces;
	size_t want;

	if (md_header(doc, out, &piece, err, errlen) == -1)
		return -1;
	if (out->msg_type == EXTMSG_MD_UNKNOWN)
		return 0;
	if (out->msg_type == EXTMSG_MD_DATA &&
	    md_total_size(doc, size, &size, err, errlen) == -1)
		return -1;
	/* An unknown size still cannot pass the largest metadata we accept. */
	npieces = size == EXTMSG_SIZE_UNKNOWN ? EXTMSG_MAX_METADATA_PIECES :
	    extmsg_metadata_pieces(size);
	if (piece >= (int64_t)npieces)
		return ext_fail(err, errlen,
		    "ut_metadata: piece %" PRId64 " of %" PRIu32, piece, npieces);
	out->piece = (uint32_t)piece;
	if (out->msg_type != EXTMSG_MD_DATA) {
		/* BEP 9: only data carries bytes after the dict. */
		if (used != len)
			return ext_fail(err, errlen,
			    "ut_metadata: %zu bytes after a %s", len - used,
			    out->msg_type == EXTMSG_MD_REQUEST ? "request" : "reject");
		return 0;
	}
	out->total_size = size;
	want = extmsg_metadata_piece_len(size, out->piece);
	/* BEP 9: 16 KiB except the last piece. */
	if (len - used != want)
		return ext_fail(err, errlen,
		    "ut_metadata: piece %" PRIu32 " has %zu bytes, must be %zu",
		    out->piece, len - used, want);
	out->data = p + used;
	out->data_len = want;
	return 0;
}

int
extmsg_metadata_parse(const uint8_t *p, size_t len, int64_t metadata_size,
    struct extmsg_metadata *out, char *err, size_t errlen)
{
	struct be_doc doc;
	size_t used;
	int rc;

	memset(out, 0, sizeof(*out));
	out->msg_type = EXTMSG_MD_UNKNOWN;
	out->total_size = -1;
	if (metadata_size != EXTMSG_SIZE_UNKNOWN &&
	    extmsg_metadata_pieces(metadata_size) == 0)
		return ext_fail(err, errlen,
		    "ut_metadata: metadata_size %" PRId64 " out of range 1..%u",
		    metadata_size, EXTMSG_MAX_METADATA);
	if (be_decode_prefix(p, len, &ext_limits, &doc, &used, err, errlen) == -1)
		return -1;
	rc = md_check(&doc, p, len, used, metadata_size, out, err, errlen);
	be_doc_free(&doc);
	if (rc == -1) {
		memset(out, 0, sizeof(*out));
		out->msg_type = EXTMSG_MD_UNKNOWN;
		out->total_size = -1;
	}
	return rc;
}

/* d8:msg_typei<t>e5:piecei<p>e[10:total_sizei<s>e]e, keys in byte order. */
static int
md_put_dict(struct buf *b, int type, uint32_t piece, int64_t total_size)
{
	if (be_put_dict(b) == -1 || be_put_cstr(b, "msg_type") == -1 ||
	    be_put_int(b, type) == -1 || be_put_cstr(b, "piece") == -1 ||
	    be_put_int(b, piece) == -1)
		return -1;
	if (total_size >= 0 && (be_put_cstr(b, "total_size") == -1 ||
	    be_put_int(b, total_size) == -1))
		return -1;
	return be_put_end(b);
}

/* Never send what extmsg_metadata_parse would refuse from a peer. */
static int
md_put(struct buf *b, int type, uint32_t piece, int64_t total_size,
    const void *data, size_t n)
{
	size_t start = b->len;

	if (piece >= EXTMSG_MAX_METADATA_PIECES)
		return -1;
	if (md_put_dict(b, type, piece, total_size) == -1 ||
	    (n > 0 && buf_append(b, data, n) == -1)) {
		b->len = start;		/* no half-written payload */
		return -1;
	}
	return 0;
}

int
extmsg_metadata_put_request(struct buf *b, uint32_t piece)
{
	return md_put(b, EXTMSG_MD_REQUEST, piece, -1, NULL, 0);
}

int
extmsg_metadata_put_reject(struct buf *b, uint32_t piece)
{
	return md_put(b, EXTMSG_MD_REJECT, piece, -1, NULL, 0);
}

int
extmsg_metadata_put_data(struct buf *b, uint32_t piece, int64_t total_size,
    const void *data, size_t n)
{
	size_t want = extmsg_metadata_piece_len(total_size, piece);

	if (want == 0 || n != want || data == NULL)
		return -1;
	return md_put(b, EXTMSG_MD_DATA, piece, total_size, data, n);
}

/* Metadata assembly. */

int
extmsg_asm_init(struct extmsg_asm *a, uint8_t *buf, size_t size, char *err,
    size_t errlen)
{
	memset(a, 0, sizeof(*a));
	if (size == 0 || size > EXTMSG_MAX_METADATA)
		return ext_fail(err, errlen, "ut_metadata: metadata size %zu out of range 1..%u",
		    size, EXTMSG_MAX_METADATA);
	if (buf == NULL)
		return ext_fail(err, errlen, "ut_metadata: no buffer");
	a->buf = buf;
	a->size = size;
	a->npieces = extmsg_metadata_pieces((int64_t)size);
	return 0;
}

int
extmsg_asm_has(const struct extmsg_asm *a, uint32_t piece)
{
	if (piece >= a->npieces)
		return 0;
	return (a->have[piece / 8] >> (piece % 8)) & 1;
}

int
extmsg_asm_add(struct extmsg_asm *a, uint32_t piece, const uint8_t *data, size_t n,
    char *err, size_t errlen)
{
	size_t want = extmsg_metadata_piece_len((int64_t)a->size, piece);

	if (a->buf == NULL)
		return ext_fail(err, errlen, "ut_metadata: assembler not initialised");
	if (piece >= a->npieces)
		return ext_fail(err, errlen, "ut_metadata: piece %" PRIu32 " of %" PRIu32,
		    piece, a->npieces);
	if (n != want)
		return ext_fail(err, errlen,
		    "ut_metadata: piece %" PRIu32 " has %zu bytes, must be %zu", piece,
		    n, want);
	/* A second copy of a piece was never asked for (BEP 9: one request, one answer). */
	if (extmsg_asm_has(a, piece))
		return ext_fail(err, errlen, "ut_metadata: piece %" PRIu32 " already received",
		    piece);
	memcpy(a->buf + (size_t)piece * EXTMSG_METADATA_PIECE, data, n);
	a->have[piece / 8] |= (uint8_t)(1u << (piece % 8));
	a->nhave++;
	return extmsg_asm_complete(a);
}

int
extmsg_asm_complete(const struct extmsg_asm *a)
{
	return a->npieces > 0 && a->nhave == a->npieces;
}

int64_t
extmsg_asm_next_missing(const struct extmsg_asm *a, uint32_t from)
{
	if (a->npieces == 0 || a->nhave == a->npieces)
		return -1;
	for (uint32_t k = 0; k < a->npieces; k++) {
		uint32_t i = (uint32_t)(((uint64_t)from + k) % a->npieces);

		if (!extmsg_asm_has(a, i))
			return i;
	}
	return -1;
}

void
extmsg_asm_reset(struct extmsg_asm *a)
{
	memset(a->have, 0, sizeof(a->have));
	a->nhave = 0;
}

/* ut_pex (BEP 11). */

struct pex_key {
	const char *addrs;
	const char *flags;	/* NULL: dropped lists have no flags */
	size_t elen;
};

static const struct pex_key pex_keys[EXTMSG_PEX_NKINDS] = {
	[EXTMSG_PEX_ADDED] = { "added", "added.f", EXTMSG_PEX_V4_LEN },
	[EXTMSG_PEX_ADDED6] = { "added6", "added6.f", EXTMSG_PEX_V6_LEN },
	[EXTMSG_PEX_DROPPED] = { "dropped", NULL, EXTMSG_PEX_V4_LEN },
	[EXTMSG_PEX_DROPPED6] = { "dropped6", NULL, EXTMSG_PEX_V6_LEN },
};

static int
pex_list(const struct be_doc *doc, const struct pex_key *k, struct extmsg_pex_list *l,
    char *err, size_t errlen)
{
	const uint8_t *s;
	int64_t i;
	size_t n;

	if ((i = be_dict_get(doc, 0, k->addrs)) < 0)
		return 0;
	if (doc->tok[i].type != BE_STR)
		return ext_fail(err, errlen, "ut_pex: \"%s\" is not a string", k->addrs);
	s = be_str(doc, (uint32_t)i, &n);
	if (n % k->elen != 0)
		return ext_fail(err, errlen,
		    "ut_pex: \"%s\" of %zu bytes, not a multiple of %zu", k->addrs, n,
		    k->elen);
	l->total = n / k->elen;
	l->count = l->total > EXTMSG_PEX_MAX ? EXTMSG_PEX_MAX : l->total;
	l->addrs = l->count > 0 ? s : NULL;
	if (k->flags == NULL || l->count == 0)
		return 0;
	/* BEP 11: one flag byte per added peer; any other shape tells us nothing. */
	i = be_dict_get_type(doc, 0, k->flags, BE_STR);
	if (i >= 0) {
		s = be_str(doc, (uint32_t)i, &n);
		if (n == l->total)
			l->flags = s;
	}
	return 0;
}

int
extmsg_pex_parse(const uint8_t *p, size_t len, struct extmsg_pex *out, char *err,
    size_t errlen)
{
	struct be_doc doc;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (be_decode(p, len, &ext_limits, &doc, err, errlen) == -1)
		return -1;
	if (doc.tok[0].type != BE_DICT)
		rc = ext_fail(err, errlen, "ut_pex: not a dictionary");
	for (int k = 0; rc == 0 && k < EXTMSG_PEX_NKINDS; k++)
		rc = pex_list(&doc, &pex_keys[k], &out->list[k], err, errlen);
	be_doc_free(&doc);
	if (rc == -1)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
extmsg_pex_get(const struct extmsg_pex *x, enum extmsg_pex_kind kind, size_t i,
    struct netaddr *addr, uint8_t *flags)
{
	const struct extmsg_pex_list *l;
	size_t elen;

	if ((unsigned)kind >= EXTMSG_PEX_NKINDS)
		return -1;
	l = &x->list[kind];
	if (i >= l->count)
		return -1;
	elen = pex_keys[kind].elen;
	if (flags != NULL)
		*flags = l->flags != NULL ? l->flags[i] : 0;
	return netaddr_from_compact(addr, l->addrs + i * elen, elen);
}

/* One list and its flags in compact form, for one address family. */
struct pex_out {
	uint8_t addrs[EXTMSG_PEX_MAX * EXTMSG_PEX_V6_LEN];
	uint8_t flags[EXTMSG_PEX_MAX];
	size_t n;		/* entries */
};

/* Appends a to o if it is of family; -1 for a non-IP address or a full list. */
static int
pex_push(struct pex_out *o, const struct netaddr *a, uint8_t flags, int family)
{
	size_t elen = family == AF_INET ? EXTMSG_PEX_V4_LEN : EXTMSG_PEX_V6_LEN;
	int fam = netaddr_family(a);

	if (fam != AF_INET && fam != AF_INET6)
		return -1;
	if (fam != family)
		return 0;
	if (o->n == EXTMSG_PEX_MAX)
		return -1;
	if (netaddr_to_compact(a, o->addrs + o->n * elen, elen) != (int)elen)
		return -1;
	o->flags[o->n++] = flags;
	return 0;
}

static int
pex_collect_added(struct pex_out *o, const struct extmsg_pex_peer *p, size_t n,
    int family)
{
	o->n = 0;
	for (size_t i = 0; i < n; i++)
		if (pex_push(o, &p[i].addr, p[i].flags, family) == -1)
			return -1;
	return 0;
}

static int
pex_collect_dropped(struct pex_out *o, const struct netaddr *a, size_t n, int family)
{
	o->n = 0;
	for (size_t i = 0; i < n; i++)
		if (pex_push(o, &a[i], 0, family) == -1)
			return -1;
	return 0;
}

static int
pex_put_list(struct buf *b, const char *key, const uint8_t *p, size_t n)
{
	if (be_put_cstr(b, key) == -1 || be_put_str(b, p, n) == -1)
		return -1;
	return 0;
}

/* Keys in byte order: added, added.f, added6, added6.f, dropped, dropped6. */
static int
pex_put(struct buf *b, struct pex_out *o, const struct extmsg_pex_peer *added,
    size_t nadded, const struct netaddr *dropped, size_t ndropped)
{
	if (be_put_dict(b) == -1)
		return -1;
	if (pex_collect_added(o, added, nadded, AF_INET) == -1 ||
	    pex_put_list(b, "added", o->addrs, o->n * EXTMSG_PEX_V4_LEN) == -1 ||
	    pex_put_list(b, "added.f", o->flags, o->n) == -1)
		return -1;
	if (pex_collect_added(o, added, nadded, AF_INET6) == -1 ||
	    pex_put_list(b, "added6", o->addrs, o->n * EXTMSG_PEX_V6_LEN) == -1 ||
	    pex_put_list(b, "added6.f", o->flags, o->n) == -1)
		return -1;
	if (pex_collect_dropped(o, dropped, ndropped, AF_INET) == -1 ||
	    pex_put_list(b, "dropped", o->addrs, o->n * EXTMSG_PEX_V4_LEN) == -1)
		return -1;
	if (pex_collect_dropped(o, dropped, ndropped, AF_INET6) == -1 ||
	    pex_put_list(b, "dropped6", o->addrs, o->n * EXTMSG_PEX_V6_LEN) == -1)
		return -1;
	return be_put_end(b);
}

int
extmsg_pex_build(struct buf *b, const struct extmsg_pex_peer *added, size_t nadded,
    const struct netaddr *dropped, size_t ndropped)
{
	struct pex_out o;	/* ~4 KiB: fine on the stack, no allocation */
	size_t start = b->len;

	if ((nadded > 0 && added == NULL) || (ndropped > 0 && dropped == NULL))
		return -1;
	if (pex_put(b, &o, added, nadded, dropped, ndropped) == -1) {
		b->len = start;
		return -1;
	}
	return 0;
}
