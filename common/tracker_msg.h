/* tracker_msg.h: tracker messages, HTTP (BEP 3, 7, 23, 48) and UDP (BEP 15): pure parse and build, both sides. */
#ifndef P2P_TRACKER_MSG_H
#define P2P_TRACKER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

struct buf;

/*
 * The messages are plain values that the tracker client and the built-in
 * tracker fill in or read, so the structs are public; what is hidden is how
 * they look on the wire. Every parser returns 0, or -1 with a reason in err,
 * and never reads outside its input; every builder appends to a struct buf
 * and returns 0, or -1 (bad argument, or the buffer refused to grow).
 */

/* Peers kept from one response; the rest are counted in `dropped`. We never ask for more. */
#define TRACKER_MSG_MAX_PEERS 200
/* Largest HTTP response body parsed (libtorrent's default limit is also 1 MiB). */
#define TRACKER_MSG_MAX_BODY (1u << 20)
/* Longest announce URL we build from; real ones are < 1 KiB. */
#define TRACKER_MSG_MAX_URL 4096
/* Longest query we parse: a scrape of 74 fully escaped hashes is ~5.3 KiB. */
#define TRACKER_MSG_MAX_QUERY 8192
/* Parameters in one query: BEP 3 needs 9, a BEP 48 scrape up to 74. */
#define TRACKER_MSG_MAX_PARAMS 128
/* "failure reason", "warning message", UDP error text: kept, sanitised to printable ASCII. */
#define TRACKER_MSG_MAX_REASON 256
/* BEP 15: "up to about 74 torrents can be scraped at once"; HTTP scrapes are held to it too. */
#define TRACKER_MSG_MAX_SCRAPE 74
/* An interval past a day is a tracker bug; it is clamped, not obeyed. */
#define TRACKER_MSG_MAX_INTERVAL 86400

/* BEP 15 constants and fixed sizes. */
#define TRACKER_MSG_UDP_PROTOCOL_ID 0x41727101980ULL
#define TRACKER_MSG_UDP_CONNECT_LEN 16
#define TRACKER_MSG_UDP_ANNOUNCE_LEN 98
#define TRACKER_MSG_UDP_ANNOUNCE_RESP_MIN 20
#define TRACKER_MSG_UDP_HDR_LEN 16		/* every request: connection id, action, tid */
#define TRACKER_MSG_UDP_RESP_HDR_LEN 8		/* every response: action, tid */

/* BEP 15 action numbers. */
enum tracker_msg_action {
	TRACKER_MSG_CONNECT = 0,
	TRACKER_MSG_ANNOUNCE = 1,
	TRACKER_MSG_SCRAPE = 2,
	TRACKER_MSG_ERROR = 3,
};

/* Announce events, numbered as BEP 15 numbers them; HTTP spells them out (BEP 3). */
enum tracker_msg_event {
	TRACKER_MSG_EVENT_NONE = 0,
	TRACKER_MSG_EVENT_COMPLETED = 1,
	TRACKER_MSG_EVENT_STARTED = 2,
	TRACKER_MSG_EVENT_STOPPED = 3,
};

/* An announce request, over HTTP or UDP. */
struct tracker_msg_announce {
	uint8_t info_hash[20];
	uint8_t peer_id[20];
	uint16_t port;
	uint64_t uploaded;
	uint64_t downloaded;
	uint64_t left;
	enum tracker_msg_event event;
	int32_t numwant;	/* -1: the tracker's default */
	uint32_t key;		/* BEP 7: lets a tracker match our v4 and v6 announces */
	int has_key;
	int compact;		/* HTTP only: 0 if the client asked for compact=0 (BEP 23) */
};

/*
 * An announce response, over HTTP or UDP. Counts are -1 when absent.
 * A tracker's "failure reason" makes the parser fail with failed set.
 */
struct tracker_msg_reply {
	int failed;
	char failure[TRACKER_MSG_MAX_REASON];
	char warning[TRACKER_MSG_MAX_REASON];
	int64_t interval;		/* seconds, 0..TRACKER_MSG_MAX_INTERVAL */
	int64_t min_interval;
	int64_t complete;		/* seeders */
	int64_t incomplete;		/* leechers */
	size_t npeers;
	size_t dropped;			/* peers past TRACKER_MSG_MAX_PEERS */
	size_t skipped;			/* dict peers with a host name or a bad address */
	struct netaddr peers[TRACKER_MSG_MAX_PEERS];
};

