/* krpc.c: DHT KRPC messages (BEP 5, 32, 42): pure parse and build, no I/O, no state. */
#include "krpc.h"

#include <limits.h>
#include <string.h>

#include "bencode.h"
#include "buf.h"
#include "log.h"

/* Every refusal names its reason; log_seterr formats it. */
#define krpc_fail(err, errlen, ...) log_seterr(err, errlen, "krpc", __VA_ARGS__)

static const struct be_limits krpc_limits = { KRPC_MAX_DEPTH, KRPC_MAX_BENCODE_VALUES };

static const char *const method_names[] = {
	[KRPC_PING] = "ping",
	[KRPC_FIND_NODE] = "find_node",
	[KRPC_GET_PEERS] = "get_peers",
	[KRPC_ANNOUNCE_PEER] = "announce_peer",
};

const char *
krpc_method_name(enum krpc_method method)
{
	if (method >= KRPC_PING && method <= KRPC_ANNOUNCE_PEER)
		return method_names[method];
	return "unknown";
}

static enum krpc_method
method_lookup(const uint8_t *s, size_t n)
{
	for (int i = KRPC_PING; i <= KRPC_ANNOUNCE_PEER; i++)
		if (strlen(method_names[i]) == n && memcmp(method_names[i], s, n) == 0)
			return (enum krpc_method)i;
	return KRPC_METHOD_UNKNOWN;
}

/*
 * Strings from other nodes end up in logs: keep printable ASCII, turn each
 * other character (a UTF-8 sequence counts as one) into '?'. The output is
 * never longer than the input, and empty only if the input is.
 */
static void
sanitise(const uint8_t *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f)
			out[o++] = (char)s[i];
		else if (s[i] < 0x80 || s[i] >= 0xc0 || i == 0 || s[i - 1] < 0x80)
			out[o++] = '?';
		/* else a UTF-8 continuation byte: the byte before already wrote '?' */
	}
	out[o] = '\0';
}

/* Node ids. */

int
krpc_id_closer(const uint8_t target[KRPC_ID_LEN], const uint8_t a[KRPC_ID_LEN],
    const uint8_t b[KRPC_ID_LEN])
{
	for (size_t i = 0; i < KRPC_ID_LEN; i++) {
		uint8_t da = a[i] ^ target[i], db = b[i] ^ target[i];

		/* The first differing byte decides, as the distances are big-endian. */
		if (da != db)
			return da < db ? -1 : 1;
	}
	return 0;
}

int
krpc_id_prefix_len(const uint8_t a[KRPC_ID_LEN], const uint8_t b[KRPC_ID_LEN])
{
	for (size_t i = 0; i < KRPC_ID_LEN; i++) {
		uint8_t x = a[i] ^ b[i];
		int bits = (int)i * 8;

		if (x == 0)
			continue;
		while ((x & 0x80) == 0) {
			bits++;
			x = (uint8_t)(x << 1);
		}
		return bits;
	}
	return KRPC_ID_LEN * 8;
}

/* Compact node info (BEP 5, BEP 32). */

int
krpc_node_decode(struct krpc_node *n, const uint8_t *p, size_t len)
{
	if (len != KRPC_NODE4_LEN && len != KRPC_NODE6_LEN)
		return -1;
	memcpy(n->id, p, KRPC_ID_LEN);
	return netaddr_from_compact(&n->addr, p + KRPC_ID_LEN, len - KRPC_ID_LEN);
}

int
krpc_node_encode(const struct krpc_node *n, uint8_t *out, size_t outlen)
{
	int c;

	if (outlen < KRPC_ID_LEN)
		return -1;
	c = netaddr_to_compact(&n->addr, out + KRPC_ID_LEN, outlen - KRPC_ID_LEN);
	if (c < 0)
		return -1;
	memcpy(out, n->id, KRPC_ID_LEN);
	return KRPC_ID_LEN + c;
}

/* Parsing. */

/*
 * The string at key in dict d, min..max bytes long: 1 if there, 0 if
 * absent, -1 (with err) if it is not a string or has another length.
 */
