/* wire.h: BitTorrent peer wire messages (BEP 3, BEP 6 Fast, BEP 10 extensions): pure parse and build. */
#ifndef P2P_WIRE_H
#define P2P_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf;

#define WIRE_HANDSHAKE_LEN 68
#define WIRE_BLOCK (16u * 1024)
/* Largest message accepted from a peer (length prefix), as libtorrent: 1 MiB. */
#define WIRE_MAX_MSG (1u << 20)
/* Requests for more than this are a protocol violation (BEP 3 suggests 16 KiB; clients use up to 128 KiB). */
#define WIRE_MAX_REQUEST (128u * 1024)

enum wire_id {
	WIRE_KEEPALIVE = -1,
	WIRE_CHOKE = 0,
	WIRE_UNCHOKE = 1,
	WIRE_INTERESTED = 2,
	WIRE_NOT_INTERESTED = 3,
	WIRE_HAVE = 4,
	WIRE_BITFIELD = 5,
	WIRE_REQUEST = 6,
	WIRE_PIECE = 7,
	WIRE_CANCEL = 8,
	WIRE_PORT = 9,
	WIRE_SUGGEST = 13,	/* BEP 6 */
	WIRE_HAVE_ALL = 14,
	WIRE_HAVE_NONE = 15,
	WIRE_REJECT = 16,
	WIRE_ALLOWED_FAST = 17,
	WIRE_EXTENDED = 20,	/* BEP 10 */
	WIRE_UNKNOWN = 255,	/* a message id we don't know: ignored, per BEP 3 */
};

/* Reserved-bit helpers: byte 7 bit 0x04 is Fast (BEP 6), byte 5 bit 0x10 is extensions (BEP 10). */
#define WIRE_RESERVED_FAST(r) (((r)[7] & 0x04) != 0)
#define WIRE_RESERVED_EXT(r) (((r)[5] & 0x10) != 0)
#define WIRE_RESERVED_DHT(r) (((r)[7] & 0x01) != 0)

struct wire_handshake {
	uint8_t reserved[8];
	uint8_t info_hash[20];
	uint8_t peer_id[20];
};

/*
 * Parses the 68-byte handshake at p. Returns 1 with *out filled, 0 if fewer
 * than 68 bytes are there yet (but what is there is consistent), -1 if the
 * protocol string is wrong. A peer may send the first 48 bytes and wait for
 * ours (info-hash first); wire_handshake_parse_head reports those.
 */
int wire_handshake_parse(const uint8_t *p, size_t len, struct wire_handshake *out);
/* 1 if the first 48 bytes (pstr, reserved, info-hash) are there and valid; 0 need more; -1 invalid. */
int wire_handshake_parse_head(const uint8_t *p, size_t len, uint8_t reserved[8],
    uint8_t info_hash[20]);
void wire_handshake_build(uint8_t out[WIRE_HANDSHAKE_LEN], const uint8_t info_hash[20],
    const uint8_t peer_id[20], int fast, int extended, int dht);

struct wire_msg {
	int id;			/* enum wire_id */
	uint32_t index;		/* have, request, piece, cancel, suggest, reject, allowed_fast */
	uint32_t begin;		/* request, piece, cancel, reject */
	uint32_t length;	/* request, cancel, reject; piece: data_len */
	uint16_t port;		/* port */
	uint8_t ext_id;		/* extended: the extension message id (0 = handshake) */
	const uint8_t *data;	/* bitfield bits, piece block, extended payload; points into input */
	size_t data_len;
	uint8_t raw_id;		/* for WIRE_UNKNOWN: the id received */
};

/*
 * Parses one length-prefixed message at p. Returns the bytes it used (> 0),
 * 0 if the message is not complete yet, or -1 with a reason in err: length
 * prefix over max (checked before anything is buffered), a known message
 * with the wrong length (have must be 5 bytes, request 13, ...), a request,
 * reject or cancel asking for 0 or more than WIRE_MAX_REQUEST bytes, an
 * extended message with no id byte. Never reads outside p[0..len).
 * *need gets the total bytes the message needs when it returns 0 and the
 * prefix is known (so the caller can size its buffer), else 4.
 */
ssize_t wire_msg_parse(const uint8_t *p, size_t len, size_t max, struct wire_msg *m,
    size_t *need, char *err, size_t errlen);

/* Builders append to b; 0 or -1 (buffer limit). */
int wire_put_keepalive(struct buf *b);
int wire_put_simple(struct buf *b, enum wire_id id);	/* choke..not_interested, have_all, have_none */
int wire_put_index(struct buf *b, enum wire_id id, uint32_t index);	/* have, suggest, allowed_fast */
int wire_put_block(struct buf *b, enum wire_id id, uint32_t index, uint32_t begin,
    uint32_t length);	/* request, cancel, reject */
int wire_put_bitfield(struct buf *b, const uint8_t *bits, size_t nbytes);
/* Only the 13-byte header of a piece message; the caller appends len bytes of data. */
int wire_put_piece_header(struct buf *b, uint32_t index, uint32_t begin, uint32_t len);
int wire_put_port(struct buf *b, uint16_t port);
int wire_put_extended(struct buf *b, uint8_t ext_id, const void *payload, size_t n);

/* BEP 10 extension handshake (bencoded dict). Unknown keys are ignored. */
struct wire_ext_handshake {
	uint8_t ut_metadata;		/* peer's id for it; 0 = not supported */
	uint8_t ut_pex;
	uint8_t p2p_search;
	char client[64];		/* "v", sanitised to printable ASCII; may be empty */
	uint32_t reqq;			/* 0 if absent */
	uint16_t port;			/* "p"; 0 if absent */
	int64_t metadata_size;		/* -1 if absent */
	uint8_t yourip[16];
	uint8_t yourip_len;		/* 0, 4 or 16 */
};

int wire_ext_handshake_parse(const uint8_t *p, size_t len, struct wire_ext_handshake *out,
    char *err, size_t errlen);
int wire_ext_handshake_build(struct buf *b, const struct wire_ext_handshake *h);

/*
 * BEP 6 allowed-fast set: the k piece indices the peer at ipv4 (4 bytes,
 * network order) may request while choked, for a torrent of npieces.
 * Writes min(k, npieces) distinct indices to out; returns how many.
 */
size_t wire_allowed_fast_set(const uint8_t ipv4[4], const uint8_t info_hash[20],
    uint32_t npieces, uint32_t k, uint32_t *out);

/* Human client name from a peer id (BEP 20 Azureus "-XX1234-" and Shadow styles), else "unknown". */
void wire_client_name(const uint8_t peer_id[20], char *out, size_t n);
/* Our BEP 20 peer id: "-PD0100-" followed by 12 random printable bytes. */
void wire_make_peer_id(uint8_t out[20], const uint8_t random12[12]);

#endif