struct tracker_msg_scrape_entry {
	uint8_t info_hash[20];		/* UDP: not on the wire, the request's order says */
	uint32_t complete;		/* seeders */
	uint32_t downloaded;		/* ever completed */
	uint32_t incomplete;		/* leechers */
};

struct tracker_msg_scrape {
	int failed;
	char failure[TRACKER_MSG_MAX_REASON];
	size_t n;
	size_t dropped;			/* HTTP: files past TRACKER_MSG_MAX_SCRAPE */
	struct tracker_msg_scrape_entry files[TRACKER_MSG_MAX_SCRAPE];
};

/* Percent-encoding of bytes (RFC 3986: unreserved characters stay, all else is %XX). */
int tracker_msg_pct_encode(struct buf *b, const uint8_t *p, size_t n);
/*
 * Decodes %XX escapes and '+' (a space, as in forms) of s[0..n) into out
 * (room for cap bytes); *outlen gets the length. -1 on a bad escape or overflow.
 */
int tracker_msg_pct_decode(const char *s, size_t n, uint8_t *out, size_t cap,
    size_t *outlen);

/* HTTP, client side. */

/*
 * Appends the announce URL with its query (BEP 3, compact=1 per BEP 23) to b;
 * uses '&' if the URL already has a query. The URL must be printable ASCII
 * without a fragment, at most TRACKER_MSG_MAX_URL bytes.
 */
int tracker_msg_http_announce_url(struct buf *b, const char *announce_url,
    const struct tracker_msg_announce *a, char *err, size_t errlen);
/*
 * Parses an announce response body (BEP 3, 7, 23): compact "peers" and
 * "peers6" or a list of dicts with numeric "ip" (no DNS here). On a
 * "failure reason" returns -1 with out->failed and out->failure set.
 */
int tracker_msg_http_reply_parse(const uint8_t *p, size_t len,
    struct tracker_msg_reply *out, char *err, size_t errlen);
/*
 * The scrape URL for an announce URL (BEP 48: the last path component
 * starting with "announce" becomes "scrape"), with an info_hash parameter
 * for each of the n hashes (n 0 asks for everything). -1 if the URL has none.
 */
int tracker_msg_http_scrape_url(struct buf *b, const char *announce_url,
    const uint8_t (*hashes)[20], size_t n, char *err, size_t errlen);
/* Parses a scrape response (BEP 48); a "failure reason" fails with out->failed. */
int tracker_msg_http_scrape_parse(const uint8_t *p, size_t len,
    struct tracker_msg_scrape *out, char *err, size_t errlen);

/* HTTP, tracker side. */

/*
 * Parses the query of an announce request (after the '?'; a leading '?' is
 * skipped). info_hash and peer_id must decode to exactly 20 bytes and port
 * must be there; known keys may not repeat; "ip" is ignored (BEP 7: it lets
 * anyone aim a swarm at a victim); unknown keys are ignored.
 */
int tracker_msg_http_announce_parse(const char *q, size_t len,
    struct tracker_msg_announce *out, char *err, size_t errlen);
/* Parses a scrape query: up to TRACKER_MSG_MAX_SCRAPE info_hash parameters (BEP 48). */
int tracker_msg_http_scrape_query_parse(const char *q, size_t len,
    uint8_t (*hashes)[20], size_t *n, char *err, size_t errlen);
/*
 * Builds an announce response: interval, min interval and counts when >= 0,
 * warning when not empty, IPv4 peers as compact "peers", IPv6 as "peers6".
 */
int tracker_msg_http_reply_build(struct buf *b, const struct tracker_msg_reply *r);
/* d14:failure reason...e: the reply to a refused announce or scrape (BEP 3). */
int tracker_msg_http_failure_build(struct buf *b, const char *reason);
/* Builds a scrape response (BEP 48); -1 on a repeated info-hash. */
int tracker_msg_http_scrape_build(struct buf *b, const struct tracker_msg_scrape *s);

/* UDP (BEP 15). Parsers check lengths, the action, and the caller's transaction id. */

