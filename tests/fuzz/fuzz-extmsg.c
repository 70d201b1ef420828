/* fuzz-extmsg.c: libFuzzer harness for the ut_metadata and ut_pex codec; accepted payloads must rebuild to the same meaning. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "extmsg.h"
#include "netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_md_equal(const struct extmsg_metadata *a, const struct extmsg_metadata *b)
{
	if (a->msg_type != b->msg_type || a->piece != b->piece ||
	    a->total_size != b->total_size || a->data_len != b->data_len ||
	    (a->data_len > 0 && memcmp(a->data, b->data, a->data_len) != 0))
		abort();
}

static void
fuzz_metadata(const uint8_t *data, size_t size, int64_t msize)
{
	struct extmsg_metadata m, back;
	int64_t known;
	char err[128];
	struct buf b;
	int rc = -1;

	if (extmsg_metadata_parse(data, size, msize, &m, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();	/* every refusal names its reason */
		return;
	}
	if (m.msg_type == EXTMSG_MD_UNKNOWN) {
		if (m.raw_type <= EXTMSG_MD_REJECT)
			abort();
		return;
	}
	known = msize == EXTMSG_SIZE_UNKNOWN ? m.total_size : msize;
	if (m.msg_type != EXTMSG_MD_DATA) {
		if (m.data_len != 0 || m.total_size != -1 ||
		    m.piece >= EXTMSG_MAX_METADATA_PIECES ||
		    (known > 0 && m.piece >= extmsg_metadata_pieces(known)))
			abort();
	} else if (m.data < data || m.data + m.data_len != data + size ||
	    m.data_len != extmsg_metadata_piece_len(known, m.piece) ||
	    m.total_size != known)
		abort();
	buf_init(&b, 0);
	switch (m.msg_type) {
	case EXTMSG_MD_REQUEST:
		rc = extmsg_metadata_put_request(&b, m.piece);
		break;
	case EXTMSG_MD_REJECT:
		rc = extmsg_metadata_put_reject(&b, m.piece);
		break;
	case EXTMSG_MD_DATA:
		rc = extmsg_metadata_put_data(&b, m.piece, m.total_size, m.data,
		    m.data_len);
		break;
	default:
		abort();
	}
	if (rc == -1 || extmsg_metadata_parse(b.data, b.len, msize, &back, err,
	    sizeof(err)) == -1)
		abort();
	check_md_equal(&m, &back);
	buf_free(&b);
}

/* Feeds the payload to an assembler as pieces of a small metadata. */
static void
fuzz_asm(const uint8_t *data, size_t size)
{
	uint8_t out[3 * EXTMSG_METADATA_PIECE];
	struct extmsg_asm a;
	size_t msize, off = 2;
	char err[128];
	int rc = 0;

	if (size < 2)
		return;
	msize = ((size_t)data[0] << 8 | data[1]) % sizeof(out) + 1;
	if (extmsg_asm_init(&a, out, msize, err, sizeof(err)) == -1)
		abort();
	/* Each step: a piece byte, then as many input bytes as that piece needs. */
	while (off < size) {
		uint32_t piece = data[off++] % 4;
		size_t want = extmsg_metadata_piece_len((int64_t)msize, piece);
		size_t n = size - off < want ? size - off : want;
		int had = extmsg_asm_has(&a, piece);

		rc = extmsg_asm_add(&a, piece, data + off, n, err, sizeof(err));
		if ((rc >= 0) != (!had && want > 0 && n == want))
			abort();
		if (rc >= 0 && memcmp(out + (size_t)piece * EXTMSG_METADATA_PIECE,
		    data + off, n) != 0)
			abort();
		off += n;
	}
	if (extmsg_asm_complete(&a) != (extmsg_asm_next_missing(&a, 0) == -1))
		abort();
	if (a.nhave > a.npieces)
		abort();
}

static void
check_pex_list(const struct extmsg_pex *x, const struct extmsg_pex *y,
    enum extmsg_pex_kind k)
{
	const struct extmsg_pex_list *a = &x->list[k], *b = &y->list[k];
	size_t elen = (k == EXTMSG_PEX_ADDED || k == EXTMSG_PEX_DROPPED) ?
	    EXTMSG_PEX_V4_LEN : EXTMSG_PEX_V6_LEN;

	if (a->count != b->count || b->total != b->count ||
	    (a->count > 0 && memcmp(a->addrs, b->addrs, a->count * elen) != 0))
		abort();
	for (size_t i = 0; i < a->count; i++) {
		uint8_t fa = a->flags ? a->flags[i] : 0;
		uint8_t fb = b->flags ? b->flags[i] : 0;

		if (fa != fb)
			abort();
	}
}

static void
fuzz_pex(const uint8_t *data, size_t size)
{
	struct extmsg_pex_peer added[2 * EXTMSG_PEX_MAX];
	struct netaddr dropped[2 * EXTMSG_PEX_MAX];
	struct extmsg_pex x, back;
	size_t na = 0, nd = 0;
	char err[128];
	struct buf b;

	if (extmsg_pex_parse(data, size, &x, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();
		return;
	}
	for (int k = 0; k < EXTMSG_PEX_NKINDS; k++) {
		const struct extmsg_pex_list *l = &x.list[k];

		if (l->count > EXTMSG_PEX_MAX ||
		    l->count != (l->total < EXTMSG_PEX_MAX ? l->total : EXTMSG_PEX_MAX))
			abort();
		if ((l->addrs == NULL) != (l->count == 0) ||
		    (l->flags != NULL && l->count == 0))
			abort();
		for (size_t i = 0; i < l->count; i++) {
			uint8_t fl;

			if (k == EXTMSG_PEX_ADDED || k == EXTMSG_PEX_ADDED6) {
				if (extmsg_pex_get(&x, k, i, &added[na].addr, &fl) == -1)
					abort();
				added[na++].flags = fl;
			} else if (extmsg_pex_get(&x, k, i, &dropped[nd++], NULL) == -1)
				abort();
		}
		if (extmsg_pex_get(&x, k, l->count, &dropped[0], NULL) != -1)
			abort();
	}
	buf_init(&b, 0);
	if (extmsg_pex_build(&b, added, na, dropped, nd) == -1)
		abort();
	if (extmsg_pex_parse(b.data, b.len, &back, err, sizeof(err)) == -1)
		abort();
	for (int k = 0; k < EXTMSG_PEX_NKINDS; k++)
		check_pex_list(&x, &back, k);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t sizes[] = { EXTMSG_SIZE_UNKNOWN, 1, 4, 100,
	    EXTMSG_METADATA_PIECE, EXTMSG_METADATA_PIECE + 1, 34256,
	    EXTMSG_MAX_METADATA };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		fuzz_metadata(data, size, sizes[i]);
	fuzz_pex(data, size);
	fuzz_asm(data, size);
	return 0;
}
