/* lsd_msg.h: Local Service Discovery announces (BEP 14, "BT-SEARCH"): pure, bounded parse and build. */
#ifndef P2P_LSD_MSG_H
#define P2P_LSD_MSG_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/*
 * An announce is a plain value the LSD node fills in or reads, so the struct
 * is public; how it looks on the wire is this module's business. The parser
 * never reads outside its input, allocates nothing and returns 0, or -1 with
 * a reason in err; the builder appends to a struct buf and returns 0, or -1
 * (bad argument, too large, or the buffer refused to grow).
 */

/* BEP 14: "the packet length should not exceed 1400 bytes"; larger ones are refused unread. */
#define LSD_MSG_MAX_LEN 1400
/*
 * An "Infohash: <40 hex>\r\n" line is 52 bytes: a 1400-byte announce in BEP
 * 14's form, with Host, Port and a 16-character cookie, carries 25 of them.
 * More can only come in a squeezed form, and are refused.
 */
#define LSD_MSG_MAX_HASHES 25
/* The cookie is an opaque token; ours is 16 hex digits, libtorrent's 8. */
#define LSD_MSG_MAX_COOKIE 64
/* "[ff15::efc0:988f]:6771" is 22 bytes; RFC 2616 host names are longer. */
#define LSD_MSG_MAX_HOST 255

/* The BEP 14 groups and the Host header values that name them. */
#define LSD_MSG_PORT 6771
#define LSD_MSG_GROUP4 "239.192.152.143"
#define LSD_MSG_GROUP6 "ff15::efc0:988f"
#define LSD_MSG_HOST4 "239.192.152.143:6771"
#define LSD_MSG_HOST6 "[ff15::efc0:988f]:6771"

struct lsd_msg {
	char host[LSD_MSG_MAX_HOST + 1];	/* "" when absent (it is not checked) */
	uint16_t port;				/* 1..65535: where the sender takes peers */
	size_t n;				/* 1..LSD_MSG_MAX_HASHES, no repeats */
	uint8_t hashes[LSD_MSG_MAX_HASHES][20];
	int has_cookie;
	char cookie[LSD_MSG_MAX_COOKIE + 1];
};

/*
 * Appends "BT-SEARCH * HTTP/1.1" with Host, Port, one Infohash header per
 * hash (lower-case hex) and, when cookie is not NULL, a cookie header, then
 * the blank lines BEP 14 shows. host and cookie must be printable ASCII
 * without spaces (at most LSD_MSG_MAX_HOST / LSD_MSG_MAX_COOKIE bytes), port
 * 1..65535, n 1..LSD_MSG_MAX_HASHES, and the whole at most LSD_MSG_MAX_LEN
 * bytes; lsd_msg_max_hashes says how many fit.
 */
int lsd_msg_build(struct buf *b, const char *host, uint16_t port,
    const uint8_t (*hashes)[20], size_t n, const char *cookie);
/* How many infohashes fit in one announce with that host and cookie (0 if none do). */
size_t lsd_msg_max_hashes(const char *host, const char *cookie);

/*
 * Parses one datagram. Lenient where real clients differ: header names in
 * any case, LF or CRLF line ends, "HTTP/1.0" or "HTTP/1.1", spaces around
 * values, unknown headers ignored, a repeated Infohash kept once. Refused: a
 * request that is not "BT-SEARCH *", more than LSD_MSG_MAX_LEN bytes, a byte
 * that is not printable ASCII (or a tab, or CR before LF), a header line
 * without a colon, a missing or bad or repeated Port, a missing or malformed
 * Infohash, more than LSD_MSG_MAX_HASHES of them, a repeated or overlong
 * cookie or Host, and headers that do not end in a blank line.
 */
int lsd_msg_parse(const uint8_t *p, size_t len, struct lsd_msg *out, char *err,
    size_t errlen);

#endif