static int
dict_str(const struct be_doc *doc, uint32_t d, const char *key, size_t min, size_t max,
    const uint8_t **p, size_t *n, char *err, size_t errlen)
{
	int64_t i = be_dict_get(doc, d, key);

	if (i < 0)
		return 0;
	if (doc->tok[i].type != BE_STR)
		return krpc_fail(err, errlen, "\"%s\" is not a string", key);
	*p = be_str(doc, (uint32_t)i, n);
	if (*n >= min && *n <= max)
		return 1;
	if (min == max)
		return krpc_fail(err, errlen, "\"%s\" of %zu bytes, must be %zu", key, *n,
		    min);
	return krpc_fail(err, errlen, "\"%s\" of %zu bytes, must be %zu to %zu", key, *n,
	    min, max);
}

/* A required 20-byte id or info-hash. */
static int
dict_id(const struct be_doc *doc, uint32_t d, const char *key, uint8_t out[KRPC_ID_LEN],
    char *err, size_t errlen)
{
	const uint8_t *p = NULL;
	size_t n;
	int rc;

	rc = dict_str(doc, d, key, KRPC_ID_LEN, KRPC_ID_LEN, &p, &n, err, errlen);
	if (rc == 0)
		return krpc_fail(err, errlen, "\"%s\" missing", key);
	if (rc == -1)
		return -1;
	memcpy(out, p, KRPC_ID_LEN);
	return 0;
}

/* The integer at key, min..max: 1 if there, 0 if absent, -1 (with err) otherwise. */
static int
dict_int(const struct be_doc *doc, uint32_t d, const char *key, int64_t min, int64_t max,
    int64_t *v, char *err, size_t errlen)
{
	int64_t i = be_dict_get(doc, d, key);

	if (i < 0)
		return 0;
	if (doc->tok[i].type != BE_INT)
		return krpc_fail(err, errlen, "\"%s\" is not an integer", key);
	*v = doc->tok[i].ival;
	if (*v < min || *v > max)
		return krpc_fail(err, errlen, "\"%s\" is %lld, must be %lld to %lld", key,
		    (long long)*v, (long long)min, (long long)max);
	return 1;
}

/* The dict at key in dict d; -1 (with err) if it is missing or not a dict. */
static int64_t
dict_dict(const struct be_doc *doc, uint32_t d, const char *key, char *err, size_t errlen)
{
	int64_t i = be_dict_get(doc, d, key);

	if (i < 0)
		return krpc_fail(err, errlen, "\"%s\" missing", key);
	if (doc->tok[i].type != BE_DICT)
		return krpc_fail(err, errlen, "\"%s\" is not a dictionary", key);
	return i;
}

/* A token: BEP 5 calls it a short binary string; an empty one could match nothing. */
static int
parse_token(const struct be_doc *doc, uint32_t d, struct krpc_msg *m, char *err,
    size_t errlen)
{
	const uint8_t *p;
	size_t n;
	int rc;

	rc = dict_str(doc, d, "token", 1, KRPC_MAX_TOKEN, &p, &n, err, errlen);
	if (rc == 1) {
		memcpy(m->token, p, n);
		m->token_len = n;
		m->has |= KRPC_HAS_TOKEN;
	}
	return rc;
}

/* BEP 32 "want": a list of strings; "n4" and "n6" count, others are ignored. */
static int
parse_want(const struct be_doc *doc, uint32_t a, struct krpc_msg *m, char *err,
    size_t errlen)
{
	int64_t w = be_dict_get(doc, a, "want");
	uint32_t i;

	if (w < 0)
		return 0;
	if (doc->tok[w].type != BE_LIST)
		return krpc_fail(err, errlen, "\"want\" is not a list");
	if (doc->tok[w].count > KRPC_MAX_WANT)
		return krpc_fail(err, errlen, "\"want\" has %u entries, at most %d",
		    (unsigned)doc->tok[w].count, KRPC_MAX_WANT);
	i = (uint32_t)w + 1;
	for (uint32_t k = 0; k < doc->tok[w].count; k++) {
		if (doc->tok[i].type != BE_STR)
			return krpc_fail(err, errlen, "\"want\" entry is not a string");
		if (be_str_eq(doc, i, "n4"))
			m->want |= KRPC_WANT_N4;
		else if (be_str_eq(doc, i, "n6"))
			m->want |= KRPC_WANT_N6;
		i = doc->tok[i].next;
	}
	return 0;
}

