/* dht_service.h: runs the session's DHT node: UDP sockets, clock, bootstrap, saved table, torrent lookups. */
#ifndef P2P_DHT_SERVICE_H
#define P2P_DHT_SERVICE_H

#include <jansson.h>
#include <stdint.h>

struct dht_service;
struct session;
struct listener;
struct netaddr;

/*
 * Opens a UDP socket on each address the peer listener bound (same IP and
 * port, as BEP 5 expects), loads the saved node id and table, and joins
 * through them and the configured bootstrap nodes. NULL with err if no
 * socket could be opened.
 */
struct dht_service *dht_service_new(struct session *s, const struct listener *l,
    char *err, size_t errlen);
/* Saves the routing table and closes the sockets. */
void dht_service_free(struct dht_service *ds);
/* A peer sent a PORT message (BEP 5): its DHT node is at its IP and that port. */
void dht_service_port(struct dht_service *ds, const struct netaddr *peer, uint16_t port);
/* A search word key: look it up now (no announce); found peers go to the search. */
void dht_service_lookup(struct dht_service *ds, const uint8_t key[20]);
/* Announces us under a search word key, at most every 15 minutes. */
void dht_service_announce(struct dht_service *ds, const uint8_t key[20]);
/* A torrent was added or changed state: look up the ones due without waiting for the tick. */
void dht_service_kick(struct dht_service *ds);
/* dht.status. */
json_t *dht_service_json(const struct dht_service *ds);

#endif
