/* krpc.h: DHT KRPC messages (BEP 5, BEP 32 IPv6, BEP 42 "ip"): pure parse and build, node id helpers. */
#ifndef P2P_KRPC_H
#define P2P_KRPC_H

#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

struct buf;

#define KRPC_ID_LEN 20		/* node ids and info-hashes are SHA-1 sized (BEP 5) */
#define KRPC_NODE4_LEN 26	/* BEP 5 "compact node info": id + 4-byte IP + port */
#define KRPC_NODE6_LEN 38	/* BEP 32: id + 16-byte IP + port */

/*
 * A KRPC message is one UDP datagram. The largest we build (every list full,
 * IPv6) is under 4 KiB; anything past this limit is refused before it is
 * decoded, so hostile sizes cost nothing.
 */
#define KRPC_MAX_MSG 8192
/* BEP 5 says the transaction id is "a short string", typically 2 bytes. */
#define KRPC_MAX_TID 16
/* BEP 5: "v" is a 2-byte client code (BEP 20) and a 2-byte version. */
#define KRPC_MAX_VERSION 16
/* BEP 5 only asks for "a short binary string"; clients use 4 to 20 bytes. */
#define KRPC_MAX_TOKEN 64
/* BEP 5 replies carry the K = 8 closest nodes; twice that is still honest. */
#define KRPC_MAX_NODES 16
/* libtorrent answers get_peers with at most 100 peers by default; leave some margin. */
#define KRPC_MAX_VALUES 128
/* Error strings are for logs only; longer ones are not worth keeping. */
#define KRPC_MAX_ERRMSG 256
/* Longest query method name kept ("announce_peer" is 13); longer is refused. */
#define KRPC_MAX_METHOD 32
/* BEP 32 "want" holds "n4" and/or "n6"; a long list is not a real client. */
#define KRPC_MAX_WANT 8
/* Bencode bounds for one message: KRPC nests 3 deep; unknown keys get some room. */
#define KRPC_MAX_DEPTH 16
#define KRPC_MAX_BENCODE_VALUES 1024	/* bencoded values (tokens) in one message */

enum krpc_type {
	KRPC_QUERY = 1,		/* "y": "q" */
	KRPC_RESPONSE,		/* "y": "r" */
	KRPC_ERROR,		/* "y": "e" */
};

enum krpc_method {
	KRPC_METHOD_NONE = 0,	/* not a query */
	KRPC_PING,
	KRPC_FIND_NODE,
	KRPC_GET_PEERS,
	KRPC_ANNOUNCE_PEER,
	KRPC_METHOD_UNKNOWN,	/* answer with KRPC_ERR_METHOD (BEP 5: 204) */
};

/* BEP 5 error codes. */
enum krpc_error_code {
	KRPC_ERR_GENERIC = 201,
	KRPC_ERR_SERVER = 202,
	KRPC_ERR_PROTOCOL = 203,	/* malformed packet, invalid arguments, bad token */
	KRPC_ERR_METHOD = 204,		/* method unknown */
};

/* BEP 32 "want" flags of find_node and get_peers queries. */
#define KRPC_WANT_N4 0x01	/* "n4": reply with "nodes" */
#define KRPC_WANT_N6 0x02	/* "n6": reply with "nodes6" */

/* Which optional keys a message carries (krpc_msg.has). */
#define KRPC_HAS_ID 0x01	/* always set for known queries and responses */
#define KRPC_HAS_NODES 0x02
#define KRPC_HAS_NODES6 0x04
#define KRPC_HAS_VALUES 0x08
#define KRPC_HAS_TOKEN 0x10	/* always set for announce_peer queries */
#define KRPC_HAS_IP 0x20	/* BEP 42 top-level "ip" */

/* "Compact node info": a node id and where to reach it (IPv4 or IPv6). */
struct krpc_node {
	uint8_t id[KRPC_ID_LEN];
	struct netaddr addr;
};

/*
 * One message, parsed or to be built. Everything is copied out of the input,
 * so the struct outlives the datagram. A response does not say which query it
 * answers (the node knows by its transaction id), so its keys are all
 * optional here except "id"; the node checks that a get_peers reply had a
 * token and values or nodes.
 */
struct krpc_msg {
	enum krpc_type type;
	uint8_t tid[KRPC_MAX_TID];	/* "t", 1..KRPC_MAX_TID bytes */
	size_t tid_len;
	uint8_t version[KRPC_MAX_VERSION];	/* "v", raw bytes; 0 length: absent */
	size_t version_len;
	unsigned has;			/* KRPC_HAS_* */
	struct netaddr ip;		/* KRPC_HAS_IP: our address as the sender sees it */

	/* Queries. */
	enum krpc_method method;
	char method_name[KRPC_MAX_METHOD + 1];	/* "q", printable; for logging unknown ones */
	uint8_t id[KRPC_ID_LEN];	/* queries and responses: the sender's node id */
	uint8_t target[KRPC_ID_LEN];	/* find_node */
	uint8_t info_hash[KRPC_ID_LEN];	/* get_peers, announce_peer */
	uint16_t port;			/* announce_peer; 0 only if implied_port */
	int implied_port;		/* announce_peer: 0 or 1, use the UDP source port */
	unsigned want;			/* find_node, get_peers: KRPC_WANT_*; 0 if absent */
	uint8_t token[KRPC_MAX_TOKEN];	/* announce_peer query, get_peers response */
	size_t token_len;

	/* Responses. */
	struct krpc_node nodes[KRPC_MAX_NODES];		/* "nodes": IPv4 */
	size_t nnodes;
	struct krpc_node nodes6[KRPC_MAX_NODES];	/* "nodes6": IPv6 (BEP 32) */
	size_t nnodes6;
	struct netaddr values[KRPC_MAX_VALUES];		/* peers; IPv4 and IPv6 may mix (BEP 32) */
	size_t nvalues;