static int
parse_announce(const struct be_doc *doc, uint32_t a, struct krpc_msg *m, char *err,
    size_t errlen)
{
	int64_t v = 0;
	int rc;

	if (dict_id(doc, a, "info_hash", m->info_hash, err, errlen) == -1)
		return -1;
	/* BEP 5: "present and non-zero" means implied; any integer will do. */
	rc = dict_int(doc, a, "implied_port", INT64_MIN, INT64_MAX, &v, err, errlen);
	if (rc == -1)
		return -1;
	m->implied_port = rc == 1 && v != 0;
	if ((rc = dict_int(doc, a, "port", 0, 65535, &v, err, errlen)) == -1)
		return -1;
	if (rc == 1)
		m->port = (uint16_t)v;
	/* Without implied_port there is nowhere to connect to. */
	if (!m->implied_port && m->port == 0)
		return krpc_fail(err, errlen, "announce_peer without a port");
	if ((rc = parse_token(doc, a, m, err, errlen)) == 0)
		return krpc_fail(err, errlen, "announce_peer without a token");
	return rc == 1 ? 0 : -1;
}

static int
parse_query(const struct be_doc *doc, struct krpc_msg *m, char *err, size_t errlen)
{
	const uint8_t *q, *id;
	size_t qlen, idlen;
	int64_t a;
	int rc;

	rc = dict_str(doc, 0, "q", 1, KRPC_MAX_METHOD, &q, &qlen, err, errlen);
	if (rc == 0)
		return krpc_fail(err, errlen, "query without \"q\"");
	if (rc == -1)
		return -1;
	sanitise(q, qlen, m->method_name, sizeof(m->method_name));
	m->method = method_lookup(q, qlen);
	if (m->method == KRPC_METHOD_UNKNOWN) {
		/*
		 * The answer is error 204 (BEP 5), which needs only "t". BEP 44
		 * and 51 methods land here; keep a well-formed sender id, so the
		 * node may still learn of it, but refuse nothing else.
		 */
		a = be_dict_get_type(doc, 0, "a", BE_DICT);
		if (a >= 0)
			a = be_dict_get_type(doc, (uint32_t)a, "id", BE_STR);
		if (a >= 0) {
			id = be_str(doc, (uint32_t)a, &idlen);
			if (idlen == KRPC_ID_LEN) {
				memcpy(m->id, id, KRPC_ID_LEN);
				m->has |= KRPC_HAS_ID;
			}
		}
		return 0;
	}
	if ((a = dict_dict(doc, 0, "a", err, errlen)) < 0)
		return -1;
	/* BEP 5: all queries have an "id" key. */
	if (dict_id(doc, (uint32_t)a, "id", m->id, err, errlen) == -1)
		return -1;
	m->has |= KRPC_HAS_ID;
	switch (m->method) {
	case KRPC_FIND_NODE:
		if (dict_id(doc, (uint32_t)a, "target", m->target, err, errlen) == -1)
			return -1;
		return parse_want(doc, (uint32_t)a, m, err, errlen);
	case KRPC_GET_PEERS:
		if (dict_id(doc, (uint32_t)a, "info_hash", m->info_hash, err,
		    errlen) == -1)
			return -1;
		return parse_want(doc, (uint32_t)a, m, err, errlen);
	case KRPC_ANNOUNCE_PEER:
		return parse_announce(doc, (uint32_t)a, m, err, errlen);
	default:
		return 0;	/* ping */
	}
}

/* "nodes" or "nodes6": a string of whole entries of one size, at most KRPC_MAX_NODES. */
static int
parse_nodes(const struct be_doc *doc, uint32_t r, const char *key, size_t entry,
    struct krpc_node *out, size_t *count, char *err, size_t errlen)
{
	const uint8_t *p;
	size_t n;
	int rc;

