/* bitfield.c: piece sets with a maintained population count. */
#include "bitfield.h"

#include <stdlib.h>
#include <string.h>

size_t
bitfield_bytes(uint32_t nbits)
{
	return ((size_t)nbits + 7) / 8;
}

int
bitfield_init(struct bitfield *bf, uint32_t nbits)
{
	bf->nbits = nbits;
	bf->count = 0;
	bf->bits = calloc(1, bitfield_bytes(nbits) ? bitfield_bytes(nbits) : 1);
	return bf->bits ? 0 : -1;
}

void
bitfield_free(struct bitfield *bf)
{
	free(bf->bits);
	bf->bits = NULL;
	bf->nbits = bf->count = 0;
}

int
bitfield_get(const struct bitfield *bf, uint32_t i)
{
	if (i >= bf->nbits)
		return 0;
	return (bf->bits[i >> 3] >> (7 - (i & 7))) & 1;
}

void
bitfield_set(struct bitfield *bf, uint32_t i)
{
	if (i >= bf->nbits || bitfield_get(bf, i))
		return;
	bf->bits[i >> 3] |= (uint8_t)(0x80u >> (i & 7));
	bf->count++;
}

void
bitfield_clear(struct bitfield *bf, uint32_t i)
{
	if (i >= bf->nbits || !bitfield_get(bf, i))
		return;
	bf->bits[i >> 3] &= (uint8_t)~(0x80u >> (i & 7));
	bf->count--;
}

void
bitfield_set_all(struct bitfield *bf)
{
	size_t n = bitfield_bytes(bf->nbits);

	if (n == 0)
		return;
	memset(bf->bits, 0xff, n);
	if (bf->nbits & 7)
		bf->bits[n - 1] = (uint8_t)(0xff << (8 - (bf->nbits & 7)));
	bf->count = bf->nbits;
}

void
bitfield_clear_all(struct bitfield *bf)
{
	memset(bf->bits, 0, bitfield_bytes(bf->nbits));
	bf->count = 0;
}

int
bitfield_full(const struct bitfield *bf)
{
	return bf->count == bf->nbits;
}

int
bitfield_load(struct bitfield *bf, const uint8_t *p, size_t len)
{
	size_t n = bitfield_bytes(bf->nbits);
	uint32_t count = 0;

	if (len != n)
		return -1;
	if ((bf->nbits & 7) && n > 0 &&
	    (p[n - 1] & (uint8_t)(0xff >> (bf->nbits & 7))) != 0)
		return -1;
	memcpy(bf->bits, p, n);
	for (size_t i = 0; i < n; i++)
		count += (uint32_t)__builtin_popcount(p[i]);
	bf->count = count;
	return 0;
}
