/* tracker_msg.c: tracker messages, HTTP (BEP 3, 7, 23, 48) and UDP (BEP 15): pure parse and build, no I/O. */
#include "tracker_msg.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "bencode.h"
#include "buf.h"
#include "log.h"
#include "sha.h"

#define tm_fail(err, errlen, ...) log_seterr(err, errlen, "tracker", __VA_ARGS__)

#define HASH_LEN 20
#define COMPACT4 6
#define COMPACT6 18
/* Decoded query values we look at are hashes, ids and numbers: 64 bytes is plenty. */
#define VALUE_MAX 64

/* BEP 3 event names, indexed by enum tracker_msg_event (BEP 15 numbering). */
static const char *const event_names[] = { "", "completed", "started", "stopped" };

/* Copies text from a tracker, cut to cap - 1 bytes, anything but printable ASCII made '?'. */
static void
sanitise(char *out, size_t cap, const uint8_t *p, size_t n)
{
	size_t i;

	if (cap == 0)
		return;
	for (i = 0; i < n && i < cap - 1; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	out[i] = '\0';
}

static void
reply_init(struct tracker_msg_reply *out)
{
	memset(out, 0, sizeof(*out));
	out->interval = -1;
	out->min_interval = -1;
	out->complete = -1;
	out->incomplete = -1;
}

/* Keeps a peer while there is room; BEP 3 lets us use any subset. */
static void
reply_add(struct tracker_msg_reply *out, const uint8_t *p, size_t len)
{
	if (out->npeers >= TRACKER_MSG_MAX_PEERS) {
		out->dropped++;
		return;
	}
	if (netaddr_from_compact(&out->peers[out->npeers], p, len) == 0)
		out->npeers++;
}

/* A run of compact entries of `stride` bytes (BEP 23: 6, BEP 7: 18). */
static int
reply_add_compact(struct tracker_msg_reply *out, const uint8_t *p, size_t len,
    size_t stride, const char *what, char *err, size_t errlen)
{
	size_t n = len / stride;

	if (len % stride != 0)
		return tm_fail(err, errlen, "%s of %zu bytes is not a multiple of %zu", what,
		    len, stride);
	for (size_t i = 0; i < n; i++) {
		if (out->npeers >= TRACKER_MSG_MAX_PEERS) {
			out->dropped += n - i;
			break;
		}
		reply_add(out, p + i * stride, stride);
	}
	return 0;
}

/* Percent-encoding (RFC 3986). */

int
tracker_msg_pct_encode(struct buf *b, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		char e[3] = { '%', hex[c >> 4], hex[c & 15] };

		if ((plain ? buf_putc(b, c) : buf_append(b, e, sizeof(e))) == -1)
			return -1;
	}
	return 0;
}

