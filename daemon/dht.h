/* dht.h: a BEP 5 DHT node (routing table, lookups, peer store, tokens); no I/O of its own. */
#ifndef P2P_DHT_H
#define P2P_DHT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "krpc.h"

struct dht;
struct netaddr;

/*
 * The node never touches a socket or a clock: the owner feeds it datagrams
 * and the time, and it answers through these callbacks. That keeps the
 * protocol testable as a pure state machine (tests/unit/test-dht.c runs a
 * whole network of nodes in one process).
 */
struct dht_cb {
	/* Sends one datagram to that address (the owner picks the socket by family). */
	void (*send)(void *ctx, const struct netaddr *to, const uint8_t *p, size_t len);
	/* A get_peers lookup found a peer for info_hash. */
	void (*peer)(void *ctx, const uint8_t info_hash[KRPC_ID_LEN], const struct netaddr *a);
	void *ctx;
};

/* Address families the node serves, as a mask. */
#define DHT_IPV4 0x01
#define DHT_IPV6 0x02

/* id: our node id (random, or the one saved from the last run). */
struct dht *dht_new(const uint8_t id[KRPC_ID_LEN], unsigned families, const struct dht_cb *cb);
void dht_free(struct dht *d);
const uint8_t *dht_id(const struct dht *d);

/* One datagram from the UDP socket. Anything malformed is counted and dropped. */
void dht_input(struct dht *d, const struct netaddr *from, const uint8_t *p, size_t len,
    double now);
/* Timeouts, token rotation, table upkeep, lookups; call about once a second. */
void dht_tick(struct dht *d, double now);

/* A node we were told of (bootstrap list, a peer's PORT message): pinged, added if it answers. */
void dht_ping(struct dht *d, const struct netaddr *a, double now);
/* A node saved from an earlier run: pinged like any address, its id kept for the lookup. */
void dht_add_saved(struct dht *d, const uint8_t id[KRPC_ID_LEN], const struct netaddr *a,
    double now);

/*
 * Looks up peers for info_hash (get_peers) and, with a nonzero port,
 * announces us on the nodes closest to it. Found peers go to cb->peer.
 * Returns 1 if a lookup started, 0 if one for that hash is still running
 * or finished less than min_interval seconds ago, -1 if there is no room
 * or no node to start from.
 */
int dht_search(struct dht *d, const uint8_t info_hash[KRPC_ID_LEN], uint16_t port,
    double min_interval, double now);

/* Nodes that answered us, closest first to our id, for saving: fills out, returns the count. */
size_t dht_good_nodes(const struct dht *d, struct krpc_node *out, size_t max);
/* Nodes in the routing table (both families); good ones have answered recently. */
size_t dht_node_count(const struct dht *d, size_t *good);

/* dht.status: id, table, lookups, stored peers, traffic. */
json_t *dht_json(const struct dht *d, double now);

#endif