	rc = dict_str(doc, r, key, 0, SIZE_MAX, &p, &n, err, errlen);
	if (rc <= 0)
		return rc;
	if (n % entry != 0)
		return krpc_fail(err, errlen,
		    "\"%s\" of %zu bytes is not a multiple of %zu", key, n, entry);
	if (n / entry > KRPC_MAX_NODES)
		return krpc_fail(err, errlen, "\"%s\" holds %zu nodes, at most %d", key,
		    n / entry, KRPC_MAX_NODES);
	*count = n / entry;
	for (size_t k = 0; k < *count; k++)
		if (krpc_node_decode(&out[k], p + k * entry, entry) == -1)
			return krpc_fail(err, errlen, "\"%s\": bad entry", key);
	return 1;
}

/* "values": compact peers, 6 or 18 bytes each; BEP 32 says a list may mix them. */
static int
parse_values(const struct be_doc *doc, uint32_t r, struct krpc_msg *m, char *err,
    size_t errlen)
{
	int64_t v = be_dict_get(doc, r, "values");
	const uint8_t *p;
	uint32_t i;
	size_t n;

	if (v < 0)
		return 0;
	if (doc->tok[v].type != BE_LIST)
		return krpc_fail(err, errlen, "\"values\" is not a list");
	if (doc->tok[v].count > KRPC_MAX_VALUES)
		return krpc_fail(err, errlen, "\"values\" holds %u peers, at most %d",
		    (unsigned)doc->tok[v].count, KRPC_MAX_VALUES);
	i = (uint32_t)v + 1;
	for (uint32_t k = 0; k < doc->tok[v].count; k++) {
		if ((p = be_str(doc, i, &n)) == NULL)
			return krpc_fail(err, errlen, "\"values\" entry is not a string");
		if (netaddr_from_compact(&m->values[k], p, n) == -1)
			return krpc_fail(err, errlen,
			    "\"values\" entry of %zu bytes, must be 6 or 18", n);
		i = doc->tok[i].next;
	}
	m->nvalues = doc->tok[v].count;
	m->has |= KRPC_HAS_VALUES;
	return 0;
}

static int
parse_response(const struct be_doc *doc, struct krpc_msg *m, char *err, size_t errlen)
{
	int64_t r;
	int rc;

	if ((r = dict_dict(doc, 0, "r", err, errlen)) < 0)
		return -1;
	/* BEP 5: all responses have an "id" key. */
	if (dict_id(doc, (uint32_t)r, "id", m->id, err, errlen) == -1)
		return -1;
	m->has |= KRPC_HAS_ID;
	rc = parse_nodes(doc, (uint32_t)r, "nodes", KRPC_NODE4_LEN, m->nodes, &m->nnodes,
	    err, errlen);
	if (rc == -1)
		return -1;
	if (rc == 1)
		m->has |= KRPC_HAS_NODES;
	rc = parse_nodes(doc, (uint32_t)r, "nodes6", KRPC_NODE6_LEN, m->nodes6,
	    &m->nnodes6, err, errlen);
	if (rc == -1)
		return -1;
	if (rc == 1)
		m->has |= KRPC_HAS_NODES6;
	if (parse_token(doc, (uint32_t)r, m, err, errlen) == -1)
		return -1;
	return parse_values(doc, (uint32_t)r, m, err, errlen);
}

/* BEP 5 "e": [code, message]. Trailing entries are ignored, as unknown keys are. */
static int
parse_error(const struct be_doc *doc, struct krpc_msg *m, char *err, size_t errlen)
{
	int64_t e = be_dict_get(doc, 0, "e");
	const uint8_t *p;
	uint32_t i;
	size_t n;

	if (e < 0)
		return krpc_fail(err, errlen, "error without \"e\"");
	if (doc->tok[e].type != BE_LIST || doc->tok[e].count < 2)
		return krpc_fail(err, errlen, "\"e\" is not a [code, message] list");
	i = (uint32_t)e + 1;
	if (doc->tok[i].type != BE_INT || doc->tok[i].ival < 0 ||
	    doc->tok[i].ival > INT_MAX)
		return krpc_fail(err, errlen, "error code is not a non-negative integer");
	m->code = (int)doc->tok[i].ival;
	i = doc->tok[i].next;
	if ((p = be_str(doc, i, &n)) == NULL)
		return krpc_fail(err, errlen, "error message is not a string");
	if (n > KRPC_MAX_ERRMSG)
		return krpc_fail(err, errlen, "error message of %zu bytes, at most %d", n,
		    KRPC_MAX_ERRMSG);
	sanitise(p, n, m->message, sizeof(m->message));
	return 0;
}

