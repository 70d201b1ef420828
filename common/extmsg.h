/* extmsg.h: BEP 10 extension message payloads, ut_metadata (BEP 9) and ut_pex (BEP 11): pure parse and build. */
#ifndef P2P_EXTMSG_H
#define P2P_EXTMSG_H

#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

struct buf;

/*
 * Everything here works on the payload of an extended message, the bytes
 * after the extension message id (wire_msg.data for WIRE_EXTENDED). No I/O,
 * no globals; parsers return 0, or -1 with a reason in err, and never read
 * outside p[0..len). Pointers in parse results point into the input.
 */

/* BEP 9: metadata moves in 16 KiB pieces; only the last may be shorter. */
#define EXTMSG_METADATA_PIECE (16u * 1024)
/*
 * Largest info dict we fetch or serve. A magnet peer's "metadata_size" sizes
 * a buffer before a byte of it is verified, so it must be capped; 32 MiB is
 * libtorrent's default (~30 MiB) rounded up, far beyond any real torrent.
 */
#define EXTMSG_MAX_METADATA (32u * 1024 * 1024)
#define EXTMSG_MAX_METADATA_PIECES (EXTMSG_MAX_METADATA / EXTMSG_METADATA_PIECE)
/* Pass as metadata_size when the peer's extension handshake gave none. */
#define EXTMSG_SIZE_UNKNOWN (-1)

/* BEP 9 msg_type values; any other is EXTMSG_MD_UNKNOWN, which BEP 9 says to ignore. */
enum extmsg_md_type {
	EXTMSG_MD_REQUEST = 0,
	EXTMSG_MD_DATA = 1,
	EXTMSG_MD_REJECT = 2,
	EXTMSG_MD_UNKNOWN = 255,
};

struct extmsg_metadata {
	int msg_type;		/* enum extmsg_md_type */
	int64_t raw_type;	/* msg_type as sent (for logs when unknown) */
	uint32_t piece;
	int64_t total_size;	/* data: the metadata size; else -1 */
	const uint8_t *data;	/* data: the piece bytes after the dict */
	size_t data_len;
};

/* Pieces of metadata of size bytes: ceil(size / 16 KiB); 0 if size is 0 or over the max. */
uint32_t extmsg_metadata_pieces(int64_t size);
/* Bytes piece `piece` of metadata of size bytes must have; 0 if no such piece. */
size_t extmsg_metadata_piece_len(int64_t size, uint32_t piece);

/*
 * Parses a ut_metadata payload: a bencoded dict, followed for data messages
 * by the raw piece. metadata_size is what the caller expects: ours when
 * serving, the peer's "metadata_size" (BEP 9) when fetching, or
 * EXTMSG_SIZE_UNKNOWN. Refuses: a dict that is not one, no or negative
 * msg_type or piece, a piece past the last one, a data message whose
 * total_size is missing, over EXTMSG_MAX_METADATA or unlike metadata_size
 * (with an unknown size, total_size stands in for it), a data piece that is
 * not exactly 16 KiB (the last: exactly the remainder), bytes after the dict
 * of a request or reject. An unknown msg_type returns 0 with EXTMSG_MD_UNKNOWN
 * and nothing else checked. A metadata_size over the max or 0 fails too: the
 * handshake that announced it was already wrong.
 */
int extmsg_metadata_parse(const uint8_t *p, size_t len, int64_t metadata_size,
    struct extmsg_metadata *out, char *err, size_t errlen);

/*
 * Builders append one payload to b (keys sorted, as bencode wants); 0, or -1
 * with b unchanged. The data builder refuses what the parser would refuse:
 * total_size out of range, a piece past the end, n not the piece's length.
 */
int extmsg_metadata_put_request(struct buf *b, uint32_t piece);
int extmsg_metadata_put_reject(struct buf *b, uint32_t piece);
int extmsg_metadata_put_data(struct buf *b, uint32_t piece, int64_t total_size,
    const void *data, size_t n);

/*
 * Collects the pieces of one metadata download into a caller-provided buffer
 * of `size` bytes. It only tracks which pieces arrived; once complete, the
 * caller SHA-1s buf and compares with the info-hash (BEP 9), and on a
 * mismatch calls extmsg_asm_reset and starts over.
 */
struct extmsg_asm {
	uint8_t *buf;		/* not owned; size bytes */
	size_t size;
	uint32_t npieces;
	uint32_t nhave;
	uint8_t have[EXTMSG_MAX_METADATA_PIECES / 8];
};