/* The header of any request, so the tracker can dispatch on the action. */
struct tracker_msg_udp_hdr {
	uint64_t conn_id;	/* TRACKER_MSG_UDP_PROTOCOL_ID for a connect */
	uint32_t action;
	uint32_t tid;
};

int tracker_msg_udp_hdr_parse(const uint8_t *p, size_t len,
    struct tracker_msg_udp_hdr *h, char *err, size_t errlen);
/* The action and transaction id of any response, so a client can spot errors. */
int tracker_msg_udp_resp_hdr_parse(const uint8_t *p, size_t len, uint32_t *action,
    uint32_t *tid, char *err, size_t errlen);

int tracker_msg_udp_connect_build(struct buf *b, uint32_t tid);
int tracker_msg_udp_connect_parse(const uint8_t *p, size_t len, uint32_t *tid,
    char *err, size_t errlen);
int tracker_msg_udp_connect_resp_build(struct buf *b, uint32_t tid, uint64_t conn_id);
int tracker_msg_udp_connect_resp_parse(const uint8_t *p, size_t len, uint32_t tid,
    uint64_t *conn_id, char *err, size_t errlen);

int tracker_msg_udp_announce_build(struct buf *b, uint64_t conn_id, uint32_t tid,
    const struct tracker_msg_announce *a);
/* Bytes past the 98 are BEP 41 options and are ignored. The IP field is ignored (BEP 7). */
int tracker_msg_udp_announce_parse(const uint8_t *p, size_t len, uint64_t *conn_id,
    uint32_t *tid, struct tracker_msg_announce *out, char *err, size_t errlen);
/*
 * Announce response: 18-byte peers when ipv6 (the request came over IPv6),
 * else 6-byte ones (BEP 15). The builder sends only r's peers of that family.
 */
int tracker_msg_udp_announce_resp_build(struct buf *b, uint32_t tid,
    const struct tracker_msg_reply *r, int ipv6);
int tracker_msg_udp_announce_resp_parse(const uint8_t *p, size_t len, uint32_t tid,
    int ipv6, struct tracker_msg_reply *out, char *err, size_t errlen);

/* Scrape: 1..TRACKER_MSG_MAX_SCRAPE hashes; the response lists them in the same order. */
int tracker_msg_udp_scrape_build(struct buf *b, uint64_t conn_id, uint32_t tid,
    const uint8_t (*hashes)[20], size_t n);
int tracker_msg_udp_scrape_parse(const uint8_t *p, size_t len, uint64_t *conn_id,
    uint32_t *tid, uint8_t (*hashes)[20], size_t *n, char *err, size_t errlen);
int tracker_msg_udp_scrape_resp_build(struct buf *b, uint32_t tid,
    const struct tracker_msg_scrape *s);
/* Fills s->files[i] counts (info_hash zeroed); s->n is how many came. */
int tracker_msg_udp_scrape_resp_parse(const uint8_t *p, size_t len, uint32_t tid,
    struct tracker_msg_scrape *s, char *err, size_t errlen);

/* Error: the message is cut to TRACKER_MSG_MAX_REASON - 1 bytes of printable ASCII. */
int tracker_msg_udp_error_build(struct buf *b, uint32_t tid, const char *msg);
/* msg gets the sanitised text (at most msglen - 1 bytes). */
int tracker_msg_udp_error_parse(const uint8_t *p, size_t len, uint32_t tid, char *msg,
    size_t msglen, char *err, size_t errlen);

/*
 * BEP 12 announce-list order, pure so it can be tested without sockets.
 * order[0..n) gets the tracker indices 0..n-1 grouped by ascending tier
 * (tiers[i]), the trackers of each tier shuffled once with rnd, which
 * returns a value in [0, bound).
 */
void tracker_msg_tiers_order(const uint32_t *tiers, size_t n, uint32_t *order,
    uint32_t (*rnd)(void *ctx, uint32_t bound), void *ctx);
/* BEP 12: the tracker that answered (index which) moves to the front of its tier. */
void tracker_msg_tiers_promote(uint32_t *order, const uint32_t *tiers, size_t n,
    uint32_t which);
/*
 * The position in order of the tracker to announce to: the first one that
 * may be tried (usable[index] non-zero), so a tier is left only when all of
 * its trackers failed. n if none may be tried now.
 */
size_t tracker_msg_tiers_pick(const uint32_t *order, const unsigned char *usable, size_t n);

#endif