static int
parse_doc(const struct be_doc *doc, struct krpc_msg *m, char *err, size_t errlen)
{
	const uint8_t *p;
	size_t n;
	int rc;

	if (doc->tok[0].type != BE_DICT)
		return krpc_fail(err, errlen, "not a dictionary");
	/* BEP 5: every message has "t", echoed in the answer. */
	rc = dict_str(doc, 0, "t", 1, KRPC_MAX_TID, &p, &n, err, errlen);
	if (rc == 0)
		return krpc_fail(err, errlen, "no transaction id \"t\"");
	if (rc == -1)
		return -1;
	memcpy(m->tid, p, n);
	m->tid_len = n;
	rc = dict_str(doc, 0, "y", 1, 1, &p, &n, err, errlen);
	if (rc == 0)
		return krpc_fail(err, errlen, "no message type \"y\"");
	if (rc == -1)
		return -1;
	switch (p[0]) {
	case 'q':
		m->type = KRPC_QUERY;
		break;
	case 'r':
		m->type = KRPC_RESPONSE;
		break;
	case 'e':
		m->type = KRPC_ERROR;
		break;
	default:
		return krpc_fail(err, errlen, "unknown message type 0x%02x", p[0]);
	}
	/* BEP 5: "v" is optional; clients should not assume its presence. */
	if ((rc = dict_str(doc, 0, "v", 0, KRPC_MAX_VERSION, &p, &n, err, errlen)) == -1)
		return -1;
	if (rc == 1) {
		memcpy(m->version, p, n);
		m->version_len = n;
	}
	/* BEP 42: our external address as the sender saw it. */
	if ((rc = dict_str(doc, 0, "ip", 0, SIZE_MAX, &p, &n, err, errlen)) == -1)
		return -1;
	if (rc == 1) {
		if (netaddr_from_compact(&m->ip, p, n) == -1)
			return krpc_fail(err, errlen, "\"ip\" of %zu bytes, not 6 or 18",
			    n);
		m->has |= KRPC_HAS_IP;
	}
	switch (m->type) {
	case KRPC_QUERY:
		return parse_query(doc, m, err, errlen);
	case KRPC_RESPONSE:
		return parse_response(doc, m, err, errlen);
	default:
		return parse_error(doc, m, err, errlen);
	}
}

int
krpc_parse(const uint8_t *p, size_t len, struct krpc_msg *m, char *err, size_t errlen)
{
	struct be_doc doc;
	int rc;

	memset(m, 0, sizeof(*m));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	/* Refuse by size before the decoder allocates anything. */
	if (len > KRPC_MAX_MSG)
		return krpc_fail(err, errlen, "message of %zu bytes, limit %d", len,
		    KRPC_MAX_MSG);
	if (be_decode(p, len, &krpc_limits, &doc, err, errlen) == -1)
		return -1;
	rc = parse_doc(&doc, m, err, errlen);
	be_doc_free(&doc);
	return rc;
}

/* Building. */

/* Everything a message may carry, pointing at the caller's data; NULL: key left out. */
struct krpc_view {
	enum krpc_type type;
	enum krpc_method method;
	const struct krpc_head *h;
	const uint8_t *id;
	const uint8_t *target;
	const uint8_t *info_hash;
	uint16_t port;
	int implied_port;
	unsigned want;
	const uint8_t *token;
	size_t token_len;
	const struct krpc_node *nodes;
	size_t nnodes;
	const struct krpc_node *nodes6;
	size_t nnodes6;
	const struct netaddr *values;
	size_t nvalues;
	int code;
	const char *message;
};

static int
put_key_str(struct buf *b, const char *key, const void *p, size_t n)
{
	if (be_put_cstr(b, key) == -1 || be_put_str(b, p, n) == -1)
		return -1;
	return 0;
}

static int
put_key_int(struct buf *b, const char *key, int64_t v)
{
	if (be_put_cstr(b, key) == -1 || be_put_int(b, v) == -1)
		return -1;
	return 0;
}

