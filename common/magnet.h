/* magnet.h: magnet URI parse and build (BEP 9: xt=urn:btih, dn, tr, x.pe). */
#ifndef P2P_MAGNET_H
#define P2P_MAGNET_H

#include <stddef.h>
#include <stdint.h>

#define MAGNET_MAX_LEN 65536
#define MAGNET_MAX_TRACKERS 64
#define MAGNET_MAX_PEERS 64

struct magnet {
	uint8_t info_hash[20];
	char *name;		/* dn, percent-decoded; NULL if absent */
	char **trackers;	/* tr, percent-decoded */
	size_t tracker_count;
	char **peers;		/* x.pe "host:port" strings, as given */
	size_t peer_count;
};

/*
 * Parses "magnet:?xt=urn:btih:<40 hex | 32 base32>&dn=..&tr=..&x.pe=..".
 * Unknown parameters are ignored; a missing or malformed btih, bad percent
 * escapes, NUL bytes, or input over MAGNET_MAX_LEN are refused.
 * Returns 0, or -1 with a message in err; on failure *out holds nothing to free.
 */
int magnet_parse(const char *s, size_t len, struct magnet *out, char *err, size_t errlen);
void magnet_free(struct magnet *m);
/* A malloc'd URI with xt, dn (if name) and one tr per tracker, percent-encoded. */
char *magnet_build(const uint8_t info_hash[20], const char *name,
    const char *const *trackers, size_t tracker_count);

#endif
