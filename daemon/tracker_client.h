/* tracker_client.h: announces a torrent to its HTTP and UDP trackers and hands back peers. */
#ifndef P2P_TRACKER_CLIENT_H
#define P2P_TRACKER_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct tracker_client;
struct session;
struct netaddr;

enum tracker_client_event {
	TRACKER_CLIENT_NONE = 0,
	TRACKER_CLIENT_COMPLETED = 1,
	TRACKER_CLIENT_STARTED = 2,
	TRACKER_CLIENT_STOPPED = 3,
};

/* What the owner tells the client and hears back. */
struct tracker_client_cb {
	/* Current counters for an announce. */
	void (*stats)(void *ctx, uint64_t *uploaded, uint64_t *downloaded, uint64_t *left);
	/* A peer the tracker gave us. */
	void (*peer)(void *ctx, const struct netaddr *a);
	void *ctx;
};

/*
 * One client per running torrent. urls: announce URLs (http://, udp://), each
 * its own entry; tiers as BEP 12 (all are tried; a failing one backs off).
 * Announces "started" at once.
 */
struct tracker_client *tracker_client_new(struct session *s, const uint8_t info_hash[20],
    const char *const *urls, const uint32_t *tiers, size_t n,
    const struct tracker_client_cb *cb);
/* Sends "stopped" (best effort, no answer awaited) and frees. */
void tracker_client_free(struct tracker_client *tc);
/* Announces now with that event (e.g. completed). */
void tracker_client_announce(struct tracker_client *tc, enum tracker_client_event ev);
/* Periodic: announces whose interval has passed. */
void tracker_client_tick(struct tracker_client *tc, double now);
/* torrent.trackers: url, tier, status, last error, seeders, leechers, next announce. */
json_t *tracker_client_json(const struct tracker_client *tc, double now);

#endif