static int
put_token(struct buf *b, const struct krpc_view *v)
{
	if (v->token == NULL || v->token_len < 1 || v->token_len > KRPC_MAX_TOKEN)
		return -1;
	return put_key_str(b, "token", v->token, v->token_len);
}

/* One string of whole compact node entries, each exactly entry bytes long. */
static int
put_nodes(struct buf *b, const char *key, const struct krpc_node *nodes, size_t n,
    size_t entry)
{
	uint8_t c[KRPC_NODE6_LEN];

	if (n > KRPC_MAX_NODES || be_put_cstr(b, key) == -1 ||
	    buf_printf(b, "%zu:", n * entry) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		/* A node of the other family would change the entry size. */
		if (krpc_node_encode(&nodes[i], c, sizeof(c)) != (int)entry ||
		    buf_append(b, c, entry) == -1)
			return -1;
	}
	return 0;
}

static int
put_values(struct buf *b, const struct netaddr *values, size_t n)
{
	uint8_t c[18];
	int len;

	if (n > KRPC_MAX_VALUES || be_put_cstr(b, "values") == -1 || be_put_list(b) == -1)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((len = netaddr_to_compact(&values[i], c, sizeof(c))) < 0 ||
		    be_put_str(b, c, (size_t)len) == -1)
			return -1;
	return be_put_end(b);
}

static int
put_want(struct buf *b, unsigned want)
{
	if ((want & (KRPC_WANT_N4 | KRPC_WANT_N6)) == 0)
		return 0;
	if (be_put_cstr(b, "want") == -1 || be_put_list(b) == -1)
		return -1;
	if ((want & KRPC_WANT_N4) && be_put_cstr(b, "n4") == -1)
		return -1;
	if ((want & KRPC_WANT_N6) && be_put_cstr(b, "n6") == -1)
		return -1;
	return be_put_end(b);
}

/* "a": keys in byte order id, implied_port, info_hash, port, target, token, want. */
static int
put_args(struct buf *b, const struct krpc_view *v)
{
	int announce = v->method == KRPC_ANNOUNCE_PEER;
	int hashed = announce || v->method == KRPC_GET_PEERS;

	if (v->method < KRPC_PING || v->method > KRPC_ANNOUNCE_PEER)
		return -1;	/* we never send what we would answer with 204 */
	if ((v->method == KRPC_FIND_NODE && v->target == NULL) ||
	    (hashed && v->info_hash == NULL))
		return -1;
	if (be_put_cstr(b, "a") == -1 || be_put_dict(b) == -1 ||
	    put_key_str(b, "id", v->id, KRPC_ID_LEN) == -1)
		return -1;
	if (announce && v->implied_port && put_key_int(b, "implied_port", 1) == -1)
		return -1;
	if (hashed && put_key_str(b, "info_hash", v->info_hash, KRPC_ID_LEN) == -1)
		return -1;
	if (announce) {
		/* The same rule krpc_parse applies: a port, unless implied. */
		if ((!v->implied_port && v->port == 0) ||
		    put_key_int(b, "port", v->port) == -1)
			return -1;
	}
	if (v->method == KRPC_FIND_NODE &&
	    put_key_str(b, "target", v->target, KRPC_ID_LEN) == -1)
		return -1;
	if (announce && put_token(b, v) == -1)
		return -1;
	if ((v->method == KRPC_FIND_NODE || v->method == KRPC_GET_PEERS) &&
	    put_want(b, v->want) == -1)
		return -1;
	return be_put_end(b);
}

/* "r": keys in byte order id, nodes, nodes6, token, values. */
static int
put_reply(struct buf *b, const struct krpc_view *v)
{
	if (be_put_cstr(b, "r") == -1 || be_put_dict(b) == -1 ||
	    put_key_str(b, "id", v->id, KRPC_ID_LEN) == -1)
		return -1;
	if (v->nodes != NULL &&
	    put_nodes(b, "nodes", v->nodes, v->nnodes, KRPC_NODE4_LEN) == -1)
		return -1;
	if (v->nodes6 != NULL &&
	    put_nodes(b, "nodes6", v->nodes6, v->nnodes6, KRPC_NODE6_LEN) == -1)
		return -1;
	if (v->token != NULL && put_token(b, v) == -1)
		return -1;
	if (v->values != NULL && put_values(b, v->values, v->nvalues) == -1)
		return -1;
	return be_put_end(b);
}