int
tracker_msg_pct_decode(const char *s, size_t n, uint8_t *out, size_t cap,
    size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (o >= cap)
			return -1;
		if (s[i] != '%') {
			out[o++] = s[i] == '+' ? ' ' : (uint8_t)s[i];
			continue;
		}
		if (n - i < 3 || (hi = sha_hexdigit(s[i + 1])) < 0 ||
		    (lo = sha_hexdigit(s[i + 2])) < 0)
			return -1;
		out[o++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	*outlen = o;
	return 0;
}

/* Query strings: "k=v&k=v", empty parts skipped. */

struct qparam {
	const char *k;
	size_t klen;
	const char *v;
	size_t vlen;
};

/* 1 with the next parameter in *qp, 0 at the end. */
static int
query_next(const char *q, size_t len, size_t *pos, struct qparam *qp)
{
	while (*pos < len) {
		size_t start = *pos, end = start, eq;

		while (end < len && q[end] != '&')
			end++;
		*pos = end < len ? end + 1 : end;
		if (end == start)
			continue;
		for (eq = start; eq < end && q[eq] != '='; eq++)
			;
		qp->k = q + start;
		qp->klen = eq - start;
		qp->v = eq < end ? q + eq + 1 : q + end;
		qp->vlen = eq < end ? end - eq - 1 : 0;
		return 1;
	}
	return 0;
}

static int
key_is(const struct qparam *qp, const char *name)
{
	return qp->klen == strlen(name) && memcmp(qp->k, name, qp->klen) == 0;
}

/* Checks the size and skips a leading '?'; the common start of query parsers. */
static int
query_start(const char **q, size_t *len, char *err, size_t errlen)
{
	if (*len > TRACKER_MSG_MAX_QUERY)
		return tm_fail(err, errlen, "query of %zu bytes, limit %d", *len,
		    TRACKER_MSG_MAX_QUERY);
	if (*len > 0 && (*q)[0] == '?') {
		(*q)++;
		(*len)--;
	}
	return 0;
}

/* Base ten ASCII (BEP 3), no sign, at most max. */
static int
parse_dec(const uint8_t *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* Our "key" is 8 hex digits; another client's key of any other shape is folded to 32 bits. */
static uint32_t
parse_key(const uint8_t *s, size_t n)
{
	uint32_t v = 0;
	int hex = n > 0 && n <= 8;

	for (size_t i = 0; hex && i < n; i++)
		if (sha_hexdigit((char)s[i]) < 0)
			hex = 0;
	for (size_t i = 0; i < n; i++)
		v = hex ? v << 4 | (uint32_t)sha_hexdigit((char)s[i]) : v * 31 + s[i];
	return v;
}

/* URLs we append to: printable ASCII, bounded, and no fragment (a query after '#' is lost). */
static int
url_check(const char *url, char *err, size_t errlen)
{
	size_t n = strnlen(url, TRACKER_MSG_MAX_URL + 1);

	if (n == 0 || n > TRACKER_MSG_MAX_URL)
		return tm_fail(err, errlen, "URL empty or longer than %d bytes",
		    TRACKER_MSG_MAX_URL);
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return tm_fail(err, errlen, "URL has a byte 0x%02x",
			    (unsigned char)url[i]);
		if (url[i] == '#')
			return tm_fail(err, errlen, "URL has a fragment");
	}
	return 0;
}

/* The separator before our first parameter: none if the URL already ends in one. */
static int
put_query_sep(struct buf *b, const char *url)
{
	size_t n = strlen(url);

	if (n > 0 && (url[n - 1] == '?' || url[n - 1] == '&'))
		return 0;
	return buf_putc(b, strchr(url, '?') != NULL ? '&' : '?');
}

/* HTTP announce, client side. */

int
tracker_msg_http_announce_url(struct buf *b, const char *announce_url,
    const struct tracker_msg_announce *a, char *err, size_t errlen)
{
	if (url_check(announce_url, err, errlen) == -1)
		return -1;
	if ((unsigned)a->event > TRACKER_MSG_EVENT_STOPPED)
		return tm_fail(err, errlen, "bad event %d", (int)a->event);
	if (buf_puts(b, announce_url) == -1 || put_query_sep(b, announce_url) == -1 ||
	    buf_puts(b, "info_hash=") == -1 ||
	    tracker_msg_pct_encode(b, a->info_hash, HASH_LEN) == -1 ||
	    buf_puts(b, "&peer_id=") == -1 ||
	    tracker_msg_pct_encode(b, a->peer_id, HASH_LEN) == -1 ||
	    buf_printf(b, "&port=%u&uploaded=%" PRIu64 "&downloaded=%" PRIu64
	    "&left=%" PRIu64 "&compact=1", (unsigned)a->port, a->uploaded,
	    a->downloaded, a->left) == -1)
		goto full;
	/* BEP 3: no event is the same as "empty": a regular re-announce. */
	if (a->event != TRACKER_MSG_EVENT_NONE &&
	    buf_printf(b, "&event=%s", event_names[a->event]) == -1)
		goto full;
	if (a->numwant >= 0 && buf_printf(b, "&numwant=%d", (int)a->numwant) == -1)
		goto full;
	if (a->has_key && buf_printf(b, "&key=%08" PRIx32, a->key) == -1)
		goto full;
	return 0;
full:
	return tm_fail(err, errlen, "announce URL does not fit");
}

/* The body must be one bencoded dict; a "failure reason" (BEP 3) ends the parse. */
static int
body_decode(const uint8_t *p, size_t len, struct be_doc *doc, int *failed,
    char *failure, char *err, size_t errlen)
{
	char berr[128];
	int64_t fr;

	if (len > TRACKER_MSG_MAX_BODY)
		return tm_fail(err, errlen, "response of %zu bytes, limit %u", len,
		    TRACKER_MSG_MAX_BODY);
	if (be_decode(p, len, &be_default_limits, doc, berr, sizeof(berr)) == -1)
		return tm_fail(err, errlen, "response: %s", berr);
	if (doc->tok[0].type != BE_DICT) {
		be_doc_free(doc);
		return tm_fail(err, errlen, "response is not a dict");
	}
	if ((fr = be_dict_get(doc, 0, "failure reason")) >= 0) {
		const uint8_t *s = (const uint8_t *)"(not a string)";
		size_t n = strlen((const char *)s);

		if (doc->tok[fr].type == BE_STR)
			s = be_str(doc, (uint32_t)fr, &n);
		*failed = 1;
		sanitise(failure, TRACKER_MSG_MAX_REASON, s, n);
		be_doc_free(doc);
		return tm_fail(err, errlen, "failure reason: %s", failure);
	}
	return 0;
}

/* An optional non-negative integer; absent leaves *out alone. */
static int
dict_count(const struct be_doc *doc, const char *key, int64_t max, int64_t *out,
    char *err, size_t errlen)
{
	int64_t i = be_dict_get(doc, 0, key);

	if (i < 0)
		return 0;
	if (doc->tok[i].type != BE_INT)
		return tm_fail(err, errlen, "\"%s\" is not an integer", key);
	if (doc->tok[i].ival < 0)
		return tm_fail(err, errlen, "\"%s\" is negative", key);
	*out = doc->tok[i].ival > max ? max : doc->tok[i].ival;
	return 0;
}

/* BEP 3 original peers: a list of dicts with "ip" (numeric only here) and "port". */
static int
reply_add_dicts(const struct be_doc *doc, uint32_t list, struct tracker_msg_reply *out,
    char *err, size_t errlen)
{
	uint32_t i = list + 1, count = doc->tok[list].count;

	for (uint32_t c = 0; c < count; c++, i = doc->tok[i].next) {
		char host[INET6_ADDRSTRLEN];
		uint8_t raw[COMPACT6];
		const uint8_t *s;
		int64_t ip, port;
		size_t n;

		if (out->npeers >= TRACKER_MSG_MAX_PEERS) {
			out->dropped += count - c;
			break;
		}
		if (doc->tok[i].type != BE_DICT)
			return tm_fail(err, errlen, "peer %u is not a dict", (unsigned)c);
		ip = be_dict_get_type(doc, i, "ip", BE_STR);
		port = be_dict_get_type(doc, i, "port", BE_INT);
		if (ip < 0 || port < 0)
			return tm_fail(err, errlen, "peer %u lacks ip or port", (unsigned)c);
		s = be_str(doc, (uint32_t)ip, &n);
		if (doc->tok[port].ival < 0 || doc->tok[port].ival > 65535 ||
		    n == 0 || n >= sizeof(host) || memchr(s, '\0', n) != NULL) {
			out->skipped++;
			continue;
		}
		memcpy(host, s, n);
		host[n] = '\0';
		/* No DNS in a codec: a host name is skipped, only literals count. */
		if (inet_pton(AF_INET, host, raw) == 1) {
			raw[4] = (uint8_t)(doc->tok[port].ival >> 8);
			raw[5] = (uint8_t)doc->tok[port].ival;
			reply_add(out, raw, COMPACT4);
		} else if (inet_pton(AF_INET6, host, raw) == 1) {
			raw[16] = (uint8_t)(doc->tok[port].ival >> 8);
			raw[17] = (uint8_t)doc->tok[port].ival;
			reply_add(out, raw, COMPACT6);
		} else
			out->skipped++;
	}
	return 0;
}

static int
reply_fields(const struct be_doc *doc, struct tracker_msg_reply *out, char *err,
    size_t errlen)
{
	const uint8_t *s;
	int64_t i;
	size_t n;

	if ((i = be_dict_get_type(doc, 0, "warning message", BE_STR)) >= 0) {
		s = be_str(doc, (uint32_t)i, &n);
		sanitise(out->warning, sizeof(out->warning), s, n);
	}
	/* BEP 3: interval is required; a huge one is clamped, not obeyed. */
	if (be_dict_get(doc, 0, "interval") < 0)
		return tm_fail(err, errlen, "no interval");
	if (dict_count(doc, "interval", TRACKER_MSG_MAX_INTERVAL, &out->interval, err,
	    errlen) == -1 ||
	    dict_count(doc, "min interval", TRACKER_MSG_MAX_INTERVAL, &out->min_interval,
	    err, errlen) == -1 ||
	    dict_count(doc, "complete", INT32_MAX, &out->complete, err, errlen) == -1 ||
	    dict_count(doc, "incomplete", INT32_MAX, &out->incomplete, err, errlen) == -1)
		return -1;
	if ((i = be_dict_get(doc, 0, "peers")) >= 0) {
		if (doc->tok[i].type == BE_STR) {
			s = be_str(doc, (uint32_t)i, &n);
			if (reply_add_compact(out, s, n, COMPACT4, "peers", err, errlen) == -1)
				return -1;
		} else if (doc->tok[i].type == BE_LIST) {
			if (reply_add_dicts(doc, (uint32_t)i, out, err, errlen) == -1)
				return -1;
		} else
			return tm_fail(err, errlen, "peers is neither a string nor a list");
	}
	if ((i = be_dict_get(doc, 0, "peers6")) >= 0) {
		if (doc->tok[i].type != BE_STR)
			return tm_fail(err, errlen, "peers6 is not a string");
		s = be_str(doc, (uint32_t)i, &n);
		if (reply_add_compact(out, s, n, COMPACT6, "peers6", err, errlen) == -1)
			return -1;
	}
	return 0;
}

int
tracker_msg_http_reply_parse(const uint8_t *p, size_t len,
    struct tracker_msg_reply *out, char *err, size_t errlen)
{
	struct be_doc doc;
	int rc;

	reply_init(out);
	if (body_decode(p, len, &doc, &out->failed, out->failure, err, errlen) == -1)
		return -1;
	rc = reply_fields(&doc, out, err, errlen);
	be_doc_free(&doc);
	if (rc == -1) {
		out->npeers = 0;
		out->dropped = out->skipped = 0;
	}
	return rc;
}

/* HTTP announce, tracker side. */

enum ann_key { K_INFO_HASH, K_PEER_ID, K_PORT, K_UPLOADED, K_DOWNLOADED, K_LEFT,
    K_EVENT, K_NUMWANT, K_COMPACT, K_KEY, K_NKEYS };

static const char *const ann_keys[K_NKEYS] = {
	"info_hash", "peer_id", "port", "uploaded", "downloaded", "left", "event",
	"numwant", "compact", "key",
};

static int
ann_event(const uint8_t *v, size_t n, enum tracker_msg_event *ev)
{
	static const struct {
		const char *name;
		enum tracker_msg_event ev;
	} names[] = {
		{ "", TRACKER_MSG_EVENT_NONE },
		{ "empty", TRACKER_MSG_EVENT_NONE },	/* BEP 3 */
		{ "paused", TRACKER_MSG_EVENT_NONE },	/* BEP 21: still a regular announce */
		{ "started", TRACKER_MSG_EVENT_STARTED },
		{ "completed", TRACKER_MSG_EVENT_COMPLETED },
		{ "stopped", TRACKER_MSG_EVENT_STOPPED },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == n && memcmp(names[i].name, v, n) == 0) {
			*ev = names[i].ev;
			return 0;
		}
	return -1;
}

/* One known parameter's decoded value into out. */
static int
ann_value(struct tracker_msg_announce *out, enum ann_key k, const uint8_t *v, size_t n)
{
	uint64_t x;

	switch (k) {
	case K_INFO_HASH:
	case K_PEER_ID:
		if (n != HASH_LEN)
			return -1;
		memcpy(k == K_INFO_HASH ? out->info_hash : out->peer_id, v, n);
		return 0;
	case K_PORT:
		if (parse_dec(v, n, UINT16_MAX, &x) == -1)
			return -1;
		out->port = (uint16_t)x;
		return 0;
	case K_UPLOADED:
		return parse_dec(v, n, UINT64_MAX, &out->uploaded);
	case K_DOWNLOADED:
		return parse_dec(v, n, UINT64_MAX, &out->downloaded);
	case K_LEFT:
		return parse_dec(v, n, UINT64_MAX, &out->left);
	case K_EVENT:
		return ann_event(v, n, &out->event);
	case K_NUMWANT:
		if (parse_dec(v, n, INT32_MAX, &x) == -1)
			return -1;
		out->numwant = (int32_t)x;
		return 0;
	case K_COMPACT:
		if (n != 1 || (v[0] != '0' && v[0] != '1'))
			return -1;
		out->compact = v[0] == '1';
		return 0;
	case K_KEY:
		out->key = parse_key(v, n);
		out->has_key = 1;
		return 0;
	default:
		return -1;
	}
}

int
tracker_msg_http_announce_parse(const char *q, size_t len,
    struct tracker_msg_announce *out, char *err, size_t errlen)
{
	unsigned seen = 0, nparams = 0;
	struct qparam qp;
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	out->numwant = -1;
	out->compact = 1;	/* BEP 23: compact is the suggested default */
	if (query_start(&q, &len, err, errlen) == -1)
		return -1;
	while (query_next(q, len, &pos, &qp)) {
		uint8_t v[VALUE_MAX];
		size_t n;
		int k;

		if (++nparams > TRACKER_MSG_MAX_PARAMS)
			return tm_fail(err, errlen, "more than %d parameters",
			    TRACKER_MSG_MAX_PARAMS);
		for (k = 0; k < K_NKEYS && !key_is(&qp, ann_keys[k]); k++)
			;
		if (k == K_NKEYS)
			continue;	/* "ip" among them: BEP 7 discourages honouring it */
		if (seen & (1u << k))
			return tm_fail(err, errlen, "%s given twice", ann_keys[k]);
		seen |= 1u << k;
		if (tracker_msg_pct_decode(qp.v, qp.vlen, v, sizeof(v), &n) == -1 ||
		    ann_value(out, (enum ann_key)k, v, n) == -1)
			return tm_fail(err, errlen, "bad %s", ann_keys[k]);
	}
	for (int k = K_INFO_HASH; k <= K_PORT; k++)
		if (!(seen & (1u << k)))
			return tm_fail(err, errlen, "no %s", ann_keys[k]);
	return 0;
}

static size_t
count_family(const struct tracker_msg_reply *r, int family)
{
	size_t n = 0;

	for (size_t i = 0; i < r->npeers; i++)
		if (netaddr_family(&r->peers[i]) == family)
			n++;
	return n;
}

/* Peers of one family as one bencoded compact string: "<len>:" then the entries. */
static int
put_compact_peers(struct buf *b, const struct tracker_msg_reply *r, int family)
{
	size_t stride = family == AF_INET ? COMPACT4 : COMPACT6;
	uint8_t raw[COMPACT6];

	if (buf_printf(b, "%zu:", count_family(r, family) * stride) == -1)
		return -1;
	for (size_t i = 0; i < r->npeers; i++) {
		if (netaddr_family(&r->peers[i]) != family)
			continue;
		if (netaddr_to_compact(&r->peers[i], raw, sizeof(raw)) != (int)stride ||
		    buf_append(b, raw, stride) == -1)
			return -1;
	}
	return 0;
}

int
tracker_msg_http_reply_build(struct buf *b, const struct tracker_msg_reply *r)
{
	if (r->npeers > TRACKER_MSG_MAX_PEERS)
		return -1;
	/* Keys in sorted order, as bencode requires. */
	if (be_put_dict(b) == -1 ||
	    (r->complete >= 0 && (be_put_cstr(b, "complete") == -1 ||
	    be_put_int(b, r->complete) == -1)) ||
	    (r->incomplete >= 0 && (be_put_cstr(b, "incomplete") == -1 ||
	    be_put_int(b, r->incomplete) == -1)) ||
	    be_put_cstr(b, "interval") == -1 ||
	    be_put_int(b, r->interval < 0 ? 0 : r->interval) == -1 ||
	    (r->min_interval >= 0 && (be_put_cstr(b, "min interval") == -1 ||
	    be_put_int(b, r->min_interval) == -1)) ||
	    be_put_cstr(b, "peers") == -1 ||
	    put_compact_peers(b, r, AF_INET) == -1)
		return -1;
	/* BEP 7: peers6 only when there are IPv6 peers to give. */
	if (count_family(r, AF_INET6) > 0 &&
	    (be_put_cstr(b, "peers6") == -1 || put_compact_peers(b, r, AF_INET6) == -1))
		return -1;
	if (r->warning[0] != '\0' && (be_put_cstr(b, "warning message") == -1 ||
	    be_put_str(b, r->warning, strnlen(r->warning, sizeof(r->warning))) == -1))
		return -1;
	return be_put_end(b);
}

int
tracker_msg_http_failure_build(struct buf *b, const char *reason)
{
	if (be_put_dict(b) == -1 || be_put_cstr(b, "failure reason") == -1 ||
	    be_put_str(b, reason, strnlen(reason, TRACKER_MSG_MAX_REASON - 1)) == -1)
		return -1;
	return be_put_end(b);
}

/* HTTP scrape (BEP 48). */

int
tracker_msg_http_scrape_url(struct buf *b, const char *announce_url,
    const uint8_t (*hashes)[20], size_t n, char *err, size_t errlen)
{
	const char *u = announce_url, *host, *slash = NULL;
	size_t end, comp;

	if (url_check(u, err, errlen) == -1)
		return -1;
	if (n > TRACKER_MSG_MAX_SCRAPE)
		return tm_fail(err, errlen, "%zu hashes, limit %d", n,
		    TRACKER_MSG_MAX_SCRAPE);
	if ((host = strstr(u, "://")) == NULL)
		return tm_fail(err, errlen, "URL has no scheme");
	host += 3;
	end = (size_t)(host - u) + strcspn(host, "?");
	for (size_t i = (size_t)(host - u); i < end; i++)
		if (u[i] == '/')
			slash = u + i;
	if (slash == NULL)
		return tm_fail(err, errlen, "URL has no path");
	comp = (size_t)(slash - u) + 1;
	/* BEP 48; like other clients, only the last component, and only its start. */
	if (end - comp < 8 || memcmp(u + comp, "announce", 8) != 0)
		return tm_fail(err, errlen, "no \"announce\" to replace, tracker cannot scrape");
	if (buf_append(b, u, comp) == -1 || buf_puts(b, "scrape") == -1 ||
	    buf_puts(b, u + comp + 8) == -1)
		goto full;
	for (size_t i = 0; i < n; i++) {
		if ((i == 0 ? put_query_sep(b, u) : buf_putc(b, '&')) == -1 ||
		    buf_puts(b, "info_hash=") == -1 ||
		    tracker_msg_pct_encode(b, hashes[i], HASH_LEN) == -1)
			goto full;
	}
	return 0;
full:
	return tm_fail(err, errlen, "scrape URL does not fit");
}

int
tracker_msg_http_scrape_query_parse(const char *q, size_t len,
    uint8_t (*hashes)[20], size_t *n, char *err, size_t errlen)
{
	unsigned nparams = 0;
	struct qparam qp;
	size_t pos = 0;

	*n = 0;
	if (query_start(&q, &len, err, errlen) == -1)
		return -1;
	while (query_next(q, len, &pos, &qp)) {
		uint8_t v[VALUE_MAX];
		size_t vn;

		if (++nparams > TRACKER_MSG_MAX_PARAMS)
			return tm_fail(err, errlen, "more than %d parameters",
			    TRACKER_MSG_MAX_PARAMS);
		if (!key_is(&qp, "info_hash"))
			continue;
		if (tracker_msg_pct_decode(qp.v, qp.vlen, v, sizeof(v), &vn) == -1 ||
		    vn != HASH_LEN)
			return tm_fail(err, errlen, "bad info_hash");
		if (*n >= TRACKER_MSG_MAX_SCRAPE)
			return tm_fail(err, errlen, "more than %d info_hash",
			    TRACKER_MSG_MAX_SCRAPE);
		memcpy(hashes[(*n)++], v, HASH_LEN);
	}
	return 0;
}

/* A count in a scrape entry: absent is 0, negative is refused, huge is clamped. */
static int
scrape_count(const struct be_doc *doc, uint32_t d, const char *key, uint32_t *out,
    char *err, size_t errlen)
{
	int64_t i = be_dict_get(doc, d, key);

	*out = 0;
	if (i < 0)
		return 0;
	if (doc->tok[i].type != BE_INT || doc->tok[i].ival < 0)
		return tm_fail(err, errlen, "scrape \"%s\" is not a count", key);
	*out = doc->tok[i].ival > UINT32_MAX ? UINT32_MAX : (uint32_t)doc->tok[i].ival;
	return 0;
}

static int
scrape_files(const struct be_doc *doc, struct tracker_msg_scrape *s, char *err,
    size_t errlen)
{
	int64_t files = be_dict_get(doc, 0, "files");
	uint32_t k, count;

	if (files < 0 || doc->tok[files].type != BE_DICT)
		return tm_fail(err, errlen, "no files dict");
	count = doc->tok[files].count;
	k = (uint32_t)files + 1;
	for (uint32_t c = 0; c < count; c++) {
		uint32_t v = doc->tok[k].next;
		struct tracker_msg_scrape_entry *e;
		const uint8_t *h;
		size_t n;

		h = be_str(doc, k, &n);
		if (n != HASH_LEN || doc->tok[v].type != BE_DICT)
			return tm_fail(err, errlen, "scrape file %u malformed", (unsigned)c);
		k = doc->tok[v].next;
		if (s->n >= TRACKER_MSG_MAX_SCRAPE) {
			s->dropped++;
			continue;
		}
		e = &s->files[s->n];
		memcpy(e->info_hash, h, HASH_LEN);
		if (scrape_count(doc, v, "complete", &e->complete, err, errlen) == -1 ||
		    scrape_count(doc, v, "downloaded", &e->downloaded, err, errlen) == -1 ||
		    scrape_count(doc, v, "incomplete", &e->incomplete, err, errlen) == -1)
			return -1;
		s->n++;
	}
	return 0;
}

int
tracker_msg_http_scrape_parse(const uint8_t *p, size_t len,
    struct tracker_msg_scrape *out, char *err, size_t errlen)
{
	struct be_doc doc;
	int rc;

	memset(out, 0, sizeof(*out));
	if (body_decode(p, len, &doc, &out->failed, out->failure, err, errlen) == -1)
		return -1;
	rc = scrape_files(&doc, out, err, errlen);
	be_doc_free(&doc);
	if (rc == -1)
		out->n = out->dropped = 0;
	return rc;
}

int
tracker_msg_http_scrape_build(struct buf *b, const struct tracker_msg_scrape *s)
{
	size_t order[TRACKER_MSG_MAX_SCRAPE];

	if (s->n > TRACKER_MSG_MAX_SCRAPE)
		return -1;
	/* Bencode wants the hashes sorted: an insertion sort over at most 74. */
	for (size_t i = 0; i < s->n; i++) {
		size_t j = i;

		while (j > 0 && memcmp(s->files[order[j - 1]].info_hash,
		    s->files[i].info_hash, HASH_LEN) > 0) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	if (be_put_dict(b) == -1 || be_put_cstr(b, "files") == -1 || be_put_dict(b) == -1)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		const struct tracker_msg_scrape_entry *e = &s->files[order[i]];

		if (i > 0 && memcmp(s->files[order[i - 1]].info_hash, e->info_hash,
		    HASH_LEN) == 0)
			return -1;
		if (be_put_str(b, e->info_hash, HASH_LEN) == -1 || be_put_dict(b) == -1 ||
		    be_put_cstr(b, "complete") == -1 || be_put_int(b, e->complete) == -1 ||
		    be_put_cstr(b, "downloaded") == -1 || be_put_int(b, e->downloaded) == -1 ||
		    be_put_cstr(b, "incomplete") == -1 || be_put_int(b, e->incomplete) == -1 ||
		    be_put_end(b) == -1)
			return -1;
	}
	if (be_put_end(b) == -1)
		return -1;
	return be_put_end(b);
}

/* UDP (BEP 15): all integers big-endian. */

/* BEP 15 integers are signed 32-bit; read them without implementation-defined casts. */
static int64_t
s32(uint32_t v)
{
	return v <= INT32_MAX ? (int64_t)v : (int64_t)v - 4294967296LL;
}

static const char *
action_name(uint32_t a)
{
	static const char *const names[] = { "connect", "announce", "scrape", "error" };

	return a < 4 ? names[a] : "unknown";
}

int
tracker_msg_udp_hdr_parse(const uint8_t *p, size_t len, struct tracker_msg_udp_hdr *h,
    char *err, size_t errlen)
{
	struct rd r;

	rd_init(&r, p, len);
	if (rd_be64(&r, &h->conn_id) == -1 || rd_be32(&r, &h->action) == -1 ||
	    rd_be32(&r, &h->tid) == -1)
		return tm_fail(err, errlen, "udp request of %zu bytes, need %d", len,
		    TRACKER_MSG_UDP_HDR_LEN);
	return 0;
}

int
tracker_msg_udp_resp_hdr_parse(const uint8_t *p, size_t len, uint32_t *action,
    uint32_t *tid, char *err, size_t errlen)
{
	struct rd r;

	rd_init(&r, p, len);
	if (rd_be32(&r, action) == -1 || rd_be32(&r, tid) == -1)
		return tm_fail(err, errlen, "udp response of %zu bytes, need %d", len,
		    TRACKER_MSG_UDP_RESP_HDR_LEN);
	return 0;
}

/* BEP 15's client checks: the minimum size, then our transaction id, then the action. */
static int
resp_start(struct rd *r, const uint8_t *p, size_t len, size_t min, uint32_t want,
    uint32_t tid, char *err, size_t errlen)
{
	uint32_t action, got;

	if (len < min)
		return tm_fail(err, errlen, "udp %s response of %zu bytes, need %zu",
		    action_name(want), len, min);
	rd_init(r, p, len);
	if (rd_be32(r, &action) == -1 || rd_be32(r, &got) == -1)
		return -1;
	if (got != tid)
		return tm_fail(err, errlen, "udp transaction id %08" PRIx32 ", sent %08"
		    PRIx32, got, tid);
	if (action != want)
		return tm_fail(err, errlen, "udp action %s (%" PRIu32 "), expected %s",
		    action_name(action), action, action_name(want));
	return 0;
}

/* The tracker's side: minimum size and the action; the tid is the client's to choose. */
static int
req_start(struct rd *r, const uint8_t *p, size_t len, size_t min, uint32_t want,
    uint64_t *conn_id, uint32_t *tid, char *err, size_t errlen)
{
	uint32_t action;

	if (len < min)
		return tm_fail(err, errlen, "udp %s request of %zu bytes, need %zu",
		    action_name(want), len, min);
	rd_init(r, p, len);
	if (rd_be64(r, conn_id) == -1 || rd_be32(r, &action) == -1 ||
	    rd_be32(r, tid) == -1)
		return -1;
	if (action != want)
		return tm_fail(err, errlen, "udp action %s (%" PRIu32 "), expected %s",
		    action_name(action), action, action_name(want));
	return 0;
}

int
tracker_msg_udp_connect_build(struct buf *b, uint32_t tid)
{
	if (buf_put_be64(b, TRACKER_MSG_UDP_PROTOCOL_ID) == -1 ||
	    buf_put_be32(b, TRACKER_MSG_CONNECT) == -1)
		return -1;
	return buf_put_be32(b, tid);
}

int
tracker_msg_udp_connect_parse(const uint8_t *p, size_t len, uint32_t *tid, char *err,
    size_t errlen)
{
	uint64_t magic;
	struct rd r;

	if (req_start(&r, p, len, TRACKER_MSG_UDP_CONNECT_LEN, TRACKER_MSG_CONNECT, &magic,
	    tid, err, errlen) == -1)
		return -1;
	if (magic != TRACKER_MSG_UDP_PROTOCOL_ID)
		return tm_fail(err, errlen, "udp connect without the protocol id");
	return 0;
}

int
tracker_msg_udp_connect_resp_build(struct buf *b, uint32_t tid, uint64_t conn_id)
{
	if (buf_put_be32(b, TRACKER_MSG_CONNECT) == -1 || buf_put_be32(b, tid) == -1)
		return -1;
	return buf_put_be64(b, conn_id);
}

int
tracker_msg_udp_connect_resp_parse(const uint8_t *p, size_t len, uint32_t tid,
    uint64_t *conn_id, char *err, size_t errlen)
{
	struct rd r;

	if (resp_start(&r, p, len, TRACKER_MSG_UDP_CONNECT_LEN, TRACKER_MSG_CONNECT, tid,
	    err, errlen) == -1)
		return -1;
	return rd_be64(&r, conn_id);
}

int
tracker_msg_udp_announce_build(struct buf *b, uint64_t conn_id, uint32_t tid,
    const struct tracker_msg_announce *a)
{
	if ((unsigned)a->event > TRACKER_MSG_EVENT_STOPPED)
		return -1;
	if (buf_put_be64(b, conn_id) == -1 || buf_put_be32(b, TRACKER_MSG_ANNOUNCE) == -1 ||
	    buf_put_be32(b, tid) == -1 || buf_append(b, a->info_hash, HASH_LEN) == -1 ||
	    buf_append(b, a->peer_id, HASH_LEN) == -1 ||
	    buf_put_be64(b, a->downloaded) == -1 || buf_put_be64(b, a->left) == -1 ||
	    buf_put_be64(b, a->uploaded) == -1 || buf_put_be32(b, a->event) == -1 ||
	    buf_put_be32(b, 0) == -1 ||	/* IP: BEP 15 default, and useless under IPv6 */
	    buf_put_be32(b, a->has_key ? a->key : 0) == -1 ||
	    buf_put_be32(b, (uint32_t)(a->numwant < 0 ? -1 : a->numwant)) == -1)
		return -1;
	return buf_put_be16(b, a->port);
}

int
tracker_msg_udp_announce_parse(const uint8_t *p, size_t len, uint64_t *conn_id,
    uint32_t *tid, struct tracker_msg_announce *out, char *err, size_t errlen)
{
	uint32_t event, ip, numwant;
	struct rd r;

	memset(out, 0, sizeof(*out));
	out->compact = 1;
	if (req_start(&r, p, len, TRACKER_MSG_UDP_ANNOUNCE_LEN, TRACKER_MSG_ANNOUNCE,
	    conn_id, tid, err, errlen) == -1)
		return -1;
	if (rd_bytes(&r, out->info_hash, HASH_LEN) == -1 ||
	    rd_bytes(&r, out->peer_id, HASH_LEN) == -1 ||
	    rd_be64(&r, &out->downloaded) == -1 || rd_be64(&r, &out->left) == -1 ||
	    rd_be64(&r, &out->uploaded) == -1 || rd_be32(&r, &event) == -1 ||
	    rd_be32(&r, &ip) == -1 || rd_be32(&r, &out->key) == -1 ||
	    rd_be32(&r, &numwant) == -1 || rd_be16(&r, &out->port) == -1)
		return -1;
	if (event > TRACKER_MSG_EVENT_STOPPED)
		return tm_fail(err, errlen, "udp announce event %" PRIu32, event);
	out->event = (enum tracker_msg_event)event;
	out->has_key = 1;
	/* Any negative num_want means "the default", as -1 does. */
	out->numwant = s32(numwant) < 0 ? -1 : (int32_t)s32(numwant);
	return 0;
}

int
tracker_msg_udp_announce_resp_build(struct buf *b, uint32_t tid,
    const struct tracker_msg_reply *r, int ipv6)
{
	int family = ipv6 ? AF_INET6 : AF_INET;
	size_t stride = ipv6 ? COMPACT6 : COMPACT4;
	uint8_t raw[COMPACT6];

	if (r->npeers > TRACKER_MSG_MAX_PEERS)
		return -1;
	if (buf_put_be32(b, TRACKER_MSG_ANNOUNCE) == -1 || buf_put_be32(b, tid) == -1 ||
	    buf_put_be32(b, (uint32_t)(r->interval < 0 ? 0 :
	    r->interval > INT32_MAX ? INT32_MAX : r->interval)) == -1 ||
	    buf_put_be32(b, (uint32_t)(r->incomplete < 0 ? 0 :
	    r->incomplete > INT32_MAX ? INT32_MAX : r->incomplete)) == -1 ||
	    buf_put_be32(b, (uint32_t)(r->complete < 0 ? 0 :
	    r->complete > INT32_MAX ? INT32_MAX : r->complete)) == -1)
		return -1;
	for (size_t i = 0; i < r->npeers; i++) {
		if (netaddr_family(&r->peers[i]) != family)
			continue;
		if (netaddr_to_compact(&r->peers[i], raw, sizeof(raw)) != (int)stride ||
		    buf_append(b, raw, stride) == -1)
			return -1;
	}
	return 0;
}

int
tracker_msg_udp_announce_resp_parse(const uint8_t *p, size_t len, uint32_t tid,
    int ipv6, struct tracker_msg_reply *out, char *err, size_t errlen)
{
	uint32_t interval, leechers, seeders;
	const uint8_t *peers;
	struct rd r;
	size_t n;

	reply_init(out);
	if (resp_start(&r, p, len, TRACKER_MSG_UDP_ANNOUNCE_RESP_MIN, TRACKER_MSG_ANNOUNCE,
	    tid, err, errlen) == -1)
		return -1;
	if (rd_be32(&r, &interval) == -1 || rd_be32(&r, &leechers) == -1 ||
	    rd_be32(&r, &seeders) == -1)
		return -1;
	if (s32(interval) < 0 || s32(leechers) < 0 || s32(seeders) < 0)
		return tm_fail(err, errlen, "udp announce response with a negative count");
	out->interval = s32(interval) > TRACKER_MSG_MAX_INTERVAL ?
	    TRACKER_MSG_MAX_INTERVAL : s32(interval);
	out->incomplete = s32(leechers);
	out->complete = s32(seeders);
	n = rd_left(&r);
	if (rd_span(&r, &peers, n) == -1 ||
	    reply_add_compact(out, peers, n, ipv6 ? COMPACT6 : COMPACT4, "udp peers", err,
	    errlen) == -1) {
		out->npeers = out->dropped = 0;
		return -1;
	}
	return 0;
}

int
tracker_msg_udp_scrape_build(struct buf *b, uint64_t conn_id, uint32_t tid,
    const uint8_t (*hashes)[20], size_t n)
{
	if (n == 0 || n > TRACKER_MSG_MAX_SCRAPE)
		return -1;
	if (buf_put_be64(b, conn_id) == -1 || buf_put_be32(b, TRACKER_MSG_SCRAPE) == -1 ||
	    buf_put_be32(b, tid) == -1)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (buf_append(b, hashes[i], HASH_LEN) == -1)
			return -1;
	return 0;
}

int
tracker_msg_udp_scrape_parse(const uint8_t *p, size_t len, uint64_t *conn_id,
    uint32_t *tid, uint8_t (*hashes)[20], size_t *n, char *err, size_t errlen)
{
	size_t rest;
	struct rd r;

	*n = 0;
	if (req_start(&r, p, len, TRACKER_MSG_UDP_HDR_LEN + HASH_LEN, TRACKER_MSG_SCRAPE,
	    conn_id, tid, err, errlen) == -1)
		return -1;
	rest = rd_left(&r);
	if (rest % HASH_LEN != 0 || rest / HASH_LEN > TRACKER_MSG_MAX_SCRAPE)
		return tm_fail(err, errlen, "udp scrape of %zu hash bytes, want 20..%d x 20",
		    rest, TRACKER_MSG_MAX_SCRAPE);
	for (size_t i = 0; i < rest / HASH_LEN; i++)
		if (rd_bytes(&r, hashes[i], HASH_LEN) == -1)
			return -1;
	*n = rest / HASH_LEN;
	return 0;
}

int
tracker_msg_udp_scrape_resp_build(struct buf *b, uint32_t tid,
    const struct tracker_msg_scrape *s)
{
	if (s->n > TRACKER_MSG_MAX_SCRAPE)
		return -1;
	if (buf_put_be32(b, TRACKER_MSG_SCRAPE) == -1 || buf_put_be32(b, tid) == -1)
		return -1;
	/* BEP 15 order: seeders, completed, leechers. */
	for (size_t i = 0; i < s->n; i++)
		if (buf_put_be32(b, s->files[i].complete) == -1 ||
		    buf_put_be32(b, s->files[i].downloaded) == -1 ||
		    buf_put_be32(b, s->files[i].incomplete) == -1)
			return -1;
	return 0;
}

int
tracker_msg_udp_scrape_resp_parse(const uint8_t *p, size_t len, uint32_t tid,
    struct tracker_msg_scrape *s, char *err, size_t errlen)
{
	size_t rest;
	struct rd r;

	memset(s, 0, sizeof(*s));
	if (resp_start(&r, p, len, TRACKER_MSG_UDP_RESP_HDR_LEN, TRACKER_MSG_SCRAPE, tid,
	    err, errlen) == -1)
		return -1;
	rest = rd_left(&r);
	if (rest % 12 != 0 || rest / 12 > TRACKER_MSG_MAX_SCRAPE)
		return tm_fail(err, errlen, "udp scrape response of %zu entry bytes", rest);
	for (size_t i = 0; i < rest / 12; i++) {
		struct tracker_msg_scrape_entry *e = &s->files[i];

		if (rd_be32(&r, &e->complete) == -1 || rd_be32(&r, &e->downloaded) == -1 ||
		    rd_be32(&r, &e->incomplete) == -1)
			return -1;
	}
	s->n = rest / 12;
	return 0;
}

int
tracker_msg_udp_error_build(struct buf *b, uint32_t tid, const char *msg)
{
	if (buf_put_be32(b, TRACKER_MSG_ERROR) == -1 || buf_put_be32(b, tid) == -1)
		return -1;
	return buf_append(b, msg, strnlen(msg, TRACKER_MSG_MAX_REASON - 1));
}

int
tracker_msg_udp_error_parse(const uint8_t *p, size_t len, uint32_t tid, char *msg,
    size_t msglen, char *err, size_t errlen)
{
	const uint8_t *text;
	struct rd r;
	size_t n;

	if (msglen > 0)
		msg[0] = '\0';
	if (resp_start(&r, p, len, TRACKER_MSG_UDP_RESP_HDR_LEN, TRACKER_MSG_ERROR, tid,
	    err, errlen) == -1)
		return -1;
	n = rd_left(&r);
	if (rd_span(&r, &text, n) == -1)
		return -1;
	/* Some trackers send the C string with its NUL. */
	while (n > 0 && text[n - 1] == '\0')
		n--;
	if (n > TRACKER_MSG_MAX_REASON - 1)
		n = TRACKER_MSG_MAX_REASON - 1;
	sanitise(msg, msglen, text, n);
	return 0;
}

/* BEP 12 tiers. */

void
tracker_msg_tiers_order(const uint32_t *tiers, size_t n, uint32_t *order,
    uint32_t (*rnd)(void *ctx, uint32_t bound), void *ctx)
{
	size_t start = 0;

	/* A stable insertion sort by tier: announce lists are short. */
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		while (j > 0 && tiers[order[j - 1]] > tiers[i]) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = (uint32_t)i;
	}
	/* BEP 12: "the URLs within each tier ... shuffled" (Fisher-Yates per tier). */
	while (start < n) {
		size_t end = start + 1;

		while (end < n && tiers[order[end]] == tiers[order[start]])
			end++;
		for (size_t k = end - start; k > 1; k--) {
			size_t r = rnd(ctx, (uint32_t)k);
			uint32_t t;

			if (r >= k)
				r = k - 1;
			t = order[start + k - 1];
			order[start + k - 1] = order[start + r];
			order[start + r] = t;
		}
		start = end;
	}
}

void
tracker_msg_tiers_promote(uint32_t *order, const uint32_t *tiers, size_t n,
    uint32_t which)
{
	size_t pos = n, front;

	for (size_t i = 0; i < n; i++)
		if (order[i] == which)
			pos = i;
	if (pos == n)
		return;
	front = pos;
	while (front > 0 && tiers[order[front - 1]] == tiers[which])
		front--;
	for (size_t i = pos; i > front; i--)
		order[i] = order[i - 1];
	order[front] = which;
}

size_t
tracker_msg_tiers_pick(const uint32_t *order, const unsigned char *usable, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (usable[order[i]])
			return i;
	return n;
}