	/* Errors. */
	int code;				/* KRPC_ERR_* or any other non-negative code */
	char message[KRPC_MAX_ERRMSG + 1];	/* printable ASCII, others turned to '?' */
};

/*
 * Parses one KRPC datagram. Returns 0, or -1 with a reason in err: over
 * KRPC_MAX_MSG, not bencode, not a dict, "t" missing or not 1..KRPC_MAX_TID
 * bytes, "y" not q/r/e, a known query or a response without a 20-byte "id",
 * a required argument missing or of the wrong type or length, nodes not a
 * multiple of 26 (38) bytes, a value not 6 or 18 bytes, more than the limits
 * above, an error without an integer code and a string.
 * Unknown keys are ignored (BEP 5 practice, and how BEP 32, 42, 44 extend
 * it); an unknown method parses fine as KRPC_METHOD_UNKNOWN.
 * On -1, type, method and tid are filled if they were valid (tid_len is 0
 * otherwise), so a node can still answer a broken query with
 * KRPC_ERR_PROTOCOL.
 * The bencode decoder is strict: dict keys must be sorted. BEP 3 requires
 * it, and libtorrent (whose entry dict is a sorted map) and jech/dht (used by
 * Transmission) write sorted keys, so a node that does not is dropped rather
 * than guessed at. If real traffic shows unsorted senders, this is the one
 * place to relax.
 */
int krpc_parse(const uint8_t *p, size_t len, struct krpc_msg *m, char *err, size_t errlen);

/*
 * Encodes m (as krpc_parse would fill it) with keys in bencode order.
 * Refuses (-1, b unchanged) what krpc_parse would refuse: bad tid length,
 * unknown method, counts over the limits, a node of the wrong family, a
 * non-printable error message; also a full buffer.
 */
int krpc_build(struct buf *b, const struct krpc_msg *m);

/* What every built message carries besides its body. */
struct krpc_head {
	const uint8_t *tid;		/* 1..KRPC_MAX_TID bytes */
	size_t tid_len;
	const uint8_t *version;		/* our "v"; NULL or 0 length: none */
	size_t version_len;
	const struct netaddr *ip;	/* replies: the requester's address (BEP 42); NULL: none */
};

/* Nodes for a find_node or get_peers reply; a NULL list leaves its key out (BEP 32). */
struct krpc_closest {
	const struct krpc_node *v4;	/* "nodes" */
	size_t n4;
	const struct krpc_node *v6;	/* "nodes6" */
	size_t n6;
};

/* Queries. Each appends a whole message to b and returns 0, or -1 leaving b unchanged. */
int krpc_put_ping(struct buf *b, const struct krpc_head *h, const uint8_t id[KRPC_ID_LEN]);
int krpc_put_find_node(struct buf *b, const struct krpc_head *h,
    const uint8_t id[KRPC_ID_LEN], const uint8_t target[KRPC_ID_LEN], unsigned want);
int krpc_put_get_peers(struct buf *b, const struct krpc_head *h,
    const uint8_t id[KRPC_ID_LEN], const uint8_t info_hash[KRPC_ID_LEN], unsigned want);
/* BEP 5: with implied_port the receiver uses our UDP source port; port may then be 0. */
int krpc_put_announce_peer(struct buf *b, const struct krpc_head *h,
    const uint8_t id[KRPC_ID_LEN], const uint8_t info_hash[KRPC_ID_LEN], uint16_t port,
    int implied_port, const uint8_t *token, size_t token_len);

/* Replies: ping and announce_peer carry just our id. */
int krpc_put_reply_id(struct buf *b, const struct krpc_head *h, const uint8_t id[KRPC_ID_LEN]);
int krpc_put_reply_find_node(struct buf *b, const struct krpc_head *h,
    const uint8_t id[KRPC_ID_LEN], const struct krpc_closest *c);
/* get_peers: a token, and values (NULL: none) and/or nodes (BEP 32 allows both). */
int krpc_put_reply_get_peers(struct buf *b, const struct krpc_head *h,
    const uint8_t id[KRPC_ID_LEN], const uint8_t *token, size_t token_len,
    const struct netaddr *values, size_t nvalues, const struct krpc_closest *c);
/* An error (BEP 5 "e": [code, message]); message must be printable ASCII. */
int krpc_put_error(struct buf *b, const struct krpc_head *h, int code, const char *message);

/* Compact node info: 26 bytes (IPv4) or 38 (IPv6). Decode returns 0 or -1 on another length. */
int krpc_node_decode(struct krpc_node *n, const uint8_t *p, size_t len);
/* Writes 26 or 38 bytes into out (size outlen); returns the count or -1. */
int krpc_node_encode(const struct krpc_node *n, uint8_t *out, size_t outlen);

/*
 * Kademlia's XOR metric (BEP 5): compares the distances of a and b from
 * target like memcmp; negative if a is closer, 0 if a equals b, positive
 * if b is closer.
 */
int krpc_id_closer(const uint8_t target[KRPC_ID_LEN], const uint8_t a[KRPC_ID_LEN],
    const uint8_t b[KRPC_ID_LEN]);
/* Leading bits a and b share, 0..160: the routing table bucket depth. */
int krpc_id_prefix_len(const uint8_t a[KRPC_ID_LEN], const uint8_t b[KRPC_ID_LEN]);

/* "ping", "find_node", ...; "unknown" for KRPC_METHOD_UNKNOWN and others. */
const char *krpc_method_name(enum krpc_method method);

#endif
