/* fuzz-wire.c: libFuzzer harness for the peer wire parsers; accepted messages must rebuild exactly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bitfield.h"
#include "buf.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The ids of BEP 3, 6 and 10; any other must come back as WIRE_UNKNOWN. */
static int
known_id(uint8_t id)
{
	return id <= WIRE_PORT || (id >= WIRE_SUGGEST && id <= WIRE_ALLOWED_FAST) ||
	    id == WIRE_EXTENDED;
}

/* Rebuilds a parsed message with the builders; 0 if it has no builder. */
static int
rebuild(const struct wire_msg *m, struct buf *b)
{
	switch (m->id) {
	case WIRE_KEEPALIVE:
		return wire_put_keepalive(b);
	case WIRE_CHOKE:
	case WIRE_UNCHOKE:
	case WIRE_INTERESTED:
	case WIRE_NOT_INTERESTED:
	case WIRE_HAVE_ALL:
	case WIRE_HAVE_NONE:
		return wire_put_simple(b, m->id);
	case WIRE_HAVE:
	case WIRE_SUGGEST:
	case WIRE_ALLOWED_FAST:
		return wire_put_index(b, m->id, m->index);
	case WIRE_REQUEST:
	case WIRE_CANCEL:
	case WIRE_REJECT:
		return wire_put_block(b, m->id, m->index, m->begin, m->length);
	case WIRE_BITFIELD:
		return wire_put_bitfield(b, m->data, m->data_len);
	case WIRE_PIECE:
		if (wire_put_piece_header(b, m->index, m->begin, m->length) == -1)
			return -1;
		return buf_append(b, m->data, m->data_len);
	case WIRE_PORT:
		return wire_put_port(b, m->port);
	case WIRE_EXTENDED:
		return wire_put_extended(b, m->ext_id, m->data, m->data_len);
	case WIRE_UNKNOWN:
		if (known_id(m->raw_id))
			abort();
		return 0;
	default:
		abort();
	}
}

/* The wire encoding is canonical: a rebuilt message equals the bytes parsed. */
static void
check_message(const uint8_t *p, size_t used, const struct wire_msg *m)
{
	struct buf b;

	if (m->data_len > used || (m->data_len > 0 &&
	    (m->data < p || m->data + m->data_len > p + used)))
		abort();
	buf_init(&b, 0);
	if (rebuild(m, &b) == -1)
		abort();
	if (b.len != 0 && (b.len != used || memcmp(b.data, p, used) != 0))
		abort();
	buf_free(&b);
}

static void
fuzz_messages(const uint8_t *data, size_t size, size_t max)
{
	struct wire_msg m;
	char err[128];
	size_t off = 0, need;
	ssize_t rc;

	while ((rc = wire_msg_parse(data + off, size - off, max, &m, &need, err,
	    sizeof(err))) > 0) {
		if ((size_t)rc > size - off || (size_t)rc > max + 4)
			abort();
		check_message(data + off, (size_t)rc, &m);
		off += (size_t)rc;
	}
	if (rc == 0 && (need < 4 || need <= size - off || need > max + 4))
		abort();
}

static void
fuzz_handshake(const uint8_t *data, size_t size)
{
	struct wire_handshake h;
	uint8_t res[8], ih[20], again[WIRE_HANDSHAKE_LEN];
	int rc, head;

	rc = wire_handshake_parse(data, size, &h);
	head = wire_handshake_parse_head(data, size, res, ih);
	/* The head is a prefix of the whole: they may only differ by "need more". */
	if (rc == -1 ? head != -1 : head == -1)
		abort();
	if (rc == 1) {
		wire_handshake_build(again, h.info_hash, h.peer_id,
		    WIRE_RESERVED_FAST(h.reserved), WIRE_RESERVED_EXT(h.reserved),
		    WIRE_RESERVED_DHT(h.reserved));
		if (memcmp(again, data, 20) != 0 || memcmp(again + 28, data + 28, 40) != 0)
			abort();
	}
}

static void
check_printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7f)
			abort();
}

static void
fuzz_ext_handshake(const uint8_t *data, size_t size)
{
	struct wire_ext_handshake h, back;
	char err[128];
	struct buf b;

	if (wire_ext_handshake_parse(data, size, &h, err, sizeof(err)) == -1)
		return;
	check_printable(h.client, sizeof(h.client));
	if (h.reqq > 100000 || h.metadata_size < -1 ||
	    (h.yourip_len != 0 && h.yourip_len != 4 && h.yourip_len != 16))
		abort();
	buf_init(&b, 0);
	if (wire_ext_handshake_build(&b, &h) == -1)
		abort();
	if (wire_ext_handshake_parse(b.data, b.len, &back, err, sizeof(err)) == -1)
		abort();
	if (memcmp(&h, &back, sizeof(h)) != 0)
		abort();
	buf_free(&b);
}

/* Peer id names and the allowed-fast set from the first bytes of the input. */
static void
fuzz_ids(const uint8_t *data, size_t size)
{
	uint8_t id[20] = { 0 };
	uint32_t out[32], npieces;
	char name[64];
	size_t n;

	memcpy(id, data, size < 20 ? size : 20);
	wire_client_name(id, name, sizeof(name));
	check_printable(name, sizeof(name));
	if (size < 24)
		return;
	npieces = (uint32_t)data[20] << 8 | data[21];
	n = wire_allowed_fast_set(data, data + 4, npieces, data[22] % 33, out);
	if (n > 32 || n > npieces)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (out[i] >= npieces)
			abort();
		for (size_t j = 0; j < i; j++)
			if (out[i] == out[j])
				abort();
	}
}

/*
 * A peer's bitfield payload against a torrent of n pieces (n from the first two
 * bytes): BEP 3 wants a wrong length or a spare bit set refused, and what loads
 * must count and read back exactly as sent.
 */
static void
fuzz_bitfield(const uint8_t *data, size_t size)
{
	struct bitfield bf;
	uint32_t nbits, count = 0;

	if (size < 2)
		return;
	nbits = ((uint32_t)data[0] << 8 | data[1]) + 1;
	if (bitfield_init(&bf, nbits) == -1)
		return;
	if (bitfield_load(&bf, data + 2, size - 2) == 0) {
		if (size - 2 != bitfield_bytes(nbits))
			abort();
		for (uint32_t i = 0; i < nbits; i++)
			count += (uint32_t)bitfield_get(&bf, i);
		/* Bits past nbits are spare: set ones must have been refused. */
		for (uint32_t i = nbits; i < 8 * (uint32_t)(size - 2); i++)
			if (data[2 + i / 8] & (0x80 >> (i % 8)))
				abort();
		if (count != bf.count || bitfield_full(&bf) != (count == nbits))
			abort();
	} else if (size - 2 == bitfield_bytes(nbits) && (nbits & 7) == 0) {
		abort();	/* the right length with no spare bits must load */
	}
	bitfield_free(&bf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_messages(data, size, WIRE_MAX_MSG);
	/* A small limit too, so the over-limit path is reached often. */
	fuzz_messages(data, size, 64);
	fuzz_handshake(data, size);
	if (size > WIRE_HANDSHAKE_LEN)
		fuzz_messages(data + WIRE_HANDSHAKE_LEN, size - WIRE_HANDSHAKE_LEN,
		    WIRE_MAX_MSG);
	fuzz_ext_handshake(data, size);
	fuzz_ids(data, size);
	fuzz_bitfield(data, size);
	return 0;
}