static int
put_error_list(struct buf *b, const struct krpc_view *v)
{
	size_t n;

	if (v->code < 0 || v->message == NULL)
		return -1;
	n = strnlen(v->message, KRPC_MAX_ERRMSG + 1);
	if (n > KRPC_MAX_ERRMSG)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (v->message[i] < 0x20 || v->message[i] >= 0x7f)
			return -1;
	if (be_put_cstr(b, "e") == -1 || be_put_list(b) == -1 ||
	    be_put_int(b, v->code) == -1 || be_put_str(b, v->message, n) == -1)
		return -1;
	return be_put_end(b);
}

/* The whole dict; top-level keys in byte order a, e, ip, q, r, t, v, y. */
static int
put_dict(struct buf *b, const struct krpc_view *v)
{
	const struct krpc_head *h = v->h;
	static const char y[] = { [KRPC_QUERY] = 'q', [KRPC_RESPONSE] = 'r',
	    [KRPC_ERROR] = 'e' };
	uint8_t ip[18];
	int iplen = 0;

	if (v->type < KRPC_QUERY || v->type > KRPC_ERROR ||
	    (v->type != KRPC_ERROR && v->id == NULL))
		return -1;
	if (h->tid == NULL || h->tid_len < 1 || h->tid_len > KRPC_MAX_TID ||
	    h->version_len > KRPC_MAX_VERSION ||
	    (h->version == NULL && h->version_len > 0))
		return -1;
	if (h->ip != NULL && (iplen = netaddr_to_compact(h->ip, ip, sizeof(ip))) < 0)
		return -1;
	if (be_put_dict(b) == -1)
		return -1;
	if (v->type == KRPC_QUERY && put_args(b, v) == -1)
		return -1;
	if (v->type == KRPC_ERROR && put_error_list(b, v) == -1)
		return -1;
	if (iplen > 0 && put_key_str(b, "ip", ip, (size_t)iplen) == -1)
		return -1;
	if (v->type == KRPC_QUERY && put_key_str(b, "q", method_names[v->method],
	    strlen(method_names[v->method])) == -1)
		return -1;
	if (v->type == KRPC_RESPONSE && put_reply(b, v) == -1)
		return -1;
	if (put_key_str(b, "t", h->tid, h->tid_len) == -1)
		return -1;
	if (h->version_len > 0 && put_key_str(b, "v", h->version, h->version_len) == -1)
		return -1;
	if (put_key_str(b, "y", &y[v->type], 1) == -1)
		return -1;
	return be_put_end(b);
}

/* All or nothing: a refused message leaves no half-written dict in b. */
static int
put_message(struct buf *b, const struct krpc_view *v)
{
	size_t start = b->len;

	if (put_dict(b, v) == -1) {
		b->len = start;
		return -1;
	}
	return 0;
}

int
krpc_build(struct buf *b, const struct krpc_msg *m)
{
	struct krpc_head h = {
		.tid = m->tid,
		.tid_len = m->tid_len,
		.version = m->version,
		.version_len = m->version_len,
		.ip = (m->has & KRPC_HAS_IP) ? &m->ip : NULL,
	};
	struct krpc_view v = {
		.type = m->type,
		.method = m->method,
		.h = &h,
		.id = m->id,
		.target = m->target,
		.info_hash = m->info_hash,
		.port = m->port,
		.implied_port = m->implied_port,
		.want = m->want,
		.token = (m->has & KRPC_HAS_TOKEN) ? m->token : NULL,
		.token_len = m->token_len,
		.nodes = (m->has & KRPC_HAS_NODES) ? m->nodes : NULL,
		.nnodes = m->nnodes,
		.nodes6 = (m->has & KRPC_HAS_NODES6) ? m->nodes6 : NULL,
		.nnodes6 = m->nnodes6,
		.values = (m->has & KRPC_HAS_VALUES) ? m->values : NULL,
		.nvalues = m->nvalues,
		.code = m->code,
		.message = m->message,
	};

	/* The message string must end inside its array. */
	if (m->type == KRPC_ERROR &&
	    strnlen(m->message, sizeof(m->message)) == sizeof(m->message))
		return -1;
	return put_message(b, &v);
}