/* -1 if size is 0 or over EXTMSG_MAX_METADATA. */
int extmsg_asm_init(struct extmsg_asm *a, uint8_t *buf, size_t size, char *err,
    size_t errlen);
/*
 * Copies one piece in. Returns 1 if that completed the metadata, 0 if more
 * are missing, -1 (nothing copied) for a piece out of range, of the wrong
 * length, or already received.
 */
int extmsg_asm_add(struct extmsg_asm *a, uint32_t piece, const uint8_t *data, size_t n,
    char *err, size_t errlen);
int extmsg_asm_has(const struct extmsg_asm *a, uint32_t piece);
int extmsg_asm_complete(const struct extmsg_asm *a);
/* The first missing piece at or after `from`, wrapping around; -1 if none is missing. */
int64_t extmsg_asm_next_missing(const struct extmsg_asm *a, uint32_t from);
/* Forget every piece (after a hash mismatch); the buffer is kept. */
void extmsg_asm_reset(struct extmsg_asm *a);

/* BEP 11 peer flags, one byte per added peer in "added.f" / "added6.f". */
#define EXTMSG_PEX_F_ENCRYPT 0x01	/* prefers encryption */
#define EXTMSG_PEX_F_SEED 0x02		/* seed / upload_only */
#define EXTMSG_PEX_F_UTP 0x04
#define EXTMSG_PEX_F_HOLEPUNCH 0x08
#define EXTMSG_PEX_F_REACHABLE 0x10	/* we connected out to it */

/*
 * BEP 11 wants at most 50 added and 50 dropped per message, except the first
 * one, which may list everyone a peer is connected to. We keep up to 200 per
 * list and ignore the rest (`total` says how many were sent, so a caller can
 * punish a flood); a longer list is still parsed in O(1) work. The builder
 * refuses more than this.
 */
#define EXTMSG_PEX_MAX 200
#define EXTMSG_PEX_V4_LEN 6	/* compact IPv4 + port (BEP 23) */
#define EXTMSG_PEX_V6_LEN 18	/* compact IPv6 + port (BEP 7) */

enum extmsg_pex_kind {
	EXTMSG_PEX_ADDED,	/* "added" + "added.f" */
	EXTMSG_PEX_ADDED6,	/* "added6" + "added6.f" */
	EXTMSG_PEX_DROPPED,	/* "dropped" */
	EXTMSG_PEX_DROPPED6,	/* "dropped6" */
	EXTMSG_PEX_NKINDS,
};

/* One list of compact entries inside the parsed payload. */
struct extmsg_pex_list {
	const uint8_t *addrs;	/* count entries of 6 or 18 bytes */
	const uint8_t *flags;	/* count bytes, or NULL if absent or not one per peer */
	size_t count;		/* entries kept: min(total, EXTMSG_PEX_MAX) */
	size_t total;		/* entries in the message */
};

struct extmsg_pex {
	struct extmsg_pex_list list[EXTMSG_PEX_NKINDS];
};

/*
 * Parses a ut_pex payload. Refuses a non-dict, a list key that is not a
 * string, or a compact string whose length is not a multiple of the entry
 * size. Flags whose length is not one byte per added peer are ignored
 * (flags NULL), as are unknown keys and missing lists (count 0).
 */
int extmsg_pex_parse(const uint8_t *p, size_t len, struct extmsg_pex *out, char *err,
    size_t errlen);
/* Entry i of one list; *flags gets 0 if the list has none. -1 if i is out of range. */
int extmsg_pex_get(const struct extmsg_pex *x, enum extmsg_pex_kind kind, size_t i,
    struct netaddr *addr, uint8_t *flags);

struct extmsg_pex_peer {
	struct netaddr addr;
	uint8_t flags;		/* EXTMSG_PEX_F_* */
};

/*
 * Builds a ut_pex payload; IPv4 and IPv6 peers go to their own lists. All
 * six keys are written (BEP 11 wants at least one list; libtorrent also
 * sends them all). -1 with b unchanged if an address is neither IPv4 nor
 * IPv6 or a list would pass EXTMSG_PEX_MAX.
 */
int extmsg_pex_build(struct buf *b, const struct extmsg_pex_peer *added, size_t nadded,
    const struct netaddr *dropped, size_t ndropped);

#endif
