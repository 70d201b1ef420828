/* bitfield.h: piece sets in the wire order of BEP 3 (high bit of byte 0 is piece 0). */
#ifndef P2P_BITFIELD_H
#define P2P_BITFIELD_H

#include <stddef.h>
#include <stdint.h>

struct bitfield {
	uint8_t *bits;
	uint32_t nbits;
	uint32_t count;		/* bits set, kept up to date */
};

/* All clear. 0, or -1 if out of memory. */
int bitfield_init(struct bitfield *bf, uint32_t nbits);
void bitfield_free(struct bitfield *bf);
size_t bitfield_bytes(uint32_t nbits);
int bitfield_get(const struct bitfield *bf, uint32_t i);
void bitfield_set(struct bitfield *bf, uint32_t i);
void bitfield_clear(struct bitfield *bf, uint32_t i);
void bitfield_set_all(struct bitfield *bf);
void bitfield_clear_all(struct bitfield *bf);
int bitfield_full(const struct bitfield *bf);
/*
 * Loads wire bytes. Refuses (-1) a length other than bitfield_bytes(nbits)
 * and spare bits that are set: BEP 3 says peers must drop such a bitfield.
 */
int bitfield_load(struct bitfield *bf, const uint8_t *p, size_t len);

#endif