static int
put_query(struct buf *b, const struct krpc_head *h, enum krpc_method method,
    const uint8_t *id, const uint8_t *target, const uint8_t *info_hash, unsigned want)
{
	struct krpc_view v = {
		.type = KRPC_QUERY,
		.method = method,
		.h = h,
		.id = id,
		.target = target,
		.info_hash = info_hash,
		.want = want,
	};

	return put_message(b, &v);
}

int
krpc_put_ping(struct buf *b, const struct krpc_head *h, const uint8_t id[KRPC_ID_LEN])
{
	return put_query(b, h, KRPC_PING, id, NULL, NULL, 0);
}

int
krpc_put_find_node(struct buf *b, const struct krpc_head *h,
    const uint8_t id[KRPC_ID_LEN], const uint8_t target[KRPC_ID_LEN], unsigned want)
{
	return put_query(b, h, KRPC_FIND_NODE, id, target, NULL, want);
}

int
krpc_put_get_peers(struct buf *b, const struct krpc_head *h,
    const uint8_t id[KRPC_ID_LEN], const uint8_t info_hash[KRPC_ID_LEN], unsigned want)
{
	return put_query(b, h, KRPC_GET_PEERS, id, NULL, info_hash, want);
}

int
krpc_put_announce_peer(struct buf *b, const struct krpc_head *h,
    const uint8_t id[KRPC_ID_LEN], const uint8_t info_hash[KRPC_ID_LEN], uint16_t port,
    int implied_port, const uint8_t *token, size_t token_len)
{
	struct krpc_view v = {
		.type = KRPC_QUERY,
		.method = KRPC_ANNOUNCE_PEER,
		.h = h,
		.id = id,
		.info_hash = info_hash,
		.port = port,
		.implied_port = implied_port != 0,
		.token = token,
		.token_len = token_len,
	};

	if (token == NULL)
		return -1;
	return put_message(b, &v);
}

int
krpc_put_reply_id(struct buf *b, const struct krpc_head *h, const uint8_t id[KRPC_ID_LEN])
{
	struct krpc_view v = { .type = KRPC_RESPONSE, .h = h, .id = id };

	return put_message(b, &v);
}

int
krpc_put_reply_find_node(struct buf *b, const struct krpc_head *h,
    const uint8_t id[KRPC_ID_LEN], const struct krpc_closest *c)
{
	struct krpc_view v = { .type = KRPC_RESPONSE, .h = h, .id = id };

	/* BEP 5: a find_node reply always carries nodes, in one family or both. */
	if (c == NULL || (c->v4 == NULL && c->v6 == NULL))
		return -1;
	v.nodes = c->v4;
	v.nnodes = c->n4;
	v.nodes6 = c->v6;
	v.nnodes6 = c->n6;
	return put_message(b, &v);
}

int
krpc_put_reply_get_peers(struct buf *b, const struct krpc_head *h,
    const uint8_t id[KRPC_ID_LEN], const uint8_t *token, size_t token_len,
    const struct netaddr *values, size_t nvalues, const struct krpc_closest *c)
{
	struct krpc_view v = {
		.type = KRPC_RESPONSE,
		.h = h,
		.id = id,
		.token = token,
		.token_len = token_len,
		.values = values,
		.nvalues = nvalues,
	};

	/* BEP 5: "in either case a token key is also included". */
	if (token == NULL)
		return -1;
	if (c != NULL) {
		v.nodes = c->v4;
		v.nnodes = c->n4;
		v.nodes6 = c->v6;
		v.nnodes6 = c->n6;
	}
	/* Peers or nodes: a reply with neither tells the asker nothing. */
	if (values == NULL && v.nodes == NULL && v.nodes6 == NULL)
		return -1;
	return put_message(b, &v);
}

int
krpc_put_error(struct buf *b, const struct krpc_head *h, int code, const char *message)
{
	struct krpc_view v = {
		.type = KRPC_ERROR,
		.h = h,
		.code = code,
		.message = message,
	};

	return put_message(b, &v);
}
